"""Enclave half of the scheduler service."""

from teaclave.services.launcher import standard_enclave
from teaclave.services.scheduler.service import start_service

standard_enclave(__name__, start_service)
