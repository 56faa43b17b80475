"""In-process node test: a placeholder heartbeats over DDS and says what it is."""

import time

import pytest
import rclpy
from rclpy.node import Node
from sentinel_msgs.msg import NodeHeartbeat

from sentinel_common.heartbeat import MAX_HEARTBEAT_PERIOD
from sentinel_common.heartbeat_publisher import HEARTBEAT_TOPIC
from sentinel_common.placeholder_node import PlaceholderNode
from sentinel_common.qos import HEARTBEAT_QOS


@pytest.fixture
def ros_context():
    rclpy.init()
    yield
    rclpy.try_shutdown()


def test_placeholder_heartbeats_degraded_at_the_required_rate(ros_context):
    placeholder = PlaceholderNode('detector', 'YOLO detection')
    listener = Node('heartbeat_listener')
    beats: list[NodeHeartbeat] = []
    listener.create_subscription(NodeHeartbeat, HEARTBEAT_TOPIC, beats.append, HEARTBEAT_QOS)
    executor = rclpy.executors.SingleThreadedExecutor()
    executor.add_node(placeholder)
    executor.add_node(listener)
    deadline = time.monotonic() + 10.0
    first_at = None
    while time.monotonic() < deadline and len(beats) < 6:
        executor.spin_once(timeout_sec=0.05)
        if beats and first_at is None:
            first_at = time.monotonic()
    elapsed = time.monotonic() - first_at
    assert len(beats) >= 6, f'only {len(beats)} heartbeats'
    assert elapsed / (len(beats) - 1) <= MAX_HEARTBEAT_PERIOD * 1.5
    assert [b.sequence for b in beats] == sorted(b.sequence for b in beats)
    assert beats[-1].node_name == '/detector'
    assert beats[-1].health == NodeHeartbeat.HEALTH_DEGRADED
    assert 'placeholder' in beats[-1].status_msg
    placeholder.destroy_node()
    listener.destroy_node()
