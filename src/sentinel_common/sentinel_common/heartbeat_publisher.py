"""Publishes a node's NodeHeartbeat on the shared `heartbeats` topic."""

from __future__ import annotations

import os

from rclpy.node import Node
from sentinel_msgs.msg import NodeHeartbeat

from sentinel_common.heartbeat import MAX_HEARTBEAT_PERIOD, HeartbeatState, validate_period
from sentinel_common.parameters import unless_shutting_down
from sentinel_common.qos import HEARTBEAT_QOS

HEARTBEAT_TOPIC = '/heartbeats'


class HeartbeatPublisher:
    """Owns a node's heartbeat timer; the node reports progress through `state`."""

    def __init__(self, node: Node, period: float = MAX_HEARTBEAT_PERIOD / 2) -> None:
        self.state = HeartbeatState()
        self._node = node
        self._publisher = node.create_publisher(NodeHeartbeat, HEARTBEAT_TOPIC, HEARTBEAT_QOS)
        self._timer = node.create_timer(validate_period(period), self._publish)

    def _publish(self) -> None:
        sample = self.state.next_sample()
        message = NodeHeartbeat()
        message.header.stamp = self._node.get_clock().now().to_msg()
        message.node_name = self._node.get_fully_qualified_name()
        message.pid = os.getpid()
        message.sequence = sample.sequence
        message.progress_counter = sample.progress_counter
        message.health = int(sample.health)
        message.status_msg = sample.status_msg
        with unless_shutting_down(self._node):
            self._publisher.publish(message)
