"""Enclave half of the frontend service."""

from teaclave.services.frontend.service import start_service
from teaclave.services.launcher import standard_enclave

standard_enclave(__name__, start_service)
