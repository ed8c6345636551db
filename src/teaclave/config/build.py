"""Build-time constants: service identities, the inbound topology and message limits.

In Teaclave these come from ``build.config.toml`` compiled into the enclaves (part of the
trusted computing base); here they are code for the same reason: changing who may call whom is
a code change, not a deployment setting.
"""

from __future__ import annotations

from typing import Final

AUTHENTICATION: Final = "teaclave_authentication_service"
FRONTEND: Final = "teaclave_frontend_service"
MANAGEMENT: Final = "teaclave_management_service"
STORAGE: Final = "teaclave_storage_service"
ACCESS_CONTROL: Final = "teaclave_access_control_service"
SCHEDULER: Final = "teaclave_scheduler_service"
EXECUTION: Final = "teaclave_execution_service"

#: Short service names (CLI, config sections) → enclave identity names.
SERVICE_NAMES: Final[dict[str, str]] = {
    "authentication": AUTHENTICATION,
    "frontend": FRONTEND,
    "management": MANAGEMENT,
    "storage": STORAGE,
    "access_control": ACCESS_CONTROL,
    "scheduler": SCHEDULER,
    "execution": EXECUTION,
}

#: Which client identities each internal endpoint accepts (mutual TLS allow-lists).
INBOUND: Final[dict[str, frozenset[str]]] = {
    "access_control": frozenset({FRONTEND, MANAGEMENT}),
    "authentication": frozenset({FRONTEND}),
    "storage": frozenset({MANAGEMENT, SCHEDULER}),
    "management": frozenset({FRONTEND}),
    "scheduler": frozenset({EXECUTION}),
}

#: gRPC message limit in both directions (Teaclave's ``grpc_config``).
MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024
