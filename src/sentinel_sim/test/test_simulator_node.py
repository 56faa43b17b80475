"""System test of the simulator node: what an outside ROS 2 process and a MAVLink client see.

The node runs as its own process, exactly as launch starts it. This test is the
outside world: an rclpy observer for camera images, calibration, ground truth
and fault injection, and a pymavlink ground station that flies a drone.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from pymavlink import mavutil
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from sentinel_msgs.msg import GroundTruth
from sentinel_msgs.srv import InjectFault

from sentinel_common.qos import SENSOR_QOS
from sentinel_sim.geo import enu_to_wgs84
from sentinel_sim.site_config import load_site

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / 'config' / 'sites' / 'substation.yaml'
# Keeps the test's autopilots off the ports of a simulator started by `make run`.
PORT_OFFSET = 2000
REAL_TIME_FACTOR = 3.0   # simulated seconds per wall second: fast, yet the GCS keeps up
STARTUP_TIMEOUT = 60.0   # s, wall: process start, world load, DDS discovery
COPTER_GUIDED = 4        # ArduPilot copter custom mode numbers
COPTER_RTL = 6


@pytest.fixture(scope='module')
def world():
    return load_site(SITE)[1]


@pytest.fixture(scope='module')
def simulator():
    process = subprocess.Popen(
        [sys.executable, '-m', 'sentinel_sim.simulator_node', '--ros-args',
         '-p', f'world_file:={ROOT / "worlds" / "substation.sdf"}', '-p', f'site_config:={SITE}',
         '-p', f'real_time_factor:={REAL_TIME_FACTOR}', '-p', f'mavlink_port_offset:={PORT_OFFSET}',
         '-p', 'camera_rate_scale:=0.4'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope='module')
def observer(simulator):
    rclpy.init()
    node = Node('simulator_observer')
    yield node
    node.destroy_node()
    rclpy.try_shutdown()


def spin_until(node: Node, done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        rclpy.spin_once(node, timeout_sec=0.05)
    return done()


def test_cameras_and_ground_truth_reach_an_outside_process(observer, simulator, world):
    fixed = next(c for c in world.cameras if c.name == 'cam_nw')
    images: list[Image] = []
    infos: list[CameraInfo] = []
    truths: list[GroundTruth] = []
    observer.create_subscription(Image, '/cameras/cam_nw/image_raw', images.append, SENSOR_QOS)
    observer.create_subscription(CameraInfo, '/cameras/cam_nw/camera_info', infos.append, SENSOR_QOS)
    observer.create_subscription(GroundTruth, '/sim/ground_truth', truths.append, SENSOR_QOS)
    assert spin_until(observer, lambda: len(images) >= 2 and bool(infos) and
                      any(t.boxes for t in truths), STARTUP_TIMEOUT), 'no frames or ground truth'
    image = images[-1]
    assert (image.width, image.height, image.encoding) == (fixed.width, fixed.height, 'rgb8')
    pixels = np.frombuffer(bytes(image.data), dtype=np.uint8).reshape(image.height, image.width, 3)
    assert pixels.std() > 10.0, 'a rendered scene is not a flat colour'
    assert infos[-1].k[0] > 0 and infos[-1].k[2] == pytest.approx(fixed.width / 2)
    entities = {e.entity_id: e for e in truths[-1].entities}
    assert {'intruder', 'guard', 'drone_1', 'rover_1'} <= set(entities)
    assert entities['intruder'].class_name == 'person'
    assert entities['guard'].role == 'authorized'
    box = next(b for t in truths for b in t.boxes)
    assert 0 <= box.box.x_min_px < box.box.x_max_px <= 640 * 2


def test_fault_injection_service_applies_and_rejects(observer):
    client = observer.create_client(InjectFault, '/sim/inject_fault')
    assert spin_until(observer, client.service_is_ready, STARTUP_TIMEOUT)

    def call(**fields) -> InjectFault.Response:
        future = client.call_async(InjectFault.Request(**fields))
        assert spin_until(observer, future.done, 10.0)
        return future.result()

    assert call(fault=InjectFault.Request.FAULT_FOG, magnitude=0.5).error_code == 0
    assert call(fault=InjectFault.Request.FAULT_FOG, clear=True).error_code == 0
    unknown = call(fault=InjectFault.Request.FAULT_GPS_LOSS, target='drone_9')
    assert unknown.error_code == InjectFault.Response.ERROR_UNKNOWN_TARGET
    assert 'drone_9' in unknown.error_msg
    assert call(fault=99).error_code == InjectFault.Response.ERROR_INVALID


class GroundStation:
    """A pymavlink ground station flying one vehicle, as a vehicle integrator would."""

    def __init__(self, port: int) -> None:
        self.link = mavutil.mavlink_connection(f'udpout:127.0.0.1:{port}', source_system=255,
                                               source_component=190)
        self._last_heartbeat = 0.0

    def pump(self, kind: str | None = None, timeout: float = 1.0):
        """Keep our heartbeat going (the autopilot fails safe without it) and read one message."""
        if time.monotonic() - self._last_heartbeat > 0.3:
            self.link.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_GCS,
                                         mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
            self._last_heartbeat = time.monotonic()
        return self.link.recv_match(type=kind, blocking=True, timeout=timeout)

    def wait_for(self, kind: str, predicate, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.pump(kind, timeout=0.5)
            if message is not None and predicate(message):
                return message
        raise AssertionError(f'no {kind} matching within {timeout} s')

    def command(self, command: int, *params: float) -> int:
        self.link.mav.command_long_send(self.link.target_system, 1, command, 0,
                                        *(list(params) + [0.0] * (7 - len(params))))
        ack = self.wait_for('COMMAND_ACK', lambda m: m.command == command, 10.0)
        return ack.result


def test_a_mavlink_ground_station_arms_takes_off_flies_to_a_point_and_returns(simulator, world):
    vehicle = next(v for v in world.vehicles if v.model.name == 'drone_1')
    station = GroundStation(vehicle.mavlink_port + PORT_OFFSET)
    station.wait_for('HEARTBEAT', lambda m: m.type == mavutil.mavlink.MAV_TYPE_QUADROTOR, 30.0)
    station.link.target_system = vehicle.system_id
    station.wait_for('GPS_RAW_INT', lambda m: m.fix_type >= 3, 30.0)
    accepted = mavutil.mavlink.MAV_RESULT_ACCEPTED
    assert station.command(mavutil.mavlink.MAV_CMD_DO_SET_MODE,
                           mavutil.mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, COPTER_GUIDED) == accepted
    assert station.command(mavutil.mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1) == accepted
    assert station.command(mavutil.mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 15.0) == accepted
    station.wait_for('GLOBAL_POSITION_INT', lambda m: m.relative_alt > 13_000, 30.0)

    target_east, target_north = 0.0, 10.0  # metres from the site origin, inside the fence
    origin = world.origin
    lat, lon, _ = enu_to_wgs84(target_east, target_north, 0.0, origin.latitude_deg,
                               origin.longitude_deg, origin.elevation)
    station.link.mav.set_position_target_global_int_send(
        0, vehicle.system_id, 1, mavutil.mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b0000111111111000,
        int(lat * 1e7), int(lon * 1e7), 15.0, 0, 0, 0, 0, 0, 0, 0, 0)

    def near_target(message) -> bool:
        return math.dist((message.lat / 1e7, message.lon / 1e7), (lat, lon)) < 3.0 / 111_000

    station.wait_for('GLOBAL_POSITION_INT', near_target, 60.0)
    assert station.command(mavutil.mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH) == accepted
    station.wait_for('HEARTBEAT', lambda m: m.custom_mode == COPTER_RTL, 10.0)
    station.wait_for('HEARTBEAT', lambda m: m.type == mavutil.mavlink.MAV_TYPE_QUADROTOR and not (
        m.base_mode & mavutil.mavlink.MAV_MODE_FLAG_SAFETY_ARMED), 90.0)
    home = station.wait_for('GLOBAL_POSITION_INT', lambda m: True, 5.0)
    assert home.relative_alt < 1_000, 'landed back at home'


def test_ctrl_c_stops_the_simulator_cleanly(simulator):
    simulator.send_signal(signal.SIGINT)
    assert simulator.wait(timeout=30) == 0
