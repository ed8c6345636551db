"""Transport security: service identities and the one interface that verifies peers.

``PeerVerifier`` is the seam between services and trust. Services run with
:class:`teaclave.rpc.attested.AttestedVerifier` (RA-TLS: every certificate carries TEE
evidence that is verified, then the exact certificate is pinned). ``PlatformCaVerifier``
trusts identities issued by a CA kept in a state directory (``tls/``); it is the plain-TLS
baseline of the rpc unit tests and of the benchmarks, never used by a service. Services and
clients only ever ask a verifier for credentials and for the identity of a peer.

``Identity`` is a protocol (name, certificate, key): ``IssuedIdentity`` (a CA-issued one),
``teaclave.tee.AttestedIdentity`` and ``teaclave.rpc.attested.RenewingIdentity`` all fit.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_FILE = "ca_cert.pem"
CA_KEY_FILE = "ca_key.pem"
_IDENTITY_DAYS = 90
_CA_DAYS = 3650


class Identity(Protocol):
    """A TLS identity: its name (certificate CN/SAN), certificate and private key (PEM)."""

    @property
    def name(self) -> str:
        """The service name the certificate carries."""
        ...

    @property
    def cert_pem(self) -> bytes:
        """The certificate (PEM)."""
        ...

    @property
    def key_pem(self) -> bytes:
        """The private key (PEM)."""
        ...


@dataclass(frozen=True, slots=True)
class IssuedIdentity:
    """A CA-issued TLS identity: name (certificate CN), certificate and private key (PEM)."""

    name: str
    cert_pem: bytes
    key_pem: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class PlatformCa:
    """The platform's certificate authority (ECDSA P-256), persisted in ``<state>/tls``."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert = cert
        self._key = key

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate, PEM (what clients trust)."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def load_or_create(cls, state_dir: str | os.PathLike[str]) -> PlatformCa:
        """Load the CA from ``<state_dir>/tls``, creating it on first use.

        Creation is race-free across processes: the files are written under a temporary
        directory and moved into place with an atomic rename; the loser of a race loads the
        winner's CA.
        """
        tls_dir = Path(state_dir) / "tls"
        if not (tls_dir / CA_CERT_FILE).exists():
            Path(state_dir).mkdir(parents=True, exist_ok=True)
            tmp = Path(state_dir) / f".tls-{os.getpid()}-{os.urandom(4).hex()}"
            tmp.mkdir(mode=0o700)
            key = _new_key()
            cert = _build_ca(key)
            _write_private(tmp / CA_KEY_FILE, _key_pem(key))
            (tmp / CA_CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            try:
                tmp.rename(tls_dir)
            except OSError:
                for f in tmp.iterdir():
                    f.unlink()
                tmp.rmdir()
        cert = x509.load_pem_x509_certificate((tls_dir / CA_CERT_FILE).read_bytes())
        key_obj = serialization.load_pem_private_key((tls_dir / CA_KEY_FILE).read_bytes(), None)
        if not isinstance(key_obj, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{tls_dir / CA_KEY_FILE}: not an EC private key")
        return cls(cert, key_obj)

    def issue(self, name: str, hosts: tuple[str, ...] = ()) -> IssuedIdentity:
        """Issue a fresh identity for service ``name`` (server and client use)."""
        key = _new_key()
        now = datetime.datetime.now(datetime.UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(name), x509.DNSName("localhost")]
        for host in ("127.0.0.1", "::1", *hosts):
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=_IDENTITY_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return IssuedIdentity(name, cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _build_ca(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "teaclave-py platform"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Teaclave platform CA {os.urandom(4).hex()}"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


class PeerVerifier(Protocol):
    """How endpoints prove who they are and learn who their peer is."""

    def server_credentials(
        self, identity: Identity, mutual: bool, inbound: frozenset[str] | None = None
    ) -> grpc.ServerCredentials:
        """Credentials for a server presenting ``identity``.

        With ``mutual`` the client must present an identity the verifier accepts; ``inbound``
        (when given) names the only services whose identities may complete the handshake.
        """
        ...

    def channel_credentials(
        self,
        identity: Identity | None,
        target: str | None = None,
        expected_peer: str | None = None,
    ) -> grpc.ChannelCredentials:
        """Credentials for a client of ``expected_peer`` at ``target``, presenting ``identity``.

        An attesting verifier contacts ``target`` to fetch and verify the server certificate
        (raising ``OSError`` while it is unreachable); a CA verifier ignores both.
        """
        ...

    def channel_options(self, expected_peer: str) -> list[tuple[str, Any]]:
        """Channel options that make the client accept only the peer named ``expected_peer``."""
        ...

    def peer_identity(self, context: grpc.ServicerContext) -> str | None:
        """The verified identity of the client of a server-side call, if it presented one."""
        ...


class PlatformCaVerifier:
    """``PeerVerifier`` trusting identities issued by one platform CA."""

    def __init__(self, ca_cert_pem: bytes) -> None:
        self.ca_cert_pem = ca_cert_pem

    def server_credentials(
        self, identity: Identity, mutual: bool, inbound: frozenset[str] | None = None
    ) -> grpc.ServerCredentials:
        """TLS server credentials; with ``mutual`` the client must show a CA-issued identity.

        ``inbound`` is enforced per call by ``serve`` (from the certificate CN), not here.
        """
        return grpc.ssl_server_credentials(
            [(identity.key_pem, identity.cert_pem)],
            root_certificates=self.ca_cert_pem if mutual else None,
            require_client_auth=mutual,
        )

    def channel_credentials(
        self,
        identity: Identity | None,
        target: str | None = None,
        expected_peer: str | None = None,
    ) -> grpc.ChannelCredentials:
        """TLS client credentials trusting the platform CA (``target``/``expected_peer`` unused)."""
        if identity is None:
            return grpc.ssl_channel_credentials(root_certificates=self.ca_cert_pem)
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_cert_pem,
            private_key=identity.key_pem,
            certificate_chain=identity.cert_pem,
        )

    def channel_options(self, expected_peer: str) -> list[tuple[str, Any]]:
        """Check the server certificate names ``expected_peer`` whatever host was dialled."""
        return [("grpc.ssl_target_name_override", expected_peer)]

    def peer_identity(self, context: grpc.ServicerContext) -> str | None:
        """The client certificate's common name (verified against the CA by the handshake)."""
        auth = context.auth_context()
        names = auth.get("x509_common_name") or []
        if not names:
            return None
        value = names[0]
        return value.decode() if isinstance(value, bytes) else str(value)
