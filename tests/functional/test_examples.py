"""Every script of ``examples/`` runs against one embedded platform and succeeds.

The platform is what ``teaclave up --dev --allow-host 127.0.0.1`` starts (admin/teaclave,
workers allowed to reach the examples' file servers on 127.0.0.1); each example runs as a
subprocess with the ``TEACLAVE_*`` variables pointing at it, must exit 0 and print its key
line. Only examples whose executor the machine cannot run may answer "skipped: ...".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from platform_harness import Platform, platform_config

from teaclave.services.embedded import EmbeddedPlatform

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FACE_FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "../shared/fixtures/teaclave/functions/face_detection/input.jpg"
)
SCRIPT_TIMEOUT_SECS = 180.0


@dataclass(frozen=True)
class Example:
    """One script, the line it must print, and whether it may skip (executor unavailable)."""

    script: str
    key_line: str
    executor_dependent: bool = False
    regex: bool = False

    def found_in(self, output: str) -> bool:
        pattern = self.key_line if self.regex else re.escape(self.key_line)
        return re.search(pattern, output, re.MULTILINE) is not None


CASES = [
    Example("builtin_echo.py", "result: 'Hello, Teaclave!'"),
    Example("builtin_ordered_set_intersect.py", "result: '2 common items'"),
    Example("builtin_ordered_set_join.py", "result: '3 records'"),
    Example("builtin_private_join_and_compute.py", "result: '3 users join the task in total.'"),
    Example("builtin_password_check.py", "result for 'correct horse battery': false"),
    Example("builtin_rsa_sign.py", "rsa_signer verified the signature of 'test data'"),
    Example("builtin_online_decrypt.py", "result (aes128gcm): 'Hello Teaclave!'"),
    Example("builtin_gbdt_train.py", "result: 'Trained 120 lines of data.'"),
    Example("builtin_gbdt_predict.py", "result: 'Predict result has 10 lines of data.'"),
    Example("builtin_logistic_regression_train.py", "result: 'Trained 100 lines of data.'"),
    Example("builtin_logistic_regression_predict.py", "result: 'Predicted 5 lines of data.'"),
    Example(
        "builtin_principal_components_analysis.py",
        "result: 'transform 60 rows * 2 cols lines of data.'",
    ),
    Example(
        "builtin_face_detection.py",
        r"^result: [1-9]\d* faces$" if FACE_FIXTURE.exists() else "^no image: ",
        regex=True,
    ),
    Example("python_echo.py", "result: 'Hello From Python!'", executor_dependent=True),
    Example(
        "python_data_fusion.py",
        'result: [["south", 250], ["north", 160]]',
        executor_dependent=True,
    ),
    Example("python_native_numpy.py", "result: '200 rows x 3 columns'", executor_dependent=True),
    Example("wasm_simple_add.py", "result: '7'", executor_dependent=True),
    Example("wasm_file_io.py", "result: '3200' bytes copied", executor_dependent=True),
    Example("task_cancel.py", "result: task Canceled", executor_dependent=True),
    Example("disable_function.py", "registered functions before"),
]


@pytest.fixture(scope="module")
def dev_platform(
    tmp_path_factory: pytest.TempPathFactory, python_wasi_cache: Path
) -> Iterator[Platform]:
    config = platform_config(
        tmp_path_factory.mktemp("examples-state"),
        authentication={"admin_password": "", "dev": True},
        file_agent={"allowed_hosts": ["127.0.0.1"], "timeout_secs": 5.0},
        executor={"cache_dir": str(python_wasi_cache), "deadline_secs": 60.0},
    )
    with EmbeddedPlatform(config, workers=1) as running:
        yield Platform(running)


def example_env(platform: Platform, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEACLAVE_")}
    env.update(
        TEACLAVE_AUTH_ADDR=platform.platform.authentication_address,
        TEACLAVE_FRONTEND_ADDR=platform.platform.frontend_address,
        TEACLAVE_CA=str(platform.platform.attestation_root_path),
        TEACLAVE_ENCLAVE_INFO=str(platform.platform.enclave_info_path),
        TEACLAVE_ADMIN="admin",
        TEACLAVE_ADMIN_PASSWORD="teaclave",
    )
    env.update(extra)
    return env


def run_example(
    platform: Platform, script: str, cwd: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=cwd,
        env=example_env(platform, **extra),
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECS,
        check=False,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.script.removesuffix(".py") for c in CASES])
def test_example_runs(dev_platform: Platform, case: Example, tmp_path: Path) -> None:
    done = run_example(dev_platform, case.script, tmp_path)
    transcript = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, transcript
    skipped = re.search(r"^skipped: (.*)$", done.stdout, re.MULTILINE)
    if skipped:
        assert case.executor_dependent, f"only executor examples may skip\n{transcript}"
        assert skipped.group(1).startswith("function not available"), transcript
        pytest.skip(f"{case.script}: {skipped.group(1)}")
    assert case.found_in(done.stdout), f"no {case.key_line!r} in the output\n{transcript}"


def test_a_failing_example_exits_non_zero(dev_platform: Platform, tmp_path: Path) -> None:
    done = run_example(
        dev_platform, "builtin_echo.py", tmp_path, TEACLAVE_ADMIN_PASSWORD="wrong-password"
    )
    assert done.returncode == 1
    assert done.stderr.startswith("FAILED: UserLogin failed"), done.stderr


def test_every_example_is_tested_and_documented() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py")} - {"common.py"}
    assert scripts == {c.script for c in CASES}
    readme = (EXAMPLES / "README.md").read_text()
    assert [s for s in sorted(scripts) if f"`{s}`" not in readme] == []


# A task whose (executor type, executor) pair the worker lacks, through common.task_result.
SKIP_PROBE = """
from common import SETTINGS, login, run, task_result
from teaclave.sdk import FunctionArgument

def main():
    with login(SETTINGS.admin, SETTINGS.admin_password) as client:
        function_id = client.register_function(
            "builtin-echo", "", "builtin", arguments=[FunctionArgument("message")]
        )
        task_id = client.create_task(function_id, {"message": "x"}, "mesapy")
        client.invoke_task(task_id)
        print("result:", task_result(client, task_id))

run(main)
"""


def test_an_unavailable_executor_makes_an_example_skip(dev_platform: Platform) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SKIP_PROBE],
        cwd=EXAMPLES,
        env=example_env(dev_platform),
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("skipped: function not available: (Builtin, MesaPy)"), done
