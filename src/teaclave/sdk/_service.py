"""The connection shared by both services: an attested, pinned TLS channel and metadata.

Attestation is always on (no ``SGX_MODE=SW`` bypass). :meth:`TeaclaveService.connect` fetches
the server's RA-TLS certificate, verifies its evidence against the trust anchor
(``as_root_ca_cert_path``: the simulated root of a ``sim`` platform, or the attestation
service's root for hardware reports), the report-data binding, freshness, and the measurement
of ``teaclave_<name>_service`` listed in ``enclave_info_path`` (whose auditor signatures are
checked too when ``auditor_public_keys`` are given), then pins that exact certificate for the
gRPC channel. Every refusal raises :class:`TeaclaveException` naming what failed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from teaclave.config.build import MAX_MESSAGE_SIZE
from teaclave.rpc.attested import fetch_server_certificate
from teaclave.rpc.channel import wait_until_ready
from teaclave.rpc.service import message_class
from teaclave.sdk._errors import TeaclaveException
from teaclave.tee import (
    SIM_NOTICE,
    AttestationError,
    EnclaveInfo,
    VerificationPolicy,
    load_audited_enclave_info,
    verify_peer_certificate,
)

M = TypeVar("M", bound=Message)
S = TypeVar("S", bound="TeaclaveService")

Address = tuple[str, int] | str
PathLike = str | os.PathLike[str]


def format_address(address: Address) -> str:
    """``(host, port)`` or ``"host:port"`` → ``"host:port"``."""
    if isinstance(address, tuple):
        host, port = address
        return f"{host}:{port}"
    return address


def _read(path: PathLike, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TeaclaveException(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def attestation_policy(
    as_root_ca_cert_path: PathLike,
    enclave_info_path: PathLike | None,
    auditor_public_keys: Sequence[PathLike] = (),
    auditor_signatures: Sequence[PathLike] = (),
    quorum: int = 1,
) -> VerificationPolicy:
    """The policy an SDK client verifies servers with (refusals raise TeaclaveException)."""
    root_pem = _read(as_root_ca_cert_path, "trust anchor")
    try:
        root = x509.load_pem_x509_certificate(root_pem)
    except ValueError:
        try:
            root = x509.load_der_x509_certificate(root_pem)
        except ValueError:
            raise TeaclaveException(
                f"trust anchor {as_root_ca_cert_path}: not a PEM or DER certificate"
            ) from None
    if enclave_info_path is None:
        raise TeaclaveException(
            "enclave_info_path: required (attestation is always on; it lists the accepted "
            "measurements)"
        )
    try:
        if auditor_public_keys:
            info = load_audited_enclave_info(
                enclave_info_path, auditor_signatures, auditor_public_keys, quorum=quorum
            )
        else:
            info = EnclaveInfo.parse(_read(enclave_info_path, "enclave_info"))
    except AttestationError as exc:
        raise TeaclaveException(f"enclave_info {enclave_info_path}: {exc}") from None
    der = root.public_bytes(serialization.Encoding.DER)
    simulated = SIM_NOTICE in root.subject.rfc4514_string()
    try:
        if simulated:
            return VerificationPolicy(
                enclave_info=info,
                platforms=frozenset({"sim"}),
                sim_roots=(der,),
                require_audited=bool(auditor_public_keys),
            )
        return VerificationPolicy(
            enclave_info=info,
            platforms=frozenset({"sgx", "tdx"}),
            as_roots=(der,),
            require_audited=bool(auditor_public_keys),
        )
    except ValueError as exc:
        raise TeaclaveException(f"trust anchor {as_root_ca_cert_path}: {exc}") from None


class TeaclaveService:
    """A connection to one Teaclave API endpoint (see the module docstring for the checks).

    ``as_root_ca_cert_path`` is the evidence root (``teaclave up`` prints it: the sim root
    ``<state>/tee/sim_root_cert.pem``); ``enclave_info_path`` lists the accepted measurements.
    ``auditor_public_keys``/``auditor_signatures``/``quorum`` additionally require enclave_info
    to be signed by that many distinct auditors. ``dump_report`` prints the verified identity.
    """

    #: Endpoint name (``authentication`` / ``frontend``) and API, set by each subclass.
    name: ClassVar[str]
    api: ClassVar[ServiceDescriptor]

    def __init__(
        self,
        address: Address,
        as_root_ca_cert_path: PathLike,
        enclave_info_path: PathLike | None = None,
        dump_report: bool = False,
        *,
        timeout: float = 30.0,
        auditor_public_keys: Sequence[PathLike] = (),
        auditor_signatures: Sequence[PathLike] = (),
        quorum: int = 1,
    ) -> None:
        self.address = format_address(address)
        self.enclave_info_path = enclave_info_path
        self.dump_report = dump_report
        self.timeout = timeout
        self.metadata: dict[str, str] | None = None
        self.service_name = f"teaclave_{self.name}_service"
        self.policy = attestation_policy(
            as_root_ca_cert_path,
            enclave_info_path,
            auditor_public_keys,
            auditor_signatures,
            quorum,
        )
        self.verified: str = ""
        self.channel: grpc.Channel | None = None
        self._stubs: dict[str, Any] = {}

    def _attest(self, deadline: float) -> bytes:
        """Fetch and verify the server certificate (retrying while unreachable); its PEM."""
        while True:
            try:
                der = fetch_server_certificate(
                    self.address, max(0.1, min(5.0, deadline - time.monotonic()))
                )
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise TeaclaveException(
                        f"cannot connect to {self.service_name} at {self.address}: {exc}"
                    ) from None
                time.sleep(0.05)
        try:
            identity = verify_peer_certificate(der, self.service_name, self.policy)
        except AttestationError as exc:
            raise TeaclaveException(
                f"{self.service_name} at {self.address}: attestation refused: {exc}"
            ) from None
        self.verified = identity.describe()
        if self.dump_report:
            print(self.verified)
        return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)

    def _open(self) -> grpc.Channel:
        if self.channel is not None:
            return self.channel
        deadline = time.monotonic() + self.timeout
        pinned = self._attest(deadline)
        channel = grpc.secure_channel(
            self.address,
            grpc.ssl_channel_credentials(root_certificates=pinned),
            options=[
                ("grpc.ssl_target_name_override", self.service_name),
                ("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
                ("grpc.max_send_message_length", MAX_MESSAGE_SIZE),
            ],
        )
        if not wait_until_ready(channel, max(0.0, deadline - time.monotonic())):
            channel.close()
            raise TeaclaveException(
                f"cannot connect to {self.service_name} at {self.address} "
                "(the attested certificate was verified, but the TLS handshake failed)"
            )
        for method in self.api.methods:
            self._stubs[method.name] = channel.unary_unary(
                f"/{self.api.full_name}/{method.name}",
                request_serializer=message_class(method.input_type).SerializeToString,
                response_deserializer=message_class(method.output_type).FromString,
            )
        self.channel = channel
        return channel

    def connect(self: S) -> S:
        """Attest the endpoint and open the pinned channel; returns ``self``."""
        self._open()
        return self

    def check_metadata(self) -> Mapping[str, str]:
        """The credentials to send; raises when there are none."""
        if not self.metadata:
            raise TeaclaveException("no credentials: log in first or set .metadata")
        return self.metadata

    def _call(
        self,
        rpc: str,
        request: Message,
        response_type: type[M],
        *,
        authenticated: bool = True,
        extra_metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> M:
        metadata = dict(self.check_metadata()) if authenticated else {}
        metadata.update(extra_metadata or {})
        self._open()
        try:
            response = self._stubs[rpc](
                request, metadata=tuple(metadata.items()), timeout=timeout or self.timeout
            )
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                raise TeaclaveException.from_rpc_error(rpc, exc) from None
            # The server may have renewed its identity: re-attest, re-pin, retry once.
            self.close()
            self._open()
            try:
                response = self._stubs[rpc](
                    request, metadata=tuple(metadata.items()), timeout=timeout or self.timeout
                )
            except grpc.RpcError as again:
                raise TeaclaveException.from_rpc_error(rpc, again) from None
        assert isinstance(response, response_type)
        return response

    def close(self) -> None:
        """Close the channel (if it was opened)."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def __enter__(self: S) -> S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
