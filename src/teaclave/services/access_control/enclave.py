"""Enclave half of the access-control service."""

from teaclave.services.access_control.service import start_service
from teaclave.services.launcher import standard_enclave

standard_enclave(__name__, start_service)
