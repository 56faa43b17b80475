"""System test: the whole launch file under the project's launcher.

An outside rclpy process (this test) must see every node of the launch file on
the ROS graph, heartbeating with the sentinel_msgs type, and Ctrl-C must leave
no process behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import rclpy
from rclpy.node import Node
from sentinel_msgs.msg import NodeHeartbeat

from sentinel_common.heartbeat_publisher import HEARTBEAT_TOPIC
from sentinel_common.qos import HEARTBEAT_QOS

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / 'launch' / 'sentinel.launch.xml'
STARTUP_TIMEOUT = 150.0  # seconds for every node process to start (heavy imports on 2 cores) and be discovered
SHUTDOWN_TIMEOUT = 30.0  # seconds for the launcher to stop everything after SIGINT


def launch_nodes() -> set[str]:
    """Fully qualified node names the launch file starts, from the launcher's dry run."""
    listing = subprocess.run(
        [sys.executable, '-m', 'sentinel_launch', str(LAUNCH_FILE), '--print',
         'db_url:=sqlite:///:memory:'],
        capture_output=True, text=True, check=True).stdout
    names = set()
    for line in listing.splitlines():
        if '__node:=' in line:
            node = line.split('__node:=')[1].split()[0]
            namespace = line.split('__ns:=')[1].split()[0] if '__ns:=' in line else '/'
            names.add(f'{namespace.rstrip("/")}/{node}')
    return names


@pytest.fixture
def launched(tmp_path):
    process = subprocess.Popen(
        [sys.executable, '-m', 'sentinel_launch', str(LAUNCH_FILE),
         f'db_url:=sqlite:///{tmp_path}/sentinel.db', f'data_dir:={tmp_path}',
         'foxglove_port:=0', 'api_port:=0'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    yield process
    if process.poll() is None:
        process.kill()
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.wait()


def test_whole_system_comes_up_on_dds_and_stops_cleanly(launched):
    expected = launch_nodes()
    assert len(expected) >= 8, expected
    rclpy.init()
    try:
        observer = Node('outside_observer')
        beating: set[str] = set()
        observer.create_subscription(NodeHeartbeat, HEARTBEAT_TOPIC,
                                     lambda beat: beating.add(beat.node_name), HEARTBEAT_QOS)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and not expected <= beating:
            rclpy.spin_once(observer, timeout_sec=0.1)
            assert launched.poll() is None, launched.stdout.read()
        assert expected <= beating, f'no heartbeat from {sorted(expected - beating)}'
        topic_types = dict(observer.get_topic_names_and_types())
        assert topic_types[HEARTBEAT_TOPIC] == ['sentinel_msgs/msg/NodeHeartbeat']
        graph = {f'{ns.rstrip("/")}/{name}' for name, ns in observer.get_node_names_and_namespaces()}
        assert expected <= graph
        observer.destroy_node()
    finally:
        rclpy.try_shutdown()

    children = psutil.Process(launched.pid).children(recursive=True)
    assert len(children) >= len(expected)
    launched.send_signal(signal.SIGINT)
    output, _ = launched.communicate(timeout=SHUTDOWN_TIMEOUT)
    assert launched.returncode == 0, output
    time.sleep(0.5)
    survivors = [child.pid for child in children if child.is_running()
                 and child.status() != psutil.STATUS_ZOMBIE]
    assert not survivors, f'processes left after Ctrl-C: {survivors}\n{output}'
