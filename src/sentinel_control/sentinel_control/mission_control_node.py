"""The mission_control node: tasks, patrols and alert responses, every motion through the safety gate.

Wiring (docs/ros_graph.md, docs/control.md):
  in   /fleet/state, /alerts, /tracks, /safety/status, /vehicles/command_results
  out  /tasks (TaskArray, latched; republished on every change)
  srv  /mission/assign_task, /mission/cancel_task, /mission/set_task_paused
  act  /mission/investigate_point (feedback every tick)
  call /safety/command_vehicle for every command; it never publishes to vehicles.

The logic is ``mission.MissionController``; this node converts messages and
calls it under one lock. At start it reads the site configuration, the
response policy and the standing patrols (``standing_patrols``), and starts
every patrol of its site. Why a multi-threaded executor here, unlike the other
nodes: an investigate goal lasts minutes and rclpy's single-threaded executor
busy-polls a waiting coroutine, so each goal waits on its own thread for the
tick that may finish it. Every other callback shares one mutually exclusive
group and so still runs one at a time.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point as PointMsg
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.task import Future
from sentinel_msgs.action import InvestigatePoint
from sentinel_msgs.msg import Alert, FleetState, SafetyStatus, Task as TaskMsg, TaskArray, TrackArray
from sentinel_msgs.srv import AssignTask, CancelTask, CommandVehicle, SetTaskPaused

from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher
from sentinel_common.qos import EVENT_QOS, LATCHED_QOS, SENSOR_QOS
from sentinel_control import conversions
from sentinel_control.commands import Command
from sentinel_control.mission import (FAIL_NO_VEHICLE, FAIL_REFUSED, AlertData, MissionController,
                                      MissionSettings, TaskRequest)
from sentinel_control.registry import Asset
from sentinel_control.response_policy import PolicyError, load_response_policy
from sentinel_common.entry_point import run_node
from sentinel_common.parameters import StartupError, declare, require_text, unless_shutting_down
from sentinel_control.site import Site, SiteError, load_site
from sentinel_control.standing_patrols import PatrolConfigError, StandingPatrol, load_patrols
from sentinel_control.tasks import Task, TaskState, TaskType

GATE_SERVICE = '/safety/command_vehicle'
TASKS_TOPIC = '/tasks'
INVESTIGATE_ACTION = '/mission/investigate_point'
DEFAULT_POLICY = Path('..') / 'response_policy.yaml'   # relative to the site config's folder
DEFAULT_PATROLS = Path('..') / 'patrols.yaml'          # relative to the site config's folder
DEFAULT_OBSERVE = 60.0       # s, investigate goals that give no observe_duration
DEFAULT_STANDOFF = 15.0      # m, hold distance of investigate goals that do not orbit
GOAL_THREADS = 8             # executor threads: one for the node's callbacks, the rest for running goals
LOG_THROTTLE_S = 10.0        # repeated warnings are logged at most this often


@dataclass(frozen=True)
class MissionControlParams:
    site_config: str
    response_policy: str
    patrols: str               # the standing patrols file
    patrols_required: bool     # False for the default location: a missing file means no standing patrols
    tick_rate: float
    settings: MissionSettings


def _point(msg: PointMsg) -> tuple[float, float, float]:
    return (float(msg.x), float(msg.y), float(msg.z))


def task_to_msg(task: Task, stamp: object) -> TaskMsg:
    msg = TaskMsg()
    msg.header.stamp = stamp
    msg.header.frame_id = conversions.SITE_FRAME
    msg.task_id = task.task_id
    msg.task_type = int(task.task_type)
    msg.state = int(task.state)
    msg.vehicle_id = task.vehicle_id
    msg.target = PointMsg(x=task.target[0], y=task.target[1], z=task.target[2])
    msg.target_track_id = task.target_track_id
    msg.route = [PointMsg(x=p[0], y=p[1], z=p[2]) for p in task.route]
    msg.priority = max(0, min(255, task.priority))
    msg.origin_alert_id = task.origin_alert_id
    msg.created_by = task.created_by
    msg.status_msg = task.status_msg
    return msg


class MissionControlNode(Node):
    """Thin wrapper around MissionController; see the module docstring."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__('mission_control', **kwargs)
        self.heartbeat = HeartbeatPublisher(self)
        self.params = self._read_params()
        try:
            site = load_site(self.params.site_config)
            policy = load_response_policy(self.params.response_policy)
            patrols = self._load_patrols(site)
        except (SiteError, PolicyError, PatrolConfigError) as error:
            raise StartupError(str(error)) from None
        assets = [Asset(v.id, v.kind.value, v.capabilities, v.home, v.battery_capacity_wh)
                  for v in site.config.vehicles]
        self._lock = threading.RLock()
        self._tick_done = threading.Condition(self._lock)
        self.controller = MissionController(policy, assets, self.params.settings, self.get_logger())
        self._published_revision = -1
        self._gate_futures: dict[str, Future] = {}
        group = MutuallyExclusiveCallbackGroup()
        self._tasks_pub = self.create_publisher(TaskArray, TASKS_TOPIC, LATCHED_QOS)
        self._gate = self.create_client(CommandVehicle, GATE_SERVICE, callback_group=group)
        self.create_subscription(FleetState, '/fleet/state', self._on_fleet, SENSOR_QOS, callback_group=group)
        self.create_subscription(Alert, '/alerts', self._on_alert, EVENT_QOS, callback_group=group)
        self.create_subscription(TrackArray, '/tracks', self._on_tracks, SENSOR_QOS, callback_group=group)
        self.create_subscription(SafetyStatus, '/safety/status', self._on_safety, LATCHED_QOS,
                                 callback_group=group)
        self.create_subscription(DiagnosticArray, '/vehicles/command_results', self._on_results, EVENT_QOS,
                                 callback_group=group)
        self.create_service(AssignTask, '/mission/assign_task', self._assign, callback_group=group)
        self.create_service(CancelTask, '/mission/cancel_task', self._cancel, callback_group=group)
        self.create_service(SetTaskPaused, '/mission/set_task_paused', self._set_paused, callback_group=group)
        self._action = ActionServer(self, InvestigatePoint, INVESTIGATE_ACTION, self._execute_investigation,
                                    goal_callback=self._check_goal,
                                    cancel_callback=lambda _goal: CancelResponse.ACCEPT,
                                    callback_group=ReentrantCallbackGroup())
        self.create_timer(1.0 / self.params.tick_rate, self._tick, callback_group=group)
        self._start_patrols(patrols)
        self._publish_tasks()
        self.get_logger().info(f'{len(assets)} vehicles from {self.params.site_config}; response policy '
                               f'{self.params.response_policy} ({len(policy.categories)} alert categories); '
                               f'{len(patrols)} standing patrols; commands go through {GATE_SERVICE}')

    # ------------------------------------------------------------------ set-up

    def _read_params(self) -> MissionControlParams:
        site_config = require_text('site_config', declare(
            self, 'site_config', '', 'site configuration YAML (vehicle roster, zones)'))
        policy = declare(self, 'response_policy', '', 'response policy YAML; empty: response_policy.yaml '
                         'in the folder above the site configuration (config/)')
        if not policy:
            policy = str((Path(site_config).parent / DEFAULT_POLICY).resolve())
        patrols = declare(self, 'patrols', '', 'standing patrols YAML; empty: patrols.yaml in the folder above '
                          'the site configuration, if there is one')
        patrols_required = bool(patrols)
        if not patrols:
            patrols = str((Path(site_config).parent / DEFAULT_PATROLS).resolve())
        defaults = MissionSettings()
        settings = MissionSettings(
            gate_timeout=declare(self, 'gate_timeout', defaults.gate_timeout,
                                 'seconds to wait for the safety gate\'s answer', 0.1, 60.0),
            pending_timeout=declare(self, 'pending_timeout', defaults.pending_timeout,
                                    'seconds an investigate/goto task may wait for a vehicle before it '
                                    'fails', 1.0, 3600.0),
            max_replans=declare(self, 'max_replans', defaults.max_replans,
                                'refusals or vehicle failures a task absorbs before it fails', 0, 20),
            arrival_radius=declare(self, 'arrival_radius', defaults.arrival_radius,
                                   'metres from a goal that count as arrived', 0.5, 50.0),
            idle_return_delay=declare(self, 'idle_return_delay', defaults.idle_return_delay,
                                      'seconds an idle vehicle away from home waits before returning',
                                      0.0, 3600.0),
            patrol_restart_delay=declare(self, 'patrol_restart_delay', defaults.patrol_restart_delay,
                                         'seconds after which a standing patrol that failed is started again',
                                         1.0, 86_400.0))
        return MissionControlParams(site_config, policy, patrols, patrols_required,
                                    declare(self, 'tick_rate', 5.0, 'task supervision rate, Hz', 1.0, 50.0),
                                    settings)

    def _load_patrols(self, site: Site) -> tuple[StandingPatrol, ...]:
        path = Path(self.params.patrols)
        if not self.params.patrols_required and not path.exists():
            self.get_logger().info(f'no standing patrols: {path} does not exist')
            return ()
        patrols = load_patrols(path, site.config)
        if not patrols:
            self.get_logger().info(f'no standing patrols for site {site.config.name!r} in {path}')
        return patrols

    def _start_patrols(self, patrols: tuple[StandingPatrol, ...]) -> None:
        with self._lock:
            for patrol in patrols:
                try:
                    task = self.controller.add_standing_patrol(patrol.name, patrol.request(), self._now())
                except ValueError as error:
                    raise StartupError(f'{self.params.patrols}: {error}') from None
                who = patrol.vehicle_id or '/'.join(patrol.vehicle_kinds)
                self.get_logger().info(f'standing patrol {patrol.name}: task {task.task_id}, {len(patrol.route)} '
                                       f'waypoints at {patrol.speed:g} m/s by {who}')
            self._flush()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    # ------------------------------------------------------------------ inputs

    def _on_fleet(self, msg: FleetState) -> None:
        now = self._now()
        with self._lock:
            for vehicle in msg.vehicles:
                self.controller.update_vehicle(conversions.state_from_msg(vehicle), now)

    def _on_alert(self, msg: Alert) -> None:
        alert = AlertData(msg.alert_id, msg.severity, msg.category, msg.rule_id, msg.track_id,
                          _point(msg.position), msg.state, msg.acknowledged_by)
        with self._lock:
            self.controller.on_alert(alert, self._now())
            self._flush()

    def _on_tracks(self, msg: TrackArray) -> None:
        with self._lock:
            self.controller.update_tracks({t.track_id: _point(t.position) for t in msg.tracks}, self._now())

    def _on_safety(self, msg: SafetyStatus) -> None:
        fleet = msg.estop_engaged and msg.estop_scope == SafetyStatus.SCOPE_FLEET
        with self._lock:
            self.controller.update_safety(msg.estopped_vehicle_ids if msg.estop_engaged else [], fleet)

    def _on_results(self, msg: DiagnosticArray) -> None:
        now = self._now()
        with self._lock:
            for status in msg.status:
                result = conversions.result_from_status(status)
                if result is not None:
                    self.controller.on_result(result, now)
            self._flush()

    # ------------------------------------------------------------------ the gate

    def _flush(self) -> None:
        """Send every pending proposal to the safety gate; publish /tasks if anything changed."""
        for command in self.controller.take_proposals():
            self._propose(command)
        self._publish_tasks()

    def _propose(self, command: Command) -> None:
        if not self._gate.service_is_ready():
            self.get_logger().warning(f'{GATE_SERVICE} is not available: {command.kind.name} for '
                                      f'{command.vehicle_id} not sent', throttle_duration_sec=LOG_THROTTLE_S)
            self.controller.on_gate_unavailable(command.command_id, f'{GATE_SERVICE} not available',
                                                self._now())
            return
        request = CommandVehicle.Request()
        request.command = conversions.command_to_msg(command, self.get_clock().now().to_msg())
        future = self._gate.call_async(request)
        self._gate_futures[command.command_id] = future
        future.add_done_callback(lambda done, cid=command.command_id: self._on_gate_answer(cid, done))

    def _on_gate_answer(self, command_id: str, future: Future) -> None:
        with self._lock:
            if self._gate_futures.pop(command_id, None) is None:
                return
            now = self._now()
            error = future.exception()
            response = future.result() if error is None else None
            if response is None:
                self.controller.on_gate_unavailable(command_id, f'call failed: {error}' if error else 'no response',
                                                    now)
            elif response.error_code == CommandVehicle.Response.ERROR_NONE:
                self.controller.on_gate_answer(command_id, True, [], now)
            else:
                reasons = list(response.command.verdict.reasons) or [response.error_msg or
                                                                      f'error {response.error_code}']
                self.controller.on_gate_answer(command_id, False, reasons, now)
            self._flush()

    def _forget_stale_gate_calls(self) -> None:
        for command_id, future in list(self._gate_futures.items()):
            if not self.controller.gate_pending(command_id):   # timed out in the controller
                self._gate.remove_pending_request(future)
                del self._gate_futures[command_id]

    # ------------------------------------------------------------------ tick

    def _tick(self) -> None:
        with unless_shutting_down(self), self._lock:
            self.controller.tick(self._now())
            self._forget_stale_gate_calls()
            self._flush()
            self.heartbeat.state.record_progress()
            live = self.controller.book.live()
            # a patrol waiting for its vehicle (busy with an alert, or away) is normal operation
            waiting = [t.task_id for t in live if t.state is TaskState.PENDING and t.task_type is not TaskType.PATROL
                       and 'waiting for a vehicle' in t.status_msg]
            if waiting:
                self.heartbeat.state.set_health(Health.DEGRADED, f'tasks waiting for a vehicle: '
                                                                 f'{", ".join(waiting)}')
            else:
                self.heartbeat.state.set_health(Health.OK, f'{len(live)} live tasks')
            self._tick_done.notify_all()

    def _publish_tasks(self) -> None:
        book = self.controller.book
        if book.revision == self._published_revision:
            return
        self._published_revision = book.revision
        with unless_shutting_down(self):
            stamp = self.get_clock().now().to_msg()
            array = TaskArray()
            array.header.stamp = stamp
            array.tasks = [task_to_msg(task, stamp) for task in book.tasks()]
            self._tasks_pub.publish(array)

    # ------------------------------------------------------------------ services

    def _request_from_msg(self, msg: TaskMsg) -> TaskRequest | str:
        if msg.task_type not in TaskType._value2member_map_:
            return f'unknown task_type {msg.task_type}'
        kind = TaskType(msg.task_type)
        return TaskRequest(kind, vehicle_id=msg.vehicle_id, target=_point(msg.target),
                           target_track_id=msg.target_track_id, route=tuple(_point(p) for p in msg.route),
                           priority=msg.priority or None, origin_alert_id=msg.origin_alert_id,
                           created_by=msg.created_by or 'operator',
                           observe_duration=DEFAULT_OBSERVE if kind is TaskType.INVESTIGATE else 0.0,
                           standoff=DEFAULT_STANDOFF,
                           capabilities=frozenset({'camera'}) if kind is TaskType.INVESTIGATE else frozenset())

    def _assign(self, request: AssignTask.Request, response: AssignTask.Response) -> AssignTask.Response:
        parsed = self._request_from_msg(request.task)
        with self._lock:
            if isinstance(parsed, str):
                code, message, task = AssignTask.Response.ERROR_INVALID, parsed, None
            else:
                code, message, task = self.controller.create_task(parsed, self._now())
            self._flush()
            response.error_code, response.error_msg = code, message
            if task is not None:
                response.task = task_to_msg(task, self.get_clock().now().to_msg())
        return response

    def _cancel(self, request: CancelTask.Request, response: CancelTask.Response) -> CancelTask.Response:
        with self._lock:
            code, message, task = self.controller.cancel(request.task_id, request.requested_by, self._now())
            self._flush()
            response.error_code, response.error_msg = code, message
            if task is not None:
                response.task = task_to_msg(task, self.get_clock().now().to_msg())
        return response

    def _set_paused(self, request: SetTaskPaused.Request,
                    response: SetTaskPaused.Response) -> SetTaskPaused.Response:
        with self._lock:
            code, message, task = self.controller.set_paused(request.task_id, request.paused,
                                                             request.requested_by, self._now())
            self._flush()
            response.error_code, response.error_msg = code, message
            if task is not None:
                response.task = task_to_msg(task, self.get_clock().now().to_msg())
        return response

    # ------------------------------------------------------------------ the investigate action

    def _check_goal(self, goal: InvestigatePoint.Goal) -> GoalResponse:
        numbers = (goal.target.x, goal.target.y, goal.target.z, goal.observe_duration, goal.orbit_radius)
        if not all(math.isfinite(v) for v in numbers):
            self.get_logger().warning('investigate_point goal rejected: non-finite target or parameters')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute_investigation(self, goal_handle: ServerGoalHandle) -> InvestigatePoint.Result:
        goal = goal_handle.request
        result = InvestigatePoint.Result()
        request = TaskRequest(
            TaskType.INVESTIGATE, vehicle_id=goal.vehicle_id, target=_point(goal.target),
            target_track_id=goal.target_track_id,
            observe_duration=goal.observe_duration if goal.observe_duration > 0.0 else DEFAULT_OBSERVE,
            orbit_radius=max(0.0, goal.orbit_radius), standoff=DEFAULT_STANDOFF,
            origin_alert_id=goal.origin_alert_id, created_by=goal.requested_by or 'investigate_point action',
            capabilities=frozenset({'camera'}))
        with self._lock:
            _, message, task = self.controller.create_task(request, self._now())
            self._flush()
        if task is None:
            result.error_code = InvestigatePoint.Result.ERROR_NO_VEHICLE   # no (such) capable vehicle
            result.error_msg = message
            goal_handle.abort()
            return result
        task_id = task.task_id
        result.task_id = task_id
        while rclpy.ok():
            with self._lock:
                self._tick_done.wait(timeout=1.0)
                if goal_handle.is_cancel_requested and not task.final:
                    self.controller.cancel(task_id, 'investigate_point action cancel', self._now())
                    self._flush()
                feedback = self.controller.feedback(task_id)
                final = task.final
                state = task.state
                failure = self.controller.execution_failure(task_id)
            if feedback is not None:
                message_fb = InvestigatePoint.Feedback()
                message_fb.phase = int(feedback.phase)
                message_fb.vehicle_id = feedback.vehicle_id
                message_fb.distance_to_target = float(feedback.distance_to_target)
                message_fb.eta = float(feedback.eta)
                p = feedback.vehicle_position
                message_fb.vehicle_position = PointMsg(x=p[0], y=p[1], z=p[2])
                with unless_shutting_down(self):
                    goal_handle.publish_feedback(message_fb)
            if final:
                break
        result.vehicle_id = task.vehicle_id
        result.time_on_target = float(task.time_on_target)
        result.error_msg = task.status_msg
        if state is TaskState.COMPLETED:
            result.error_code = InvestigatePoint.Result.ERROR_NONE
            goal_handle.succeed()
        elif state is TaskState.CANCELLED:
            result.error_code = InvestigatePoint.Result.ERROR_CANCELLED
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
            else:
                goal_handle.abort()
        else:
            result.error_code = {FAIL_NO_VEHICLE: InvestigatePoint.Result.ERROR_NO_VEHICLE,
                                 FAIL_REFUSED: InvestigatePoint.Result.ERROR_REFUSED}.get(
                failure, InvestigatePoint.Result.ERROR_VEHICLE_FAILED)
            goal_handle.abort()
        return result

    def destroy_node(self) -> None:
        action = getattr(self, '_action', None)   # absent when the constructor stopped on bad configuration
        if action is not None:
            action.destroy()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Spun by a multi-threaded executor (see the module docstring)."""
    return run_node(MissionControlNode, args, name='mission_control',
                    make_executor=lambda: MultiThreadedExecutor(num_threads=GOAL_THREADS))


if __name__ == '__main__':
    raise SystemExit(main())
