"""Fixtures of the tee tests: a frozen copy of the package and sim environments over it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tee_helpers import SimEnv, copy_package, make_sim_env


@pytest.fixture(scope="session")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the teaclave package that nothing edits while the tests run."""
    return copy_package(tmp_path_factory.mktemp("pkg") / "teaclave")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory, package_copy: Path) -> SimEnv:
    """A sim state dir + audited enclave_info of every service + the sim policy."""
    return make_sim_env(tmp_path_factory.mktemp("sim"), package_copy)
