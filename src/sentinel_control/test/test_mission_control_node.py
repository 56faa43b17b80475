"""The mission control node with a stub safety gate and a pretend fleet, over real DDS.

The test node plays everyone mission control talks to: the safety gate
(/safety/command_vehicle, approving or refusing), the vehicle interface (a
FakeFleet that executes approved commands and publishes /fleet/state and
/vehicles/command_results), perception (/alerts) and the operator (services
and the investigate action). Mission control runs in its own multi-threaded
executor, as in its process.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point
from rclpy.action import ActionClient
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sentinel_msgs.action import InvestigatePoint
from sentinel_msgs.msg import Alert, FleetState, SafetyVerdict, Task, TaskArray
from sentinel_msgs.srv import AssignTask, CancelTask, CommandVehicle, SetTaskPaused

from sentinel_common.parameters import StartupError
from sentinel_common.qos import EVENT_QOS, LATCHED_QOS, SENSOR_QOS
from sentinel_control import conversions
from sentinel_control.mission_control_node import MissionControlNode
from sentinel_control.telemetry import LinkState
from sentinel_sim.vehicle_types import VehicleKind

pytestmark = pytest.mark.ros
# A DDS domain of this test process alone: concurrent runs of these tests must not hear each other.
TEST_DOMAIN_ID = 1 + os.getpid() % 99
POLICY = Path(__file__).resolve().parents[3] / 'config' / 'response_policy.yaml'
NO_GO = ((75.0, -5.0), (125.0, 45.0))   # the stub gate refuses goals in this box (around the hv_bus keep-out)


def _load(name: str) -> ModuleType:
    module_name = f'sentinel_control_test_{name}'
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, Path(__file__).with_name(f'{name}.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[module_name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[module_name])
    return sys.modules[module_name]


F = _load('fake_fleet')
E = _load('emulated_fleet')


def _in_no_go(x: float, y: float) -> bool:
    (x0, y0), (x1, y1) = NO_GO
    return x0 <= x <= x1 and y0 <= y <= y1


class World(Node):
    """Gate stub + pretend fleet + operator, in one test node."""

    def __init__(self, fleet: Any) -> None:
        super().__init__('mc_test_world')
        self.fleet = fleet
        self.lock = threading.Lock()
        self.proposals: list[Any] = []
        self.tasks: dict[str, Task] = {}
        self.fleet_pub = self.create_publisher(FleetState, '/fleet/state', SENSOR_QOS)
        self.results_pub = self.create_publisher(DiagnosticArray, '/vehicles/command_results', EVENT_QOS)
        self.alerts = self.create_publisher(Alert, '/alerts', EVENT_QOS)
        self.create_service(CommandVehicle, '/safety/command_vehicle', self._gate)
        self.create_subscription(TaskArray, '/tasks', self._on_tasks, LATCHED_QOS)
        self.assign = self.create_client(AssignTask, '/mission/assign_task')
        self.cancel = self.create_client(CancelTask, '/mission/cancel_task')
        self.pause = self.create_client(SetTaskPaused, '/mission/set_task_paused')
        self.investigate = ActionClient(self, InvestigatePoint, '/mission/investigate_point')
        self.create_timer(0.1, self._step)

    def _gate(self, request: CommandVehicle.Request, response: CommandVehicle.Response) -> Any:
        command = request.command
        self.proposals.append(command)
        response.command = command
        goals = list(command.route) if command.command == 7 else [command.target]   # FOLLOW_ROUTE: the route
        if any(_in_no_go(p.x, p.y) for p in goals):
            response.error_code = CommandVehicle.Response.ERROR_REFUSED
            response.command.verdict.decision = SafetyVerdict.REFUSED
            response.command.verdict.reasons = ['geofence: inside keep_out zone hv_bus']
            return response
        response.error_code = CommandVehicle.Response.ERROR_NONE
        response.command.verdict.decision = SafetyVerdict.APPROVED
        with self.lock:
            result = self.fleet.execute(conversions.command_from_msg(command))
        array = DiagnosticArray()
        array.status = [conversions.result_to_status(result)]
        self.results_pub.publish(array)
        return response

    def _step(self) -> None:
        with self.lock:
            self.fleet.step(0.1)
            states = self.fleet.states()
        msg = FleetState()
        msg.header.stamp = self.get_clock().now().to_msg()
        stamp = msg.header.stamp
        msg.vehicles = [conversions.state_to_msg(s, stamp) for s in states]
        self.fleet_pub.publish(msg)

    def _on_tasks(self, msg: TaskArray) -> None:
        self.tasks = {t.task_id: t for t in msg.tasks}

    def raise_alert(self, alert_id: str, x: float, y: float, category: str = 'intrusion') -> None:
        alert = Alert()
        alert.alert_id, alert.category, alert.severity = alert_id, category, Alert.SEVERITY_CRITICAL
        alert.position = Point(x=x, y=y, z=0.0)
        alert.state = Alert.STATE_NEW
        self.alerts.publish(alert)


@pytest.fixture
def system(tmp_path: Path) -> Any:
    rclpy.init(domain_id=TEST_DOMAIN_ID)
    fleet = F.FakeFleet([F.drone('drone_1', 0.0, 0.0), F.drone('drone_2', -140.0, -90.0),
                         F.drone('drone_3', -140.0, 90.0)], time_scale=4.0)
    specs = [E.VehicleSpec(v, i + 1, VehicleKind.DRONE, (fleet.vehicles[v].position[0], fleet.vehicles[v].position[1]))
             for i, v in enumerate(fleet.vehicles)]
    site = E.site_yaml(tmp_path, [(spec, f'udpout:127.0.0.1:{15000 + i}') for i, spec in enumerate(specs)])
    mission = MissionControlNode(parameter_overrides=[
        Parameter('site_config', value=str(site)), Parameter('response_policy', value=str(POLICY)),
        Parameter('tick_rate', value=10.0)])
    world = World(fleet)
    background = MultiThreadedExecutor(num_threads=4)
    background.add_node(mission)
    thread = threading.Thread(target=background.spin, daemon=True)
    thread.start()
    executor = SingleThreadedExecutor()
    executor.add_node(world)
    yield world, executor, mission
    background.shutdown()
    thread.join(timeout=5.0)
    mission.destroy_node()
    world.destroy_node()
    rclpy.try_shutdown()


def spin_until(executor: SingleThreadedExecutor, predicate: Callable[[], bool], timeout: float, what: str,
               world: World | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        detail = '' if world is None else '; tasks: ' + ', '.join(
            f'{t.task_id} {t.task_type}/{t.state} {t.vehicle_id} {t.origin_alert_id} {t.created_by} {t.status_msg!r}'
            for t in world.tasks.values())
        assert time.monotonic() < deadline, f'{what}: not within {timeout} s{detail}'
        executor.spin_once(timeout_sec=0.05)


def call(executor: SingleThreadedExecutor, client: Any, request: Any) -> Any:
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(request)
    spin_until(executor, future.done, 10.0, f'{client.srv_name} answer')
    return future.result()


def task_where(world: World, predicate: Callable[[Task], bool]) -> Task | None:
    return next((t for t in world.tasks.values() if predicate(t)), None)


def test_dispatch_preemption_reassignment_and_refusal(system: Any) -> None:
    world, executor, _ = system
    spin_until(executor, lambda: world.fleet_pub.get_subscription_count() > 0, 5.0, 'fleet seen')
    executor.spin_once(timeout_sec=0.5)
    # an alert in the keep-out zone: every drone is refused in turn, the task fails with the reason
    world.raise_alert('a2', 100.0, 20.0)
    spin_until(executor, lambda: (t := task_where(world, lambda t: t.origin_alert_id == 'a2')) is not None
               and t.state == Task.STATE_FAILED, 10.0, 'refused response fails', world)
    failed = task_where(world, lambda t: t.origin_alert_id == 'a2')
    assert 'hv_bus' in failed.status_msg
    assert {p.vehicle_id for p in world.proposals} == {'drone_1', 'drone_2', 'drone_3'}, 'each drone was tried'

    request = AssignTask.Request()
    request.task.task_type = Task.TYPE_PATROL
    request.task.route = [Point(x=0.0, y=0.0, z=0.0), Point(x=60.0, y=0.0, z=0.0), Point(x=60.0, y=60.0, z=0.0)]
    request.task.created_by = 'op1'
    answer = call(executor, world.assign, request)
    assert answer.error_code == AssignTask.Response.ERROR_NONE, answer.error_msg
    patrol_id = answer.task.task_id
    spin_until(executor, lambda: patrol_id in world.tasks and world.tasks[patrol_id].state == Task.STATE_ACTIVE,
               10.0, 'patrol active', world)
    assert world.tasks[patrol_id].vehicle_id == 'drone_1'
    assert world.proposals[-1].command == 7 and world.proposals[-1].issued_by == 'mission_control'

    # an alert: the patrolling drone is nearest; it is taken, the patrol moves to the next drone
    spin_until(executor, lambda: world.fleet.vehicles['drone_1'].position[2] > 20.0, 10.0, 'patrol airborne')
    world.raise_alert('a1', 40.0, 30.0)
    spin_until(executor, lambda: task_where(world, lambda t: t.origin_alert_id == 'a1'
                                            and t.state == Task.STATE_ACTIVE) is not None, 10.0, 'response', world)
    response = task_where(world, lambda t: t.origin_alert_id == 'a1')
    assert response.vehicle_id == 'drone_1' and response.task_type == Task.TYPE_INVESTIGATE
    spin_until(executor, lambda: world.tasks[patrol_id].vehicle_id in ('drone_2', 'drone_3')
               and world.tasks[patrol_id].state == Task.STATE_ACTIVE, 10.0, 'patrol reassigned', world)
    assert 'preempted' in world.tasks[patrol_id].status_msg or world.tasks[patrol_id].status_msg == 'under way'

    # drone_1 loses its link: the response moves to drone_2, which drops the patrol for it
    with world.lock:
        world.fleet.vehicles['drone_1'].link = LinkState.LOST
    spin_until(executor, lambda: world.tasks[response.task_id].vehicle_id not in ('', 'drone_1'), 10.0,
               'response reassigned', world)
    assert world.tasks[response.task_id].vehicle_id in ('drone_2', 'drone_3')

    # operators cancel and pause
    cancel = CancelTask.Request()
    cancel.task_id, cancel.requested_by = patrol_id, 'op1'
    assert call(executor, world.cancel, cancel).error_code in (CancelTask.Response.ERROR_NONE,
                                                               CancelTask.Response.ERROR_ALREADY_FINISHED)
    pause = SetTaskPaused.Request()
    pause.task_id, pause.paused = 'no-such-task', True
    assert call(executor, world.pause, pause).error_code == SetTaskPaused.Response.ERROR_UNKNOWN_TASK


def test_investigate_action_gives_feedback_and_a_result(system: Any) -> None:
    world, executor, _ = system
    assert world.investigate.wait_for_server(timeout_sec=10.0)
    spin_until(executor, lambda: world.fleet_pub.get_subscription_count() > 0, 5.0, 'fleet seen')
    executor.spin_once(timeout_sec=0.5)
    goal = InvestigatePoint.Goal()
    goal.target = Point(x=-40.0, y=-5.0, z=0.0)
    goal.observe_duration = 3.0
    goal.orbit_radius = 10.0
    goal.requested_by = 'op2'
    feedback: list[Any] = []
    sent = world.investigate.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback))
    spin_until(executor, sent.done, 10.0, 'goal accepted')
    handle = sent.result()
    assert handle.accepted
    result_future = handle.get_result_async()
    spin_until(executor, result_future.done, 60.0, 'investigation result', world)
    result = result_future.result().result
    assert result.error_code == InvestigatePoint.Result.ERROR_NONE, result.error_msg
    assert result.vehicle_id == 'drone_1' and result.time_on_target >= 3.0 and result.task_id
    phases = [f.phase for f in feedback]
    assert InvestigatePoint.Feedback.PHASE_TRANSIT in phases and InvestigatePoint.Feedback.PHASE_OBSERVING in phases
    transit = [f for f in feedback if f.phase == InvestigatePoint.Feedback.PHASE_TRANSIT]
    assert all(math.isfinite(f.distance_to_target) for f in transit) and transit[0].vehicle_id == 'drone_1'
    assert math.isfinite(transit[0].eta)

    # a goal nobody can serve is answered at once
    far = InvestigatePoint.Goal()
    far.vehicle_id = 'ghost'
    sent = world.investigate.send_goal_async(far)
    spin_until(executor, sent.done, 10.0, 'goal accepted')
    result_future = sent.result().get_result_async()
    spin_until(executor, result_future.done, 10.0, 'no-vehicle result')
    assert result_future.result().result.error_code == InvestigatePoint.Result.ERROR_NO_VEHICLE


def test_bad_patrols_file_stops_the_node_with_file_key_and_reason(tmp_path: Path) -> None:
    spec = E.VehicleSpec('drone_1', 1, VehicleKind.DRONE, (-60.0, -20.0))
    site = E.site_yaml(tmp_path, [(spec, 'udpout:127.0.0.1:15990')])
    patrols = tmp_path / 'patrols.yaml'
    patrols.write_text('version: 1\nsites:\n  substation:\n    - {name: p, vehicle_id: drone_9, altitude: 20, '
                       'speed: 5, route: [[0, -50], [-50, -50]]}\n', encoding='utf-8')
    rclpy.init(domain_id=TEST_DOMAIN_ID)
    try:
        for path, match in ((patrols, re.escape(f"{patrols}: sites.substation[0].vehicle_id: no vehicle 'drone_9'")),
                            (tmp_path / 'none.yaml', 'cannot read')):
            with pytest.raises(StartupError, match=match):
                MissionControlNode(parameter_overrides=[
                    Parameter('site_config', value=str(site)), Parameter('response_policy', value=str(POLICY)),
                    Parameter('patrols', value=str(path))])
    finally:
        rclpy.try_shutdown()
