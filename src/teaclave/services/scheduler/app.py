"""Untrusted launcher: ``python -m teaclave.services.scheduler.app --config <file>``."""

from teaclave.config.build import SCHEDULER
from teaclave.services.launcher import launch

if __name__ == "__main__":
    raise SystemExit(launch(SCHEDULER))
