"""A stand-in for a node whose capability is not built yet.

It lets the launch file describe the whole system from day one: the process
exists, publishes heartbeats (so the graph and the watchdog see it), and says
plainly in its log which issue will replace it.
"""

from __future__ import annotations

from rclpy.node import Node

from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher


class PlaceholderNode(Node):
    """Heartbeats as DEGRADED and logs that the real node is still to come."""

    def __init__(self, node_name: str, capability: str) -> None:
        super().__init__(node_name)
        self.heartbeat = HeartbeatPublisher(self)
        message = f'placeholder: {capability} is not implemented yet'
        self.heartbeat.state.set_health(Health.DEGRADED, message)
        self.get_logger().warning(message)
