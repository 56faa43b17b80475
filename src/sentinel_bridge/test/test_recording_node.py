"""The recorder node in-process: discovers topics, matches their QoS, writes readable MCAP."""

import os
import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sentinel_msgs.msg import VehicleState, Zone, ZoneArray

from sentinel_bridge.recorder_node import RecorderNode
from sentinel_bridge.recording import iter_messages, read_index
from sentinel_common.qos import LATCHED_QOS, SENSOR_QOS

pytestmark = pytest.mark.ros

STATE = '/vehicles/drone_4/state'
DEADLINE = 15.0   # s
DOMAIN = 120 + os.getpid() % 100   # a DDS domain of its own: nothing else publishes /zones there


def test_recorder_records_sensor_and_latched_topics_and_closes_a_complete_file(tmp_path):
    rclpy.init(domain_id=DOMAIN)
    try:
        helper = Node('recording_helper')
        zones = helper.create_publisher(ZoneArray, '/zones', LATCHED_QOS)
        zones.publish(ZoneArray(zones=[Zone(zone_id='yard', kind=Zone.KIND_RESTRICTED)]))
        states = helper.create_publisher(VehicleState, STATE, SENSOR_QOS)
        unrelated = helper.create_publisher(VehicleState, '/not/recorded', SENSOR_QOS)
        recorder = RecorderNode(parameter_overrides=[
            Parameter('data_dir', value=str(tmp_path)),
            Parameter('topics', value=['/vehicles/*/state', '/zones']),
            Parameter('discovery_period', value=0.1)])
        executor = SingleThreadedExecutor()
        executor.add_node(recorder)
        executor.add_node(helper)
        sent = 0
        deadline = time.monotonic() + DEADLINE
        # Zones were published before the recorder existed: only a transient-local
        # subscription gets them.
        while time.monotonic() < deadline and not ({STATE, '/zones'} <= recorder._recording
                                                   and _count(recorder, STATE) >= 5
                                                   and _count(recorder, '/zones') >= 1):
            state = VehicleState(vehicle_id='drone_4', mode='LOITER')
            state.position.x = float(sent)
            states.publish(state)
            unrelated.publish(state)
            sent += 1
            end = time.monotonic() + 0.05
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.01)
        assert _count(recorder, STATE) >= 5, 'vehicle states not recorded'
        assert _count(recorder, '/zones') == 1, 'latched zones not recorded'
        recorder.destroy_node()
        helper.destroy_node()
    finally:
        rclpy.try_shutdown()

    (entry,) = read_index(tmp_path)
    assert entry.complete and '/not/recorded' not in entry.topics
    assert entry.types[STATE] == 'sentinel_msgs/msg/VehicleState'
    recorded = [m.message for m in iter_messages(tmp_path, STATE)]
    assert all(m.vehicle_id == 'drone_4' and m.mode == 'LOITER' for m in recorded)
    xs = [m.position.x for m in recorded]
    assert xs == sorted(xs)
    (zone_array,) = [m.message for m in iter_messages(tmp_path, '/zones')]
    assert zone_array.zones[0].zone_id == 'yard'


def _count(recorder: RecorderNode, topic: str) -> int:
    current = [f for f in recorder.recorder.files if f.active]
    return current[0].topics.get(topic, 0) if current else 0


