"""Every sentinel_msgs message, service and action crosses DDS between two processes.

The mirror (dds_peer.py) runs as its own process; this test process sends a
fully populated instance of each type and checks what comes back, so a type
that does not build, register or serialize, or a field that gets lost, fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rclpy
import sentinel_msgs.action
import sentinel_msgs.msg
import sentinel_msgs.srv
from rclpy.action import ActionClient
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

sys.path.insert(0, str(Path(__file__).parent))
from interop import interface_classes, populated, type_topic  # noqa: E402

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
DISCOVERY_TIMEOUT = 30.0  # seconds: DDS discovery between processes on a loaded 2-core machine
SEED = 1

MESSAGES = interface_classes(sentinel_msgs.msg)
SERVICES = interface_classes(sentinel_msgs.srv)
ACTIONS = interface_classes(sentinel_msgs.action)


def test_the_interface_package_has_what_the_system_needs():
    names = {cls.__name__ for cls in MESSAGES + SERVICES + ACTIONS}
    required = {
        'VehicleState', 'FleetState', 'Detection', 'DetectionArray', 'Track', 'TrackArray',
        'Alert', 'Task', 'TaskArray', 'VehicleCommand', 'SafetyVerdict', 'SafetyStatus',
        'NodeHeartbeat', 'Zone', 'ZoneArray', 'ModelInfo', 'DriftReport', 'GroundTruth',
        'TriggerEstop', 'ReleaseEstop', 'CommandVehicle', 'AssignTask', 'CancelTask',
        'AcknowledgeAlert', 'LoadModel', 'InvestigatePoint',
    }
    assert required <= names, f'missing interfaces: {sorted(required - names)}'


@pytest.fixture(scope='module')
def mirror_process():
    peer = subprocess.Popen([sys.executable, str(Path(__file__).parent / 'dds_peer.py')],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield peer
    peer.terminate()
    try:
        peer.wait(timeout=10)
    except subprocess.TimeoutExpired:
        peer.kill()
        peer.wait()


@pytest.fixture(scope='module')
def node(mirror_process):
    rclpy.init()
    test_node = Node('interop_tester')
    yield test_node
    test_node.destroy_node()
    rclpy.try_shutdown()


def spin_until(node: Node, done, timeout: float = DISCOVERY_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        rclpy.spin_once(node, timeout_sec=0.05)
    return done()


def test_mirror_runs_in_another_process(mirror_process):
    assert mirror_process.pid != os.getpid()
    assert mirror_process.poll() is None, mirror_process.stdout.read()


def test_every_message_round_trips_between_processes(node, mirror_process):
    sent = {cls: populated(cls, SEED) for cls in MESSAGES}
    received: dict[type, object] = {}
    publishers = {cls: node.create_publisher(cls, type_topic('in', cls), RELIABLE) for cls in MESSAGES}
    for cls in MESSAGES:
        node.create_subscription(cls, type_topic('out', cls),
                                 lambda msg, cls=cls: received.setdefault(cls, msg), RELIABLE)

    def publish_missing_and_check() -> bool:
        for cls in MESSAGES:
            if cls not in received and publishers[cls].get_subscription_count() > 0:
                publishers[cls].publish(sent[cls])
        return len(received) == len(MESSAGES)

    spin_until(node, publish_missing_and_check)
    assert mirror_process.poll() is None, mirror_process.stdout.read()
    missing = sorted(cls.__name__ for cls in MESSAGES if cls not in received)
    assert not missing, f'no echo for {missing}'
    for cls in MESSAGES:
        assert received[cls] == sent[cls], f'{cls.__name__} changed on the way'


@pytest.mark.parametrize('service_type', SERVICES, ids=lambda cls: cls.__name__)
def test_every_service_is_callable_from_another_process(node, service_type):
    client = node.create_client(service_type, type_topic('srv', service_type))
    assert spin_until(node, client.service_is_ready), f'{service_type.__name__} not discovered'
    future = client.call_async(populated(service_type.Request, SEED))
    assert spin_until(node, future.done, timeout=10.0)
    assert future.result() == populated(service_type.Response, SEED)
    node.destroy_client(client)


@pytest.mark.parametrize('action_type', ACTIONS, ids=lambda cls: cls.__name__)
def test_every_action_gives_feedback_and_result_across_processes(node, action_type):
    client = ActionClient(node, action_type, type_topic('action', action_type))
    assert spin_until(node, client.server_is_ready), f'{action_type.__name__} not discovered'
    feedback = []
    goal_future = client.send_goal_async(populated(action_type.Goal, SEED),
                                         feedback_callback=lambda fb: feedback.append(fb.feedback))
    assert spin_until(node, goal_future.done, timeout=10.0)
    goal_handle = goal_future.result()
    assert goal_handle.accepted
    result_future = goal_handle.get_result_async()
    assert spin_until(node, result_future.done, timeout=10.0)
    assert result_future.result().result == populated(action_type.Result, SEED)
    assert feedback == [populated(action_type.Feedback, SEED)]
    client.destroy()
