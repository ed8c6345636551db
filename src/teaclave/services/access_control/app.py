"""Untrusted launcher: ``python -m teaclave.services.access_control.app --config ...``."""

from teaclave.config.build import ACCESS_CONTROL
from teaclave.services.launcher import launch

if __name__ == "__main__":
    raise SystemExit(launch(ACCESS_CONTROL))
