"""System tests: the safety watchdog keeping simulated drones safe, every node its own process.

The simulator (substation world, no rendering), the vehicle interface and the
safety watchdog (and, where needed, mission control) run as separate processes
on a DDS domain of their own, as launch would start them. The test is the
outside world: an rclpy client of the watchdog's and the simulator's services
and topics, and MAVLink peers on the drones' ports that never send a ground
station heartbeat (so they cannot keep the autopilots' GCS-loss failsafe away).

Two simulator runs:

- one flight through process failures (its own system, since it kills the
  vehicle interface and the watchdog): the gate refuses a goto out of the
  geofence; an e-stop reaches the drone with the vehicle interface SIGKILLed;
  one person cannot release it, two can; with the watchdog SIGKILLed the
  autopilot's own GCS-loss failsafe takes over;
- the monitor's responses, one drone each on one shared system: a drone pushed
  toward a no-fly zone is held before it; a low battery sends a drone home;
  SIGKILLed mission control makes the flying vehicles hold.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from rclpy.qos import QoSProfile
from rosgraph_msgs.msg import Clock
from sentinel_msgs.msg import (GroundTruth, NodeHeartbeat, SafetyStatus, SafetyVerdict,
                               VehicleCommand, VehicleSafety, VehicleState)
from sentinel_msgs.srv import CommandVehicle, InjectFault, ReleaseEstop, TriggerEstop

from sentinel_common.qos import EVENT_QOS, HEARTBEAT_QOS, LATCHED_QOS, SENSOR_QOS

sys.path.insert(0, str(Path(__file__).parent))
import sim_system  # noqa: E402
from sim_system import (POLICY, SAFETY, SITE, NodeProcesses, node_env,  # noqa: E402
                        write_safety, write_site)

DRONES = ('drone_1', 'drone_2', 'drone_3')
STARTUP_TIMEOUT = 150.0   # s, wall: processes start, world loads, DDS discovery (loaded machine)
WAIT = 30.0               # s, wall: longest wait for any other expected change
# s, wall: longest wait for simulated motion; on a loaded machine the simulator may run at a
# fraction of real time.
MOTION_WAIT = 120.0
# s: the vehicle interface's link timeout here. Autopilots beat at 1 Hz of simulated time,
# so a simulator slowed by a loaded machine spaces them out in wall time; with the default
# (3 s) the link would flap to LOST and the watchdog hold the drones for it.
LINK_TIMEOUT = 10.0
FLIGHT_ALT = 15.0         # m above home
COPTER_MODES = {4: 'GUIDED', 5: 'LOITER', 6: 'RTL', 9: 'LAND', 17: 'BRAKE'}
HOLD_MODE = 'LOITER'      # ArduCopter mode of the vehicle interface's HOLD
HEALTH_CHECKS = {'stale_state', 'link_lost', 'gps_lost'}   # the gate's refusals while starting up
WATCHDOG = 'safety_watchdog'                               # issued_by of the watchdog's own orders
STOPPED = 0.5             # m/s: a drone slower than this has stopped
# The emulated autopilot's GCS-loss failsafe (FS_GCS_TIMEOUT, simulated seconds) and action.
GCS_TIMEOUT_SIM = 5.0
GCS_FAILSAFE_MODES = {'RTL', 'LAND'}


def domain_id(slot: int) -> int:
    """A DDS domain of this system's own (0 is everyone's default), so other suites do not cross-talk."""
    return sim_system.domain_id(20, 80, 37 + 41 * slot)


def port_offset(slot: int) -> int:
    """Keeps the autopilots' ports clear of `make run`, of the simulator node's own test and of
    this module's other system."""
    return sim_system.port_offset(3000, 17 * slot)


def mavlink_ports(site: Path) -> dict[str, tuple[int, int]]:
    """Vehicle id -> (UDP port, MAVLink system id), from a site file."""
    data = yaml.safe_load(site.read_text(encoding='utf-8'))
    return {v['id']: (int(v['mavlink']['url'].rsplit(':', 1)[1]), int(v['mavlink']['system_id']))
            for v in data['vehicles']}


# ---------------------------------------------------------------- processes

@dataclass
class System(NodeProcesses):
    """The processes of one run, by name, and where their configuration and logs are."""

    SIGKILL_EXPECTED = True     # the tests kill nodes on purpose

    site: Path
    domain: int

    def port(self, vehicle_id: str) -> tuple[int, int]:
        return mavlink_ports(self.site)[vehicle_id]


@contextmanager
def running_system(directory: Path, slot: int, real_time_factor: float,
                   safety_change: Callable[[dict[str, Any]], None] | None = None
                   ) -> Iterator[System]:
    """Simulator, vehicle interface and watchdog as launch starts them (same names)."""
    offset = port_offset(slot)
    site = write_site(directory, offset)
    safety = write_safety(directory, safety_change)
    system = System(directory, node_env(domain_id(slot)), site, domain_id(slot))
    try:
        system.start_simulator(offset, '/sim', real_time_factor)
        system.start('vehicle_interface', 'sentinel_control.vehicle_interface_node',
                     {'site_config': site, 'link_timeout': LINK_TIMEOUT}, '/control')
        system.start('watchdog', 'sentinel_safety.safety_watchdog_node',
                     {'site_config': site, 'safety_config': safety}, '/safety')
        yield system
    finally:
        system.kill_all()


# ---------------------------------------------------------------- observers and actors

class MavlinkPeer:
    """A MAVLink peer of one vehicle on its UDP port, reading its mode from a thread of its own.

    To stay one of the vehicle's peers it sends a heartbeat as an onboard
    computer, never as a GCS: the autopilot's GCS-loss failsafe ignores it.
    It can also push the vehicle with velocity setpoints, as a companion
    computer or a second ground station that bypasses Sentinel's gate would.
    """

    def __init__(self, port: int, system_id: int) -> None:
        self.link = mavutil.mavlink_connection(f'udpout:127.0.0.1:{port}', source_system=251,
                                               source_component=191)
        self.system_id = system_id
        self.mode: str | None = None
        self.armed = False
        self.relative_alt = 0.0
        self.push_east = 0.0            # m/s east while pushing; 0: not pushing
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_beat = last_push = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - last_beat > 1.0:
                self.link.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
                                             mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
                last_beat = now
            if self.push_east and now - last_push > 0.2:
                self._send_velocity(self.push_east)
                last_push = now
            message = self.link.recv_match(type=['HEARTBEAT', 'GLOBAL_POSITION_INT'],
                                           blocking=True, timeout=0.1)
            if message is None or message.get_srcSystem() != self.system_id:
                continue
            if message.get_type() == 'GLOBAL_POSITION_INT':
                self.relative_alt = message.relative_alt / 1000.0
            elif message.type == mavutil.mavlink.MAV_TYPE_QUADROTOR:
                self.mode = COPTER_MODES.get(message.custom_mode, str(message.custom_mode))
                self.armed = bool(message.base_mode & mavutil.mavlink.MAV_MODE_FLAG_SAFETY_ARMED)

    def _send_velocity(self, east: float) -> None:
        """SET_POSITION_TARGET_LOCAL_NED with only a velocity (north 0, east, down 0)."""
        m = mavutil.mavlink
        velocity_only = (m.POSITION_TARGET_TYPEMASK_X_IGNORE | m.POSITION_TARGET_TYPEMASK_Y_IGNORE
                         | m.POSITION_TARGET_TYPEMASK_Z_IGNORE | m.POSITION_TARGET_TYPEMASK_AX_IGNORE
                         | m.POSITION_TARGET_TYPEMASK_AY_IGNORE | m.POSITION_TARGET_TYPEMASK_AZ_IGNORE
                         | m.POSITION_TARGET_TYPEMASK_YAW_IGNORE
                         | m.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE)
        self.link.mav.set_position_target_local_ned_send(
            0, self.system_id, 1, m.MAV_FRAME_LOCAL_NED, velocity_only, 0.0, 0.0, 0.0,
            0.0, east, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.link.close()


@dataclass(frozen=True)
class Sample:
    """Where an entity was, by the simulator's ground truth."""

    x: float
    y: float
    z: float


class Operator:
    """An rclpy client of the watchdog and the simulator, on the system's DDS domain.

    It records what the tests judge by: vehicle states, every SafetyStatus,
    the watchdog's own orders on ``/safety/approved_commands`` (with the wall
    time they arrived), the drones' true positions, and node heartbeats.
    """

    def __init__(self, system: System) -> None:
        self.system = system
        self.context = Context()
        rclpy.init(context=self.context, domain_id=system.domain)
        self.node = Node('safety_system_test', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.command: Any = self.node.create_client(CommandVehicle, '/safety/command_vehicle')
        self.trigger: Any = self.node.create_client(TriggerEstop, '/safety/trigger_estop')
        self.release: Any = self.node.create_client(ReleaseEstop, '/safety/release_estop')
        self.inject: Any = self.node.create_client(InjectFault, '/sim/inject_fault')
        self.states: dict[str, VehicleState] = {}
        self.modes: dict[str, list[str]] = {vid: [] for vid in DRONES}   # mode changes, in order
        self.statuses: list[SafetyStatus] = []
        self.orders: list[tuple[float, VehicleCommand]] = []
        self.truth: dict[str, list[Sample]] = {vid: [] for vid in DRONES}
        self.heard: set[str] = set()    # node names heard on /heartbeats
        self.sim_time = 0.0             # s, the simulator's clock
        self.node.create_subscription(Clock, '/clock', self._on_clock, 10)
        for vid in DRONES:
            self.node.create_subscription(VehicleState, f'/vehicles/{vid}/state', self._on_state,
                                          SENSOR_QOS)
        every_status = QoSProfile(history=LATCHED_QOS.history, depth=100,
                                  reliability=LATCHED_QOS.reliability,
                                  durability=LATCHED_QOS.durability)
        self.node.create_subscription(SafetyStatus, '/safety/status', self.statuses.append,
                                      every_status)
        self.node.create_subscription(VehicleCommand, '/safety/approved_commands',
                                      self._on_approved, EVENT_QOS)
        self.node.create_subscription(GroundTruth, '/sim/ground_truth', self._on_truth,
                                      SENSOR_QOS)
        self.node.create_subscription(NodeHeartbeat, '/heartbeats',
                                      lambda beat: self.heard.add(beat.node_name), HEARTBEAT_QOS)
        self._count = 0

    def _on_clock(self, clock: Clock) -> None:
        self.sim_time = clock.clock.sec + clock.clock.nanosec * 1e-9

    def _on_state(self, state: VehicleState) -> None:
        self.states[state.vehicle_id] = state
        modes = self.modes[state.vehicle_id]
        if not modes or modes[-1] != state.mode:
            modes.append(state.mode)

    def _on_approved(self, command: VehicleCommand) -> None:
        if command.issued_by == WATCHDOG:
            self.orders.append((time.monotonic(), command))

    def _on_truth(self, truth: GroundTruth) -> None:
        for entity in truth.entities:
            if entity.entity_id in self.truth:
                p = entity.pose.position
                self.truth[entity.entity_id].append(Sample(p.x, p.y, p.z))

    # ------------------------------------------------------------ waiting and calling

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

    def propose(self, vehicle_id: str, kind: int, x: float, y: float, z: float,
                speed: float = 5.0) -> CommandVehicle.Response:
        self._count += 1
        command = VehicleCommand(command_id=f'system-test-{self._count}', vehicle_id=vehicle_id,
                                 command=kind, target=Point(x=x, y=y, z=z), speed_limit=speed,
                                 issued_by='operator')
        return self.call(self.command, CommandVehicle.Request(command=command))

    # ------------------------------------------------------------ views

    def state(self, vehicle_id: str) -> VehicleState:
        return self.states[vehicle_id]

    def healthy(self, vehicle_id: str) -> bool:
        state = self.states.get(vehicle_id)
        return (state is not None and state.link_state == VehicleState.LINK_OK
                and state.gps_fix >= VehicleState.GPS_3D
                and not math.isnan(state.battery_remaining))

    def speed(self, vehicle_id: str) -> float:
        v = self.states[vehicle_id].velocity
        return math.sqrt(v.x ** 2 + v.y ** 2 + v.z ** 2)

    def vehicle_statuses(self, vehicle_id: str) -> list[VehicleSafety]:
        return [v for status in self.statuses for v in status.vehicles
                if v.vehicle_id == vehicle_id]

    def orders_for(self, vehicle_id: str, since: float = 0.0) -> list[tuple[float, VehicleCommand]]:
        return [(t, c) for t, c in self.orders if c.vehicle_id == vehicle_id and t >= since]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def take_off(operator: Operator, vehicle_id: str) -> Point:
    """Take off through the gate to FLIGHT_ALT; returns the home position.

    The vehicle interface arms and climbs. Until the watchdog has heard the same
    healthy state, the gate refuses for health, so the request is repeated.
    """
    operator.spin_until(lambda: operator.healthy(vehicle_id),
                        f'{vehicle_id} state: link up, 3D fix, battery known', STARTUP_TIMEOUT)
    home = operator.state(vehicle_id).position
    deadline = time.monotonic() + WAIT
    while True:
        takeoff = operator.propose(vehicle_id, VehicleCommand.COMMAND_TAKEOFF, home.x, home.y,
                                   FLIGHT_ALT)
        health = set(takeoff.command.verdict.checks_failed) <= HEALTH_CHECKS
        if takeoff.error_code != CommandVehicle.Response.ERROR_REFUSED or not health \
                or time.monotonic() > deadline:
            break
        operator.pause(0.5)
    assert takeoff.error_code == CommandVehicle.Response.ERROR_NONE, list(
        takeoff.command.verdict.reasons) or takeoff.error_msg

    def climbed() -> bool:
        state = operator.state(vehicle_id)
        return state.armed and state.position.z > home.z + FLIGHT_ALT - 2.0

    operator.spin_until(climbed, f'{vehicle_id} climbs to the flight altitude', MOTION_WAIT)
    return Point(x=home.x, y=home.y, z=home.z)


# ---------------------------------------------------------------- one flight through failures

@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    with running_system(tmp_path, slot=0, real_time_factor=2.0) as started:
        yield started


def test_safety_keeps_a_simulated_drone_safe_across_process_failures(system: System) -> None:
    drone = 'drone_1'
    listener = MavlinkPeer(*system.port(drone))
    operator = Operator(system)
    try:
        home = take_off(operator, drone)
        operator.spin_until(lambda: listener.armed and listener.relative_alt > FLIGHT_ALT - 2.0,
                            'the autopilot reports the flight altitude')

        # 1. The gate: out of the fence (north of the 120 m inclusion edge) is refused...
        outside = operator.propose(drone, VehicleCommand.COMMAND_GOTO, home.x, 200.0, FLIGHT_ALT)
        assert outside.error_code == CommandVehicle.Response.ERROR_REFUSED
        assert outside.command.verdict.decision == SafetyVerdict.REFUSED
        assert 'geofence' in outside.command.verdict.checks_failed
        assert any(outside.command.verdict.reasons)
        # ... and a short hop inside it is approved and forwarded.
        inside = operator.propose(drone, VehicleCommand.COMMAND_GOTO, home.x, home.y + 15.0,
                                  FLIGHT_ALT)
        assert inside.error_code == CommandVehicle.Response.ERROR_NONE, list(
            inside.command.verdict.reasons)
        assert inside.command.verdict.decision in (SafetyVerdict.APPROVED,
                                                   SafetyVerdict.APPROVED_WITH_CHANGES)
        operator.spin_until(lambda: listener.mode == 'GUIDED', 'GUIDED flight')

        # 2. The vehicle interface dies hard; the e-stop still reaches the drone.
        system.kill('vehicle_interface')
        engage = TriggerEstop.Request(scope=TriggerEstop.Request.SCOPE_FLEET,
                                      requested_by='operator_console', reason='system test')
        assert operator.call(operator.trigger, engage).error_code == TriggerEstop.Response.ERROR_NONE
        # config/safety.yaml: drones stop in category brake, ArduCopter's BRAKE mode.
        operator.spin_until(lambda: listener.mode == 'BRAKE', 'BRAKE after the e-stop')
        assert listener.armed and listener.relative_alt > 5.0, 'stopped in the air, not dropped'

        # While latched, the gate refuses motion.
        latched = operator.propose(drone, VehicleCommand.COMMAND_GOTO, home.x, home.y, FLIGHT_ALT)
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
        system.kill('watchdog')
        killed = operator.sim_time
        operator.spin_until(lambda: listener.mode in GCS_FAILSAFE_MODES, 'the GCS-loss failsafe',
                            MOTION_WAIT)
        # Judged in simulated time: GCS_TIMEOUT_SIM after the last GCS heartbeat (at most one
        # heartbeat period before the kill), plus the time the mode takes to be heard.
        took = operator.sim_time - killed
        assert 0.5 * GCS_TIMEOUT_SIM < took < GCS_TIMEOUT_SIM + 3.0, f'after {took:.1f} s'
    finally:
        operator.close()
        listener.close()


# ---------------------------------------------------------------- the monitor's responses

# The battery reserve used by the responses system. The emulated autopilot sends a drone
# home by itself below 30 % (its BATT_FS_LOW); with the shipped reserve (25 %) the
# watchdog would act only after it, so the reserve is raised above that threshold: the
# response seen is then the watchdog's alone.
RESPONSE_RESERVE = 0.40
LOW_CHARGE = 0.35            # injected charge: below RESPONSE_RESERVE, above 30 %
PUSH_SPEED = 5.0             # m/s: the velocity setpoint that carries a drone toward a zone
LOADED_SLACK = 5.0           # s: scheduling delays of a loaded machine on top of a bound


def _responses_config(data: dict[str, Any]) -> None:
    data['vehicle_types']['drone']['battery']['reserve'] = RESPONSE_RESERVE


@pytest.fixture(scope='module')
def responses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, Operator]]:
    """One real-time system shared by the response tests; each flies a drone of its own."""
    directory = tmp_path_factory.mktemp('safety_responses')
    with running_system(directory, slot=1, real_time_factor=1.0,
                        safety_change=_responses_config) as started:
        operator = Operator(started)
        try:
            yield started, operator
        finally:
            operator.close()


def _zone(name: str) -> dict[str, Any]:
    data = yaml.safe_load(SITE.read_text(encoding='utf-8'))
    return next(zone for zone in data['zones'] if zone['name'] == name)


def _inside_prism(sample: Sample, zone: dict[str, Any]) -> bool:
    """Inside the zone's bounding box (its polygon or more: conservative), floor to ceiling."""
    xs = [p[0] for p in zone['polygon']]
    ys = [p[1] for p in zone['polygon']]
    return (min(xs) <= sample.x <= max(xs) and min(ys) <= sample.y <= max(ys)
            and zone.get('floor', -math.inf) <= sample.z <= zone.get('ceiling', math.inf))


def test_a_drone_pushed_toward_a_no_fly_zone_is_held_before_it(
        responses: tuple[System, Operator]) -> None:
    system, operator = responses
    drone = 'drone_3'
    zone = _zone('transformer_airspace')     # geofence_exclusion, 25 m ceiling: FLIGHT_ALT is in it
    assert zone['kind'] == 'geofence_exclusion' and zone['ceiling'] > FLIGHT_ALT
    edge = min(p[0] for p in zone['polygon'])
    lane = 10.0                              # y of the push, across the zone's west edge
    peer = MavlinkPeer(*system.port(drone))
    try:
        home = take_off(operator, drone)
        start = operator.propose(drone, VehicleCommand.COMMAND_GOTO, home.x, lane, FLIGHT_ALT)
        assert start.error_code == CommandVehicle.Response.ERROR_NONE, list(
            start.command.verdict.reasons)
        operator.spin_until(lambda: abs(operator.state(drone).position.y - lane) < 1.0
                            and operator.speed(drone) < STOPPED, 'the start of the lane',
                            MOTION_WAIT)
        assert peer.mode == 'GUIDED', peer.mode
        pushed = time.monotonic()
        peer.push_east = PUSH_SPEED          # straight at the zone's west edge, past the gate
        operator.spin_until(lambda: operator.state(drone).mode == HOLD_MODE,
                            'the watchdog holds the pushed drone', MOTION_WAIT)
        operator.spin_until(lambda: operator.speed(drone) < STOPPED, 'the drone stops',
                            MOTION_WAIT)
        operator.pause(2.0)                  # it stays stopped while the pushing goes on
    finally:
        peer.close()

    # It was pushed at full speed, and never got into the zone.
    samples = operator.truth[drone]
    assert samples and max(s.x for s in samples) > home.x + 10.0, 'the push did not move it'
    intrusions = [s for s in samples if _inside_prism(s, zone)]
    assert not intrusions, f'entered {zone["name"]}: {intrusions[:3]}'
    print(f'pushed at {PUSH_SPEED:g} m/s, stopped {edge - max(s.x for s in samples):.2f} m '
          f'before {zone["name"]}')
    # The response was the predictive one: imminent breach, HOLD, never a breach.
    held = [c for t, c in operator.orders_for(drone, pushed)
            if c.command == VehicleCommand.COMMAND_HOLD]
    assert held, 'no HOLD from the watchdog'
    assert 'fence_imminent:transformer_airspace' in held[0].verdict.reasons[0]
    seen = operator.vehicle_statuses(drone)
    assert any('fence_imminent' in v.violations and v.active_failsafe == VehicleSafety.FAILSAFE_HOLD
               for v in seen), 'no status with the imminent breach and its HOLD'
    assert not any('fence_breach' in v.violations for v in seen)
    state = operator.state(drone)
    assert state.armed and state.position.z > home.z + 5.0 and state.position.x < edge


def test_low_battery_sends_a_drone_home(responses: tuple[System, Operator]) -> None:
    system, operator = responses
    drone = 'drone_2'
    home = take_off(operator, drone)
    away = operator.propose(drone, VehicleCommand.COMMAND_GOTO, home.x, home.y + 30.0, FLIGHT_ALT)
    assert away.error_code == CommandVehicle.Response.ERROR_NONE, list(away.command.verdict.reasons)

    def position() -> Point:
        return operator.state(drone).position

    operator.spin_until(lambda: position().y > home.y + 25.0, 'the flight away from home',
                        MOTION_WAIT)

    injected = time.monotonic()
    drop = InjectFault.Request(fault=InjectFault.Request.FAULT_BATTERY_DROP, target=drone,
                               magnitude=LOW_CHARGE)
    answer = operator.call(operator.inject, drop)
    assert answer.error_code == InjectFault.Response.ERROR_NONE, answer.error_msg
    # config/safety.yaml: low_battery is HOLD first, RETURN after its delay unless an operator
    # takes over. The autopilot's own failsafe would have gone straight to RTL.
    operator.spin_until(lambda: operator.state(drone).mode == 'RTL', 'RTL after the low battery',
                        60.0)
    assert operator.modes[drone][-3:] == ['GUIDED', HOLD_MODE, 'RTL'], operator.modes[drone]
    returning = math.dist((position().x, position().y), (home.x, home.y))
    operator.spin_until(lambda: math.dist((position().x, position().y), (home.x, home.y))
                        < returning - 10.0, 'the way home', MOTION_WAIT)

    # The watchdog's orders for the low battery: HOLD, then RTL once the delay has passed.
    orders = [(t, c.command) for t, c in operator.orders_for(drone, injected)
              if 'low_battery' in c.verdict.reasons[0]]
    kinds = [kind for _, kind in orders]
    assert kinds[:2] == [VehicleCommand.COMMAND_HOLD, VehicleCommand.COMMAND_RTL], kinds
    delay = yaml.safe_load(SAFETY.read_text(encoding='utf-8'))[
        'vehicle_types']['drone']['ladder']['low_battery']['delay']
    assert orders[1][0] - orders[0][0] >= 0.8 * delay, 'returned before the hold-then-act delay'
    assert any('low_battery' in v.violations and v.active_failsafe == VehicleSafety.FAILSAFE_RETURN
               for v in operator.vehicle_statuses(drone))


def test_killing_mission_control_makes_flying_vehicles_hold(
        responses: tuple[System, Operator]) -> None:
    system, operator = responses
    drone = 'drone_1'
    node = '/control/mission_control'
    safety = yaml.safe_load(SAFETY.read_text(encoding='utf-8'))
    spec = next(n for n in safety['heartbeats']['nodes'] if n['name'] == node)
    assert 'hold' in safety['heartbeats']['policy'][spec['role']]
    system.start('mission_control', 'sentinel_control.mission_control_node',
                 {'site_config': system.site, 'response_policy': POLICY}, '/control')
    home = take_off(operator, drone)
    far = operator.propose(drone, VehicleCommand.COMMAND_GOTO, home.x, home.y + 80.0, FLIGHT_ALT,
                           speed=3.0)
    assert far.error_code == CommandVehicle.Response.ERROR_NONE, list(far.command.verdict.reasons)
    operator.spin_until(lambda: operator.speed(drone) > 1.0, 'the drone on its way')
    operator.spin_until(lambda: node in operator.heard, 'mission control heartbeats',
                        STARTUP_TIMEOUT)
    operator.pause(2.0 * spec['lease'])     # the watchdog has heard it too
    assert node not in operator.statuses[-1].degraded_nodes

    system.kill('mission_control')
    killed = time.monotonic()
    operator.spin_until(lambda: any(node in s.degraded_nodes for s in operator.statuses[-5:]),
                        'mission control reported down')
    operator.spin_until(lambda: operator.state(drone).mode == HOLD_MODE
                        and operator.speed(drone) < STOPPED, f'{drone} holds', MOTION_WAIT)

    held = [(t, c) for t, c in operator.orders_for(drone, killed)
            if c.command == VehicleCommand.COMMAND_HOLD]
    assert held, 'no HOLD from the watchdog'
    at, order = held[0]
    assert 'mission_control is down' in order.verdict.reasons[0]
    # docs/safety.md: a node is found down within 1.1 x its lease of its last heartbeat.
    assert at - killed < 1.1 * spec['lease'] + LOADED_SLACK, f'held {at - killed:.2f} s after'
    print(f'HOLD ordered {at - killed:.3f} s after SIGKILL of mission control '
          f'(bound 1.1 x lease = {1.1 * spec["lease"]:.2f} s)')
