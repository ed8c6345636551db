"""Untrusted launcher: ``python -m teaclave.services.storage.app --config runtime.config.toml``."""

from teaclave.config.build import STORAGE
from teaclave.services.launcher import launch

if __name__ == "__main__":
    raise SystemExit(launch(STORAGE))
