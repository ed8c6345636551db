"""The connection shared by both services: a verified TLS channel and metadata."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from teaclave.config.build import MAX_MESSAGE_SIZE
from teaclave.rpc.channel import wait_until_ready
from teaclave.rpc.service import message_class
from teaclave.sdk._errors import TeaclaveException

M = TypeVar("M", bound=Message)
S = TypeVar("S", bound="TeaclaveService")

Address = tuple[str, int] | str


def format_address(address: Address) -> str:
    """``(host, port)`` or ``"host:port"`` → ``"host:port"``."""
    if isinstance(address, tuple):
        host, port = address
        return f"{host}:{port}"
    return address


class TeaclaveService:
    """A connection to one Teaclave API endpoint.

    ``as_root_ca_cert_path`` is the trust anchor the server certificate must chain to (the
    platform CA of ``teaclave up``: ``<state>/tls/ca_cert.pem``). ``enclave_info_path`` names
    the expected enclave measurements; it is read once attestation lands and is accepted now
    for API compatibility.
    """

    #: Endpoint name (``authentication`` / ``frontend``) and API, set by each subclass.
    name: ClassVar[str]
    api: ClassVar[ServiceDescriptor]

    def __init__(
        self,
        address: Address,
        as_root_ca_cert_path: str | os.PathLike[str],
        enclave_info_path: str | os.PathLike[str] | None = None,
        dump_report: bool = False,
        *,
        timeout: float = 30.0,
    ) -> None:
        name, api = self.name, self.api
        self.address = format_address(address)
        self.enclave_info_path = enclave_info_path
        self.dump_report = dump_report
        self.timeout = timeout
        self.metadata: dict[str, str] | None = None
        try:
            root = Path(as_root_ca_cert_path).read_bytes()
        except OSError as exc:
            raise TeaclaveException(
                f"cannot read trust anchor {as_root_ca_cert_path}: {exc}"
            ) from None
        self.channel = grpc.secure_channel(
            self.address,
            grpc.ssl_channel_credentials(root_certificates=root),
            options=[
                ("grpc.ssl_target_name_override", f"teaclave_{name}_service"),
                ("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
                ("grpc.max_send_message_length", MAX_MESSAGE_SIZE),
            ],
        )
        self._stubs: dict[str, Any] = {}
        for method in api.methods:
            self._stubs[method.name] = self.channel.unary_unary(
                f"/{api.full_name}/{method.name}",
                request_serializer=message_class(method.input_type).SerializeToString,
                response_deserializer=message_class(method.output_type).FromString,
            )

    def connect(self: S) -> S:
        """Wait until the endpoint answers the TLS handshake; returns ``self``."""
        if not wait_until_ready(self.channel, self.timeout):
            raise TeaclaveException(
                f"cannot connect to teaclave_{self.name}_service at {self.address} "
                "(is it running, and is the trust anchor right?)"
            )
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
        try:
            response = self._stubs[rpc](
                request, metadata=tuple(metadata.items()), timeout=timeout or self.timeout
            )
        except grpc.RpcError as exc:
            raise TeaclaveException.from_rpc_error(rpc, exc) from None
        assert isinstance(response, response_type)
        return response

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
