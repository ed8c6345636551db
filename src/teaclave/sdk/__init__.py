"""Client SDK with the API of Teaclave's Python SDK (``sdk/python/teaclave.py``).

>>> from teaclave.sdk import AuthenticationService, FrontendService, FunctionArgument
>>> auth = AuthenticationService(("localhost", 7776), "ca_cert.pem", "enclave_info.toml")
>>> token = auth.connect().user_login("admin", "secret")            # doctest: +SKIP
>>> frontend = FrontendService(("localhost", 7777), "ca_cert.pem", "enclave_info.toml")
>>> frontend.metadata = {"id": "admin", "token": token}             # doctest: +SKIP

Differences from Teaclave's SDK: every call is verified against the platform's trust anchor
(``as_root_ca_cert_path``) with no ``SGX_MODE=SW`` bypass; the bugs listed in
``spec/services.md`` §12 are fixed (``delete_function``, ``update_output_file``,
``user_update``, ``update_function``, ``query_audit_logs``, ``get_task_result`` on a failed
task); result waits take a ``timeout`` and poll with back-off instead of once a second.
"""

from teaclave.sdk._errors import TeaclaveException
from teaclave.sdk._messages import (
    CryptoInfo,
    DataMap,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
    TaskStatus,
)
from teaclave.sdk.authentication import AuthenticationService
from teaclave.sdk.frontend import FrontendService

__all__ = [
    "AuthenticationService",
    "CryptoInfo",
    "DataMap",
    "FrontendService",
    "FunctionArgument",
    "FunctionInput",
    "FunctionOutput",
    "OwnerList",
    "TaskStatus",
    "TeaclaveException",
]
