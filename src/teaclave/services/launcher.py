"""What every service shares: attested identities, the standard enclave, and the app launcher.

**Identities** (:func:`service_identity`): every service and execution worker gets an RA-TLS
identity issued on the configured TEE platform (``[attestation] platform``; start-up fails
loudly through ``get_platform`` when the device is missing), registered in
``<state>/tee/identities`` and renewed in the background before ``validity_secs`` elapse, and an
:class:`~teaclave.rpc.attested.AttestedVerifier` whose policy trusts exactly the audited
enclave_info.

**Audit material**: a deployment names ``[audit] enclave_info``, ``auditor_signatures``,
``auditor_public_keys`` and ``quorum``. Without ``enclave_info`` a ``sim`` deployment uses the
development material of its state directory (:func:`provision_dev_audit`): two development
auditor keys (private keys 0600 in ``<state>/tee/auditors``), the sim measurements of all
seven services in ``<state>/tee/enclave_info.toml`` and one signature per auditor — re-measured
and re-signed whenever the code changes. Hardware platforms must name their audit material.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from teaclave.binder import (
    ECallCommand,
    Enclave,
    FinalizeEnclaveInput,
    FinalizeEnclaveOutput,
    InitEnclaveInput,
    InitEnclaveOutput,
    StartServiceInput,
    StartServiceOutput,
    TeeBinder,
    TeeServiceError,
)
from teaclave.binder.enclave import register_table
from teaclave.config import RuntimeConfig
from teaclave.config.build import (
    ACCESS_CONTROL,
    AUTHENTICATION,
    EXECUTION,
    FRONTEND,
    MANAGEMENT,
    SCHEDULER,
    STORAGE,
)
from teaclave.rpc.attested import AttestedVerifier, RenewingIdentity, registry_dir
from teaclave.tee import (
    EnclaveInfo,
    FileCollateral,
    PccsCollateral,
    TeePlatform,
    VerificationPolicy,
    generate_auditor_key,
    get_platform,
    load_audited_enclave_info,
    sign_enclave_info,
)
from teaclave.tee._files import ensure_dir, write_atomic, write_private
from teaclave.tee.dcap import CollateralSource

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    """Anything a service starts and must stop at finalization (servers, loops)."""

    def stop(self, grace: float | None) -> Any:
        """Stop; ``grace`` seconds for in-flight work."""
        ...


StartFn = Callable[[RuntimeConfig, Enclave], Sequence[Stoppable]]


#: Every service an enclave_info must list.
ALL_SERVICES = (AUTHENTICATION, FRONTEND, MANAGEMENT, STORAGE, ACCESS_CONTROL, EXECUTION, SCHEDULER)
DEV_AUDITORS = 2
ENCLAVE_INFO_FILE = "enclave_info.toml"
AUDITORS_DIR = "auditors"


@dataclass(frozen=True, slots=True)
class AuditMaterial:
    """Where enclave_info, its auditor signatures and the auditor public keys are."""

    enclave_info: Path
    signatures: tuple[Path, ...]
    auditor_keys: tuple[Path, ...]
    quorum: int


def dev_audit_material(state_dir: str | os.PathLike[str], quorum: int = 1) -> AuditMaterial:
    """The paths :func:`provision_dev_audit` uses in ``state_dir`` (they may not exist yet)."""
    tee = Path(state_dir) / "tee"
    auditors = tee / AUDITORS_DIR
    return AuditMaterial(
        enclave_info=tee / ENCLAVE_INFO_FILE,
        signatures=tuple(
            tee / f"{ENCLAVE_INFO_FILE}.dev-auditor-{i}.sig" for i in range(DEV_AUDITORS)
        ),
        auditor_keys=tuple(auditors / f"dev-auditor-{i}.pub" for i in range(DEV_AUDITORS)),
        quorum=quorum,
    )


def provision_dev_audit(
    state_dir: str | os.PathLike[str], platform: TeePlatform, quorum: int = 1
) -> AuditMaterial:
    """Create (or refresh) the development audit material of ``state_dir``; return its paths.

    Idempotent and safe between processes: the auditor keys are created once (atomically);
    enclave_info is rewritten only when the measurements changed, signatures first and the
    enclave_info file last (Ed25519 signatures are deterministic, so racing writers agree).
    """
    material = dev_audit_material(state_dir, quorum)
    auditors = material.auditor_keys[0].parent

    def make_keys(tmp: Path) -> None:
        for i in range(DEV_AUDITORS):
            private_pem, public_pem = generate_auditor_key()
            write_private(tmp / f"dev-auditor-{i}.key", private_pem)
            (tmp / f"dev-auditor-{i}.pub").write_bytes(public_pem)

    ensure_dir(auditors, make_keys)
    info = EnclaveInfo.render({name: platform.measurement(name) for name in ALL_SERVICES})
    try:
        current = material.enclave_info.read_bytes()
    except FileNotFoundError:
        current = b""
    if current != info:
        for i, sig_path in enumerate(material.signatures):
            private_pem = (auditors / f"dev-auditor-{i}.key").read_bytes()
            write_atomic(sig_path, sign_enclave_info(info, private_pem))
        write_atomic(material.enclave_info, info)
        log.info(
            "%s: (re)generated the development enclave_info and signed it with the "
            "development auditor keys in %s",
            material.enclave_info,
            auditors,
        )
    return material


def audit_material(config: RuntimeConfig, platform: TeePlatform) -> AuditMaterial:
    """The configured audit material, or the state directory's development one (``sim``).

    Configured material needs ``[audit] enclave_info``, ``auditor_signatures`` and
    ``auditor_public_keys``. A ``sim`` deployment without ``auditor_public_keys`` uses the
    development material (a Teaclave-style config naming only ``enclave_info`` gets a warning
    that it is not used); a hardware platform without complete material fails to start.
    """
    if config.audit.auditor_public_keys:
        if not config.enclave_info:
            raise ValueError("audit.enclave_info: required with audit.auditor_public_keys")
        if not config.auditor_signatures:
            raise ValueError("audit.auditor_signatures: required with audit.auditor_public_keys")
        return AuditMaterial(
            enclave_info=Path(config.enclave_info),
            signatures=tuple(Path(p) for p in config.auditor_signatures),
            auditor_keys=tuple(Path(p) for p in config.audit.auditor_public_keys),
            quorum=config.audit.quorum,
        )
    if platform.name != "sim":
        raise ValueError(
            f"audit.auditor_public_keys: required on platform {platform.name} (with "
            "audit.enclave_info and audit.auditor_signatures; development material is only "
            "generated for sim)"
        )
    if config.enclave_info:
        log.info(
            "audit.enclave_info %s is not used: no audit.auditor_public_keys are configured, "
            "so the sim platform uses its development enclave_info in %s/tee",
            config.enclave_info,
            config.state_dir,
        )
    return provision_dev_audit(config.state_dir, platform, config.audit.quorum)


def attestation_policy(config: RuntimeConfig, platform: TeePlatform) -> VerificationPolicy:
    """The verification policy of a service: audited enclave_info plus ``[attestation]``."""
    material = audit_material(config, platform)
    info = load_audited_enclave_info(
        material.enclave_info, material.signatures, material.auditor_keys, quorum=material.quorum
    )
    att = config.attestation
    common: dict[str, Any] = {
        "attestation_validity_secs": att.validity_secs,
        "allow_debug": att.allow_debug,
        "tcb_allow": frozenset(att.tcb_allow),
    }
    if platform.name == "sim":
        return VerificationPolicy.simulation(config.state_dir, info, **common)
    collateral: CollateralSource | None = None
    if att.collateral:
        collateral = FileCollateral(att.collateral)
    elif att.pccs_url:
        collateral = PccsCollateral(att.pccs_url)
    return VerificationPolicy(
        enclave_info=info, platforms=frozenset({platform.name}), collateral=collateral, **common
    )


_tracking = threading.local()


def service_identity(config: RuntimeConfig, name: str) -> tuple[RenewingIdentity, AttestedVerifier]:
    """Issue ``name`` an attested identity on the configured platform, and its verifier.

    Inside a running service the identity is renewed by a background thread that stops when
    the service is finalized; elsewhere (tests, tools) it is renewed when used after its
    renewal time.
    """
    platform = get_platform(config.attestation.platform, config.state_dir)
    policy = attestation_policy(config, platform)
    registry = registry_dir(config.state_dir)
    identity = RenewingIdentity(name, platform, registry, config.attestation.validity_secs)
    started: list[RenewingIdentity] | None = getattr(_tracking, "identities", None)
    if started is not None:
        started.append(identity.start())
    return identity, AttestedVerifier(policy, registry)


def run_service(enclave: Enclave, config: RuntimeConfig, start: StartFn) -> None:
    """Start the service, mark the enclave ready, block until finalized, then stop it."""
    identities: list[RenewingIdentity] = []
    _tracking.identities = identities
    try:
        started = list(start(config, enclave))
    except BaseException:
        for identity in identities:
            identity.stop()
        raise
    finally:
        _tracking.identities = None
    handles: list[Stoppable] = [*identities, *started]  # renewal stops last
    enclave.resources["handles"] = handles
    enclave.ready.set()
    try:
        enclave.stop.wait()
    finally:
        for handle in reversed(handles):
            try:
                stopped = handle.stop(1.0)
                if isinstance(stopped, threading.Event):  # grpc.Server.stop: wait for in-flight
                    stopped.wait(5.0)
            except Exception:
                log.exception("stopping %r failed", handle)


def standard_enclave(module: str, start: StartFn) -> None:
    """Register Init/Start/Finalize handlers for the enclave module ``module``."""

    def init(_: InitEnclaveInput, enclave: Enclave) -> InitEnclaveOutput:
        return InitEnclaveOutput()

    def start_service(request: StartServiceInput, enclave: Enclave) -> StartServiceOutput:
        run_service(enclave, request.config, start)
        return StartServiceOutput()

    def finalize(_: FinalizeEnclaveInput, enclave: Enclave) -> FinalizeEnclaveOutput:
        enclave.stop.set()
        return FinalizeEnclaveOutput()

    register_table(
        module,
        {
            ECallCommand.INIT_ENCLAVE: (InitEnclaveInput, InitEnclaveOutput, init),
            ECallCommand.START_SERVICE: (StartServiceInput, StartServiceOutput, start_service),
            ECallCommand.FINALIZE_ENCLAVE: (FinalizeEnclaveInput, FinalizeEnclaveOutput, finalize),
        },
    )


def launch(package_name: str, argv: Sequence[str] | None = None) -> int:
    """The untrusted app of one service: load config, bind the enclave, serve until a signal.

    Exit status 0 after a clean stop, 1 if the service failed to start or stopped by itself.
    """
    parser = argparse.ArgumentParser(prog=package_name)
    parser.add_argument("--config", default="runtime.config.toml", help="runtime config file")
    parser.add_argument(
        "--enclave-mode",
        choices=["in-process", "child-process"],
        default=os.environ.get("TEACLAVE_ENCLAVE_MODE", "in-process"),
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("TEACLAVE_LOG", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = RuntimeConfig.from_toml(args.config)
    tee = TeeBinder(package_name, mode=args.enclave_mode)
    done = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            tee.invoke(ECallCommand.START_SERVICE, StartServiceInput(config), StartServiceOutput)
        except TeeServiceError as exc:
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=serve, name=f"{package_name}-start", daemon=True)
    thread.start()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    tee.finalize()
    thread.join(timeout=10)
    if failure:
        log.error("%s: %s", package_name, failure[0])
        return 1
    return 0
