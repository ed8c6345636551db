"""``python -m teaclave.cli``."""

from teaclave.cli.main import main

raise SystemExit(main())
