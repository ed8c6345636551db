"""Untrusted launcher.

``python -m teaclave.services.management.app --config runtime.config.toml``.
"""

from teaclave.config.build import MANAGEMENT
from teaclave.services.launcher import launch

if __name__ == "__main__":
    raise SystemExit(launch(MANAGEMENT))
