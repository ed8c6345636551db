"""Client SDK with the API of Teaclave's Python SDK (``sdk/python/teaclave.py``).

>>> from teaclave.sdk import AuthenticationService, FrontendService, FunctionArgument
>>> root, info = "teaclave_state/tee/sim_root_cert.pem", "teaclave_state/tee/enclave_info.toml"
>>> auth = AuthenticationService(("localhost", 7776), root, info)
>>> token = auth.connect().user_login("admin", "secret")            # doctest: +SKIP
>>> frontend = FrontendService(("localhost", 7777), root, info)
>>> frontend.metadata = {"id": "admin", "token": token}             # doctest: +SKIP

Differences from Teaclave's SDK: the server's attestation evidence is always verified against
the root (``as_root_ca_cert_path``) and the measurement in ``enclave_info_path`` before the
certificate is pinned, with no ``SGX_MODE=SW`` bypass; the bugs listed in
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
