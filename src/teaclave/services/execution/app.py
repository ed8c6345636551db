"""Untrusted launcher: ``python -m teaclave.services.execution.app --config <file>``."""

from teaclave.config.build import EXECUTION
from teaclave.services.launcher import launch

if __name__ == "__main__":
    raise SystemExit(launch(EXECUTION))
