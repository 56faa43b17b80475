"""The fusion node: a placeholder until multi-sensor fusion and threat rules is built.

It heartbeats and logs that it is a placeholder, so launch files and the
safety watchdog already see the node where the real one will run.
"""

from __future__ import annotations

from sentinel_common.entry_point import run_node
from sentinel_common.placeholder_node import PlaceholderNode


def main(args: list[str] | None = None) -> int:
    return run_node(lambda: PlaceholderNode('fusion', 'multi-sensor fusion and threat rules'), args)


if __name__ == '__main__':
    raise SystemExit(main())
