"""The untrusted-app ↔ enclave boundary (Teaclave's ``binder``).

The app half creates a ``TeeBinder`` for an enclave package and ``invoke``s commands; the
enclave half registers one handler per command with ``@handle_ecall`` and
``register_ecall_handler``. Inputs and outputs always cross the boundary as JSON bytes, both
in-process (the ``sim`` platform) and in a child process (what a TEE launcher such as
gramine-sgx wraps), so the two modes run the same code.
"""

from teaclave.binder.binder import TeeBinder
from teaclave.binder.commands import (
    ECallCommand,
    FinalizeEnclaveInput,
    FinalizeEnclaveOutput,
    InitEnclaveInput,
    InitEnclaveOutput,
    StartServiceInput,
    StartServiceOutput,
    TeeServiceError,
)
from teaclave.binder.enclave import Enclave, handle_ecall, register_ecall_handler

__all__ = [
    "ECallCommand",
    "Enclave",
    "FinalizeEnclaveInput",
    "FinalizeEnclaveOutput",
    "InitEnclaveInput",
    "InitEnclaveOutput",
    "StartServiceInput",
    "StartServiceOutput",
    "TeeBinder",
    "TeeServiceError",
    "handle_ecall",
    "register_ecall_handler",
]
