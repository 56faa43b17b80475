"""System test: a standing patrol, an alert response and its reassignment in the simulated substation.

The simulator (substation world, no rendering), the vehicle interface, the
safety watchdog and mission control run as separate processes on a DDS domain
of their own, as launch would start them; every motion goes through the real
safety gate and reaches the emulated autopilots over MAVLink/UDP. This test is
the outside world: it reads /tasks, /fleet/state, /safety/approved_commands and
/vehicles/command_results, publishes one Alert as perception would, and cuts a
drone's radio link through the simulator's fault injection. It never commands a
vehicle.

In order: the standing patrol of the patrols file starts on its own and a drone
flies its route; an intrusion alert sends the idle drone nearest to it, which
reaches its observation orbit; that drone's link is cut and the investigation
moves to another vehicle; every approved command gets its result.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sentinel_msgs.msg import Alert, FleetState, Task, TaskArray, VehicleCommand, VehicleState
from sentinel_msgs.srv import InjectFault

from sentinel_common.qos import EVENT_QOS, LATCHED_QOS, SENSOR_QOS

sys.path.insert(0, str(Path(__file__).parent))
import sim_system  # noqa: E402
from sim_system import (POLICY, NodeProcesses, node_env, write_safety, write_site,  # noqa: E402
                        write_yaml)

DRONES = ('drone_1', 'drone_2', 'drone_3')
REAL_TIME_FACTOR = 2.0    # simulated seconds per wall second asked for (a loaded machine gives less)
STARTUP_TIMEOUT = 150.0   # s, wall: four processes start on a loaded machine, the world loads, DDS discovers
WAIT = 120.0              # s, wall: longest wait for any flight stage, with the simulator behind real time
# The autopilots' heartbeats are 1 Hz of simulated time: on a loaded machine the simulator falls
# behind and they come seconds apart in wall time. Link and state timeouts, wall-clock in the
# vehicle interface and the watchdog, are widened to match, so only the cut link counts as lost.
LINK_TIMEOUT = 10.0       # s, wall
STALE_STATE_TIMEOUT = 3.0  # s, wall
RESPONSE_ALTITUDE = 18.0  # m: the drones' transit and observation height (shipped: 30 m), shorter climbs
# A short patrol south-east of the drone pads (homes at y = -20, x = -60, -50, -40), away from the alert.
PATROL = 'yard_loop'
PATROL_ROUTE = ((-30.0, -45.0), (10.0, -45.0), (10.0, -75.0), (-30.0, -75.0))
PATROL_ALTITUDE = 12.0    # m, below the responders
PATROL_SPEED = 6.0        # m/s
ALERT_ID = 'system-test-intrusion'
ALERT_AT = (-90.0, 0.0)   # west of the pads: an idle drone is clearly nearest
ORBIT_RADIUS = 20.0       # m, config/response_policy.yaml: intrusion
WAYPOINT_TOLERANCE = 6.0  # m, horizontal: the patrol counts a waypoint passed at 5 m


def domain_id() -> int:
    """A DDS domain of this test's own, clear of the other suites' ranges."""
    return sim_system.domain_id(120, 80)


def port_offset() -> int:
    """Keeps the autopilots' ports clear of `make run` and of the other simulator tests."""
    return sim_system.port_offset(5000)


# ---------------------------------------------------------------- configuration copies

def _widen_timeouts(safety: dict[str, Any]) -> None:
    """The watchdog's link and state timeouts widened as the vehicle interface's (see above)."""
    for limits in safety['vehicle_types'].values():
        limits['link_loss_timeout'] = LINK_TIMEOUT
        limits['stale_state_timeout'] = STALE_STATE_TIMEOUT


def write_configs(directory: Path, offset: int) -> tuple[Path, Path, Path, Path]:
    """The site (ports shifted, world absolute), safety (latch file here, timeouts widened), the
    response policy (lower drone altitude) and a patrols file of one patrol."""
    site_path = write_site(directory, offset)
    # Perception and the bridge are not started: their silence is not under test.
    safety_path = write_safety(directory, _widen_timeouts)
    patrols = {'version': 1, 'sites': {'substation': [{
        'name': PATROL, 'vehicle_types': ['drone'], 'capabilities': ['camera'], 'altitude': PATROL_ALTITUDE,
        'speed': PATROL_SPEED, 'route': [list(p) for p in PATROL_ROUTE]}]}}
    patrols_path = write_yaml(directory / 'patrols.yaml', patrols)
    policy = yaml.safe_load(POLICY.read_text(encoding='utf-8'))
    policy['vehicle_profiles']['drone']['altitude'] = RESPONSE_ALTITUDE
    policy_path = write_yaml(directory / 'response_policy.yaml', policy)
    return site_path, safety_path, policy_path, patrols_path


# ---------------------------------------------------------------- processes and the observer

class Observer:
    """The outside world: an rclpy node on the test's DDS domain, started before the system."""

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id())
        self.node = Node('dispatch_system_test', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.tasks: dict[str, Task] = {}
        self.vehicles: dict[str, VehicleState] = {}
        self.approved: dict[str, VehicleCommand] = {}
        self.results: dict[str, Any] = {}
        self.node.create_subscription(TaskArray, '/tasks', self._on_tasks, LATCHED_QOS)
        self.node.create_subscription(FleetState, '/fleet/state', self._on_fleet, SENSOR_QOS)
        # Approvals and results are events (volatile): the first patrol's are sent once, so
        # mission control starts only when these two subscriptions have matched their publishers.
        self.event_subscriptions = (
            self.node.create_subscription(VehicleCommand, '/safety/approved_commands',
                                          lambda c: self.approved.__setitem__(c.command_id, c), EVENT_QOS),
            self.node.create_subscription(DiagnosticArray, '/vehicles/command_results', self._on_results,
                                          EVENT_QOS))
        self.alerts = self.node.create_publisher(Alert, '/alerts', EVENT_QOS)
        self.inject: Any = self.node.create_client(InjectFault, '/sim/inject_fault')

    def _on_tasks(self, msg: TaskArray) -> None:
        self.tasks = {t.task_id: t for t in msg.tasks}

    def _on_fleet(self, msg: FleetState) -> None:
        self.vehicles.update({v.vehicle_id: v for v in msg.vehicles})

    def _on_results(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.results[status.name] = status

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@dataclass
class System(NodeProcesses):
    observer: Observer

    def describe(self) -> str:
        """What the observer sees, for failure messages."""
        tasks = '; '.join(f'{t.task_id} type {t.task_type} state {t.state} on {t.vehicle_id or "-"}: '
                          f'{t.status_msg}' for t in self.observer.tasks.values())
        vehicles = '; '.join(f'{v.vehicle_id} {v.mode} ({v.position.x:.0f}, {v.position.y:.0f}, {v.position.z:.0f}) '
                             f'link {v.link_state}' for v in self.observer.vehicles.values())
        log = self.log('mission_control')
        return f'\ntasks: {tasks}\nvehicles: {vehicles}\nmission_control log:\n{log[-3000:]}'

    def spin_until(self, done: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            self.alive()
            assert time.monotonic() < deadline, f'not within {timeout:.0f} s: {what}{self.describe()}'
            self.observer.executor.spin_once(timeout_sec=0.05)

    def task(self, predicate: Callable[[Task], bool]) -> Task | None:
        return next((t for t in self.observer.tasks.values() if predicate(t)), None)

    def horizontal_distance(self, vehicle_id: str, point: tuple[float, float]) -> float:
        state = self.observer.vehicles.get(vehicle_id)
        if state is None:
            return math.inf
        return math.hypot(state.position.x - point[0], state.position.y - point[1])


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    offset = port_offset()
    site, safety, policy, patrols = write_configs(tmp_path, offset)
    env = node_env(domain_id())
    observer = Observer()
    running = System(tmp_path, env, observer)
    try:
        running.start_simulator(offset, real_time_factor=REAL_TIME_FACTOR)
        running.start('vehicle_interface', 'sentinel_control.vehicle_interface_node', {
            'site_config': site, 'link_timeout': LINK_TIMEOUT})
        running.start('safety_watchdog', 'sentinel_safety.safety_watchdog_node',
                      {'site_config': site, 'safety_config': safety})
        running.spin_until(lambda: all(sub.get_publisher_count() > 0
                                       for sub in observer.event_subscriptions),
                           'the watchdog\'s approvals and the command results matched', STARTUP_TIMEOUT)
        # A patrol whose first laps the gate refuses while it has not yet heard the vehicles
        # starts again 5 s later instead of the default minute.
        running.start('mission_control', 'sentinel_control.mission_control_node', {
            'site_config': site, 'response_policy': policy, 'patrols': patrols, 'patrol_restart_delay': 5.0})
        yield running
    finally:
        running.kill_all()
        observer.close()


def _alert() -> Alert:
    alert = Alert()
    alert.alert_id, alert.category, alert.rule_id = ALERT_ID, 'intrusion', 'system_test'
    alert.severity, alert.state = Alert.SEVERITY_CRITICAL, Alert.STATE_NEW
    alert.position = Point(x=ALERT_AT[0], y=ALERT_AT[1], z=0.0)
    return alert


@pytest.mark.timeout(900)   # the simulator can fall far behind real time under load
def test_patrol_alert_response_and_reassignment_in_the_simulator(system: System) -> None:
    observer = system.observer

    # 1. The standing patrol starts on its own: a drone flies to its second waypoint.
    system.spin_until(lambda: system.task(lambda t: PATROL in t.created_by and t.state == Task.STATE_ACTIVE)
                      is not None, 'the standing patrol under way', STARTUP_TIMEOUT)
    patrol = system.task(lambda t: PATROL in t.created_by and t.state == Task.STATE_ACTIVE)
    assert patrol is not None and patrol.task_type == Task.TYPE_PATROL and patrol.created_by.startswith('standing')
    patroller = patrol.vehicle_id
    assert patroller in DRONES
    system.spin_until(lambda: system.horizontal_distance(patroller, PATROL_ROUTE[1]) < WAYPOINT_TOLERANCE,
                      f'{patroller} at the second waypoint of the patrol')
    assert abs(observer.vehicles[patroller].position.z - PATROL_ALTITUDE) < 3.0
    assert observer.approved and all(c.issued_by == 'mission_control' for c in observer.approved.values())
    lap = [c for c in observer.approved.values() if c.task_id == patrol.task_id]
    assert lap and lap[0].command == VehicleCommand.COMMAND_FOLLOW_ROUTE and lap[0].vehicle_id == patroller

    # 2. An intrusion alert: the idle drone nearest to it goes and reaches its observation orbit.
    nearest = min((d for d in DRONES if d != patroller), key=lambda d: system.horizontal_distance(d, ALERT_AT))
    publish_until = time.monotonic()

    def response_exists() -> bool:
        nonlocal publish_until
        if time.monotonic() >= publish_until:   # an alert is updated in place: publishing again is harmless
            observer.alerts.publish(_alert())
            publish_until = time.monotonic() + 2.0
        return system.task(lambda t: t.origin_alert_id == ALERT_ID) is not None

    system.spin_until(response_exists, 'a task for the alert')
    response_id = system.task(lambda t: t.origin_alert_id == ALERT_ID).task_id
    system.spin_until(lambda: observer.tasks[response_id].state == Task.STATE_ACTIVE
                      and observer.tasks[response_id].status_msg == 'on target', 'the responder on target')
    response = observer.tasks[response_id]
    assert response.task_type == Task.TYPE_INVESTIGATE and response.vehicle_id == nearest
    assert abs(system.horizontal_distance(nearest, ALERT_AT) - ORBIT_RADIUS) < 6.0, 'on the observation orbit'
    assert observer.tasks[patrol.task_id].vehicle_id == patroller, 'the patrol kept its drone'

    # 3. The responder's radio link is cut: the investigation moves to another vehicle.
    assert observer.inject.wait_for_service(timeout_sec=10.0)
    future = observer.inject.call_async(InjectFault.Request(fault=InjectFault.Request.FAULT_LINK_CUT,
                                                            target=nearest))
    system.spin_until(future.done, 'the simulator applies the link cut', 10.0)
    assert future.result().error_code == InjectFault.Response.ERROR_NONE, future.result().error_msg
    # Whichever comes first moves it: the command in flight to the drone timing out, or the link
    # declared lost (LINK_TIMEOUT); both follow from the cut.
    system.spin_until(lambda: observer.tasks[response_id].vehicle_id not in ('', nearest)
                      and observer.tasks[response_id].state == Task.STATE_ACTIVE,
                      'the investigation under way on another vehicle')
    system.spin_until(lambda: observer.vehicles[nearest].link_state == VehicleState.LINK_LOST,
                      f'{nearest} reported with its link lost')
    assert observer.tasks[response_id].vehicle_id != nearest

    # 4. Every approved command has its one result on /vehicles/command_results.
    system.spin_until(lambda: set(observer.approved) <= set(observer.results),
                      'a result for every approved command: missing '
                      + ', '.join(sorted(set(observer.approved) - set(observer.results))))
    outcomes = {name: {kv.key: kv.value for kv in observer.results[name].values}['outcome']
                for name in observer.approved}
    assert set(outcomes.values()) <= {'accepted', 'rejected', 'timed_out', 'cancelled'}
    first_of = {task_id: min((c for c in observer.approved.values() if c.task_id == task_id),
                             key=lambda c: int(c.command_id.rsplit('.', 1)[1])).command_id
                for task_id in (patrol.task_id, response_id)}
    assert outcomes[first_of[patrol.task_id]] == 'accepted'
    assert outcomes[first_of[response_id]] == 'accepted'
