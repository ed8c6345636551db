"""Enclave half of the execution service."""

from teaclave.services.execution.service import start_service
from teaclave.services.launcher import standard_enclave

standard_enclave(__name__, start_service)
