"""In-process node test: the watchdog's services and topics over real rclpy and DDS."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sentinel_common.qos import EVENT_QOS, HEARTBEAT_QOS, LATCHED_QOS, SENSOR_QOS
from sentinel_msgs.msg import (Alert, FleetState, NodeHeartbeat, SafetyStatus, SafetyVerdict,
                               VehicleCommand, VehicleState, Zone, ZoneArray)
from sentinel_msgs.srv import CommandVehicle, ReleaseEstop, TriggerEstop

from sentinel_safety.config import SafetyConfigError
from sentinel_safety.safety_watchdog_node import SafetyWatchdogNode, main


def _testkit() -> ModuleType:
    name = 'sentinel_safety_testkit'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(
            'safety_testkit.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


K = _testkit()   # shared builders (safety_testkit.py)
WAIT = 10.0   # s, longest wait for any one reply
SITE = K.substation()


@pytest.fixture
def ros() -> Iterator[None]:
    rclpy.init(domain_id=K.domain_id())
    yield
    rclpy.try_shutdown()


def parameters(site: Path, safety: Path) -> list[Parameter]:
    return [Parameter('site_config', Parameter.Type.STRING, str(site)),
            Parameter('safety_config', Parameter.Type.STRING, str(safety))]


class Client:
    """An outside node: calls the services, records every topic, keeps vehicles fresh."""

    def __init__(self, watchdog: Node) -> None:
        self.node = Node('safety_test_client')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(watchdog)
        self.executor.add_node(self.node)
        self.got: dict[str, list[Any]] = {name: [] for name in (
            'status', 'verdicts', 'approved', 'zones', 'alerts', 'heartbeats')}
        for name, kind, topic, qos in (
                ('status', SafetyStatus, '/safety/status', LATCHED_QOS),
                ('verdicts', VehicleCommand, '/safety/verdicts', EVENT_QOS),
                ('approved', VehicleCommand, '/safety/approved_commands', EVENT_QOS),
                ('zones', ZoneArray, '/zones', LATCHED_QOS),
                ('alerts', Alert, '/alerts', EVENT_QOS),
                ('heartbeats', NodeHeartbeat, '/heartbeats', HEARTBEAT_QOS)):
            self.node.create_subscription(kind, topic, self.got[name].append, qos)
        self.fleet = self.node.create_publisher(FleetState, '/fleet/state', SENSOR_QOS)
        self.services: dict[str, Any] = {
            'command': self.node.create_client(CommandVehicle, '/safety/command_vehicle'),
            'trigger': self.node.create_client(TriggerEstop, '/safety/trigger_estop'),
            'release': self.node.create_client(ReleaseEstop, '/safety/release_estop')}

    def publish_fleet(self) -> None:
        msg = FleetState()
        for info in SITE.vehicles.values():
            state = VehicleState()
            state.vehicle_id = info.vehicle_id
            drone = info.vehicle_type.value == 'drone'
            state.vehicle_type = VehicleState.TYPE_DRONE if drone else VehicleState.TYPE_GROUND
            state.armed = True
            state.mode = 'GUIDED'
            state.position.x, state.position.y = float(info.home.x), float(info.home.y)
            state.position.z = 10.0 if drone else 0.0
            state.battery_remaining = 1.0
            state.link_state = VehicleState.LINK_OK
            state.gps_fix = VehicleState.GPS_3D
            msg.vehicles.append(state)
        self.fleet.publish(msg)

    def spin_until(self, predicate: Callable[[], bool], what: str) -> None:
        end = time.monotonic() + WAIT
        while not predicate():
            assert time.monotonic() < end, f'not within {WAIT} s: {what}'
            self.publish_fleet()
            self.executor.spin_once(timeout_sec=0.02)

    def call(self, service: str, request: Any) -> Any:
        client = self.services[service]
        self.spin_until(client.service_is_ready, f'{service} service')
        future = client.call_async(request)
        self.spin_until(future.done, f'{service} response')
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def goto(vehicle_id: str, x: float, y: float, z: float, command_id: str,
         code: int = VehicleCommand.COMMAND_GOTO) -> CommandVehicle.Request:
    request = CommandVehicle.Request()
    request.command.command_id = command_id
    request.command.vehicle_id = vehicle_id
    request.command.command = code
    target = request.command.target
    target.x, target.y, target.z = float(x), float(y), float(z)   # ints would not serialize
    request.command.speed_limit = 4.0
    request.command.issued_by = 'mission_control'
    return request


def test_the_watchdog_serves_the_graph_contract(ros: None, tmp_path: Path) -> None:
    watchdog = SafetyWatchdogNode(parameter_overrides=parameters(K.SITE_YAML,
                                                                 K.write_config(tmp_path)))
    client = Client(watchdog)
    try:
        got = client.got
        client.spin_until(lambda: bool(got['zones'] and got['status']), 'latched zones and status')
        zones = {z.zone_id: z for z in got['zones'][-1].zones}
        assert zones['flight_area'].kind == Zone.KIND_GEOFENCE_INCLUSION
        assert zones['hv_bus'].kind == Zone.KIND_KEEP_OUT
        assert zones['hv_bus'].altitude_ceiling > 1e30   # +inf: no ceiling
        status = got['status'][-1]
        assert not status.estop_engaged and len(status.vehicles) == 5

        # The gate: approved, refused, unknown vehicle, unknown command code.
        ok = client.call('command', goto('drone_1', -60, 40, 20, 'ok-1'))
        assert ok.error_code == CommandVehicle.Response.ERROR_NONE
        assert ok.command.verdict.decision == SafetyVerdict.APPROVED
        far = client.call('command', goto('drone_1', 500, 0, 20, 'far-1'))
        assert far.error_code == CommandVehicle.Response.ERROR_REFUSED
        assert 'geofence' in far.command.verdict.checks_failed
        assert client.call('command', goto('drone_9', 0, 0, 20, 'who-1')).error_code == \
            CommandVehicle.Response.ERROR_UNKNOWN_VEHICLE
        assert client.call('command', goto('drone_1', 0, 0, 20, 'odd-1', code=42)).error_code == \
            CommandVehicle.Response.ERROR_INVALID
        client.spin_until(lambda: len(got['verdicts']) >= 4, 'four verdicts')
        assert [v.command_id for v in got['verdicts']] == ['ok-1', 'far-1', 'who-1', 'odd-1']
        assert [a.command_id for a in got['approved']] == ['ok-1']

        # E-stop: refused for a stranger, engaged for an operator, latched and persisted.
        stranger = TriggerEstop.Request(scope=TriggerEstop.Request.SCOPE_FLEET,
                                        requested_by='visitor', reason='test')
        assert client.call('trigger', stranger).error_code == \
            TriggerEstop.Response.ERROR_NOT_AUTHORIZED
        engage = TriggerEstop.Request(scope=TriggerEstop.Request.SCOPE_FLEET,
                                      requested_by='operator_console', reason='intruder drill')
        engaged = client.call('trigger', engage)
        assert engaged.error_code == TriggerEstop.Response.ERROR_NONE
        assert engaged.status.estop_engaged and engaged.status.estop_scope == \
            SafetyStatus.SCOPE_FLEET
        assert sorted(engaged.status.estopped_vehicle_ids) == sorted(SITE.vehicles)
        client.spin_until(lambda: len(got['approved']) >= 6, 'stop commands for every vehicle')
        stops = got['approved'][1:]
        assert {s.vehicle_id for s in stops} == set(SITE.vehicles)
        assert all(s.command == VehicleCommand.COMMAND_HOLD and s.issued_by == 'safety_watchdog'
                   for s in stops)
        client.spin_until(lambda: got['status'][-1].estop_engaged, 'status shows the e-stop')
        client.spin_until(lambda: any(a.rule_id == 'estop' for a in got['alerts']), 'alert')
        saved = json.loads((tmp_path / 'estop.json').read_text())
        assert saved['fleet'] and saved['engaged_by'] == 'operator_console'
        assert client.call('trigger', engage).error_code == TriggerEstop.Response.ERROR_NONE

        moving = client.call('command', goto('drone_1', -60, 40, 20, 'ok-2'))
        assert list(moving.command.verdict.checks_failed) == ['estop']

        # Release: one person is not enough; two distinct authorized approvers are.
        alone = ReleaseEstop.Request(first_approver='safety_officer',
                                     second_approver='safety_officer', reason='clear')
        assert client.call('release', alone).error_code == ReleaseEstop.Response.ERROR_SAME_APPROVER
        pair = ReleaseEstop.Request(first_approver='safety_officer',
                                    second_approver='shift_supervisor', reason='clear')
        released = client.call('release', pair)
        assert released.error_code == ReleaseEstop.Response.ERROR_NONE
        assert not released.status.estop_engaged
        assert not json.loads((tmp_path / 'estop.json').read_text())['fleet']

        # Its own heartbeat, with progress every monitoring cycle.
        mine = [h for h in got['heartbeats'] if h.node_name == '/safety_watchdog']
        client.spin_until(lambda: len([h for h in got['heartbeats']
                                       if h.node_name == '/safety_watchdog']) > len(mine) + 3,
                          'watchdog heartbeats')
        beats = [h for h in got['heartbeats'] if h.node_name == '/safety_watchdog']
        assert beats[-1].progress_counter > beats[0].progress_counter
    finally:
        client.close()
        watchdog.destroy_node()


def test_a_latched_stop_survives_a_restart(ros: None, tmp_path: Path) -> None:
    safety = K.write_config(tmp_path)
    (tmp_path / 'estop.json').write_text(json.dumps({
        'version': 1, 'fleet': False, 'vehicles': ['rover_2'], 'engaged_by': 'safety_officer',
        'engaged_at': 1.7e9, 'reason': 'before the restart'}))
    watchdog = SafetyWatchdogNode(parameter_overrides=parameters(K.SITE_YAML, safety))
    client = Client(watchdog)
    try:
        got = client.got
        client.spin_until(lambda: bool(got['status']) and got['status'][-1].estop_engaged,
                          'status')
        assert list(got['status'][-1].estopped_vehicle_ids) == ['rover_2']
        client.spin_until(lambda: any(a.vehicle_id == 'rover_2' for a in got['approved']),
                          'the stop re-sent')
    finally:
        client.close()
        watchdog.destroy_node()


def test_a_bad_configuration_stops_the_node_naming_file_and_key(ros: None,
                                                               tmp_path: Path) -> None:
    def no_speed(data: dict[str, Any]) -> None:
        del data['vehicle_types']['drone']['max_horizontal_speed']
    bad = K.write_config(tmp_path, no_speed)
    with pytest.raises(SafetyConfigError) as caught:
        SafetyWatchdogNode(parameter_overrides=parameters(K.SITE_YAML, bad))
    assert caught.value.file == str(bad)
    assert caught.value.key == 'vehicle_types.drone.max_horizontal_speed'
    with pytest.raises(SafetyConfigError) as caught:
        SafetyWatchdogNode(parameter_overrides=[Parameter('site_config', Parameter.Type.STRING,
                                                          str(K.SITE_YAML))])
    assert caught.value.key == 'safety_config' and 'missing' in caught.value.reason


def test_main_exits_with_an_error_on_a_bad_configuration(tmp_path: Path) -> None:
    args = ['--ros-args', '-p', f'site_config:={K.SITE_YAML}',
            '-p', f'safety_config:={tmp_path / "missing.yaml"}']
    assert main(args) == 2
