"""The mission_control node: a placeholder until mission control (tasks, patrols, dispatch) is built.

It heartbeats and logs that it is a placeholder, so launch files and the
safety watchdog already see the node where the real one will run.
"""

from __future__ import annotations

from sentinel_common.entry_point import run_node
from sentinel_common.placeholder_node import PlaceholderNode


def main(args: list[str] | None = None) -> int:
    return run_node(lambda: PlaceholderNode('mission_control', 'mission control (tasks, patrols, dispatch)'), args)


if __name__ == '__main__':
    raise SystemExit(main())
