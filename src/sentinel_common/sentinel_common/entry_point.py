"""The one way every Sentinel node process starts and stops.

Ctrl-C (the launcher sends SIGINT) and an external rclpy shutdown are normal
ends of a node's life, not errors; anything else propagates with a traceback
and a non-zero exit so the launcher can respawn the node.
"""

from __future__ import annotations

from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    """Initialise rclpy, spin the node until shutdown, and clean up; returns an exit code.

    A single-threaded executor keeps callbacks of one node sequential, which is
    what the thin node wrappers assume. try/finally rather than rclpy's context
    manager so that the code runs on Jazzy as well as Kilted.
    """
    rclpy.init(args=args)
    node: Node | None = None
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
