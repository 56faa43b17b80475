"""Mission control's logic: tasks from alerts and operators, allocation, execution, reassignment.

Why one controller object with explicit time: every decision (which vehicle,
when a patrol lap ends, when an investigation has watched long enough, when
a vehicle counts as failed) depends on the same few inputs, and keeping them
in one pure object lets tests replay whole scenarios with a fake clock. The
node feeds it messages and service calls, sends what ``take_proposals``
returns through the safety gate, and reports each verdict and each command
result back. The controller never talks to a vehicle: every motion is a
*proposal* that the gate may approve, edit or refuse.

How a task runs:
  PENDING    the allocator looks for a vehicle every tick (unless an operator
             must approve first); a busy vehicle is taken only from a lower
             priority task: a patrol goes back to PENDING, anything else is
             CANCELLED as preempted.
  ASSIGNED   its first command is with the gate or the vehicle. Refused, or
             rejected / timed out by the vehicle: the vehicle is excluded and
             the task requeued, up to ``max_replans`` times, then FAILED.
  ACTIVE     the first command was accepted; progress is judged from the
             vehicle's reported state. A vehicle that loses its link, gets
             e-stopped, runs low, enters a failsafe RTL/LAND or is taken over
             by another command loses the task, which is requeued (and fails
             if nobody can take it within ``pending_timeout``).
  PAUSED     the vehicle holds; resuming re-sends the current step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from sentinel_control import allocation, investigation
from sentinel_control.commands import Command, CommandKind, CommandResult, Outcome
from sentinel_control.patrol import PatrolProgress, horizontal_distance, route_length
from sentinel_control.registry import Asset, AssetRegistry
from sentinel_control.response_policy import ResponsePolicy, Severity
from sentinel_control.tasks import VEHICLE_BOUND, Phase, Task, TaskBook, TaskState, TaskType
from sentinel_control.telemetry import VehicleStateData

Point = tuple[float, float, float]
ISSUER = 'mission_control'     # VehicleCommand.issued_by of our proposals
MIN_DRONE_Z = 2.0              # m: a drone target lower than this gets the profile's altitude instead
VERTICAL_ARRIVAL = 3.0         # m: a drone is at a GOTO target this close vertically
TAKEOVER_GRACE = 1.5           # s the vehicle may report another task before we call it taken over
FAILSAFE_MODES = frozenset({'RTL', 'LAND', 'SMART_RTL', 'AUTO_RTL', 'AUTO.RTL', 'AUTO.LAND', 'AUTO.PRECLAND'})
LOG_THROTTLE = 10.0            # s: the same repeated warning (same key) is logged at most this often

# Failure kinds recorded on a FAILED task, for the investigate action's error code.
FAIL_NO_VEHICLE = 'no_vehicle'
FAIL_REFUSED = 'refused'
FAIL_VEHICLE = 'vehicle_failed'


class Log(Protocol):
    def info(self, message: str) -> object: ...

    def warning(self, message: str) -> object: ...


@dataclass(frozen=True)
class MissionSettings:
    """Timing and tolerances of task execution (seconds, metres)."""

    gate_timeout: float = 3.0           # a gate call unanswered this long counts as "gate unavailable"
    pending_timeout: float = 60.0       # an investigate/goto nobody can take for this long fails
    max_replans: int = 2                # refusals/vehicle failures absorbed before a task fails
    arrival_radius: float = 4.0         # horizontal distance that counts as "there"
    retarget_distance: float = 5.0      # a followed track this far from the last goal gets a new goal
    retarget_interval: float = 2.0      # at most one new goal per this many seconds per task
    track_timeout: float = 10.0         # a track unseen this long is lost (its last position is kept)
    idle_return_delay: float = 30.0     # an airborne vehicle left idle (cancel) returns after this long
    patrol_restart_delay: float = 60.0  # a standing patrol that failed is started again after this long


@dataclass(frozen=True)
class AlertData:
    """The parts of an Alert that mission control acts on."""

    alert_id: str
    severity: int
    category: str
    rule_id: str
    track_id: str
    position: Point
    state: int                     # 0 new, 1 acknowledged, 2 resolved (Alert.STATE_*)
    acknowledged_by: str = ''


ALERT_NEW, ALERT_ACKNOWLEDGED, ALERT_RESOLVED = 0, 1, 2   # Alert.STATE_*


@dataclass(frozen=True)
class TaskRequest:
    """A task asked for by an operator (AssignTask) or the investigate action."""

    task_type: TaskType
    vehicle_id: str = ''
    target: Point = (0.0, 0.0, 0.0)
    target_track_id: str = ''
    route: tuple[Point, ...] = ()
    priority: int | None = None        # None: the policy's default for the type
    origin_alert_id: str = ''
    created_by: str = ''
    observe_duration: float = 0.0
    orbit_radius: float = 0.0
    standoff: float = 15.0             # m, hold distance when not orbiting
    vehicle_kinds: tuple[str, ...] = ('drone', 'ground')
    capabilities: frozenset[str] = frozenset()
    speed: float = 0.0                 # m/s along a patrol route; 0 keeps the vehicle's default


# Result codes shared by the services (mirror of AssignTask/CancelTask/SetTaskPaused).
OK, NO_VEHICLE, INVALID = 0, 1, 2
UNKNOWN_TASK, ALREADY_FINISHED, INVALID_STATE = 1, 2, 2


@dataclass(frozen=True)
class Feedback:
    phase: Phase
    vehicle_id: str
    distance_to_target: float
    eta: float
    vehicle_position: Point


@dataclass
class _Sent:
    """A proposal with the gate, or an approved command awaiting its result."""

    command: Command
    task_id: str
    purpose: str            # dispatch (first command of an assignment), step, hold, return
    sent_at: float


@dataclass
class _Execution:
    """Per-task execution state that the Task message does not carry."""

    seq: int = 0
    step_target: Point | None = None
    orbit: list[Point] = field(default_factory=list)
    orbit_index: int = 0
    patrol: PatrolProgress | None = None
    goal_target: Point | None = None     # the investigated point the last goal was computed for
    goal_time: float = -math.inf
    takeover_since: float | None = None
    retry_at: float = -math.inf          # a task requeued for lack of a gate is not dispatched before this
    failure: str = ''
    bound_vehicle: str = ''              # HOLD/RTL/LAND: the vehicle the task is for
    last_tick: float | None = None
    track_seen: float = -math.inf


@dataclass
class _Standing:
    """A patrol from the configuration and the task that flies it now."""

    name: str
    request: TaskRequest
    task: Task
    stopped: bool = False   # cancelled by an operator: not started again


class MissionController:
    """See the module docstring."""

    def __init__(self, policy: ResponsePolicy, assets: list[Asset], settings: MissionSettings,
                 log: Log) -> None:
        self.policy = policy
        self.settings = settings
        self.registry = AssetRegistry.from_assets(
            assets, {kind: p.battery_reserve for kind, p in policy.profiles.items()})
        self.book = TaskBook()
        self._log = log
        self._exec: dict[str, _Execution] = {}
        self._with_gate: dict[str, _Sent] = {}
        self._awaiting: dict[str, _Sent] = {}
        self._early: dict[str, CommandResult] = {}   # results that overtook their gate answer
        self._latest: dict[str, str] = {}           # vehicle -> latest approved command id
        self._outbox: list[Command] = []
        self._return_due: dict[str, float] = {}     # vehicle -> when to send it home if still idle
        self._tracks: dict[str, tuple[Point, float]] = {}
        self._last_tick: float | None = None
        self._warned: dict[str, float] = {}
        self._standing: list[_Standing] = []

    def _warn(self, key: str, message: str, now: float) -> None:
        """A warning that may repeat every tick (gate down, vehicle gone): logged at most every LOG_THROTTLE s."""
        if now - self._warned.get(key, -math.inf) >= LOG_THROTTLE:
            self._warned[key] = now
            self._log.warning(message)

    # ================================================================== outputs

    def take_proposals(self) -> list[Command]:
        """Commands to send through the safety gate now (each exactly once)."""
        out, self._outbox = self._outbox, []
        return out

    def gate_pending(self, command_id: str) -> bool:
        """Whether a proposal still waits for the gate (False once answered or timed out)."""
        return command_id in self._with_gate

    def execution_failure(self, task_id: str) -> str:
        ex = self._exec.get(task_id)
        return ex.failure if ex is not None else ''

    def feedback(self, task_id: str) -> Feedback | None:
        task = self.book.get(task_id)
        if task is None:
            return None
        state = self.registry.state(task.vehicle_id) if task.vehicle_id else None
        phase = Phase.RETURNING if task.state is TaskState.COMPLETED else task.phase
        if state is None or not state.known_position:
            return Feedback(phase, task.vehicle_id, math.nan, math.nan, (math.nan, math.nan, math.nan))
        distance = horizontal_distance(state.position, task.target)
        asset = self.registry.asset(task.vehicle_id)
        profile = self.policy.profiles.get(asset.kind) if asset is not None else None
        eta = math.nan
        if profile is not None and phase in (Phase.DISPATCHING, Phase.TRANSIT):
            goal = self._exec[task_id].step_target or task.target
            eta = allocation.travel_time(profile, state.position, goal, not state.landed)
        elif phase is Phase.OBSERVING:
            eta = 0.0
        return Feedback(phase, task.vehicle_id, distance, eta, state.position)

    # ================================================================== inputs: world

    def update_vehicle(self, state: VehicleStateData, now: float) -> None:
        if self.registry.update(state, now):
            self._log.warning(f'{state.vehicle_id}: reported by the vehicle interface but not in the '
                              'site configuration; registered without capabilities')

    def update_safety(self, estopped: Iterable[str], fleet: bool) -> None:
        self.registry.set_estopped(set(estopped), fleet)

    def update_tracks(self, tracks: Mapping[str, Point], now: float) -> None:
        for track_id, position in tracks.items():
            self._tracks[track_id] = (position, now)
        for track_id in [t for t, (_, seen) in self._tracks.items()
                         if now - seen > 10 * self.settings.track_timeout]:
            del self._tracks[track_id]

    # ================================================================== inputs: alerts and operators

    def on_alert(self, alert: AlertData, now: float) -> Task | None:
        """Create, update, approve or cancel the response to an alert; returns its task."""
        existing = self.book.by_alert(alert.alert_id)
        if existing is not None and not existing.final:
            return self._update_alert_task(existing, alert, now)
        if existing is not None or alert.state == ALERT_RESOLVED:
            return existing
        policy = self.policy.for_category(alert.category)
        if policy is None:
            self._log.warning(f'alert {alert.alert_id}: no response policy for category '
                              f'{alert.category!r}; not dispatching')
            return None
        if not policy.respond or alert.severity < policy.min_severity:
            return None
        task = self.book.add(Task(
            self.book.new_id(), TaskType.INVESTIGATE, target=alert.position, target_track_id=alert.track_id,
            priority=policy.priority, origin_alert_id=alert.alert_id,
            created_by=f'{ISSUER} (alert {alert.alert_id}, rule {alert.rule_id or "?"})',
            vehicle_kinds=policy.vehicle_kinds, capabilities=policy.capabilities,
            observe_duration=policy.observe_duration, orbit_radius=policy.orbit_radius,
            standoff=policy.standoff,
            awaiting_approval=policy.operator_approval and alert.state == ALERT_NEW), now)
        self._exec[task.task_id] = _Execution()
        severity = Severity(alert.severity).name.lower() if alert.severity in Severity._value2member_map_ \
            else str(alert.severity)
        if task.awaiting_approval:
            self.book.touch(task, now, 'awaiting operator approval (acknowledge the alert or resume the task)')
            self._log.info(f'alert {alert.alert_id} ({alert.category}, {severity}): task {task.task_id} '
                           'waits for operator approval')
        else:
            self._log.info(f'alert {alert.alert_id} ({alert.category}, {severity}): task {task.task_id} '
                           f'created, priority {task.priority}')
            self._dispatch(task, now)
        return task

    def _update_alert_task(self, task: Task, alert: AlertData, now: float) -> Task:
        if alert.state == ALERT_RESOLVED:
            self._cancel(task, f'alert resolved{" by " + alert.acknowledged_by if alert.acknowledged_by else ""}',
                         now)
            return task
        if task.awaiting_approval and alert.state == ALERT_ACKNOWLEDGED:
            self._approve(task, alert.acknowledged_by or 'an operator', now)
        if alert.track_id and not task.target_track_id:
            task.target_track_id = alert.track_id
        if not task.target_track_id and horizontal_distance(task.target, alert.position) > 0.0:
            task.target = alert.position
            self.book.touch(task, now)
        return task

    def _approve(self, task: Task, by: str, now: float) -> None:
        task.awaiting_approval = False
        self.book.touch(task, now, f'approved by {by}')
        self._log.info(f'task {task.task_id}: approved by {by}')
        self._dispatch(task, now)

    def create_task(self, request: TaskRequest, now: float) -> tuple[int, str, Task | None]:
        """AssignTask and the investigate action: (error code, message, task)."""
        problem = self._invalid(request)
        if problem is not None:
            return INVALID, problem, None
        priority = request.priority
        if request.task_type in VEHICLE_BOUND:
            priority = 255   # an operator's HOLD/RTL/LAND overrides whatever the vehicle does
        elif priority is None:
            priority = (self.policy.patrol_priority if request.task_type is TaskType.PATROL
                        else self.policy.operator_task_priority)
        task = Task(self.book.new_id(), request.task_type, vehicle_id='', target=request.target,
                    target_track_id=request.target_track_id, route=request.route, priority=priority,
                    origin_alert_id=request.origin_alert_id, created_by=request.created_by,
                    vehicle_kinds=request.vehicle_kinds, capabilities=request.capabilities,
                    observe_duration=request.observe_duration, orbit_radius=request.orbit_radius,
                    standoff=request.standoff, speed=request.speed)
        ever = self._could_ever_serve(task, request.vehicle_id, now)
        if ever is not None:
            return NO_VEHICLE, ever, None
        if request.task_type in VEHICLE_BOUND:
            unreachable = self._reachable(request.vehicle_id, now)
            if unreachable is not None:
                return NO_VEHICLE, f'{request.vehicle_id} cannot be commanded now: {unreachable}', None
        self.book.add(task, now)
        self._exec[task.task_id] = _Execution()
        if request.vehicle_id:
            task.excluded = {v for v in self.registry.ids() if v != request.vehicle_id}
            self._exec[task.task_id].bound_vehicle = request.vehicle_id
        self._log.info(f'task {task.task_id} ({task.task_type.name}, priority {task.priority}) created by '
                       f'{request.created_by or "an operator"}')
        self._dispatch(task, now)
        return OK, '', task

    def _invalid(self, request: TaskRequest) -> str | None:
        points = [request.target, *request.route]
        if any(not all(math.isfinite(v) for v in p) for p in points):
            return 'target and route must be finite numbers (site ENU metres)'
        if request.task_type is TaskType.PATROL and len(request.route) < 2:
            return 'a patrol needs a route of at least 2 waypoints'
        if request.task_type in VEHICLE_BOUND and not request.vehicle_id:
            return f'a {request.task_type.name} task needs a vehicle_id'
        if request.vehicle_id and self.registry.asset(request.vehicle_id) is None:
            return f'unknown vehicle {request.vehicle_id!r}'
        if not (math.isfinite(request.speed) and request.speed >= 0.0):
            return f'speed {request.speed} must be >= 0 m/s (0: the vehicle\'s default)'
        if request.priority is not None and not 0 <= request.priority <= 255:
            return f'priority {request.priority} is out of 0..255'
        if not (math.isfinite(request.observe_duration) and request.observe_duration >= 0.0
                and math.isfinite(request.orbit_radius) and request.orbit_radius >= 0.0):
            return 'observe_duration and orbit_radius must be >= 0'
        return None

    def _could_ever_serve(self, task: Task, vehicle_id: str, now: float) -> str | None:
        """Why no vehicle of the fleet could ever take this task (kind, capabilities), or None."""
        if task.task_type in VEHICLE_BOUND:
            return None
        ids = [vehicle_id] if vehicle_id else self.registry.ids()
        reasons = []
        for vid in ids:
            asset = self.registry.asset(vid)
            assert asset is not None
            if asset.kind not in task.vehicle_kinds:
                reasons.append(f'{vid}: a {asset.kind} vehicle')
            elif not task.capabilities <= asset.capabilities:
                reasons.append(f'{vid}: lacks {", ".join(sorted(task.capabilities - asset.capabilities))}')
            else:
                return None
        return 'no vehicle can do this task: ' + ('; '.join(reasons) or 'the fleet is empty')

    def cancel(self, task_id: str, by: str, now: float) -> tuple[int, str, Task | None]:
        task = self.book.get(task_id)
        if task is None:
            return UNKNOWN_TASK, f'no task {task_id!r}', None
        if task.final:
            return ALREADY_FINISHED, f'task {task_id} is already {task.state.name}', task
        self._cancel(task, f'cancelled by {by or "an operator"}', now)
        return OK, '', task

    def set_paused(self, task_id: str, paused: bool, by: str, now: float) -> tuple[int, str, Task | None]:
        task = self.book.get(task_id)
        if task is None:
            return UNKNOWN_TASK, f'no task {task_id!r}', None
        who = by or 'an operator'
        if not paused and task.state is TaskState.PENDING and task.awaiting_approval:
            self._approve(task, who, now)
            return OK, '', task
        if paused and task.state in (TaskState.ASSIGNED, TaskState.ACTIVE):
            self.book.transition(task, TaskState.PAUSED, now, f'paused by {who}')
            self._propose(task, Command('', task.vehicle_id, CommandKind.HOLD, task_id=task.task_id), 'hold', now)
            return OK, '', task
        if not paused and task.state is TaskState.PAUSED:
            self.book.transition(task, TaskState.ACTIVE, now, f'resumed by {who}')
            self._propose_step(task, 'step', now)
            return OK, '', task
        return INVALID_STATE, f'task {task_id} is {task.state.name}; cannot {"pause" if paused else "resume"} it', task

    # ================================================================== inputs: gate and vehicle

    def on_gate_answer(self, command_id: str, approved: bool, reasons: list[str], now: float) -> None:
        sent = self._with_gate.pop(command_id, None)
        if sent is None:
            return
        task = self.book.get(sent.task_id) if sent.task_id else None
        if approved:
            self._awaiting[command_id] = sent
            self._latest[sent.command.vehicle_id] = command_id
            early = self._early.pop(command_id, None)
            if early is not None:
                self.on_result(early, now)
            return
        self._early.pop(command_id, None)
        why = '; '.join(reasons) or 'no reason given'
        self._log.warning(f'command {command_id} ({sent.command.kind.name} for {sent.command.vehicle_id}) '
                          f'refused by the safety gate: {why}')
        if task is None or task.final:
            return
        self._setback(task, sent, f'refused by the safety gate for {sent.command.vehicle_id}: {why}',
                      exclude=True, failure=FAIL_REFUSED, now=now)

    def on_gate_unavailable(self, command_id: str, reason: str, now: float) -> None:
        sent = self._with_gate.pop(command_id, None)
        if sent is None:
            return
        self._warn('gate', f'command {command_id}: safety gate unavailable ({reason})', now)
        task = self.book.get(sent.task_id) if sent.task_id else None
        if task is None or task.final:
            return
        self._setback(task, sent, f'safety gate unavailable: {reason}', exclude=False,
                      failure=FAIL_REFUSED, now=now)

    def on_result(self, result: CommandResult, now: float) -> None:
        if result.command_id in self._with_gate:
            # the vehicle interface answered before the gate's reply reached us (different
            # DDS paths, no ordering between them): keep it for when the reply comes
            self._early[result.command_id] = result
            return
        sent = self._awaiting.pop(result.command_id, None)
        if sent is None:
            return
        if self._latest.get(result.vehicle_id) != result.command_id:
            return   # superseded by a newer command of ours: its result is what counts
        task = self.book.get(sent.task_id) if sent.task_id else None
        if task is None or task.final:
            return
        if result.outcome is Outcome.ACCEPTED:
            if sent.purpose == 'dispatch' and task.state is TaskState.ASSIGNED:
                self.book.transition(task, TaskState.ACTIVE, now, 'under way')
                if task.task_type is TaskType.INVESTIGATE:
                    task.phase = Phase.TRANSIT
            return
        if result.outcome is Outcome.CANCELLED:
            return   # replaced on the vehicle by another command; takeover detection handles strangers
        what = f'{result.outcome.value}' + (f' [{result.mav_result}]' if result.mav_result else '')
        self._setback(task, sent, f'{result.vehicle_id} {what}: {result.reason}', exclude=True,
                      failure=FAIL_VEHICLE, now=now)

    # ================================================================== the tick

    def tick(self, now: float) -> None:
        dt = 0.0 if self._last_tick is None else max(0.0, now - self._last_tick)
        self._last_tick = now
        for command_id, sent in list(self._with_gate.items()):
            if now - sent.sent_at > self.settings.gate_timeout:
                self._early.pop(command_id, None)
                self.on_gate_unavailable(command_id, f'no answer within {self.settings.gate_timeout:g} s', now)
        for task in self.book.live():
            if task.state in (TaskState.ASSIGNED, TaskState.ACTIVE, TaskState.PAUSED):
                self._supervise(task, dt, now)
        pool: list[allocation.Candidate] | None = None   # the fleet as allocation sees it, until an assignment
        for task in sorted(self.book.live(), key=lambda t: (-t.priority, t.created_at)):
            if task.state is TaskState.PENDING and not task.awaiting_approval \
                    and now >= self._exec[task.task_id].retry_at:
                if pool is None:
                    pool = self._candidates(now)
                if self._dispatch(task, now, pool):
                    pool = None
        self._send_idle_vehicles_home(now)
        self._keep_standing_patrols(now)
        self.book.archive(now)

    # ================================================================== dispatch

    def _candidates(self, now: float) -> list[allocation.Candidate]:
        """Every vehicle as allocation sees it now (one pass over the tasks: this runs for every waiting task)."""
        holders = self.book.holders()
        out = []
        for vid in self.registry.ids():
            status = self.registry.statuses[vid]
            state, asset = status.state, status.asset
            availability = self.registry.availability(vid, now)
            holding = holders.get(vid)
            out.append(allocation.Candidate(
                vid, asset.kind, asset.capabilities,
                state.position if state is not None else (math.nan,) * 3, asset.home,
                state.battery_remaining if state is not None else math.nan, asset.battery_capacity_wh,
                state.landed if state is not None else True, availability.available, availability.reason,
                holding.priority if holding is not None else None))
        return out

    def _requirement(self, task: Task) -> allocation.Requirement:
        target = task.target
        on_target = task.observe_duration
        if task.task_type is TaskType.PATROL:
            target = task.route[0]
            speed = task.speed or min(self.policy.profiles[k].cruise_speed for k in task.vehicle_kinds)
            on_target = route_length(task.route) / speed    # one lap
        elif task.task_type is TaskType.INVESTIGATE and task.target_track_id in self._tracks:
            target = self._tracks[task.target_track_id][0]
        return allocation.Requirement(task.vehicle_kinds, task.capabilities, target, on_target, task.priority,
                                      frozenset(task.excluded))

    def _dispatch(self, task: Task, now: float, pool: list[allocation.Candidate] | None = None) -> bool:
        """Give the task a vehicle if one is eligible; True when it got one. ``pool``: candidates already built."""
        if task.task_type in VEHICLE_BOUND:
            self._dispatch_bound(task, now)
            return True
        choice, assessments = allocation.choose(self._requirement(task),
                                                self._candidates(now) if pool is None else pool,
                                                self.policy.profiles)
        if choice is None:
            waiting = f'waiting for a vehicle: {allocation.summary(assessments)}'
            if task.task_type in (TaskType.INVESTIGATE, TaskType.GOTO) and \
                    now - task.pending_since > self.settings.pending_timeout:
                self._fail(task, f'no capable vehicle within {self.settings.pending_timeout:g} s: '
                                 f'{allocation.summary(assessments)}', FAIL_NO_VEHICLE, now)
            elif task.status_msg != waiting:
                self.book.touch(task, now, waiting)
            return False
        self._assign(task, choice.vehicle_id, now,
                     f'eta {choice.eta:.0f} s, {choice.battery_after:.0%} battery left after return')
        return True

    def _reachable(self, vehicle_id: str, now: float) -> str | None:
        """Why a vehicle cannot be commanded at all (unlike availability, low battery does not count)."""
        reason = self.registry.availability(vehicle_id, now).reason
        if reason == '' or reason.startswith('battery') or reason == 'no position fix':
            return None
        return reason

    def _dispatch_bound(self, task: Task, now: float) -> None:
        """HOLD/RTL/LAND: created only for a reachable vehicle (create_task), assigned at once."""
        self._assign(task, self._exec[task.task_id].bound_vehicle, now, '')

    def _assign(self, task: Task, vehicle_id: str, now: float, why: str) -> None:
        holder = self.book.holding(vehicle_id)
        if holder is not None:
            self._preempt(holder, task, now)
        self._return_due.pop(vehicle_id, None)
        self.book.transition(task, TaskState.ASSIGNED, now, f'assigned to {vehicle_id}' + (f' ({why})' if why else ''))
        task.vehicle_id = vehicle_id
        task.ever_assigned = True
        ex = self._exec[task.task_id]
        ex.step_target, ex.orbit, ex.orbit_index, ex.takeover_since = None, [], 0, None
        ex.goal_target = None
        if task.task_type is TaskType.PATROL:
            route = self._patrol_route(task, vehicle_id)   # heights depend on the vehicle's kind
            if ex.patrol is None:
                ex.patrol = PatrolProgress(route)
            else:
                ex.patrol.route = route
        self._log.info(f'task {task.task_id} ({task.task_type.name}) assigned to {vehicle_id}'
                       + (f': {why}' if why else ''))
        self._propose_step(task, 'dispatch', now)

    def _preempt(self, holder: Task, by: Task, now: float) -> None:
        why = f'preempted by task {by.task_id} (priority {by.priority})'
        self._log.info(f'task {holder.task_id} ({holder.task_type.name}) on {holder.vehicle_id}: {why}')
        if holder.task_type is TaskType.PATROL:
            self.book.transition(holder, TaskState.PENDING, now, why)
        else:
            self.book.transition(holder, TaskState.CANCELLED, now, why)

    # ================================================================== commands

    def _propose(self, task: Task | None, command: Command, purpose: str, now: float) -> Command:
        """Queue a proposal for the gate, with a unique id."""
        if task is not None:
            ex = self._exec[task.task_id]
            ex.seq += 1
            command_id = f'{task.task_id}.{ex.seq}'
        else:
            command_id = f'{command.vehicle_id}.{purpose}.{now:.3f}'
        command = replace(command, command_id=command_id, issued_by=ISSUER)
        self._with_gate[command_id] = _Sent(command, task.task_id if task else '', purpose, now)
        self._outbox.append(command)
        return command

    def _altitude(self, vehicle_id: str, z: float) -> float:
        asset = self.registry.asset(vehicle_id)
        if asset is None or asset.kind != 'drone':
            return 0.0
        profile = self.policy.profiles['drone']
        return z if z >= MIN_DRONE_Z else profile.altitude

    def _patrol_route(self, task: Task, vehicle_id: str) -> tuple[Point, ...]:
        return tuple((x, y, self._altitude(vehicle_id, z)) for x, y, z in task.route)

    def _investigated_point(self, task: Task, now: float) -> Point:
        ex = self._exec[task.task_id]
        track = self._tracks.get(task.target_track_id) if task.target_track_id else None
        if track is not None and now - track[1] <= self.settings.track_timeout:
            ex.track_seen = track[1]
            if track[0] != task.target:
                task.target = track[0]
        return task.target

    def _propose_step(self, task: Task, purpose: str, now: float) -> None:
        """Propose the command for where the task stands now."""
        ex = self._exec[task.task_id]
        vid = task.vehicle_id
        kind = task.task_type
        if kind is TaskType.HOLD:
            self._propose(task, Command('', vid, CommandKind.HOLD, task_id=task.task_id), purpose, now)
        elif kind is TaskType.RTL:
            self._propose(task, Command('', vid, CommandKind.RTL, task_id=task.task_id), purpose, now)
        elif kind is TaskType.LAND:
            self._propose(task, Command('', vid, CommandKind.LAND, task_id=task.task_id), purpose, now)
        elif kind is TaskType.GOTO:
            x, y, z = task.target
            ex.step_target = (x, y, self._altitude(vid, z))
            self._propose(task, Command('', vid, CommandKind.GOTO, ex.step_target, task_id=task.task_id),
                          purpose, now)
        elif kind is TaskType.PATROL:
            assert ex.patrol is not None
            self._propose(task, Command('', vid, CommandKind.FOLLOW_ROUTE, route=ex.patrol.remaining(),
                                        speed_limit=task.speed, task_id=task.task_id), purpose, now)
        else:
            self._propose_investigation_goal(task, purpose, now)

    def _propose_investigation_goal(self, task: Task, purpose: str, now: float) -> None:
        ex = self._exec[task.task_id]
        vid = task.vehicle_id
        state = self.registry.state(vid)
        here = state.position if state is not None and state.known_position else task.target
        target = self._investigated_point(task, now)
        z = self._altitude(vid, 0.0)
        if task.phase is Phase.OBSERVING and task.orbit_radius > 0.0 and ex.orbit:
            goal = ex.orbit[ex.orbit_index % len(ex.orbit)]
        elif task.orbit_radius > 0.0:
            ex.orbit = investigation.orbit_points(target, task.orbit_radius, z, here)
            ex.orbit_index = 0
            goal = ex.orbit[0]
        else:
            goal = investigation.approach_point(here, target, task.standoff, z)
        ex.step_target = goal
        ex.goal_target = target
        ex.goal_time = now
        self._propose(task, Command('', vid, CommandKind.GOTO, goal, task_id=task.task_id,
                                    look_at=(target[0], target[1], target[2])), purpose, now)

    # ================================================================== supervision

    def _supervise(self, task: Task, dt: float, now: float) -> None:
        vid = task.vehicle_id
        problem = self._vehicle_problem(task, now)
        if problem is not None:
            self._log.warning(f'task {task.task_id}: {vid}: {problem}')
            self._setback(task, None, f'{vid}: {problem}', exclude=True, failure=FAIL_VEHICLE, now=now)
            return
        if task.state is not TaskState.ACTIVE:
            return
        state = self.registry.state(vid)
        assert state is not None
        kind = task.task_type
        if kind is TaskType.GOTO:
            if self._arrived(state, self._exec[task.task_id].step_target):
                self._complete(task, 'arrived', now, return_home=False)
        elif kind is TaskType.RTL:
            if self._home_reached(state):
                self._complete(task, 'home', now, return_home=False)
        elif kind is TaskType.LAND:
            if state.landed and not state.armed:
                self._complete(task, 'landed', now, return_home=False)
        elif kind is TaskType.PATROL:
            self._supervise_patrol(task, state, now)
        elif kind is TaskType.INVESTIGATE:
            self._supervise_investigation(task, state, dt, now)

    def _vehicle_problem(self, task: Task, now: float) -> str | None:
        """Why the task's vehicle can no longer serve it, or None."""
        vid = task.vehicle_id
        if task.task_type in VEHICLE_BOUND:
            return self._reachable(vid, now)
        availability = self.registry.availability(vid, now)
        if not availability.available:
            return availability.reason
        state = self.registry.state(vid)
        assert state is not None
        ex = self._exec[task.task_id]
        if task.state is TaskState.ACTIVE and state.mode in FAILSAFE_MODES:
            return f'entered {state.mode} on its own (failsafe)'
        if task.state is TaskState.ACTIVE and state.current_task_id != task.task_id:
            if ex.takeover_since is None:
                ex.takeover_since = now
            elif now - ex.takeover_since > TAKEOVER_GRACE:
                return f'now serving {state.current_task_id or "a command without a task"} (taken over)'
        else:
            ex.takeover_since = None
        return None

    def _arrived(self, state: VehicleStateData, goal: Point | None) -> bool:
        if goal is None or not state.known_position:
            return False
        if horizontal_distance(state.position, goal) > self.settings.arrival_radius:
            return False
        asset = self.registry.asset(state.vehicle_id)
        if asset is not None and asset.kind == 'drone':
            return abs(state.position[2] - goal[2]) <= VERTICAL_ARRIVAL
        return True

    def _home_reached(self, state: VehicleStateData) -> bool:
        asset = self.registry.asset(state.vehicle_id)
        if asset is None:
            return False
        if asset.kind == 'drone':
            return state.landed and not state.armed
        return horizontal_distance(state.position, asset.home) <= 2.0 * self.settings.arrival_radius

    def _supervise_patrol(self, task: Task, state: VehicleStateData, now: float) -> None:
        ex = self._exec[task.task_id]
        assert ex.patrol is not None
        if state.known_position and ex.patrol.update(state.position):
            self.book.touch(task, now, f'lap {ex.patrol.laps} done')
            self._propose_step(task, 'step', now)

    def _supervise_investigation(self, task: Task, state: VehicleStateData, dt: float, now: float) -> None:
        ex = self._exec[task.task_id]
        target = self._investigated_point(task, now)
        if task.phase is Phase.TRANSIT:
            if self._arrived(state, ex.step_target):
                task.phase = Phase.OBSERVING
                self.book.touch(task, now, 'on target')
                if task.orbit_radius > 0.0 and ex.orbit:
                    ex.orbit_index = 1
                    self._propose_investigation_goal(task, 'step', now)
                return
        elif task.phase is Phase.OBSERVING:
            if investigation.on_target(state.position, target, task.orbit_radius, task.standoff):
                task.time_on_target += dt
            if task.time_on_target >= task.observe_duration:
                self._complete(task, f'observed for {task.time_on_target:.0f} s', now, return_home=True)
                return
            if task.orbit_radius > 0.0 and ex.orbit and self._arrived(state, ex.step_target):
                ex.orbit_index += 1
                self._propose_investigation_goal(task, 'step', now)
                return
        if task.target_track_id and ex.goal_target is not None and \
                horizontal_distance(target, ex.goal_target) > self.settings.retarget_distance and \
                now - ex.goal_time >= self.settings.retarget_interval:
            if task.phase is Phase.OBSERVING and task.orbit_radius > 0.0:
                ex.orbit = investigation.orbit_points(target, task.orbit_radius, self._altitude(task.vehicle_id, 0.0),
                                                      state.position)
                ex.orbit_index = 0
            self._propose_investigation_goal(task, 'step', now)
        if task.target_track_id and now - ex.track_seen > self.settings.track_timeout and \
                'track lost' not in task.status_msg:
            self.book.touch(task, now, f'track {task.target_track_id} lost; watching its last position')

    # ================================================================== endings

    def _complete(self, task: Task, why: str, now: float, return_home: bool) -> None:
        self.book.transition(task, TaskState.COMPLETED, now, why)
        self._log.info(f'task {task.task_id} ({task.task_type.name}) on {task.vehicle_id} completed: {why}')
        if return_home:
            task.phase = Phase.RETURNING
            self._return_due[task.vehicle_id] = now

    def _fail(self, task: Task, why: str, failure: str, now: float) -> None:
        self.book.transition(task, TaskState.FAILED, now, why)
        self._exec[task.task_id].failure = failure
        self._log.warning(f'task {task.task_id} ({task.task_type.name}) failed: {why}')

    def _cancel(self, task: Task, why: str, now: float) -> None:
        vid = task.vehicle_id if task.state in (TaskState.ASSIGNED, TaskState.ACTIVE, TaskState.PAUSED) else ''
        self.book.transition(task, TaskState.CANCELLED, now, why)
        self._log.info(f'task {task.task_id} ({task.task_type.name}): {why}')
        for command_id in [c for c, s in self._with_gate.items() if s.task_id == task.task_id]:
            del self._with_gate[command_id]
            self._early.pop(command_id, None)
        if vid and self._reachable(vid, now) is None:
            self._propose(None, Command('', vid, CommandKind.HOLD), 'hold', now)
            self._return_due[vid] = now + self.settings.idle_return_delay

    def _setback(self, task: Task, sent: _Sent | None, why: str, exclude: bool, failure: str,
                 now: float) -> None:
        """A refusal, a vehicle failure or a lost vehicle: retarget, requeue or fail."""
        if sent is not None and sent.purpose == 'step' and task.task_type is TaskType.INVESTIGATE \
                and failure == FAIL_REFUSED and task.state is TaskState.ACTIVE:
            self.book.touch(task, now, f'new goal not sent ({why}); keeping the last one')
            if task.orbit_radius > 0.0:
                self._exec[task.task_id].orbit = []   # stop orbiting where refused; hold the last goal
            return
        if sent is not None and sent.purpose in ('hold', 'return'):
            return
        if task.state not in (TaskState.ASSIGNED, TaskState.ACTIVE, TaskState.PAUSED):
            return
        vid = task.vehicle_id
        if sent is None and self._reachable(vid, now) is None:
            self._return_due[vid] = now   # still reachable (e.g. low battery): bring it home
        if task.task_type is TaskType.PATROL and not exclude:
            pass   # the gate was down: patrols wait for it, without spending their replan budget
        else:
            task.replans += 1
        if task.task_type in VEHICLE_BOUND or task.replans > self.settings.max_replans:
            self._fail(task, why, failure, now)
            return
        if exclude and not (task.task_type is TaskType.PATROL and sent is None):
            task.excluded.add(vid)   # a patrol waits for its lost vehicle: it is unavailable until it recovers
        if not self._capable_left(task):
            self._fail(task, f'{why}; no other capable vehicle', failure, now)
            return
        if not exclude:
            # the gate did not answer: ask again after a while, not at once in a loop
            self.book.transition(task, TaskState.PENDING, now, f'{why}; retrying')
            self._exec[task.task_id].retry_at = now + self.settings.gate_timeout
            self._warn(f'requeue:{task.task_id}', f'task {task.task_id} requeued: {why}', now)
            return
        self.book.transition(task, TaskState.PENDING, now, f'{why}; looking for another vehicle')
        self._log.warning(f'task {task.task_id} requeued: {why}')
        self._dispatch(task, now)

    def _capable_left(self, task: Task) -> bool:
        """Whether a vehicle of the right kind and capabilities is not yet excluded from the task."""
        for vid in self.registry.ids():
            asset = self.registry.asset(vid)
            if vid not in task.excluded and asset is not None and asset.kind in task.vehicle_kinds \
                    and task.capabilities <= asset.capabilities:
                return True
        return False

    def _send_idle_vehicles_home(self, now: float) -> None:
        for vid, due in list(self._return_due.items()):
            if now < due:
                continue
            del self._return_due[vid]
            if self.book.holding(vid) is not None:
                continue
            state = self.registry.state(vid)
            if state is None or self._reachable(vid, now) is not None or self._home_reached(state):
                continue
            self._log.info(f'{vid}: idle, returning home')
            self._propose(None, Command('', vid, CommandKind.RTL), 'return', now)

    # ================================================================== standing patrols

    def add_standing_patrol(self, name: str, request: TaskRequest, now: float) -> Task:
        """Start a patrol from the configuration; ValueError when no vehicle of the fleet could fly it.

        It is started again ``patrol_restart_delay`` after it fails (a standing
        order outlives a lost link or a refused lap); one an operator cancels
        stays stopped until mission control restarts.
        """
        code, message, task = self.create_task(request, now)
        if task is None:
            raise ValueError(f'standing patrol {name}: {message} (error {code})')
        self._standing.append(_Standing(name, request, task))
        return task

    def _keep_standing_patrols(self, now: float) -> None:
        for standing in self._standing:
            task = standing.task
            if standing.stopped or not task.final:
                continue
            if task.state is not TaskState.FAILED:
                standing.stopped = True
                self._log.info(f'standing patrol {standing.name} (task {task.task_id}) {task.state.name.lower()}: '
                               f'{task.status_msg}; not started again until mission control restarts')
            elif now - task.updated_at >= self.settings.patrol_restart_delay:
                _, message, new = self.create_task(standing.request, now)
                assert new is not None, message   # accepted once; the fleet only grows
                self._log.warning(f'standing patrol {standing.name}: task {task.task_id} failed '
                                  f'({task.status_msg}); started again as task {new.task_id}')
                standing.task = new
