"""Enclave half of the storage service."""

from teaclave.services.launcher import standard_enclave
from teaclave.services.storage.service import start_service

standard_enclave(__name__, start_service)
