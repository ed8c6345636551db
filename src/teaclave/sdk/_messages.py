"""Request building blocks with Teaclave's SDK names; each holds its protobuf in ``message``."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_frontend_service_pb2 as fe_pb


def as_bytes(value: bytes | bytearray | Iterable[int]) -> bytes:
    """Accept bytes or Teaclave-SDK style lists of ints."""
    return bytes(value)


class TaskStatus(IntEnum):
    """Task status values (wire numbers)."""

    Created = common_pb.Created
    DataAssigned = common_pb.DataAssigned
    Approved = common_pb.Approved
    Staged = common_pb.Staged
    Running = common_pb.Running
    Finished = common_pb.Finished
    Canceled = common_pb.Canceled
    Failed = common_pb.Failed


class FunctionArgument:
    """A declared function argument."""

    def __init__(self, key: str, default_value: str = "", allow_overwrite: bool = True) -> None:
        self.message = fe_pb.FunctionArgument(
            key=key, default_value=default_value, allow_overwrite=allow_overwrite
        )


class FunctionInput:
    """A declared input slot."""

    def __init__(self, name: str, description: str, optional: bool = False) -> None:
        self.message = fe_pb.FunctionInput(name=name, description=description, optional=optional)


class FunctionOutput:
    """A declared output slot."""

    def __init__(self, name: str, description: str, optional: bool = False) -> None:
        self.message = fe_pb.FunctionOutput(name=name, description=description, optional=optional)


class OwnerList:
    """Who owns the data of one slot of a task."""

    def __init__(self, data_name: str, uids: Iterable[str]) -> None:
        self.message = fe_pb.OwnerList(data_name=data_name, uids=list(uids))


class DataMap:
    """A registered file assigned to a slot."""

    def __init__(self, data_name: str, data_id: str) -> None:
        self.message = fe_pb.DataMap(data_name=data_name, data_id=data_id)


class CryptoInfo:
    """How a file is encrypted (``schema``, ``key``, ``iv`` as bytes or lists of ints)."""

    def __init__(
        self, schema: str, key: bytes | Iterable[int], iv: bytes | Iterable[int] = b""
    ) -> None:
        self.schema = schema
        self.key = as_bytes(key)
        self.iv = as_bytes(iv)
        self.message = common_pb.FileCryptoInfo(schema=schema, key=self.key, iv=self.iv)
