"""System test: the safety watchdog keeping a simulated drone safe, every node its own process.

The simulator (substation world, no rendering), the vehicle interface and the
safety watchdog run as separate processes on a DDS domain of their own, as
launch would start them. This test is the outside world: an rclpy client of the
watchdog's services, and a passive MAVLink listener on the drone's port that
reads the autopilot's mode and never sends a ground station heartbeat (so it
cannot keep the autopilot's GCS-loss failsafe away).

One flight, in order: the command gate refuses a goto out of the geofence and
approves one inside; an e-stop reaches the drone after the vehicle interface is
SIGKILLed; one person cannot release it, two can; and when the watchdog itself
is SIGKILLed the autopilot's own GCS-loss failsafe takes over.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rclpy
import yaml
from geometry_msgs.msg import Point
from pymavlink import mavutil
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sentinel_msgs.msg import SafetyVerdict, VehicleCommand, VehicleState
from sentinel_msgs.srv import CommandVehicle, ReleaseEstop, TriggerEstop

from sentinel_common.qos import SENSOR_QOS

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / 'config' / 'sites' / 'substation.yaml'
SAFETY = ROOT / 'config' / 'safety.yaml'
WORLD = ROOT / 'worlds' / 'substation.sdf'
DRONE = 'drone_1'
REAL_TIME_FACTOR = 2.0    # simulated seconds per wall second
STARTUP_TIMEOUT = 60.0    # s, wall: processes start, world loads, DDS discovery
WAIT = 15.0               # s, wall: longest wait for any other expected change
FLIGHT_ALT = 15.0         # m above home
COPTER_MODES = {4: 'GUIDED', 5: 'LOITER', 6: 'RTL', 9: 'LAND', 17: 'BRAKE'}
# The emulated autopilot's GCS-loss failsafe (FS_GCS_TIMEOUT, simulated seconds) and action.
GCS_TIMEOUT_SIM = 5.0
GCS_FAILSAFE_MODES = {'RTL', 'LAND'}
HEALTH_CHECKS = {'stale_state', 'link_lost', 'gps_lost'}   # the gate's refusals while starting up


def domain_id() -> int:
    """A DDS domain of this test's own (0 is everyone's default), so other suites do not cross-talk."""
    return 20 + (os.getpid() + 37) % 80


def port_offset() -> int:
    """Keeps the autopilots' ports clear of `make run` and of the simulator node's own test."""
    return 3000 + (os.getpid() % 40) * 20


# ---------------------------------------------------------------- configuration copies

def write_site(directory: Path, offset: int) -> Path:
    """The substation site with every MAVLink port shifted and the world path made absolute."""
    data = yaml.safe_load(SITE.read_text(encoding='utf-8'))
    data['site']['world'] = str(WORLD)
    for vehicle in data['vehicles']:
        scheme, host, port = vehicle['mavlink']['url'].rsplit(':', 2)
        vehicle['mavlink']['url'] = f'{scheme}:{host}:{int(port) + offset}'
    path = directory / 'substation.yaml'
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding='utf-8')
    return path


def write_safety(directory: Path) -> Path:
    """config/safety.yaml with the latched e-stop state kept in ``directory``.

    The node roster is left as it is, but the grace for never-heard nodes is long:
    perception, mission control and the bridge are not started here, and their
    absence (mission control's means "every armed vehicle holds") is not under test.
    """
    data = yaml.safe_load(SAFETY.read_text(encoding='utf-8'))
    data['estop']['state_file'] = str(directory / 'safety_estop.json')
    data['heartbeats']['startup_grace'] = 600.0
    path = directory / 'safety.yaml'
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding='utf-8')
    return path


def drone_port(site: Path) -> int:
    data = yaml.safe_load(site.read_text(encoding='utf-8'))
    vehicle = next(v for v in data['vehicles'] if v['id'] == DRONE)
    return int(vehicle['mavlink']['url'].rsplit(':', 1)[1])


# ---------------------------------------------------------------- processes

@dataclass
class System:
    simulator: subprocess.Popen[str]
    vehicle_interface: subprocess.Popen[str]
    watchdog: subprocess.Popen[str]
    port: int
    logs: Path

    def alive(self) -> None:
        for name in ('simulator', 'vehicle_interface', 'watchdog'):
            process = getattr(self, name)
            if process.poll() is not None and process.returncode != -signal.SIGKILL:
                log = (self.logs / f'{name}.log').read_text(encoding='utf-8', errors='replace')
                raise AssertionError(f'{name} exited with {process.returncode}:\n{log[-4000:]}')


def _start(module: str, params: dict[str, Any], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    args = [sys.executable, '-m', module, '--ros-args']
    for key, value in params.items():
        args += ['-p', f'{key}:={value}']
    with log.open('w', encoding='utf-8') as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True, env=env)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    offset = port_offset()
    site = write_site(tmp_path, offset)
    safety = write_safety(tmp_path)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id()), PYTHONUNBUFFERED='1')
    processes: list[subprocess.Popen[str]] = []
    try:
        # The simulator checks the site's URLs against the world's autopilot ports, so it reads
        # the repository's site file and shifts its ports itself; the other nodes read the copy.
        processes.append(_start('sentinel_sim.simulator_node', {
            'world_file': WORLD, 'site_config': SITE, 'render_cameras': 'false',
            'real_time_factor': REAL_TIME_FACTOR, 'mavlink_port_offset': offset},
            env, tmp_path / 'simulator.log'))
        processes.append(_start('sentinel_control.vehicle_interface_node', {'site_config': site},
                                env, tmp_path / 'vehicle_interface.log'))
        processes.append(_start('sentinel_safety.safety_watchdog_node',
                                {'site_config': site, 'safety_config': safety},
                                env, tmp_path / 'watchdog.log'))
        yield System(*processes, port=drone_port(site), logs=tmp_path)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            process.wait(timeout=30)


# ---------------------------------------------------------------- observers

class MavlinkListener:
    """Reads one drone's heartbeats on its UDP port, from a thread of its own.

    To stay one of the vehicle's peers it sends a heartbeat as an onboard
    computer, never as a GCS: the autopilot's GCS-loss failsafe ignores it.
    """

    def __init__(self, port: int, system_id: int) -> None:
        self.link = mavutil.mavlink_connection(f'udpout:127.0.0.1:{port}', source_system=251,
                                               source_component=191)
        self.system_id = system_id
        self.mode: str | None = None
        self.armed = False
        self.relative_alt = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_sent = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_sent > 1.0:
                self.link.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
                                             mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
                last_sent = time.monotonic()
            message = self.link.recv_match(type=['HEARTBEAT', 'GLOBAL_POSITION_INT'],
                                           blocking=True, timeout=0.2)
            if message is None or message.get_srcSystem() != self.system_id:
                continue
            if message.get_type() == 'GLOBAL_POSITION_INT':
                self.relative_alt = message.relative_alt / 1000.0
            elif message.type == mavutil.mavlink.MAV_TYPE_QUADROTOR:
                self.mode = COPTER_MODES.get(message.custom_mode, str(message.custom_mode))
                self.armed = bool(message.base_mode & mavutil.mavlink.MAV_MODE_FLAG_SAFETY_ARMED)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.link.close()


class Operator:
    """An rclpy client of the watchdog's services, on the test's own DDS domain."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id())
        self.node = Node('safety_system_test', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.command: Any = self.node.create_client(CommandVehicle, '/safety/command_vehicle')
        self.trigger: Any = self.node.create_client(TriggerEstop, '/safety/trigger_estop')
        self.release: Any = self.node.create_client(ReleaseEstop, '/safety/release_estop')
        self.state: VehicleState | None = None
        self.node.create_subscription(VehicleState, f'/vehicles/{DRONE}/state',
                                      self._on_state, SENSOR_QOS)
        self._count = 0

    def _on_state(self, state: VehicleState) -> None:
        self.state = state

    def spin_until(self, done: Callable[[], bool], what: str, timeout: float = WAIT) -> float:
        start = time.monotonic()
        while not done():
            self.system.alive()
            assert time.monotonic() - start < timeout, f'not within {timeout:.0f} s: {what}'
            self.executor.spin_once(timeout_sec=0.05)
        return time.monotonic() - start

    def pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        self.spin_until(lambda: time.monotonic() >= until, 'a pause', seconds + 1.0)

    def call(self, client: Any, request: Any) -> Any:
        self.spin_until(client.service_is_ready, f'service {client.srv_name}', STARTUP_TIMEOUT)
        future = client.call_async(request)
        self.spin_until(future.done, f'answer of {client.srv_name}')
        return future.result()

    def propose(self, kind: int, x: float, y: float, z: float) -> CommandVehicle.Response:
        self._count += 1
        command = VehicleCommand(command_id=f'system-test-{self._count}', vehicle_id=DRONE,
                                 command=kind, target=Point(x=x, y=y, z=z), speed_limit=5.0,
                                 issued_by='operator')
        return self.call(self.command, CommandVehicle.Request(command=command))

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def test_safety_keeps_a_simulated_drone_safe_across_process_failures(system: System) -> None:
    listener = MavlinkListener(system.port, system_id=1)
    operator = Operator(system)
    try:
        operator.spin_until(lambda: operator.state is not None
                            and operator.state.link_state == VehicleState.LINK_OK
                            and operator.state.gps_fix >= VehicleState.GPS_3D
                            and not math.isnan(operator.state.battery_remaining),
                            'drone state: link up, 3D fix, battery known', STARTUP_TIMEOUT)
        home = operator.state.position

        # Take off through the gate: the vehicle interface arms and climbs. Until the
        # watchdog has heard the same healthy state, the gate refuses for health.
        deadline = time.monotonic() + WAIT
        while True:
            takeoff = operator.propose(VehicleCommand.COMMAND_TAKEOFF, home.x, home.y, FLIGHT_ALT)
            health = set(takeoff.command.verdict.checks_failed) <= HEALTH_CHECKS
            if takeoff.error_code != CommandVehicle.Response.ERROR_REFUSED or not health \
                    or time.monotonic() > deadline:
                break
            operator.pause(0.5)
        assert takeoff.error_code == CommandVehicle.Response.ERROR_NONE, list(
            takeoff.command.verdict.reasons) or takeoff.error_msg
        operator.spin_until(lambda: listener.armed and listener.relative_alt > FLIGHT_ALT - 2.0,
                            'climb to the flight altitude', 30.0)

        # 1. The gate: out of the fence (north of the 120 m inclusion edge) is refused...
        outside = operator.propose(VehicleCommand.COMMAND_GOTO, home.x, 200.0, FLIGHT_ALT)
        assert outside.error_code == CommandVehicle.Response.ERROR_REFUSED
        assert outside.command.verdict.decision == SafetyVerdict.REFUSED
        assert 'geofence' in outside.command.verdict.checks_failed
        assert any(outside.command.verdict.reasons)
        # ... and a short hop inside it is approved and forwarded.
        inside = operator.propose(VehicleCommand.COMMAND_GOTO, home.x, home.y + 15.0, FLIGHT_ALT)
        assert inside.error_code == CommandVehicle.Response.ERROR_NONE, list(
            inside.command.verdict.reasons)
        assert inside.command.verdict.decision in (SafetyVerdict.APPROVED,
                                                   SafetyVerdict.APPROVED_WITH_CHANGES)
        operator.spin_until(lambda: listener.mode == 'GUIDED', 'GUIDED flight')

        # 2. The vehicle interface dies hard; the e-stop still reaches the drone.
        system.vehicle_interface.kill()
        system.vehicle_interface.wait(timeout=10)
        engage = TriggerEstop.Request(scope=TriggerEstop.Request.SCOPE_FLEET,
                                      requested_by='operator_console', reason='system test')
        assert operator.call(operator.trigger, engage).error_code == TriggerEstop.Response.ERROR_NONE
        # config/safety.yaml: drones stop in category brake, ArduCopter's BRAKE mode.
        operator.spin_until(lambda: listener.mode == 'BRAKE', 'BRAKE after the e-stop')
        assert listener.armed and listener.relative_alt > 5.0, 'stopped in the air, not dropped'

        # While latched, the gate refuses motion.
        latched = operator.propose(VehicleCommand.COMMAND_GOTO, home.x, home.y, FLIGHT_ALT)
        assert latched.error_code == CommandVehicle.Response.ERROR_REFUSED
        assert 'estop' in latched.command.verdict.checks_failed

        # 3. One person cannot release it (case does not make a second person); two can.
        same = ReleaseEstop.Request(first_approver='safety_officer',
                                    second_approver='SAFETY_OFFICER', reason='one person')
        assert operator.call(operator.release, same).error_code == \
            ReleaseEstop.Response.ERROR_SAME_APPROVER
        assert listener.mode == 'BRAKE'
        pair = ReleaseEstop.Request(first_approver='safety_officer',
                                    second_approver='shift_supervisor', reason='all clear')
        released = operator.call(operator.release, pair)
        assert released.error_code == ReleaseEstop.Response.ERROR_NONE, released.error_msg

        # 4. The watchdog dies hard; with no ground station heartbeat left (the vehicle
        # interface is gone, the listener is no GCS) the autopilot's own failsafe acts.
        assert listener.mode not in GCS_FAILSAFE_MODES, 'a failsafe already in force'
        system.watchdog.kill()
        system.watchdog.wait(timeout=10)
        # GCS_TIMEOUT_SIM simulated seconds plus the watchdog's heartbeat period, with margin.
        limit = (GCS_TIMEOUT_SIM + 1.0) / REAL_TIME_FACTOR + 5.0
        took = operator.spin_until(lambda: listener.mode in GCS_FAILSAFE_MODES,
                                   'the GCS-loss failsafe', limit)
        assert took > 0.5 * GCS_TIMEOUT_SIM / REAL_TIME_FACTOR, 'acted before its timeout'
    finally:
        operator.close()
        listener.close()
