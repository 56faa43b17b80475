"""The watchdog's core: gate, monitor, node liveness and e-stop wired together, no rclpy.

The node feeds it what arrives (vehicle states, heartbeats, service
requests, the MAVLink path's link views) and a clock; it answers with
verdicts, stop orders, alerts and the status to publish. Keeping the wiring
here, not in the node, lets the degraded-mode policy, the e-stop's effect on
the gate and the hold-then-act ladder be tested together with a fake clock.

Routing of stop orders: every order goes to the vehicle interface as an
approved command; it also goes over the watchdog's own MAVLink path when the
e-stop orders it, when a node whose role has the ``mavlink_takeover`` effect
is down, or when the violation itself says the vehicle interface is not
getting through (stale state, link lost).
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from sentinel_safety import gate, monitor
from sentinel_safety.config import DegradedEffect, NodeRole, SafetyConfig, TypeLimits
from sentinel_safety.domain import (ESTOP_RANK, Action, Command, LinkHeard, StopOrder, Vec3,
                                    VehicleSnapshot)
from sentinel_safety.estop import (EngageError, EngageResult, EstopState, ReleaseError,
                                   ReleaseResult, engage, release)
from sentinel_safety.liveness import NodeLiveness, NodeReport
from sentinel_safety.site import SiteModel, VehicleInfo

# Alert severities (Alert.SEVERITY_*).
SEVERITY_INFO = 0
SEVERITY_WARNING = 1
SEVERITY_CRITICAL = 2

# Violations that show the vehicle interface is not getting through to a vehicle,
# so the watchdog's own MAVLink path carries the response too.
_INTERFACE_BLIND = frozenset({'stale_state', 'link_lost'})

# Node roles whose loss is critical (vehicles are affected), for alert severity.
_CRITICAL_ROLES = frozenset({NodeRole.MISSION_CONTROL, NodeRole.VEHICLE_INTERFACE})


@dataclass(frozen=True)
class AlertEvent:
    """An Alert to publish (new, updated or resolved; same id while it lasts)."""

    alert_id: str
    severity: int
    category: str            # 'safety' (vehicles, e-stop) or 'system' (nodes)
    rule_id: str
    vehicle_id: str
    zone_id: str
    position: Vec3 | None
    description: str
    resolved: bool
    first_raised: float      # s, monotonic


@dataclass(frozen=True)
class VehicleStatus:
    vehicle_id: str
    violations: tuple[str, ...]
    active_failsafe: Action
    failsafe_since: float | None   # s, monotonic
    estopped: bool


@dataclass(frozen=True)
class StatusView:
    """What SafetyStatus carries."""

    estop: EstopState
    estopped_vehicle_ids: tuple[str, ...]
    vehicles: tuple[VehicleStatus, ...]
    degraded_nodes: tuple[str, ...]


@dataclass
class CycleOutput:
    orders: list[StopOrder] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)
    status_changed: bool = False


@dataclass
class _Vehicle:
    """Everything the watchdog tracks about one roster vehicle."""

    info: VehicleInfo
    limits: TypeLimits
    state: VehicleSnapshot | None = None
    plan: tuple[Vec3, ...] = ()
    ladder: monitor.VehicleLadder = field(default_factory=monitor.VehicleLadder)
    detected: list[monitor.Detected] = field(default_factory=list)
    alerts: dict[str, tuple[str, float]] = field(default_factory=dict)  # key -> (id, raised)
    mavlink_armed: bool | None = None   # armed flag of a recent heartbeat on our MAVLink path


class Watchdog:
    """The safety logic of one site."""

    def __init__(self, config: SafetyConfig, site: SiteModel, estop_state: EstopState,
                 start: float) -> None:
        self.config = config
        self.site = site
        self.estop = estop_state
        self._start = start
        self._vehicles = {vid: _Vehicle(info, config.vehicle_types[info.vehicle_type])
                          for vid, info in site.vehicles.items()}
        self._liveness = NodeLiveness(config.heartbeats.nodes, config.heartbeats.startup_grace,
                                      start)
        self._roles_down: set[NodeRole] = set()
        self._node_alerts: dict[str, tuple[str, float]] = {}
        self._estop_alert: tuple[str, float] | None = None
        self._ids = itertools.count(1)
        self._last_status: StatusView | None = None
        self._id_prefix = f'safety-{uuid.uuid4().hex[:8]}'   # unique across restarts

    # ------------------------------------------------------------ inputs

    @property
    def roster(self) -> list[str]:
        return sorted(self._vehicles)

    def knows(self, vehicle_id: str) -> bool:
        return vehicle_id in self._vehicles

    def on_vehicle_state(self, snapshot: VehicleSnapshot) -> bool:
        """Record a state; False when the vehicle is not in the roster."""
        vehicle = self._vehicles.get(snapshot.vehicle_id)
        if vehicle is None:
            return False
        vehicle.state = snapshot
        if not snapshot.armed and snapshot.landed:
            vehicle.plan = ()
        return True

    def on_heartbeat(self, name: str, pid: int, sequence: int, progress: int, health: int,
                     status_msg: str, now: float) -> None:
        self._liveness.record(name, pid, sequence, progress, health, status_msg, now)

    @property
    def mavlink_takeover(self) -> bool:
        """Whether a down node's policy puts stop orders on the watchdog's MAVLink path."""
        return any(DegradedEffect.MAVLINK_TAKEOVER in self.config.heartbeats.policy[role]
                   for role in self._roles_down)

    def _fresh(self, vehicle: _Vehicle, now: float) -> bool:
        state = vehicle.state
        return state is not None and now - state.received_at <= vehicle.limits.stale_state_timeout

    def _armed(self, vehicle: _Vehicle, now: float) -> bool:
        """As ``monitor.armed_for_ladder``: disarmed only when fresh data says so."""
        state = vehicle.state
        if self._fresh(vehicle, now) and state is not None:
            return state.armed
        return vehicle.mavlink_armed is not False

    def _next_id(self, what: str) -> str:
        return f'{self._id_prefix}-{what}-{next(self._ids)}'

    # ------------------------------------------------------------ the gate

    def check_command(self, command: Command, now: float, when: datetime | None
                      ) -> gate.GateOutcome:
        """Judge a proposed command; approved plans are remembered for separation."""
        vehicle = self._vehicles.get(command.vehicle_id)
        if vehicle is None:
            return gate.refuse(command, gate.GateError.UNKNOWN_VEHICLE, 'unknown_vehicle',
                               f'{command.vehicle_id!r} is not in the fleet of site '
                               f'{self.site.name}')
        inclusions, exclusions = self.site.fence_zones(vehicle.limits.zone_kinds, when)
        # A vehicle without a position estimate cannot be kept apart from; the monitor
        # reports it (gps_lost), and its last plan alone is not evidence of where it is.
        others = [gate.Occupancy(other.info.vehicle_id,
                                 (other.state.position, *other.plan[1:]), other.limits)
                  for other in self._vehicles.values()
                  if other is not vehicle and other.state is not None
                  and other.state.position.is_finite()]
        stopped = self.estop.stopped(command.vehicle_id)
        context = gate.GateContext(
            vehicle=vehicle.info, limits=vehicle.limits, state=vehicle.state,
            state_fresh=self._fresh(vehicle, now), inclusions=inclusions, exclusions=exclusions,
            others=others, estop_category=vehicle.limits.estop_category if stopped else None,
            active_failsafe=vehicle.ladder.effective(now, self._armed(vehicle, now)),
            override_window=vehicle.ladder.waiting(now),
            authorization=self.config.authorization)
        outcome = gate.evaluate(command, context)
        if outcome.error is gate.GateError.NONE:
            if outcome.override:
                vehicle.ladder.override(now)
            if outcome.plan:
                vehicle.plan = outcome.plan
        return outcome

    # ------------------------------------------------------------ the e-stop

    def _estop_orders(self, vehicle_ids: list[str], reason: str) -> list[StopOrder]:
        orders = []
        for vehicle_id in vehicle_ids:
            vehicle = self._vehicles[vehicle_id]
            category = vehicle.limits.estop_category
            orders.append(StopOrder(vehicle_id, ESTOP_RANK[category], reason, via_topic=True,
                                    via_mavlink=True, category=category, latched=True))
            if vehicle.state is not None and vehicle.state.position.is_finite():
                vehicle.plan = (vehicle.state.position,)
        return orders

    def trigger_estop(self, scope: int, vehicle_ids: list[str], requested_by: str, reason: str,
                      now_unix: float, now: float) -> tuple[EngageResult, list[StopOrder],
                                                            list[AlertEvent]]:
        """Engage; orders go to every vehicle the stop covers, every time (idempotent)."""
        self.estop, result = engage(self.estop, scope, vehicle_ids, requested_by, reason,
                                    self.roster, self.config.authorization, now_unix)
        if result.error is not EngageError.NONE:
            return result, [], []
        stopped = self.estop.stopped_among(self.roster)
        orders = self._estop_orders(stopped, f'emergency stop by {requested_by.strip()}: '
                                             f'{reason.strip()}')
        alerts: list[AlertEvent] = []
        if result.newly_stopped:
            if self._estop_alert is None:
                self._estop_alert = (self._next_id('estop'), now)
            alert_id, raised = self._estop_alert
            alerts.append(AlertEvent(alert_id, SEVERITY_CRITICAL, 'safety', 'estop', '', '', None,
                                     f'emergency stop engaged by {requested_by.strip()} for '
                                     f'{", ".join(stopped)}: {reason.strip()}', False, raised))
        return result, orders, alerts

    def release_estop(self, vehicle_ids: list[str], first: str, second: str, reason: str,
                      now: float) -> tuple[ReleaseResult, list[AlertEvent]]:
        self.estop, result = release(self.estop, vehicle_ids, first, second, self.roster,
                                     self.config.authorization)
        alerts: list[AlertEvent] = []
        if result.error is ReleaseError.NONE and self._estop_alert is not None:
            alert_id, raised = self._estop_alert
            done = not self.estop.engaged
            alerts.append(AlertEvent(alert_id, SEVERITY_CRITICAL, 'safety', 'estop', '', '', None,
                                     f'emergency stop released for {", ".join(result.released)} '
                                     f'by {first.strip()} and {second.strip()}: {reason.strip()}',
                                     done, raised))
            if done:
                self._estop_alert = None
        return result, alerts

    def latched_orders(self) -> list[StopOrder]:
        """The e-stop's orders again, for the topic only (a vehicle interface that just
        connected has missed them; the MAVLink path keeps its own latch)."""
        reason = f'emergency stop latched (by {self.estop.engaged_by}: {self.estop.reason})'
        return [replace(order, via_mavlink=False)
                for order in self._estop_orders(self.estop.stopped_among(self.roster), reason)]

    def restart_orders(self, now: float) -> tuple[list[StopOrder], list[AlertEvent]]:
        """Re-apply a stop that was latched before a restart."""
        stopped = self.estop.stopped_among(self.roster)
        if not stopped:
            return [], []
        self._estop_alert = (self._next_id('estop'), now)
        reason = (f'emergency stop latched since before the watchdog restarted (by '
                  f'{self.estop.engaged_by}: {self.estop.reason})')
        alert = AlertEvent(self._estop_alert[0], SEVERITY_CRITICAL, 'safety', 'estop', '', '',
                           None, reason, False, now)
        return self._estop_orders(stopped, reason), [alert]

    # ------------------------------------------------------------ the cycle

    def tick(self, now: float, when: datetime | None,
             mavlink_heard: Mapping[str, LinkHeard]) -> CycleOutput:
        """One monitoring cycle: nodes, then every vehicle."""
        out = CycleOutput()
        self._check_nodes(now, out)
        for vehicle in self._vehicles.values():
            heard = mavlink_heard.get(vehicle.info.vehicle_id, LinkHeard(None, None))
            self._check_vehicle(vehicle, now, when, heard, out)
        status = self.status(now)
        comparable = _without_times(status)
        out.status_changed = self._last_status is None or comparable != self._last_status
        self._last_status = comparable
        return out

    def _check_nodes(self, now: float, out: CycleOutput) -> None:
        down = {report.spec.name: report for report in self._liveness.down(now)}
        for name, report in down.items():
            if name not in self._node_alerts:
                self._node_alerts[name] = (self._next_id('node'), now)
                out.alerts.append(self._node_alert(report, False))
        for name in [n for n in self._node_alerts if n not in down]:
            alert_id, raised = self._node_alerts.pop(name)
            out.alerts.append(AlertEvent(alert_id, SEVERITY_INFO, 'system', 'node_down', '', '',
                                         None, f'{name} is back', True, raised))
        previous = self._roles_down
        self._roles_down = {report.spec.role for report in down.values()}
        for role in sorted(self._roles_down - previous, key=lambda r: r.value):
            if DegradedEffect.HOLD in self.config.heartbeats.policy[role]:
                self._hold_fleet(f'{role.value} is down', now, out)

    def _node_alert(self, report: NodeReport, resolved: bool) -> AlertEvent:
        alert_id, raised = self._node_alerts[report.spec.name]
        effects = sorted(e.value for e in self.config.heartbeats.policy[report.spec.role])
        severity = SEVERITY_CRITICAL if report.spec.role in _CRITICAL_ROLES else SEVERITY_WARNING
        policy = f'; policy: {", ".join(effects)}' if effects else '; vehicles continue'
        return AlertEvent(alert_id, severity, 'system', 'node_down', '', '', None,
                          f'{report.spec.name} ({report.spec.role.value}) is '
                          f'{report.condition.value}: {report.detail}{policy}', resolved, raised)

    def _hold_fleet(self, reason: str, now: float, out: CycleOutput) -> None:
        """Hold every armed vehicle, except those already stopped or sent somewhere safer:
        an e-stopped one, or one the monitor has ordered to hold or more (a HOLD would take
        a vehicle returning on low battery off its way home, and an automatic response never
        steps down)."""
        for vehicle in self._vehicles.values():
            vehicle_id = vehicle.info.vehicle_id
            if self.estop.stopped(vehicle_id) or not self._armed(vehicle, now) \
                    or vehicle.ladder.commanded >= Action.HOLD:
                continue
            out.orders.append(StopOrder(vehicle_id, Action.HOLD, reason, via_topic=True,
                                        via_mavlink=self.mavlink_takeover))
            if vehicle.state is not None and vehicle.state.position.is_finite():
                vehicle.plan = (vehicle.state.position,)

    def _check_vehicle(self, vehicle: _Vehicle, now: float, when: datetime | None,
                       heard: LinkHeard, out: CycleOutput) -> None:
        limits = vehicle.limits
        timeout = limits.link_loss_timeout
        last = heard.last_heartbeat
        silent = (now - self._start > max(timeout, self.config.monitoring.startup_grace)
                  if last is None else now - last > timeout)
        view = monitor.VehicleView(
            vehicle.info, limits, vehicle.state, self._fresh(vehicle, now),
            now - self._start > self.config.monitoring.startup_grace, silent,
            None if silent else heard.armed)
        vehicle.mavlink_armed = view.mavlink_armed
        inclusions, exclusions = self.site.fence_zones(limits.zone_kinds, when)
        detected = monitor.detect(view, inclusions, exclusions,
                                  self.config.monitoring.zone_actions_for(self.site.name),
                                  vehicle.detected)
        vehicle.detected = detected
        update = vehicle.ladder.update(detected, now, monitor.armed_for_ladder(view))
        position = vehicle.state.position if vehicle.state is not None else None
        for episode in update.started:
            item = episode.detected
            vehicle.alerts[item.key] = (self._next_id(vehicle.info.vehicle_id), now)
            out.alerts.append(self._vehicle_alert(vehicle, item, position, _plan_text(item),
                                                  False))
        for episode in update.ended:
            item = episode.detected
            out.alerts.append(self._vehicle_alert(vehicle, item, position, 'cleared', True))
            vehicle.alerts.pop(item.key, None)
        if update.order is None:
            return
        order = self._monitor_order(vehicle, update, now)
        if order is not None:
            out.orders.append(order)
            for item in detected:
                if item.key in update.reason.split(', '):
                    out.alerts.append(self._vehicle_alert(
                        vehicle, item, position, f'{update.order.name} ordered', False))

    def _monitor_order(self, vehicle: _Vehicle, update: monitor.LadderUpdate,
                       now: float) -> StopOrder | None:
        assert update.order is not None
        vehicle_id = vehicle.info.vehicle_id
        stopped = self.estop.stopped(vehicle_id)
        if stopped and (update.order is Action.RETURN
                        or update.order <= ESTOP_RANK[vehicle.limits.estop_category]):
            return None   # the e-stop already does as much, and an e-stopped vehicle never travels
        violations = {key.split(':')[0] for key in update.reason.split(', ')}
        via_mavlink = stopped or self.mavlink_takeover or bool(violations & _INTERFACE_BLIND)
        if vehicle.state is not None and vehicle.state.position.is_finite():
            vehicle.plan = (vehicle.state.position,)
        return StopOrder(vehicle_id, update.order, f'safety monitor: {update.reason}',
                         via_topic=True, via_mavlink=via_mavlink, latched=stopped)

    def _vehicle_alert(self, vehicle: _Vehicle, item: monitor.Detected, position: Vec3 | None,
                       note: str, resolved: bool) -> AlertEvent:
        alert_id, raised = vehicle.alerts[item.key]
        severity = SEVERITY_CRITICAL if item.rung.action >= Action.HOLD else SEVERITY_WARNING
        return AlertEvent(alert_id, severity, 'safety', item.violation, vehicle.info.vehicle_id,
                          item.zone_id, position,
                          f'{vehicle.info.vehicle_id}: {item.detail}; {note}', resolved, raised)

    # ------------------------------------------------------------ status

    def status(self, now: float) -> StatusView:
        vehicles = tuple(
            VehicleStatus(vid, tuple(v.ladder.violations()),
                          v.ladder.effective(now, self._armed(v, now)), v.ladder.failsafe_since,
                          self.estop.stopped(vid))
            for vid, v in sorted(self._vehicles.items()))
        degraded = tuple(sorted(report.spec.name for report in self._liveness.down(now)))
        return StatusView(self.estop, tuple(self.estop.stopped_among(self.roster)), vehicles,
                          degraded)


def _plan_text(item: monitor.Detected) -> str:
    rung = item.rung
    if rung.action <= Action.HOLD or rung.delay <= 0.0:
        return f'response: {rung.action.name}'
    return (f'response: HOLD, then {rung.action.name} in {rung.delay:g} s unless an operator '
            'takes over')


def _without_times(status: StatusView) -> StatusView:
    """The status with its time fields blanked, to tell real changes from clock ticks."""
    vehicles = tuple(VehicleStatus(v.vehicle_id, v.violations, v.active_failsafe,
                                   None if v.failsafe_since is None else -math.inf, v.estopped)
                     for v in status.vehicles)
    return StatusView(status.estop, status.estopped_vehicle_ids, vehicles, status.degraded_nodes)
