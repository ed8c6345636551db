"""``teaclave attest HOST:PORT``: fetch a service's RA-TLS certificate and verify its evidence.

The certificate is fetched with a plain TLS handshake (no certificate check, ALPN ``h2``, as a
gRPC client would), then verified with :mod:`teaclave.tee`: evidence, chain to the trusted roots,
report-data binding, debug and TCB status, freshness and — with an enclave_info — the
measurement. The verified identity is printed (exit 0), or exactly why it is refused (exit 1).

Trust: ``--root PEM`` (repeatable) trusts simulated roots; ``--state-dir DIR`` trusts that
state directory's simulated root ``<DIR>/tee/sim_root_cert.pem`` and, when no
``--enclave-info`` is given, uses the development audit material the services provision there
(``<DIR>/tee/enclave_info.toml``, its ``.dev-auditor-<i>.sig`` signatures and the keys in
``<DIR>/tee/auditors``; see :func:`teaclave.services.launcher.dev_audit_material`). An
explicit ``--enclave-info`` is checked against ``--signature``/``--public-key`` when given and
is otherwise reported as NOT audited. Hardware quotes (sgx, tdx) are verified against Intel's
root with the ``--collateral`` files.
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from teaclave.services.launcher import dev_audit_material
from teaclave.tee import (
    SIM_NOTICE,
    AttestationError,
    EnclaveInfo,
    FileCollateral,
    VerificationPolicy,
    VerifiedIdentity,
    load_audited_enclave_info,
    match_service,
    verify_certificate_evidence,
)
from teaclave.tee.policy import sim_root_der

__all__ = ["add_arguments", "fetch_certificate", "run_attest"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teaclave attest``."""
    parser.add_argument("address", metavar="HOST:PORT", help="the service endpoint")
    parser.add_argument(
        "--root",
        action="append",
        default=[],
        type=Path,
        metavar="PEM",
        help="trust this simulated attestation root (repeatable)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="trust this state directory's sim root (tee/sim_root_cert.pem) and use its "
        "audited development enclave_info (tee/enclave_info.toml)",
    )
    parser.add_argument(
        "--enclave-info", type=Path, metavar="TOML", help="accepted measurements per service"
    )
    parser.add_argument(
        "--signature",
        action="extend",
        nargs="+",
        default=[],
        type=Path,
        metavar="SIG",
        help="auditor signature(s) of the enclave_info (then it must be audited)",
    )
    parser.add_argument(
        "--public-key",
        action="extend",
        nargs="+",
        default=[],
        type=Path,
        metavar="PUB",
        help="auditor public key(s) the signatures are checked with",
    )
    parser.add_argument("--quorum", type=int, default=1, help="distinct auditors required")
    parser.add_argument("--service", help="require this enclave_info entry (default: any)")
    parser.add_argument(
        "--collateral",
        action="append",
        default=[],
        type=Path,
        metavar="JSON",
        help="DCAP collateral file for hardware quotes (repeatable)",
    )
    parser.add_argument(
        "--allow-debug", action="store_true", help="accept debug enclaves (never in production)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="connect timeout (seconds)")


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"address {address!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def fetch_certificate(address: str, timeout: float = 10.0) -> bytes:
    """The DER certificate the server at ``HOST:PORT`` presents (nothing is verified here)."""
    host, port = _split_address(address)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise OSError(f"{address}: the server presented no certificate")
    return der


def _load_roots(paths: Sequence[Path]) -> list[bytes]:
    roots = []
    for path in paths:
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except OSError as exc:
            raise ValueError(f"--root {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ValueError(f"--root {path}: not a PEM certificate ({exc})") from None
        roots.append(cert.public_bytes(serialization.Encoding.DER))
    return roots


def _enclave_info(args: argparse.Namespace) -> tuple[EnclaveInfo | None, str]:
    """The enclave_info to match (or None) and a note on how it was endorsed."""
    if args.enclave_info is None and args.state_dir is not None:
        material = dev_audit_material(args.state_dir, args.quorum)
        if material.enclave_info.is_file():
            info = load_audited_enclave_info(
                material.enclave_info,
                args.signature or material.signatures,
                args.public_key or material.auditor_keys,
                quorum=args.quorum,
            )
            note = f"{material.enclave_info} (audited by {len(info.auditors)} auditor key(s))"
            return info, note
    path: Path | None = args.enclave_info
    if path is None:
        return None, ""
    if args.signature or args.public_key:
        info = load_audited_enclave_info(path, args.signature, args.public_key, quorum=args.quorum)
        return info, f"{path} (audited by {len(info.auditors)} auditor key(s))"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"enclave_info {path}: {exc.strerror}") from None
    return EnclaveInfo.parse(data), f"{path} (NOT audited: no --signature/--public-key given)"


def _policy(args: argparse.Namespace, info: EnclaveInfo | None) -> VerificationPolicy:
    roots = _load_roots(args.root)
    if args.state_dir is not None:
        roots.append(sim_root_der(args.state_dir))
    platforms = {"sgx", "tdx"} | ({"sim"} if roots else set())
    return VerificationPolicy(
        enclave_info=info if info is not None else EnclaveInfo(identities={}),
        platforms=frozenset(platforms),
        sim_roots=tuple(roots),
        collateral=FileCollateral(args.collateral) if args.collateral else None,
        allow_debug=args.allow_debug,
        require_audited=bool(info is not None and info.auditors),
    )


def _verify(args: argparse.Namespace, der: bytes) -> tuple[VerifiedIdentity, str]:
    info, info_note = _enclave_info(args)
    policy = _policy(args, info)
    identity = verify_certificate_evidence(der, policy)
    if info is not None:
        expected = [args.service] if args.service else list(info)
        service = match_service(identity, expected, info)
        identity = dataclasses.replace(identity, service=service)
    elif args.service:
        raise ValueError("--service: needs an enclave_info (--enclave-info or --state-dir)")
    return identity, info_note


def run_attest(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``teaclave attest``: 0 verified, 1 refused or unreachable, 2 bad arguments."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        _split_address(args.address)
    except ValueError as exc:
        print(f"teaclave attest: {exc}", file=err)
        return 2
    try:
        der = fetch_certificate(args.address, args.timeout)
    except (OSError, ssl.SSLError) as exc:
        print(f"teaclave attest: {args.address}: cannot fetch the certificate: {exc}", file=err)
        return 1
    try:
        identity, info_note = _verify(args, der)
    except AttestationError as exc:
        print(f"REFUSED {args.address}: {type(exc).__name__}: {exc}", file=out)
        return 1
    except ValueError as exc:
        print(f"teaclave attest: {exc}", file=err)
        return 2
    print(f"VERIFIED {args.address}", file=out)
    print(identity.describe(), file=out)
    if info_note:
        print(f"enclave_info: {info_note}", file=out)
    if identity.simulated:
        print(f"WARNING: {SIM_NOTICE}", file=out)
    return 0
