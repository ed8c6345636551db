"""``RuntimeConfig``: Teaclave's ``runtime.config.toml`` sections plus teaclave-py's own.

Every validation error names the offending key (``internal_endpoints.storage.advertised_address:
...``). Environment overrides: Teaclave's four ``AS_ALGO``/``AS_URL``/``AS_SPID``/``AS_KEY``
(all or none) replace ``[attestation]``; any ``TEACLAVE__<section>__<key>[__<key>]=value``
sets one key (value parsed as a TOML value when it parses, else taken as a string).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from teaclave.config.build import INBOUND


class ConfigError(ValueError):
    """The configuration is invalid; the message starts with the offending key."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A listen address (``host:port``) and, for internal endpoints, where peers reach it."""

    listen_address: str
    advertised_address: str = ""

    @property
    def port(self) -> int:
        """Port of the listen address."""
        return int(self.listen_address.rsplit(":", 1)[1])

    @property
    def target(self) -> str:
        """``host:port`` clients dial (from the advertised address, scheme stripped)."""
        if self.advertised_address:
            return urlsplit(self.advertised_address).netloc
        host, port = self.listen_address.rsplit(":", 1)
        if host in ("0.0.0.0", "::", "[::]"):
            host = "localhost"
        return f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class AttestationConfig:
    """``[attestation]``: Teaclave's keys plus teaclave-py's attestation settings.

    ``platform`` is the TEE services run on (``sim``, ``sgx``, ``tdx``, ``sev-snp``; start-up
    fails loudly when its device is missing). ``validity_secs`` bounds a certificate's and its
    evidence's lifetime (renewed at 75 %). ``allow_debug`` accepts debug enclaves (never in
    production); ``tcb_allow`` lists the accepted TCB statuses; ``collateral`` (files) or
    ``pccs_url`` provide the collateral for real SGX/TDX quotes.
    """

    algorithm: str = "sgx_epid"
    url: str = "https://api.trustedservices.intel.com:443"
    key: str = "0" * 32
    spid: str = "0" * 32
    platform: str = "sim"
    validity_secs: float = 3600.0
    allow_debug: bool = False
    tcb_allow: tuple[str, ...] = ("UpToDate",)
    collateral: tuple[str, ...] = ()
    pccs_url: str = ""


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """``[audit]`` (teaclave-py keys): auditor public keys (PEM paths) and the signature quorum.

    With no ``[audit] enclave_info`` a ``sim`` deployment uses the development enclave_info
    and auditors kept in its state directory (``<state>/tee``).
    """

    auditor_public_keys: tuple[str, ...] = ()
    quorum: int = 1


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """``[scheduler]`` (teaclave-py): worker liveness and retry policy."""

    executor_timeout_secs: float = 30.0
    max_attempts: int = 2
    heartbeat_wait_secs: float = 1.0


@dataclass(frozen=True, slots=True)
class FrontendConfig:
    """``[frontend]`` (teaclave-py): audit flushing and the credential cache lifetime."""

    audit_flush_secs: float = 1.0
    credential_cache_secs: float = 1.0


@dataclass(frozen=True, slots=True)
class FileAgentConfig:
    """``[file_agent]`` (teaclave-py): where the execution worker may fetch and put files.

    ``allowed_hosts`` lists destinations (``host``, ``host:port`` or a CIDR such as
    ``10.0.0.0/8``) that may be reached even though they are loopback, private, link-local or
    otherwise non-public; with ``deny_private`` (the default) every other non-public address is
    refused, so a task cannot be pointed at internal services. ``file_roots`` are the only
    directories ``file://`` URLs may name (none by default: ``file://`` is off).
    """

    allowed_hosts: tuple[str, ...] = ()
    deny_private: bool = True
    file_roots: tuple[str, ...] = ()
    max_file_bytes: int = 1 << 30
    timeout_secs: float = 30.0
    s3_endpoint_url: str = ""
    work_dir: str = ""


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """``[executor]`` (teaclave-py): limits every run of a function gets.

    ``deadline_secs`` bounds a run's wall time; ``memory_mib`` caps a Python run's memory
    (WASI linear memory or the native sandbox's address space); ``wasm_heap_mib`` is the
    WebAssembly executor's memory (Teaclave's WAMR heap, 20 MiB); ``fuel`` bounds the
    WebAssembly instructions a run may execute (0: no fuel limit, the deadline still holds);
    ``max_result_bytes`` caps the summary a function returns; ``cache_dir`` keeps compiled
    modules (default ``<state>/cache``).
    """

    deadline_secs: float = 600.0
    memory_mib: int = 512
    wasm_heap_mib: int = 20
    fuel: int = 0
    max_result_bytes: int = 1 << 20
    cache_dir: str = ""


@dataclass(frozen=True, slots=True)
class AuthenticationConfig:
    """``[authentication]`` (teaclave-py): bootstrap admin, password hashing, token lifetime.

    ``admin_password`` (or env ``TEACLAVE_ADMIN_PASSWORD``) creates the PlatformAdmin ``admin``
    at first start; ``dev`` creates Teaclave's ``admin``/``teaclave`` instead (loudly).
    """

    admin_password: str = ""
    dev: bool = False
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    token_lifetime_secs: float = 86400.0


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """The whole runtime configuration of one service process (or of ``teaclave up``)."""

    api_endpoints: dict[str, Endpoint]
    internal_endpoints: dict[str, Endpoint]
    state_dir: str = "teaclave_state"
    fusion_base_dir: str = "/tmp/fusion_data"
    enclave_info: str = ""
    auditor_signatures: tuple[str, ...] = ()
    attestation: AttestationConfig = field(default_factory=AttestationConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    authentication: AuthenticationConfig = field(default_factory=AuthenticationConfig)
    file_agent: FileAgentConfig = field(default_factory=FileAgentConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    # ------------------------------------------------------------------ construction
    @classmethod
    def default(cls, host: str = "localhost", state_dir: str = "teaclave_state") -> RuntimeConfig:
        """Teaclave's default ports (7776/7777 and 17776-17780) on ``host``."""
        return cls.from_dict(default_dict(host=host, state_dir=state_dir))

    @classmethod
    def from_toml(
        cls, path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
    ) -> RuntimeConfig:
        """Read ``path``, apply environment overrides and validate.

        Relative paths in the file are resolved against the file's directory.
        """
        file = Path(path)
        try:
            raw = tomllib.loads(file.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{file}: no such configuration file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML ({exc})") from None
        apply_env_overrides(raw, os.environ if env is None else env)
        config = cls.from_dict(raw)
        base = file.resolve().parent
        return config.with_paths_resolved(base)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RuntimeConfig:
        """Validate a parsed TOML document (or ``to_dict`` output)."""
        return _parse(raw)

    def to_dict(self) -> dict[str, Any]:
        """A TOML-shaped plain dict; ``from_dict(to_dict())`` round-trips."""
        data: dict[str, Any] = {
            "api_endpoints": {
                name: {"listen_address": ep.listen_address}
                for name, ep in self.api_endpoints.items()
            },
            "internal_endpoints": {
                name: {
                    "listen_address": ep.listen_address,
                    "advertised_address": ep.advertised_address,
                }
                for name, ep in self.internal_endpoints.items()
            },
            "state": {"dir": self.state_dir},
            "mount": {"fusion_base_dir": self.fusion_base_dir},
            "audit": {
                "enclave_info": {"path": self.enclave_info},
                "auditor_signatures": [{"path": p} for p in self.auditor_signatures],
                "auditor_public_keys": list(self.audit.auditor_public_keys),
                "quorum": self.audit.quorum,
            },
            "attestation": {
                **asdict(self.attestation),
                "tcb_allow": list(self.attestation.tcb_allow),
                "collateral": list(self.attestation.collateral),
            },
            "scheduler": asdict(self.scheduler),
            "frontend": asdict(self.frontend),
            "authentication": asdict(self.authentication),
            "executor": asdict(self.executor),
            "file_agent": {
                **asdict(self.file_agent),
                "allowed_hosts": list(self.file_agent.allowed_hosts),
                "file_roots": list(self.file_agent.file_roots),
            },
        }
        return data

    def with_paths_resolved(self, base: Path) -> RuntimeConfig:
        """Resolve relative file paths against ``base``."""

        def resolve(p: str) -> str:
            return p if not p or Path(p).is_absolute() else str(base / p)

        data = self.to_dict()
        data["state"]["dir"] = resolve(self.state_dir)
        data["mount"]["fusion_base_dir"] = resolve(self.fusion_base_dir)
        data["audit"]["enclave_info"]["path"] = resolve(self.enclave_info)
        data["audit"]["auditor_signatures"] = [
            {"path": resolve(p)} for p in self.auditor_signatures
        ]
        data["audit"]["auditor_public_keys"] = [resolve(p) for p in self.audit.auditor_public_keys]
        data["attestation"]["collateral"] = [resolve(p) for p in self.attestation.collateral]
        data["file_agent"]["file_roots"] = [resolve(p) for p in self.file_agent.file_roots]
        data["file_agent"]["work_dir"] = resolve(self.file_agent.work_dir)
        data["executor"]["cache_dir"] = resolve(self.executor.cache_dir)
        return _parse(data)

    @property
    def state_path(self) -> Path:
        """The state directory as a path."""
        return Path(self.state_dir)


INTERNAL_NAMES = (
    "authentication",
    "management",
    "storage",
    "access_control",
    "execution",
    "scheduler",
)
API_NAMES = ("authentication", "frontend")
_DEFAULT_PORTS = {
    "authentication": 17776,
    "management": 17777,
    "storage": 17778,
    "access_control": 17779,
    "execution": 17770,
    "scheduler": 17780,
}


def default_dict(
    host: str = "localhost",
    state_dir: str = "teaclave_state",
    api_ports: Mapping[str, int] | None = None,
    internal_ports: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A TOML-shaped default configuration, with optional port overrides."""
    api = {"authentication": 7776, "frontend": 7777, **(api_ports or {})}
    internal = {**_DEFAULT_PORTS, **(internal_ports or {})}
    return {
        "api_endpoints": {n: {"listen_address": f"{host}:{p}"} for n, p in api.items()},
        "internal_endpoints": {
            n: {"listen_address": f"{host}:{p}", "advertised_address": f"https://{host}:{p}"}
            for n, p in internal.items()
        },
        "state": {"dir": state_dir},
        "mount": {"fusion_base_dir": str(Path(state_dir) / "fusion_data")},
    }


def apply_env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Apply ``AS_*`` and ``TEACLAVE__section__key`` overrides to a raw document in place."""
    as_keys = {"AS_ALGO": "algorithm", "AS_URL": "url", "AS_SPID": "spid", "AS_KEY": "key"}
    if all(k in env for k in as_keys):
        section = raw.setdefault("attestation", {})
        for env_key, key in as_keys.items():
            section[key] = env[env_key]
    if env.get("TEACLAVE_ADMIN_PASSWORD"):
        raw.setdefault("authentication", {})["admin_password"] = env["TEACLAVE_ADMIN_PASSWORD"]
    for name, value in env.items():
        if not name.startswith("TEACLAVE__"):
            continue
        path = [p.lower() for p in name[len("TEACLAVE__") :].split("__") if p]
        if not path:
            continue
        target = raw
        for part in path[:-1]:
            node = target.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {part} is not a section")
            target = node
        try:
            target[path[-1]] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            target[path[-1]] = value


# ---------------------------------------------------------------------- validation
def _table(
    raw: Mapping[str, Any], key: str, where: str, required: bool = True
) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}{key}: missing section")
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}{key}: expected a table")
    return value


def _string(raw: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if value is None:
        raise ConfigError(f"{where}{key}: missing")
    if not isinstance(value, str):
        raise ConfigError(f"{where}{key}: expected a string, got {type(value).__name__}")
    return value


def _bool(raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}{key}: expected true or false")
    return value


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}{key}: expected an array of strings")
    return tuple(value)


def _number(raw: Mapping[str, Any], key: str, where: str, default: float, minimum: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}{key}: expected a number")
    if value < minimum:
        raise ConfigError(f"{where}{key}: must be >= {minimum}")
    return float(value)


def _socket_address(value: str, key: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{key}: {value!r} is not host:port")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{key}: {value!r} has an invalid port")
    return value


def _endpoint(raw: Mapping[str, Any], where: str, internal: bool) -> Endpoint:
    listen = _socket_address(_string(raw, "listen_address", where), f"{where}listen_address")
    if not internal:
        return Endpoint(listen)
    advertised = _string(raw, "advertised_address", where)
    parts = urlsplit(advertised)
    if parts.scheme != "https" or not parts.netloc:
        raise ConfigError(
            f"{where}advertised_address: {advertised!r} needs the form https://host:port"
        )
    _socket_address(parts.netloc, f"{where}advertised_address")
    return Endpoint(listen, advertised)


def _parse(raw: Mapping[str, Any]) -> RuntimeConfig:
    api_raw = _table(raw, "api_endpoints", "")
    api = {
        n: _endpoint(_table(api_raw, n, "api_endpoints."), f"api_endpoints.{n}.", False)
        for n in API_NAMES
    }
    internal_raw = _table(raw, "internal_endpoints", "")
    internal = {
        n: _endpoint(
            _table(internal_raw, n, "internal_endpoints."), f"internal_endpoints.{n}.", True
        )
        for n in INTERNAL_NAMES
    }
    unknown = sorted(set(internal_raw) - set(INTERNAL_NAMES))
    if unknown:
        raise ConfigError(f"internal_endpoints.{unknown[0]}: unknown service")
    state = _table(raw, "state", "", required=False)
    mount = _table(raw, "mount", "", required=False)
    audit = _table(raw, "audit", "", required=False)
    enclave_info = _table(audit, "enclave_info", "audit.", required=False)
    signatures = audit.get("auditor_signatures", [])
    if not isinstance(signatures, list):
        raise ConfigError("audit.auditor_signatures: expected an array of { path = ... }")
    sig_paths = tuple(
        _string(s if isinstance(s, Mapping) else {}, "path", f"audit.auditor_signatures[{i}].")
        for i, s in enumerate(signatures)
    )
    att = _table(raw, "attestation", "", required=False)
    attestation = AttestationConfig(
        algorithm=_string(att, "algorithm", "attestation.", "sgx_epid"),
        url=_string(att, "url", "attestation.", "https://api.trustedservices.intel.com:443"),
        key=_string(att, "key", "attestation.", "0" * 32),
        spid=_string(att, "spid", "attestation.", "0" * 32),
        platform=_string(att, "platform", "attestation.", "sim"),
        validity_secs=_number(att, "validity_secs", "attestation.", 3600.0, 1.0),
        allow_debug=_bool(att, "allow_debug", "attestation.", False),
        tcb_allow=_strings(att, "tcb_allow", "attestation.")
        if "tcb_allow" in att
        else ("UpToDate",),
        collateral=_strings(att, "collateral", "attestation."),
        pccs_url=_string(att, "pccs_url", "attestation.", ""),
    )
    if attestation.algorithm not in ("sgx_epid", "sgx_ecdsa"):
        raise ConfigError("attestation.algorithm: must be sgx_epid or sgx_ecdsa")
    if not urlsplit(attestation.url).scheme:
        raise ConfigError("attestation.url: not a URL")
    for key in ("key", "spid"):
        if len(getattr(attestation, key)) != 32:
            raise ConfigError(f"attestation.{key}: must be exactly 32 characters")
    if attestation.platform not in ("sim", "sgx", "tdx", "sev-snp"):
        raise ConfigError(
            f"attestation.platform: {attestation.platform!r} is not sim, sgx, tdx or sev-snp"
        )
    if not attestation.tcb_allow:
        raise ConfigError("attestation.tcb_allow: must not be empty")
    quorum = _number(audit, "quorum", "audit.", 1, 1)
    if quorum != int(quorum):
        raise ConfigError("audit.quorum: expected an integer")
    audit_config = AuditConfig(
        auditor_public_keys=_strings(audit, "auditor_public_keys", "audit."),
        quorum=int(quorum),
    )
    sched = _table(raw, "scheduler", "", required=False)
    scheduler = SchedulerConfig(
        executor_timeout_secs=_number(sched, "executor_timeout_secs", "scheduler.", 30.0, 0.1),
        max_attempts=int(_number(sched, "max_attempts", "scheduler.", 2, 1)),
        heartbeat_wait_secs=_number(sched, "heartbeat_wait_secs", "scheduler.", 1.0, 0.01),
    )
    if scheduler.heartbeat_wait_secs >= scheduler.executor_timeout_secs:
        raise ConfigError("scheduler.heartbeat_wait_secs: must be below executor_timeout_secs")
    front = _table(raw, "frontend", "", required=False)
    frontend = FrontendConfig(
        audit_flush_secs=_number(front, "audit_flush_secs", "frontend.", 1.0, 0.01),
        credential_cache_secs=_number(front, "credential_cache_secs", "frontend.", 1.0, 0.0),
    )
    auth = _table(raw, "authentication", "", required=False)
    dev = auth.get("dev", False)
    if not isinstance(dev, bool):
        raise ConfigError("authentication.dev: expected true or false")
    authentication = AuthenticationConfig(
        admin_password=_string(auth, "admin_password", "authentication.", ""),
        dev=dev,
        argon2_time_cost=int(_number(auth, "argon2_time_cost", "authentication.", 3, 1)),
        argon2_memory_kib=int(_number(auth, "argon2_memory_kib", "authentication.", 65536, 8)),
        argon2_parallelism=int(_number(auth, "argon2_parallelism", "authentication.", 4, 1)),
        token_lifetime_secs=_number(auth, "token_lifetime_secs", "authentication.", 86400, 1),
    )
    agent = _table(raw, "file_agent", "", required=False)
    file_agent = FileAgentConfig(
        allowed_hosts=_strings(agent, "allowed_hosts", "file_agent."),
        deny_private=_bool(agent, "deny_private", "file_agent.", True),
        file_roots=_strings(agent, "file_roots", "file_agent."),
        max_file_bytes=int(_number(agent, "max_file_bytes", "file_agent.", 1 << 30, 1)),
        timeout_secs=_number(agent, "timeout_secs", "file_agent.", 30.0, 0.1),
        s3_endpoint_url=_string(agent, "s3_endpoint_url", "file_agent.", ""),
        work_dir=_string(agent, "work_dir", "file_agent.", ""),
    )
    ex = _table(raw, "executor", "", required=False)
    executor = ExecutorConfig(
        deadline_secs=_number(ex, "deadline_secs", "executor.", 600.0, 0.01),
        memory_mib=int(_number(ex, "memory_mib", "executor.", 512, 16)),
        wasm_heap_mib=int(_number(ex, "wasm_heap_mib", "executor.", 20, 1)),
        fuel=int(_number(ex, "fuel", "executor.", 0, 0)),
        max_result_bytes=int(_number(ex, "max_result_bytes", "executor.", 1 << 20, 1)),
        cache_dir=_string(ex, "cache_dir", "executor.", ""),
    )
    return RuntimeConfig(
        api_endpoints=api,
        internal_endpoints=internal,
        state_dir=_string(state, "dir", "state.", "teaclave_state"),
        fusion_base_dir=_string(mount, "fusion_base_dir", "mount.", "/tmp/fusion_data"),
        enclave_info=_string(enclave_info, "path", "audit.enclave_info.", ""),
        auditor_signatures=sig_paths,
        attestation=attestation,
        audit=audit_config,
        scheduler=scheduler,
        frontend=frontend,
        authentication=authentication,
        file_agent=file_agent,
        executor=executor,
    )


assert set(INBOUND) <= set(INTERNAL_NAMES)
