"""The foxglove_bridge node: a placeholder until the Foxglove live view is built.

It heartbeats and logs that it is a placeholder, so launch files and the
safety watchdog already see the node where the real one will run.
"""

from __future__ import annotations

from sentinel_common.entry_point import run_node
from sentinel_common.placeholder_node import PlaceholderNode


def main(args: list[str] | None = None) -> int:
    return run_node(lambda: PlaceholderNode('foxglove_bridge', 'the Foxglove live view'), args)


if __name__ == '__main__':
    raise SystemExit(main())
