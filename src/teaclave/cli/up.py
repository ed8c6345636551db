"""``teaclave up``: the embedded platform in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from teaclave.config import ConfigError, RuntimeConfig
from teaclave.services.embedded import EmbeddedPlatform, PlatformStartError

DEV_WARNING = """\
WARNING: --dev created (or kept) the account admin/teaclave, whose password is public.
WARNING: It exists so that Apache Teaclave's examples run unchanged.
WARNING: Never use --dev with real data."""

DEV_SHADOWED_WARNING = """\
WARNING: --dev was given together with an admin password: a new 'admin' account gets the
WARNING: configured password, not Teaclave's public 'teaclave'. Never use --dev with real data."""


def load_config(args: argparse.Namespace) -> RuntimeConfig:
    """The configuration ``up`` runs with, from ``--config`` or defaults plus flags."""
    if args.config:
        try:
            config = RuntimeConfig.from_toml(args.config)
        except OSError as exc:  # FileNotFoundError is a ConfigError; this is e.g. a directory
            raise ConfigError(f"{args.config}: cannot read ({exc.strerror or exc})") from None
    else:
        config = RuntimeConfig.default(host=args.host, state_dir=args.state_dir or "teaclave_state")
    if args.state_dir:
        config = replace(config, state_dir=args.state_dir)
    config = config.with_paths_resolved(Path.cwd())
    auth = config.authentication
    if args.admin_password:
        auth = replace(auth, admin_password=args.admin_password)
    if args.dev:
        auth = replace(auth, dev=True)
    agent = config.file_agent
    if args.allow_host:
        agent = replace(agent, allowed_hosts=(*agent.allowed_hosts, *args.allow_host))
    return replace(config, authentication=auth, file_agent=agent)


def _error(text: str) -> None:
    print(f"teaclave up: {text}", file=sys.stderr, flush=True)


def run_up(args: argparse.Namespace) -> int:
    """Start everything, print the endpoints, block until SIGINT/SIGTERM, stop cleanly."""
    try:
        config = load_config(args)
    except ConfigError as exc:
        _error(f"configuration error: {exc}")
        return 2
    if args.workers < 0:
        _error("--workers must be >= 0")
        return 2
    # Handlers go in before the (multi-second) start: a signal that arrives while services
    # are starting must still stop them cleanly, not kill the process half-way.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    platform = EmbeddedPlatform(config, workers=args.workers)
    try:
        platform.start()
    except PlatformStartError as exc:
        _error(str(exc))
        return 1
    if config.authentication.dev:
        shadowed = bool(config.authentication.admin_password)
        print(DEV_SHADOWED_WARNING if shadowed else DEV_WARNING)
    print("teaclave-py platform is up (TEE platform: sim — simulation, no hardware protection)")
    print(f"  authentication API  {config.api_endpoints['authentication'].listen_address}")
    print(f"  frontend API        {config.api_endpoints['frontend'].listen_address}")
    for name, endpoint in sorted(config.internal_endpoints.items()):
        if name != "execution":
            print(f"  {name:<19} {endpoint.listen_address} (internal, mutual TLS)")
    print(f"  execution workers   {args.workers}")
    print(f"  state directory     {config.state_dir}")
    print(f"  attestation root    {platform.attestation_root_path}")
    print(f"  enclave info        {platform.enclave_info_path} (signed by the dev auditors)")
    print("Press Ctrl-C to stop.", flush=True)
    stop.wait()
    print("stopping...", flush=True)
    platform.stop()
    print("stopped.", flush=True)
    return 0
