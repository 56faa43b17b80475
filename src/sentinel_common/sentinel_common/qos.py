"""Quality-of-service profiles shared by publishers and subscribers.

Both sides of a topic must agree on durability and deadline or DDS refuses the
match silently; keeping the profiles in one place prevents that.
"""

from __future__ import annotations

from rclpy.duration import Duration
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, LivelinessPolicy, QoSProfile,
                       ReliabilityPolicy)

from sentinel_common.heartbeat import MAX_HEARTBEAT_PERIOD

# Heartbeats: a missed deadline or lost liveliness is itself the signal, so
# only the newest sample matters.
HEARTBEAT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
    deadline=Duration(seconds=MAX_HEARTBEAT_PERIOD * 1.5),
    liveliness=LivelinessPolicy.AUTOMATIC,
    liveliness_lease_duration=Duration(seconds=MAX_HEARTBEAT_PERIOD * 5),
)

# State that a late joiner must see at once (zones, safety status, model info).
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

# Events that must not be dropped on a slow subscriber (alerts, verdicts).
EVENT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

# High-rate sensor data: latest wins, never a growing queue.
SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
