"""Suite-wide fixtures, and the home of helper modules shared across test directories.

Like every helper directory of this suite (no ``__init__.py``, pytest's prepend import mode),
this one is put on ``sys.path`` when pytest loads this conftest, so the modules beside it
(``mesapy_payloads``, ``service_runner``, ``scheduler_harness``) import by their bare,
suite-unique names from any test directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def python_wasi_cache(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The Python executor's cache dir: pytest's persistent cache, so it compiles once a machine."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("teaclave-python-wasi"))
    return tmp_path_factory.mktemp("python-wasi-cache")
