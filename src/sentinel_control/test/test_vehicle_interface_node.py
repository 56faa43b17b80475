"""The vehicle interface node over real UDP against the simulator's emulated autopilots.

Two drones and a rover run on the simulator's autopilot hub with kinematic
bodies (test/emulated_fleet.py); the node is configured from a site file that
points at them, one drone's link signed. The test plays the safety gate's
output: it publishes approved (and refused) commands on
/safety/approved_commands and watches what the vehicles do in their
VehicleState, and what the node says in its command results.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sentinel_msgs.msg import FleetState, NodeHeartbeat, SafetyVerdict, VehicleCommand, VehicleState

from sentinel_common.heartbeat_publisher import HEARTBEAT_TOPIC
from sentinel_common.qos import EVENT_QOS, HEARTBEAT_QOS, SENSOR_QOS
from sentinel_control.conversions import result_from_status
from sentinel_common.parameters import StartupError
from sentinel_control.vehicle_interface_node import VehicleInterfaceNode
from sentinel_sim.vehicle_types import VehicleKind

pytestmark = pytest.mark.ros
# A DDS domain of this test process alone: concurrent runs of these tests must not hear each other.
TEST_DOMAIN_ID = 1 + os.getpid() % 99


def _load(name: str) -> ModuleType:
    module_name = f'sentinel_control_test_{name}'
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, Path(__file__).with_name(f'{name}.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[module_name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[module_name])
    return sys.modules[module_name]


E = _load('emulated_fleet')
KEY = bytes(range(100, 132))           # drone_2's signing key
KEY_ENV = 'SENTINEL_TEST_DRONE_2_KEY'  # the environment variable the node reads it from
SPECS = [E.VehicleSpec('drone_1', 1, VehicleKind.DRONE, (-60.0, -20.0)),
         E.VehicleSpec('drone_2', 2, VehicleKind.DRONE, (-50.0, -20.0)),
         E.VehicleSpec('rover_1', 11, VehicleKind.GROUND, (-100.0, -62.5))]


class Harness:
    """The node under test, an observer node, and helpers to wait for what the observer sees."""

    def __init__(self, site: Path) -> None:
        self.node = VehicleInterfaceNode(parameter_overrides=[
            Parameter('site_config', value=str(site)), Parameter('link_timeout', value=2.5),
            Parameter('links.drone_2.signing_key_env', value=KEY_ENV)])
        self.observer = Node('vi_test_observer')
        self.states: dict[str, VehicleState] = {}
        self.fleet: list[FleetState] = []
        self.results: dict[str, Any] = {}
        self.health: list[NodeHeartbeat] = []
        for spec in SPECS:
            self.observer.create_subscription(
                VehicleState, f'/vehicles/{spec.vehicle_id}/state',
                lambda msg: self.states.__setitem__(msg.vehicle_id, msg), SENSOR_QOS)
        self.observer.create_subscription(FleetState, '/fleet/state', self.fleet.append, SENSOR_QOS)
        self.observer.create_subscription(DiagnosticArray, '/vehicles/command_results', self._on_results,
                                          EVENT_QOS)
        self.observer.create_subscription(NodeHeartbeat, HEARTBEAT_TOPIC, self._on_heartbeat, HEARTBEAT_QOS)
        self.approved = self.observer.create_publisher(VehicleCommand, '/safety/approved_commands', EVENT_QOS)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.executor.add_node(self.observer)
        self._ids = 0

    def _on_results(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.results[status.name] = result_from_status(status)

    def _on_heartbeat(self, msg: NodeHeartbeat) -> None:
        if msg.node_name == self.node.get_fully_qualified_name():
            self.health.append(msg)

    def spin_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f'{what}: not within {timeout} s; states: ' + \
                ', '.join(f'{k}: {v.mode} {v.position.x:.1f},{v.position.y:.1f},{v.position.z:.1f} '
                          f'link {v.link_state} landed {v.landed}' for k, v in self.states.items())
            self.executor.spin_once(timeout_sec=0.05)

    def spin(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def send(self, vehicle_id: str, command: int, target: tuple[float, float, float] = (0.0, 0.0, 0.0),
             refused: bool = False, route: list[tuple[float, float, float]] | None = None,
             stamp_age: float | None = None, command_id: str | None = None) -> str:
        self._ids += 1
        msg = VehicleCommand()
        msg.command_id = command_id or f'test-{self._ids}'
        msg.vehicle_id = vehicle_id
        msg.command = command
        msg.target.x, msg.target.y, msg.target.z = target
        for x, y, z in route or []:
            point = type(msg.target)()
            point.x, point.y, point.z = x, y, z
            msg.route.append(point)
        msg.task_id = f'task-{self._ids}'
        msg.issued_by = 'test'
        msg.verdict.decision = SafetyVerdict.REFUSED if refused else SafetyVerdict.APPROVED
        if refused:
            msg.verdict.reasons = ['geofence: target in keep_out zone hv_bus']
        if stamp_age is not None:
            msg.header.stamp = (self.node.get_clock().now() - rclpy.duration.Duration(seconds=stamp_age)).to_msg()
        self.approved.publish(msg)
        return msg.command_id

    def result(self, command_id: str, timeout: float = 10.0) -> Any:
        self.spin_until(lambda: command_id in self.results, timeout, f'result of {command_id}')
        return self.results[command_id]

    def near(self, vehicle_id: str, x: float, y: float, tolerance: float = 2.0) -> bool:
        s = self.states.get(vehicle_id)
        return s is not None and math.hypot(s.position.x - x, s.position.y - y) < tolerance

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.executor.remove_node(self.observer)
        self.node.destroy_node()
        self.observer.destroy_node()


@pytest.fixture
def ros() -> Any:
    rclpy.init(domain_id=TEST_DOMAIN_ID)
    yield
    rclpy.try_shutdown()


def _urls(fleet: Any) -> list[tuple[Any, str]]:
    return [(spec, f'udpout:127.0.0.1:{fleet.ports[spec.system_id]}') for spec in SPECS]


def test_states_commands_refusals_and_link_loss_over_udp(ros: None, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY.hex())
    fleet = E.EmulatedFleet(SPECS, scale=4.0, signing_keys={2: KEY}, rtl_altitude_m=5.0).__enter__()
    ports = dict(fleet.ports)
    h = Harness(E.site_yaml(tmp_path, _urls(fleet)))
    try:
        # every vehicle's state, the signed one included, at the publication rate
        h.spin_until(lambda: len(h.states) == 3 and all(s.link_state == VehicleState.LINK_OK and s.autopilot ==
                                                        'ardupilot' for s in h.states.values()), 10.0, 'links up')
        drone = h.states['drone_1']
        assert (drone.vehicle_type, drone.mode, drone.armed, drone.landed) == (VehicleState.TYPE_DRONE,
                                                                               'STABILIZE', False, True)
        assert h.near('drone_1', -60.0, -20.0, 0.5) and h.near('rover_1', -100.0, -62.5, 0.5)
        assert h.states['rover_1'].vehicle_type == VehicleState.TYPE_GROUND and h.states['rover_1'].mode == 'MANUAL'
        assert 0.9 < drone.battery_remaining <= 1.0 and drone.gps_fix == VehicleState.GPS_3D
        assert drone.header.frame_id == 'site' and h.states['drone_2'].link_quality > 0.9
        count = len(h.fleet)
        h.spin(1.0)
        assert 5 <= len(h.fleet) - count <= 12, 'FleetState at ~10 Hz'
        assert {v.vehicle_id for v in h.fleet[-1].vehicles} == {'drone_1', 'drone_2', 'rover_1'}

        # a refused command is not executed
        refused = h.send('drone_1', VehicleCommand.COMMAND_GOTO, (-40.0, -10.0, 6.0), refused=True)
        assert h.result(refused).outcome.value == 'rejected' and 'safety gate' in h.result(refused).reason
        h.spin(0.5)
        assert h.states['drone_1'].mode == 'STABILIZE' and not h.states['drone_1'].armed
        stale = h.send('drone_1', VehicleCommand.COMMAND_GOTO, (-40.0, -10.0, 6.0), stamp_age=30.0)
        assert 'stale' in h.result(stale).reason

        # bad input is answered, never executed: an unknown vehicle, a target that is no number, an unknown command
        ghost = h.send('drone_9', VehicleCommand.COMMAND_GOTO, (-40.0, -10.0, 6.0))
        assert (h.result(ghost).outcome.value, h.result(ghost).reason) == ('rejected', "unknown vehicle 'drone_9'")
        nan_target = h.send('drone_1', VehicleCommand.COMMAND_GOTO, (math.nan, -10.0, 6.0))
        assert (h.result(nan_target).outcome.value, h.result(nan_target).reason) == ('rejected',
                                                                                     'target is not finite')
        unknown = h.send('drone_1', 42)
        assert (h.result(unknown).outcome.value, h.result(unknown).reason) == ('rejected', 'unknown command 42')
        h.spin(0.3)
        assert h.states['drone_1'].mode == 'STABILIZE' and not h.states['drone_1'].armed

        # approved: two drones take off and go, the rover drives a route
        go1 = h.send('drone_1', VehicleCommand.COMMAND_GOTO, (-40.0, -10.0, 6.0))
        go2 = h.send('drone_2', VehicleCommand.COMMAND_GOTO, (-30.0, -30.0, 5.0))
        route = h.send('rover_1', VehicleCommand.COMMAND_FOLLOW_ROUTE,
                       route=[(-90.0, -62.5, 0.0), (-90.0, -45.0, 0.0)])
        for command_id in (go1, go2, route):
            assert h.result(command_id).outcome.value == 'accepted', h.result(command_id)
        assert h.result(go1).task_id == go1.replace('test', 'task')
        h.spin_until(lambda: h.near('drone_1', -40.0, -10.0) and h.near('drone_2', -30.0, -30.0)
                     and h.near('rover_1', -90.0, -45.0), 20.0, 'vehicles at their targets')
        assert abs(h.states['drone_1'].position.z - 6.0) < 1.0 and h.states['drone_1'].mode == 'GUIDED'
        assert h.states['drone_1'].current_task_id == go1.replace('test', 'task') and not h.states['drone_1'].landed
        assert h.states['rover_1'].mode in ('AUTO', 'HOLD')
        duplicate = h.send('drone_1', VehicleCommand.COMMAND_RTL, command_id=go1)
        h.spin(0.3)
        assert h.states['drone_1'].mode == 'GUIDED', 'a duplicate command id is not executed again'
        assert duplicate == go1

        # return to launch and land; a stop is executed however late it arrives
        rtl = h.send('drone_1', VehicleCommand.COMMAND_RTL, stamp_age=30.0)
        land = h.send('drone_2', VehicleCommand.COMMAND_LAND)
        assert h.result(rtl).outcome.value == 'accepted' and h.result(land).outcome.value == 'accepted'
        h.spin_until(lambda: h.states['drone_1'].landed and not h.states['drone_1'].armed
                     and h.states['drone_2'].landed, 25.0, 'RTL and LAND done')
        assert h.near('drone_1', -60.0, -20.0) and h.near('drone_2', -30.0, -30.0)
        assert h.states['drone_1'].mode == 'RTL' and h.states['drone_2'].mode == 'LAND'

        # a command the vehicle refuses is reported with the MAV_RESULT name
        takeoff_rover = h.send('rover_1', VehicleCommand.COMMAND_TAKEOFF, (0.0, 0.0, 10.0))
        assert 'cannot take off' in h.result(takeoff_rover).reason
        disarm_flying = h.send('drone_1', VehicleCommand.COMMAND_TERMINATE)
        assert h.result(disarm_flying).mav_result == 'MAV_RESULT_DENIED'

        # link loss: the hub stops; every link is reported lost, the node degrades
        fleet.stop()
        h.spin_until(lambda: all(s.link_state == VehicleState.LINK_LOST for s in h.states.values()), 8.0,
                     'links lost')
        h.spin(0.3)
        assert h.health[-1].health == NodeHeartbeat.HEALTH_DEGRADED and 'links lost' in h.health[-1].status_msg
        lost_cmd = h.send('drone_1', VehicleCommand.COMMAND_RTL)
        assert h.result(lost_cmd).reason == 'vehicle link lost'

        # recovery: new autopilots on the same ports; stream rates are requested again
        fleet = E.EmulatedFleet(SPECS, ports=ports, scale=4.0, signing_keys={2: KEY}, rtl_altitude_m=5.0).__enter__()
        h.spin_until(lambda: all(s.link_state == VehicleState.LINK_OK for s in h.states.values()), 10.0,
                     'links recovered')
        hold = h.send('rover_1', VehicleCommand.COMMAND_HOLD)
        assert h.result(hold).outcome.value == 'accepted'
        h.spin_until(lambda: h.health[-1].health == NodeHeartbeat.HEALTH_OK, 3.0, 'health OK again')
        assert fleet.autopilots[1].message_interval(33) == pytest.approx(0.1), 'GLOBAL_POSITION_INT at 10 Hz'
    finally:
        h.close()
        fleet.stop()


def test_bad_configuration_stops_the_node_with_the_key(ros: None, tmp_path: Path) -> None:
    site = E.site_yaml(tmp_path, [(SPECS[0], 'udpout:127.0.0.1:14999')])
    with pytest.raises(StartupError, match='SENTINEL_NOT_SET'):
        VehicleInterfaceNode(parameter_overrides=[Parameter('site_config', value=str(site)),
                                                  Parameter('links.drone_1.signing_key_env',
                                                            value='SENTINEL_NOT_SET')])
    with pytest.raises(StartupError, match='site_config'):
        VehicleInterfaceNode()
    with pytest.raises(StartupError, match='cannot read'):
        VehicleInterfaceNode(parameter_overrides=[Parameter('site_config', value=str(tmp_path / 'none.yaml'))])
