"""Untrusted launcher: ``python -m teaclave.services.frontend.app --config runtime.config.toml``."""

from teaclave.config.build import FRONTEND
from teaclave.services.launcher import launch

if __name__ == "__main__":
    raise SystemExit(launch(FRONTEND))
