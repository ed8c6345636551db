"""Teaclave's test_mode mock records, for tests that were written against them.

Teaclave's management service inserts these at every start when built with ``test_mode``.
teaclave-py never inserts them by itself: a test calls ``insert_mock_data`` explicitly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from teaclave.rpc.clients.storage import StorageClient
from teaclave.services.management.records import Records
from teaclave.types.files import FileCrypto, OutputFile, new_fusion_url
from teaclave.types.function import (
    ExecutorType,
    Function,
    FunctionArgument,
    FunctionIo,
    FunctionUsage,
)

MOCK_TAG = bytes(16)


def mock_uuid(n: int) -> uuid.UUID:
    """``00000000-0000-0000-0000-00000000000<n>``."""
    return uuid.UUID(int=n)


def _fusion_output(owners: list[str], n: int) -> OutputFile:
    return OutputFile(
        url=new_fusion_url(),
        crypto=FileCrypto.random_protected(),
        owner=frozenset(owners),
        cmac=MOCK_TAG,
        uuid=mock_uuid(n),
    )


def _mock_function(
    n: int,
    name: str,
    description: str,
    *,
    public: bool,
    owner: str,
    arguments: Sequence[str],
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    allowlist: Sequence[str] = (),
) -> Function:
    return Function(
        id=mock_uuid(n),
        name=name,
        description=description,
        executor_type=ExecutorType.BUILTIN,
        public=public,
        payload=b"mock-payload",
        arguments=[FunctionArgument(key, "", True) for key in arguments],
        inputs=[FunctionIo(i, "input_desc", False) for i in inputs],
        outputs=[FunctionIo(o, "output_desc", False) for o in outputs],
        owner=owner,
        user_allowlist=list(allowlist),
    )


def insert_mock_data(storage: StorageClient) -> None:
    """Write Teaclave's mock files, functions and usage records (idempotent)."""
    records = Records(storage)
    records.save_output_file(_fusion_output(["mock_user1", "frontend_user"], 1))
    output2 = _fusion_output(["mock_user2", "mock_user3"], 2)
    records.save_output_file(output2)
    records.save_input_file(output2.to_input())

    functions = [
        _mock_function(
            1,
            "mock-func-1",
            "mock-desc",
            public=True,
            owner="teaclave",
            arguments=["arg1", "arg2"],
            inputs=["input", "input2"],
            outputs=["output", "output2"],
        ),
        _mock_function(
            2,
            "mock-func-2",
            "mock-desc",
            public=True,
            owner="teaclave",
            arguments=["arg1"],
            outputs=["output"],
        ),
        _mock_function(
            3,
            "mock-func-3",
            "Private mock function",
            public=False,
            owner="mock_user",
            arguments=["arg1"],
            allowlist=["mock_user", "mock_user1"],
        ),
    ]
    for function in functions:
        records.save_usage(FunctionUsage(function.id, 0))
        records.save_function(function)
