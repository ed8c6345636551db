"""Enclave half of the management service."""

from teaclave.services.launcher import standard_enclave
from teaclave.services.management.service import start_service

standard_enclave(__name__, start_service)
