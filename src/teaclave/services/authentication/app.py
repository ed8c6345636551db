"""Untrusted launcher: ``python -m teaclave.services.authentication.app --config ...``."""

from teaclave.config.build import AUTHENTICATION
from teaclave.services.launcher import launch

if __name__ == "__main__":
    raise SystemExit(launch(AUTHENTICATION))
