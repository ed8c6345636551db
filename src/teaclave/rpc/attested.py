"""Attested transport: RA-TLS identities, an identity registry and ``AttestedVerifier``.

Every service (and every execution worker) presents an RA-TLS certificate issued on the
configured TEE platform by :func:`issue_unique_identity` (the evidence, key binding and
extension of :func:`teaclave.tee.issue_attested_identity`, plus a per-certificate subject
``serialNumber``, see there): a self-signed P-256 certificate whose evidence binds its public
key, with ``SAN = DNS:<service name>`` (the name clients put in
``grpc.ssl_target_name_override``; BoringSSL matches it against the pinned certificate).
grpcio has no certificate-verify callback, so trust is established around the handshake
instead of inside it:

* **Client side** (internal clients and the SDK): fetch the server's leaf certificate with the
  ``ssl`` module (``CERT_NONE``, ALPN ``h2``), verify it with
  :func:`teaclave.tee.verify_peer_certificate` against the expected service, then **pin that
  exact certificate** as the channel's only root (BoringSSL accepts a self-signed leaf as its
  own anchor). Only the holder of the pinned certificate's key can complete the handshake, so
  there is no time-of-check/time-of-use gap. The client presents its own RA-TLS certificate.
* **Server side, internal endpoints**: ``grpc.dynamic_ssl_server_credentials`` with client
  authentication required. Its fetcher runs on every new handshake and hands out the server's
  current certificate and, as client roots, exactly the certificates of the identity registry
  that *verify* as one of the endpoint's inbound services (verification is cached by
  certificate fingerprint; the registry is re-read when its file list changes; expired entries
  are dropped). A client with no certificate, a forged one, or a valid one of a service not
  allowed inbound fails in the handshake. ``peer_identity`` maps the client certificate of a
  call (``auth_context()["x509_pem_cert"]``) to the verified service name, which ``serve``
  checks against the inbound set again.
* **Server side, API endpoints**: one-way TLS (the server is attested; users authenticate with
  id/token metadata).

**Identity registry**: ``<state>/tee/identities/<service>-<sha256 fingerprint>.pem``, one file
per issued certificate, written atomically. It is how peers on one host find each other's
client certificates; its contents are untrusted (anything in it must verify).

**Freshness**: :class:`RenewingIdentity` re-issues the identity at ``renew_at()`` (75 % of the
validity) on a background thread, registers the new certificate before using it, and removes
its own expired entries. New handshakes get the new certificate; live connections continue.
A client whose pinned certificate no longer matches gets ``UNAVAILABLE`` on its next
handshake; :class:`teaclave.rpc.channel.ServiceClient` then rebuilds the channel (re-fetch,
re-verify, re-pin) once and retries. (A retried call was never delivered when the handshake
failed; ``UNAVAILABLE`` for other reasons, e.g. a server shutting down mid-call, could in
principle repeat a call — the same trade-off gRPC's own transparent retries make.)

**Limits**: the registry is per host (a shared state directory); services on several hosts
need it distributed (or a registration RPC). ``sim`` identities carry no hardware protection.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import logging
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from teaclave.rpc.tls import Identity
from teaclave.tee import (
    AttestationError,
    AttestedIdentity,
    TeePlatform,
    VerificationPolicy,
    issue_attested_identity,
    verify_peer_certificate,
)
from teaclave.tee._files import write_atomic

__all__ = [
    "IDENTITIES_DIR",
    "AttestedVerifier",
    "PeerRefused",
    "RenewingIdentity",
    "fetch_server_certificate",
    "fingerprint",
    "issue_unique_identity",
    "registry_dir",
]

log = logging.getLogger(__name__)

IDENTITIES_DIR = "identities"
FETCH_TIMEOUT_SECS = 5.0
_REFUSAL_CACHE_SECS = 5.0


#: How long a server certificate's successful verification is reused (by fingerprint).
VERDICT_CACHE_SECS = 60.0


class PeerRefused(RuntimeError):
    """The peer's certificate did not verify (the message names what failed)."""


def registry_dir(state_dir: str | os.PathLike[str]) -> Path:
    """The identity registry of ``state_dir``: ``<state>/tee/identities``."""
    return Path(state_dir) / "tee" / IDENTITIES_DIR


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate, lowercase hex."""
    return hashlib.sha256(der).hexdigest()


def _pem_to_der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def _der_to_pem(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode()


@functools.lru_cache(maxsize=1)
def _fetch_context() -> ssl.SSLContext:
    """The (shared, immutable once built) client context used only to read certificates."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    return context


def fetch_server_certificate(target: str, timeout: float = FETCH_TIMEOUT_SECS) -> bytes:
    """The DER leaf certificate the server at ``target`` (host:port) presents.

    Nothing is verified here (``CERT_NONE``): the caller verifies the evidence and pins the
    result. Raises ``OSError`` when the server cannot be reached.
    """
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    context = _fetch_context()
    with (
        socket.create_connection((host, int(port)), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host or None) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ConnectionError(f"{target}: the server presented no certificate")
    return der


def issue_unique_identity(
    service_name: str, platform: TeePlatform, validity_secs: float, *, now: float | None = None
) -> AttestedIdentity:
    """An RA-TLS identity from :func:`teaclave.tee.issue_attested_identity`.

    Its subject is unique per certificate (a random ``serialNumber``), which the server's
    client-root set needs: see ``teaclave.tee.ratls.build_ratls_certificate``.
    """
    return issue_attested_identity(service_name, platform, validity_secs=validity_secs, now=now)


class RenewingIdentity:
    """A service's current RA-TLS identity, renewed before it expires.

    ``cert_pem``/``key_pem`` always give the current pair (use :meth:`current` for a
    consistent snapshot). :meth:`start` runs the renewal thread; :meth:`stop` ends it (it is a
    ``Stoppable``). A due renewal also happens on access if the thread was not started.
    """

    def __init__(
        self,
        name: str,
        platform: TeePlatform,
        registry: Path,
        validity_secs: float,
        *,
        renew_fraction: float = 0.75,
    ) -> None:
        self._name = name
        self.platform = platform
        self.registry = registry
        self.validity_secs = validity_secs
        self.renew_fraction = renew_fraction
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registry.mkdir(parents=True, exist_ok=True)
        self._current = self._issue()

    # ------------------------------------------------------------------ Identity protocol
    @property
    def name(self) -> str:
        """The service name."""
        return self._name

    @property
    def cert_pem(self) -> bytes:
        """The current certificate (PEM)."""
        return self.current().cert_pem

    @property
    def key_pem(self) -> bytes:
        """The current private key (PEM)."""
        return self.current().key_pem

    # ------------------------------------------------------------------ renewal
    def current(self) -> AttestedIdentity:
        """The identity in use (renewed first if it is past its renewal time)."""
        with self._lock:
            ident = self._current
        if time.time() >= ident.renew_at(self.renew_fraction) and self._thread is None:
            return self.renew()
        return ident

    def _issue(self) -> AttestedIdentity:
        ident = issue_unique_identity(self._name, self.platform, self.validity_secs)
        path = self.registry / f"{self._name}-{fingerprint(ident.cert_der)}.pem"
        write_atomic(path, ident.cert_pem)  # registered before anyone is shown it
        return ident

    def renew(self) -> AttestedIdentity:
        """Issue and register a new identity, switch to it, and prune own expired entries."""
        fresh = self._issue()
        with self._lock:
            self._current = fresh
        self._prune()
        log.info("%s: renewed attested identity (%s)", self._name, fresh)
        return fresh

    def _prune(self) -> None:
        now = time.time()
        for path in self.registry.glob(f"{self._name}-*.pem"):
            with contextlib.suppress(OSError, ValueError):
                cert = x509.load_pem_x509_certificate(path.read_bytes())
                if cert.not_valid_after_utc.timestamp() < now:
                    path.unlink()

    def start(self) -> RenewingIdentity:
        """Start the background renewal thread; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"renew-{self._name}", daemon=True
            )
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due = self._current.renew_at(self.renew_fraction)
            if self._stop.wait(max(0.0, due - time.time())):
                return
            try:
                self.renew()
            except Exception:
                log.exception("%s: identity renewal failed; retrying", self._name)
                self._stop.wait(1.0)

    def stop(self, grace: float | None = None) -> None:
        """Stop renewing."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)


class _ClientRoots:
    """The verified client certificates of one internal endpoint (cached by fingerprint)."""

    def __init__(self, verifier: AttestedVerifier, inbound: frozenset[str]) -> None:
        self.verifier = verifier
        self.inbound = inbound
        self._names: frozenset[str] | None = None
        self._accepted: dict[str, tuple[bytes, float]] = {}  # fingerprint → (PEM, valid until)
        self._refused: dict[str, float] = {}  # fingerprint → retry after
        self._next_expiry = float("inf")
        self.pem = b""

    def refresh(self) -> bool:
        """Re-read the registry if it changed or an entry expired; True when roots changed."""
        now = time.time()
        try:
            names = frozenset(n for n in os.listdir(self.verifier.registry) if n.endswith(".pem"))
        except FileNotFoundError:
            names = frozenset()
        if names == self._names and now < self._next_expiry:
            return False
        self._names = names
        accepted: dict[str, tuple[bytes, float]] = {}
        for name in names:
            fp = name[:-4].rpartition("-")[2]
            if fp in self._accepted and self._accepted[fp][1] > now:
                accepted[fp] = self._accepted[fp]
                continue
            if self._refused.get(fp, 0.0) > now:
                continue
            try:
                pem = (self.verifier.registry / name).read_bytes()
                der = _pem_to_der(pem)
            except (OSError, ValueError):
                continue
            if fingerprint(der) != fp:
                self._refused[fp] = now + _REFUSAL_CACHE_SECS
                continue
            service = self.verifier.verify_client(der, self.inbound)
            if service is None:
                self._refused[fp] = now + _REFUSAL_CACHE_SECS
                continue
            accepted[fp] = (pem, service[1])
        changed = accepted.keys() != self._accepted.keys()
        self._accepted = accepted
        self._next_expiry = min((v for _, v in accepted.values()), default=float("inf"))
        self.pem = b"".join(pem for pem, _ in accepted.values())
        return changed


class AttestedVerifier:
    """``PeerVerifier`` for RA-TLS: verify evidence, pin certificates (see module docstring)."""

    def __init__(
        self,
        policy: VerificationPolicy,
        registry: str | os.PathLike[str],
        *,
        fetch_timeout: float = FETCH_TIMEOUT_SECS,
    ) -> None:
        self.policy = policy
        self.registry = Path(registry)
        self.fetch_timeout = fetch_timeout
        self._lock = threading.Lock()
        self._peers: dict[str, str] = {}  # client certificate fingerprint → service name
        self._pem_fps: dict[bytes, str] = {}  # client PEM as grpc shows it → fingerprint
        self._never = _unusable_anchor()
        self._server_verdicts: dict[tuple[str, str], tuple[str, float]] = {}

    # ------------------------------------------------------------------ verification
    def verify_server(self, target: str, expected_peer: str) -> tuple[bytes, str]:
        """Fetch ``target``'s certificate and verify it is ``expected_peer``: (PEM, summary).

        Raises ``OSError`` when unreachable and :class:`PeerRefused` when it does not verify.
        """
        der = fetch_server_certificate(target, self.fetch_timeout)
        key = (fingerprint(der), expected_peer)
        now = time.time()
        with self._lock:
            cached = self._server_verdicts.get(key)
        if cached is not None and cached[1] > now:
            return _der_to_pem(der), cached[0]
        try:
            verified = verify_peer_certificate(der, expected_peer, self.policy)
        except AttestationError as exc:
            raise PeerRefused(f"{expected_peer} at {target}: attestation refused: {exc}") from None
        # The same certificate verifies the same way until it expires; re-verify at least
        # every VERDICT_CACHE_SECS so policy changes and evidence ageing take effect.
        with self._lock:
            if len(self._server_verdicts) > 1024:
                self._server_verdicts.clear()
            until = min(verified.valid_until, now + VERDICT_CACHE_SECS)
            self._server_verdicts[key] = (str(verified), until)
        return _der_to_pem(der), str(verified)

    def verify_client(self, der: bytes, inbound: frozenset[str]) -> tuple[str, float] | None:
        """(service, valid until) when ``der`` verifies as one of ``inbound``, else None."""
        try:
            verified = verify_peer_certificate(der, inbound, self.policy)
        except (AttestationError, ValueError) as exc:
            log.debug("registry certificate refused: %s", exc)
            return None
        with self._lock:
            self._peers[fingerprint(der)] = verified.service
        return verified.service, verified.valid_until

    # ------------------------------------------------------------------ PeerVerifier
    def server_credentials(
        self, identity: Identity, mutual: bool, inbound: frozenset[str] | None = None
    ) -> grpc.ServerCredentials:
        """Server credentials handing out ``identity``'s current certificate on each handshake.

        ``mutual`` endpoints require a client certificate that verifies as one of ``inbound``.
        """
        roots = _ClientRoots(self, inbound or frozenset()) if mutual else None
        lock = threading.Lock()
        shown: list[bytes] = [b""]

        def build() -> grpc.ServerCertificateConfiguration:
            cert, key = _snapshot(identity)
            shown[0] = cert
            if roots is None:
                return grpc.ssl_server_certificate_configuration([(key, cert)])
            return grpc.ssl_server_certificate_configuration(
                [(key, cert)], root_certificates=roots.pem or self._never
            )

        def fetcher() -> grpc.ServerCertificateConfiguration | None:
            try:
                with lock:
                    changed = roots.refresh() if roots is not None else False
                    if changed or _snapshot(identity)[0] != shown[0]:
                        return build()
                return None
            except Exception:  # keep serving the previous configuration
                log.exception("attested server credentials: refresh failed")
                return None

        with lock:
            if roots is not None:
                roots.refresh()
            initial = build()
        return grpc.dynamic_ssl_server_credentials(
            initial, fetcher, require_client_authentication=mutual
        )

    def channel_credentials(
        self,
        identity: Identity | None,
        target: str | None = None,
        expected_peer: str | None = None,
    ) -> grpc.ChannelCredentials:
        """Fetch, verify and pin ``expected_peer``'s certificate at ``target``."""
        if target is None or expected_peer is None:
            raise ValueError("attested channel: target and expected_peer are required")
        pinned, _ = self.verify_server(target, expected_peer)
        if identity is None:
            return grpc.ssl_channel_credentials(root_certificates=pinned)
        cert, key = _snapshot(identity)
        return grpc.ssl_channel_credentials(
            root_certificates=pinned, private_key=key, certificate_chain=cert
        )

    def channel_options(self, expected_peer: str) -> list[tuple[str, Any]]:
        """Match the pinned certificate's SAN (the service name) whatever host was dialled."""
        return [("grpc.ssl_target_name_override", expected_peer)]

    def peer_identity(self, context: grpc.ServicerContext) -> str | None:
        """The verified service name of the call's client certificate (None if it has none)."""
        certs = context.auth_context().get("x509_pem_cert") or []
        if not certs:
            return None
        pem = certs[0] if isinstance(certs[0], bytes) else str(certs[0]).encode()
        with self._lock:
            fp = self._pem_fps.get(pem)
        if fp is None:
            try:
                fp = fingerprint(_pem_to_der(pem))
            except ValueError:
                return None
            with self._lock:
                if len(self._pem_fps) > 4096:
                    self._pem_fps.clear()
                self._pem_fps[pem] = fp
        with self._lock:
            return self._peers.get(fp)


def _snapshot(identity: Identity) -> tuple[bytes, bytes]:
    """(certificate, key) of ``identity`` taken together (a renewal cannot split them)."""
    if isinstance(identity, RenewingIdentity):
        current = identity.current()
        return current.cert_pem, current.key_pem
    return identity.cert_pem, identity.key_pem


_UNUSABLE: list[bytes] = []


def _unusable_anchor() -> bytes:
    """A self-signed certificate whose key is discarded: a client-root set matching nobody."""
    if not _UNUSABLE:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no client is accepted")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        _UNUSABLE.append(cert.public_bytes(serialization.Encoding.PEM))
    return _UNUSABLE[0]
