"""Runtime configuration (``runtime.config.toml``) and build-time defaults."""

from teaclave.config.build import INBOUND, MAX_MESSAGE_SIZE, SERVICE_NAMES
from teaclave.config.runtime import (
    ConfigError,
    Endpoint,
    RuntimeConfig,
)

__all__ = [
    "INBOUND",
    "MAX_MESSAGE_SIZE",
    "SERVICE_NAMES",
    "ConfigError",
    "Endpoint",
    "RuntimeConfig",
]
