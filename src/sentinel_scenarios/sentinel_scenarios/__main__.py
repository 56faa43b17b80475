"""``python -m sentinel_scenarios``: the same as ``sentinel-demo``."""

from sentinel_scenarios.cli import exit_main

exit_main()
