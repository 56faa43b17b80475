"""``python -m sentinel_scenarios``: the same as ``sentinel-demo``."""

from sentinel_scenarios.cli import main

raise SystemExit(main())
