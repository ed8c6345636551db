"""Enclave half of the authentication service."""

from teaclave.services.authentication.service import start_service
from teaclave.services.launcher import standard_enclave

standard_enclave(__name__, start_service)
