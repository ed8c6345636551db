"""``teaclave audit keygen | sign | verify``: auditor keys and enclave_info signatures.

* ``keygen --out KEY.pem [--public PUB.pem] [--type ed25519]`` — a new auditor key pair; the
  private key is written with mode 0600; existing files are never overwritten. Without
  ``--public`` the public key is printed.
* ``sign --key KEY.pem --enclave-info TOML --out SIG`` — sign the exact bytes of a valid
  enclave_info (a file the verifier would refuse is not signed).
* ``verify --enclave-info TOML --signature SIG... --public-key PUB... [--quorum N]`` — prints
  Teaclave's ``Verify successfully.`` (exit 0) or ``Failed to verify signatures: <why>``
  (exit 1). The quorum defaults to the number of distinct public keys given (every listed
  auditor must have signed); an empty signature list, a signature no key verifies, and
  duplicate signatures of one auditor (counted once) fail as in
  :func:`teaclave.tee.verify_auditor_signatures`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO, cast

from teaclave.tee import (
    AttestationError,
    EnclaveInfo,
    generate_auditor_key,
    load_auditor_key,
    sign_enclave_info,
    verify_auditor_signatures,
)
from teaclave.tee.enclave_info import AuditorKeyType

__all__ = ["FAILED", "VERIFIED", "add_arguments", "run_audit"]

VERIFIED = "Verify successfully."
FAILED = "Failed to verify signatures"
_KEY_TYPES = ("ed25519", "ecdsa-p256", "rsa-3072", "rsa-4096")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Subcommands of ``teaclave audit``."""
    sub = parser.add_subparsers(dest="audit_command", required=True)
    keygen = sub.add_parser("keygen", help="generate an auditor key pair")
    keygen.add_argument("--out", required=True, type=Path, metavar="KEY.pem")
    keygen.add_argument("--public", type=Path, metavar="PUB.pem", help="(default: print it)")
    keygen.add_argument("--type", choices=_KEY_TYPES, default="ed25519")

    sign = sub.add_parser("sign", help="sign an enclave_info.toml")
    sign.add_argument("--key", required=True, type=Path, metavar="KEY.pem")
    sign.add_argument("--enclave-info", required=True, type=Path, metavar="TOML")
    sign.add_argument("--out", required=True, type=Path, metavar="SIG")

    verify = sub.add_parser("verify", help="verify auditor signatures of an enclave_info.toml")
    verify.add_argument("--enclave-info", required=True, type=Path, metavar="TOML")
    verify.add_argument(
        "--signature", required=True, action="extend", nargs="+", type=Path, metavar="SIG"
    )
    verify.add_argument(
        "--public-key", required=True, action="extend", nargs="+", type=Path, metavar="PUB"
    )
    verify.add_argument(
        "--quorum", type=int, help="distinct auditors required (default: all public keys)"
    )


def _create(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _keygen(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    targets = [args.out] + ([args.public] if args.public else [])
    for path in targets:
        if path.exists():
            print(f"teaclave audit keygen: {path} exists; refusing to overwrite it", file=err)
            return 1
    private_pem, public_pem = generate_auditor_key(cast(AuditorKeyType, args.type))
    try:
        _create(args.out, private_pem, 0o600)
        if args.public:
            _create(args.public, public_pem, 0o644)
    except OSError as exc:
        print(f"teaclave audit keygen: {exc.filename}: {exc.strerror}", file=err)
        return 1
    fingerprint = load_auditor_key(public_pem).fingerprint
    print(f"private key: {args.out} (mode 0600)", file=out)
    if args.public:
        print(f"public key:  {args.public}", file=out)
    else:
        out.write(public_pem.decode())
    print(f"fingerprint: {fingerprint}", file=out)
    return 0


def _sign(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        data = args.enclave_info.read_bytes()
        key = args.key.read_bytes()
    except OSError as exc:
        print(f"teaclave audit sign: {exc.filename}: {exc.strerror}", file=err)
        return 1
    try:
        EnclaveInfo.parse(data)
        signature = sign_enclave_info(data, key)
    except AttestationError as exc:
        print(f"teaclave audit sign: {exc}", file=err)
        return 1
    try:
        args.out.write_bytes(signature)
    except OSError as exc:
        print(f"teaclave audit sign: {args.out}: {exc.strerror}", file=err)
        return 1
    print(f"signed {args.enclave_info} → {args.out}", file=out)
    return 0


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{what} {path}: {exc.strerror}") from None


def _verify(args: argparse.Namespace, out: TextIO) -> int:
    try:
        data = _read(args.enclave_info, "enclave_info")
        keys = [load_auditor_key(_read(p, "public key"), str(p)) for p in args.public_key]
        signatures = [_read(p, "signature") for p in args.signature]
        quorum = args.quorum if args.quorum is not None else len({k.fingerprint for k in keys})
        verify_auditor_signatures(data, signatures, keys, quorum=quorum)
        EnclaveInfo.parse(data)
    except (AttestationError, ValueError) as exc:
        print(f"{FAILED}: {exc}", file=out)
        return 1
    print(VERIFIED, file=out)
    return 0


def run_audit(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``teaclave audit <keygen|sign|verify>``."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if args.audit_command == "keygen":
        return _keygen(args, out, err)
    if args.audit_command == "sign":
        return _sign(args, out, err)
    return _verify(args, out)
