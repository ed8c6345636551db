"""``teaclave``: run the platform (``up``, ``service``) or try it (``demo``)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from teaclave import __version__
from teaclave.cli.attest import add_arguments as add_attest_arguments
from teaclave.cli.audit import add_arguments as add_audit_arguments
from teaclave.cli.files import add_arguments as add_file_arguments
from teaclave.config.build import SERVICE_NAMES


def _logging(verbose: bool) -> None:
    level = os.environ.get("TEACLAVE_LOG", "DEBUG" if verbose else "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="teaclave", description="teaclave-py: the Teaclave secure computing platform"
    )
    parser.add_argument("--version", action="version", version=f"teaclave-py {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run all services and workers in this process")
    up.add_argument("--config", help="runtime.config.toml (default: Teaclave's ports)")
    up.add_argument("--state-dir", default=None, help="state directory (default ./teaclave_state)")
    up.add_argument("--host", default="localhost", help="address to listen on (default localhost)")
    up.add_argument("--workers", type=int, default=1, help="execution workers (default 1)")
    up.add_argument(
        "--admin-password",
        default=os.environ.get("TEACLAVE_ADMIN_PASSWORD", ""),
        help="create PlatformAdmin 'admin' with this password (env TEACLAVE_ADMIN_PASSWORD)",
    )
    up.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]|CIDR",
        help="let workers fetch from / put to this non-public destination (repeatable), "
        "e.g. localhost:6789 for Teaclave's example file server",
    )
    up.add_argument(
        "--dev",
        action="store_true",
        help="create Teaclave's admin/teaclave account (for Teaclave's examples only)",
    )

    service = sub.add_parser("service", help="run one service in this process")
    service.add_argument("name", choices=sorted(SERVICE_NAMES))
    service.add_argument("--config", default="runtime.config.toml")
    service.add_argument("--enclave-mode", choices=["in-process", "child-process"])

    for verb in ("encrypt", "decrypt"):
        files = sub.add_parser(verb, help=f"{verb} a file (aes-gcm-128/256, teaclave-file-128)")
        add_file_arguments(files)

    serve = sub.add_parser("serve-files", help="HTTP file server (GET/PUT) over a directory")
    serve.add_argument("directory", type=Path)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=6789)

    add_attest_arguments(sub.add_parser("attest", help="verify a service's attested identity"))
    add_audit_arguments(sub.add_parser("audit", help="auditor keys and enclave_info signatures"))

    demo = sub.add_parser(
        "demo", help="start a private platform and run a two-party private set intersection"
    )
    demo.add_argument(
        "--message", default="Hello, Teaclave!", help="what the warm-up echo task returns"
    )
    return parser


def _serve_files(args: argparse.Namespace) -> int:
    from teaclave.cli.file_server import FileServer

    if not args.directory.is_dir():
        print(f"teaclave serve-files: {args.directory} is not a directory", file=sys.stderr)
        return 2
    with FileServer(args.directory, args.host, args.port) as server:
        print(f"serving {args.directory} on http://{server.host}:{server.port}/ (GET and PUT)")
        print("Press Ctrl-C to stop.", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``teaclave`` command."""
    args = build_parser().parse_args(argv)
    _logging(args.verbose)
    if args.command == "up":
        from teaclave.cli.up import run_up

        return run_up(args)
    if args.command == "service":
        from teaclave.config import ConfigError, RuntimeConfig
        from teaclave.services.launcher import launch

        try:  # the launcher would die on a bad file with a traceback; say what is wrong instead
            RuntimeConfig.from_toml(args.config)
        except (ConfigError, OSError) as exc:
            print(f"teaclave service: configuration error: {exc}", file=sys.stderr)
            return 2
        extra = ["--config", args.config]
        if args.enclave_mode:
            extra += ["--enclave-mode", args.enclave_mode]
        return launch(SERVICE_NAMES[args.name], extra)
    if args.command in ("encrypt", "decrypt"):
        from teaclave.cli.files import run_files

        return run_files(args, encrypt=args.command == "encrypt")
    if args.command == "serve-files":
        return _serve_files(args)
    if args.command == "attest":
        from teaclave.cli.attest import run_attest

        return run_attest(args)
    if args.command == "audit":
        from teaclave.cli.audit import run_audit

        return run_audit(args)
    if args.command == "demo":
        from teaclave.cli.demo import run_demo

        return run_demo(args.message, out=sys.stdout)
    return 2
