"""RuntimeConfig: defaults, TOML (Teaclave's layout, spec §8.1), validation, env overrides."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from teaclave.config import INBOUND, MAX_MESSAGE_SIZE, SERVICE_NAMES, ConfigError, RuntimeConfig
from teaclave.config.runtime import Endpoint, apply_env_overrides, default_dict

TEACLAVE_RUNTIME_CONFIG = """\
# runtime.config.toml as shipped with Teaclave 0.6

[api_endpoints]
authentication = { listen_address = "0.0.0.0:7776" }
frontend = { listen_address = "0.0.0.0:7777" }

[internal_endpoints]
{internal}
[audit]
enclave_info = { path = "enclave_info.toml" }
auditor_signatures = [
    { path = "auditors/godzilla/godzilla.sign.sha256" },
    { path = "auditors/optimus_prime/optimus_prime.sign.sha256" },
    { path = "auditors/albus_dumbledore/albus_dumbledore.sign.sha256" },
]

[attestation]
algorithm = "sgx_epid"
url = "https://api.trustedservices.intel.com:443"
key = "00000000000000000000000000000000"
spid = "00000000000000000000000000000000"

[mount]
fusion_base_dir = "/tmp/fusion_data"
""".replace(
    "{internal}",
    "".join(
        f'{name} = {{ listen_address = "0.0.0.0:{port}", '
        f'advertised_address = "https://localhost:{port}" }}\n'
        for name, port in [
            ("authentication", 17776),
            ("management", 17777),
            ("storage", 17778),
            ("access_control", 17779),
            ("execution", 17770),
            ("scheduler", 17780),
        ]
    ),
)

AS_ENV = {
    "AS_ALGO": "sgx_ecdsa",
    "AS_URL": "https://attestation.example:8443",
    "AS_SPID": "1" * 32,
    "AS_KEY": "2" * 32,
}


def raw_default() -> dict[str, Any]:
    return default_dict(state_dir="/state")


def error_of(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as err:
        RuntimeConfig.from_dict(raw)
    return str(err.value)


# ---------------------------------------------------------------------- defaults
def test_default_uses_teaclave_ports():
    config = RuntimeConfig.default(state_dir="/s")
    assert {n: e.port for n, e in config.api_endpoints.items()} == {
        "authentication": 7776,
        "frontend": 7777,
    }
    assert {n: e.port for n, e in config.internal_endpoints.items()} == {
        "authentication": 17776,
        "management": 17777,
        "storage": 17778,
        "access_control": 17779,
        "execution": 17770,
        "scheduler": 17780,
    }
    storage = config.internal_endpoints["storage"]
    assert storage.listen_address == "localhost:17778"
    assert storage.advertised_address == "https://localhost:17778"
    assert storage.target == "localhost:17778"
    assert config.state_dir == "/s"
    assert config.state_path == Path("/s")
    assert config.fusion_base_dir == "/s/fusion_data"
    assert config.attestation.platform == "sim"
    assert config.scheduler.max_attempts == 2
    assert config.authentication.dev is False


def test_default_dict_port_overrides():
    config = RuntimeConfig.from_dict(
        default_dict(
            host="127.0.0.1",
            state_dir="/s",
            api_ports={"frontend": 1001},
            internal_ports={"storage": 1002},
        )
    )
    assert config.api_endpoints["frontend"].listen_address == "127.0.0.1:1001"
    assert config.api_endpoints["authentication"].port == 7776
    assert config.internal_endpoints["storage"].target == "127.0.0.1:1002"
    assert config.internal_endpoints["management"].port == 17777


def test_to_dict_from_dict_round_trip_of_a_non_default_config():
    raw = raw_default()
    raw["audit"] = {"enclave_info": {"path": "/e.toml"}, "auditor_signatures": [{"path": "/a"}]}
    raw["attestation"] = {"algorithm": "sgx_ecdsa", "key": "k" * 32, "spid": "s" * 32}
    raw["scheduler"] = {"executor_timeout_secs": 5, "max_attempts": 4, "heartbeat_wait_secs": 0.5}
    raw["frontend"] = {"audit_flush_secs": 0.25}
    raw["authentication"] = {
        "admin_password": "pw",
        "dev": True,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
        "token_lifetime_secs": 60,
    }
    config = RuntimeConfig.from_dict(raw)
    assert RuntimeConfig.from_dict(config.to_dict()) == config
    assert RuntimeConfig.from_dict(copy.deepcopy(config.to_dict())).to_dict() == config.to_dict()
    assert config.auditor_signatures == ("/a",)
    assert config.enclave_info == "/e.toml"
    assert config.scheduler.max_attempts == 4
    assert isinstance(config.scheduler.max_attempts, int)
    assert config.authentication.argon2_memory_kib == 8
    assert config.authentication.token_lifetime_secs == 60.0


@pytest.mark.parametrize(
    ("endpoint", "target"),
    [
        (Endpoint("0.0.0.0:17778"), "localhost:17778"),
        (Endpoint("[::]:17778"), "localhost:17778"),
        (Endpoint("10.0.0.5:17778"), "10.0.0.5:17778"),
        (
            Endpoint("0.0.0.0:17778", "https://teaclave-storage-service:17778"),
            "teaclave-storage-service:17778",
        ),
    ],
)
def test_endpoint_target(endpoint: Endpoint, target: str):
    assert endpoint.target == target
    assert endpoint.port == 17778


def test_build_constants():
    assert MAX_MESSAGE_SIZE == 4194304
    assert INBOUND["storage"] == {"teaclave_management_service", "teaclave_scheduler_service"}
    assert INBOUND["scheduler"] == {"teaclave_execution_service"}
    assert INBOUND["management"] == {"teaclave_frontend_service"}
    assert INBOUND["authentication"] == {"teaclave_frontend_service"}
    assert INBOUND["access_control"] == {
        "teaclave_frontend_service",
        "teaclave_management_service",
    }
    assert SERVICE_NAMES["access_control"] == "teaclave_access_control_service"


# ---------------------------------------------------------------------- TOML
def test_from_toml_reads_teaclave_layout_and_resolves_relative_paths(tmp_path: Path):
    path = tmp_path / "conf" / "runtime.config.toml"
    path.parent.mkdir()
    path.write_text(TEACLAVE_RUNTIME_CONFIG)
    config = RuntimeConfig.from_toml(path, env={})
    base = path.parent.resolve()
    assert config.api_endpoints["frontend"].listen_address == "0.0.0.0:7777"
    assert config.api_endpoints["frontend"].target == "localhost:7777"
    assert config.internal_endpoints["scheduler"].advertised_address == "https://localhost:17780"
    assert config.enclave_info == str(base / "enclave_info.toml")
    assert config.auditor_signatures == tuple(
        str(base / f"auditors/{n}/{n}.sign.sha256")
        for n in ("godzilla", "optimus_prime", "albus_dumbledore")
    )
    assert config.fusion_base_dir == "/tmp/fusion_data"  # absolute: kept
    assert config.state_dir == str(base / "teaclave_state")  # default, relative to the file
    assert config.attestation.algorithm == "sgx_epid"
    assert config.attestation.key == "0" * 32


def test_from_toml_resolves_relative_state_and_fusion_dirs(tmp_path: Path):
    path = tmp_path / "runtime.config.toml"
    path.write_text(
        TEACLAVE_RUNTIME_CONFIG.replace('"/tmp/fusion_data"', '"fusion"')
        + '\n[state]\ndir = "data/state"\n'
    )
    config = RuntimeConfig.from_toml(str(path), env={})
    assert config.state_dir == str(tmp_path.resolve() / "data/state")
    assert config.fusion_base_dir == str(tmp_path.resolve() / "fusion")


def test_from_toml_missing_file_and_bad_toml_name_the_file(tmp_path: Path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml: no such configuration file"):
        RuntimeConfig.from_toml(missing, env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[api_endpoints\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        RuntimeConfig.from_toml(bad, env={})


def test_from_toml_applies_env_overrides(tmp_path: Path):
    path = tmp_path / "runtime.config.toml"
    path.write_text(TEACLAVE_RUNTIME_CONFIG)
    config = RuntimeConfig.from_toml(
        path,
        env={
            **AS_ENV,
            "TEACLAVE__scheduler__max_attempts": "3",
            "TEACLAVE_ADMIN_PASSWORD": "s3cret",
        },
    )
    assert config.attestation.algorithm == "sgx_ecdsa"
    assert config.scheduler.max_attempts == 3
    assert config.authentication.admin_password == "s3cret"


def test_from_toml_reads_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "runtime.config.toml"
    path.write_text(TEACLAVE_RUNTIME_CONFIG)
    monkeypatch.setenv("TEACLAVE__frontend__audit_flush_secs", "0.5")
    monkeypatch.setenv("TEACLAVE_ADMIN_PASSWORD", "from-env")
    config = RuntimeConfig.from_toml(path)
    assert config.frontend.audit_flush_secs == 0.5
    assert config.authentication.admin_password == "from-env"


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize("section", ["api_endpoints", "internal_endpoints"])
def test_missing_endpoint_section(section: str):
    raw = raw_default()
    del raw[section]
    assert error_of(raw) == f"{section}: missing section"


@pytest.mark.parametrize(
    ("section", "name"),
    [
        ("api_endpoints", "frontend"),
        ("internal_endpoints", "storage"),
        ("internal_endpoints", "execution"),
    ],
)
def test_missing_endpoint(section: str, name: str):
    raw = raw_default()
    del raw[section][name]
    assert error_of(raw) == f"{section}.{name}: missing section"


def test_endpoint_section_of_the_wrong_type():
    raw = raw_default()
    raw["api_endpoints"]["frontend"] = "0.0.0.0:7777"
    assert error_of(raw) == "api_endpoints.frontend: expected a table"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("localhost", "is not host:port"),
        (":7777", "is not host:port"),
        ("localhost:http", "has an invalid port"),
        ("localhost:70000", "has an invalid port"),
        ("localhost:", "has an invalid port"),
    ],
)
def test_bad_listen_address(value: str, why: str):
    raw = raw_default()
    raw["api_endpoints"]["frontend"]["listen_address"] = value
    message = error_of(raw)
    assert message.startswith("api_endpoints.frontend.listen_address: ")
    assert why in message


def test_listen_address_of_the_wrong_type_and_missing():
    raw = raw_default()
    raw["internal_endpoints"]["management"]["listen_address"] = 17777
    assert error_of(raw) == (
        "internal_endpoints.management.listen_address: expected a string, got int"
    )
    del raw["internal_endpoints"]["management"]["listen_address"]
    assert error_of(raw) == "internal_endpoints.management.listen_address: missing"


@pytest.mark.parametrize(
    "value", ["localhost:17778", "http://localhost:17778", "https://", "https://localhost"]
)
def test_advertised_address_needs_https_host_port(value: str):
    raw = raw_default()
    raw["internal_endpoints"]["storage"]["advertised_address"] = value
    assert error_of(raw).startswith("internal_endpoints.storage.advertised_address: ")


def test_missing_advertised_address():
    raw = raw_default()
    del raw["internal_endpoints"]["scheduler"]["advertised_address"]
    assert error_of(raw) == "internal_endpoints.scheduler.advertised_address: missing"


def test_unknown_internal_endpoint():
    raw = raw_default()
    raw["internal_endpoints"]["billing"] = {
        "listen_address": "localhost:1",
        "advertised_address": "https://localhost:1",
    }
    assert error_of(raw) == "internal_endpoints.billing: unknown service"


@pytest.mark.parametrize(
    ("attestation", "message"),
    [
        ({"key": "0" * 31}, "attestation.key: must be exactly 32 characters"),
        ({"key": "0" * 33}, "attestation.key: must be exactly 32 characters"),
        ({"spid": ""}, "attestation.spid: must be exactly 32 characters"),
        ({"algorithm": "sgx_dcap"}, "attestation.algorithm: must be sgx_epid or sgx_ecdsa"),
        ({"url": "not a url"}, "attestation.url: not a URL"),
        ({"key": 0}, "attestation.key: expected a string, got int"),
        ({"platform": "sgx1"}, "attestation.platform: 'sgx1' is not sim, sgx, tdx or sev-snp"),
        ({"platform": "SIM"}, "attestation.platform: 'SIM' is not sim, sgx, tdx or sev-snp"),
        ({"validity_secs": 0}, "attestation.validity_secs: must be >= 1.0"),
        ({"tcb_allow": []}, "attestation.tcb_allow: must not be empty"),
    ],
)
def test_attestation_errors(attestation: dict[str, Any], message: str):
    raw = raw_default()
    raw["attestation"] = attestation
    assert error_of(raw) == message


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        (
            {"executor_timeout_secs": 1, "heartbeat_wait_secs": 1},
            "scheduler.heartbeat_wait_secs: must be below executor_timeout_secs",
        ),
        (
            {"executor_timeout_secs": 1, "heartbeat_wait_secs": 2},
            "scheduler.heartbeat_wait_secs: must be below executor_timeout_secs",
        ),
        ({"max_attempts": 0}, "scheduler.max_attempts: must be >= 1"),
        ({"max_attempts": "3"}, "scheduler.max_attempts: expected a number"),
        ({"max_attempts": True}, "scheduler.max_attempts: expected a number"),
        ({"executor_timeout_secs": 0}, "scheduler.executor_timeout_secs: must be >= 0.1"),
    ],
)
def test_scheduler_errors(scheduler: dict[str, Any], message: str):
    raw = raw_default()
    raw["scheduler"] = scheduler
    assert error_of(raw) == message


@pytest.mark.parametrize("value", ["yes", 1, "true", None])
def test_dev_must_be_a_bool(value: object):
    raw = raw_default()
    raw["authentication"] = {"dev": value}
    assert error_of(raw) == "authentication.dev: expected true or false"


def test_other_sections_of_the_wrong_type():
    raw = raw_default()
    raw["scheduler"] = 3
    assert error_of(raw) == "scheduler: expected a table"
    raw = raw_default()
    raw["audit"] = {"auditor_signatures": "a.sign"}
    assert error_of(raw).startswith("audit.auditor_signatures: ")
    raw = raw_default()
    raw["audit"] = {"auditor_signatures": [{"path": "ok"}, {"file": "x"}]}
    assert error_of(raw) == "audit.auditor_signatures[1].path: missing"
    raw = raw_default()
    raw["authentication"] = {"argon2_memory_kib": 4}
    assert error_of(raw) == "authentication.argon2_memory_kib: must be >= 8"


# ---------------------------------------------------------------------- environment
def test_all_four_as_variables_replace_attestation():
    raw = raw_default()
    raw["attestation"] = {"algorithm": "sgx_epid", "key": "0" * 32, "spid": "0" * 32}
    apply_env_overrides(raw, AS_ENV)
    config = RuntimeConfig.from_dict(raw)
    assert config.attestation.algorithm == "sgx_ecdsa"
    assert config.attestation.url == "https://attestation.example:8443"
    assert config.attestation.spid == "1" * 32
    assert config.attestation.key == "2" * 32


@pytest.mark.parametrize("left_out", sorted(AS_ENV))
def test_three_as_variables_are_ignored(left_out: str):
    raw = raw_default()
    env = {k: v for k, v in AS_ENV.items() if k != left_out}
    apply_env_overrides(raw, env)
    config = RuntimeConfig.from_dict(raw)
    assert config.attestation == RuntimeConfig.from_dict(raw_default()).attestation


def test_as_overrides_are_validated_like_the_file():
    raw = raw_default()
    apply_env_overrides(raw, {**AS_ENV, "AS_KEY": "short"})
    assert error_of(raw) == "attestation.key: must be exactly 32 characters"


def test_teaclave_double_underscore_overrides_parse_toml_values():
    raw = raw_default()
    apply_env_overrides(
        raw,
        {
            "TEACLAVE__scheduler__max_attempts": "3",
            "TEACLAVE__SCHEDULER__HEARTBEAT_WAIT_SECS": "0.25",
            "TEACLAVE__authentication__dev": "true",
            "TEACLAVE__api_endpoints__frontend__listen_address": "127.0.0.1:9999",
            "TEACLAVE__state__dir": "/elsewhere",
            "UNRELATED": "x",
        },
    )
    assert raw["scheduler"]["max_attempts"] == 3
    config = RuntimeConfig.from_dict(raw)
    assert config.scheduler.max_attempts == 3
    assert config.scheduler.heartbeat_wait_secs == 0.25
    assert config.authentication.dev is True
    assert config.api_endpoints["frontend"].listen_address == "127.0.0.1:9999"
    assert config.state_dir == "/elsewhere"


def test_override_through_a_non_table_is_refused_naming_the_variable():
    raw = raw_default()
    raw["scheduler"] = {"max_attempts": 2}
    with pytest.raises(ConfigError, match=r"^TEACLAVE__scheduler__max_attempts__x: max_attempts"):
        apply_env_overrides(raw, {"TEACLAVE__scheduler__max_attempts__x": "1"})


def test_admin_password_variable():
    raw = raw_default()
    apply_env_overrides(raw, {"TEACLAVE_ADMIN_PASSWORD": "12345"})
    assert RuntimeConfig.from_dict(raw).authentication.admin_password == "12345"
    raw = raw_default()
    raw["authentication"] = {"admin_password": "from-file"}
    apply_env_overrides(raw, {"TEACLAVE_ADMIN_PASSWORD": ""})
    assert RuntimeConfig.from_dict(raw).authentication.admin_password == "from-file"
