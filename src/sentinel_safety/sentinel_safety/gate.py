"""The command gate: every proposed motion command is approved, edited or refused here.

Modelled on Autoware's vehicle_cmd_gate: mission control and operators
propose, the gate decides. All checks run and every finding is reported (an
operator sees every reason at once), each with a machine-readable check id:

    invalid               malformed request (NaN, negative speed, empty route, ...)
    estop                 the vehicle is e-stopped and the command is not a stop
    failsafe_active       the monitor has a more severe action in force
    terminate_not_allowed flight termination is not allowed for this type / requester
    disarm_in_flight      disarming a vehicle that is not on the ground
    stale_state           no fresh state: the gate cannot tell where the vehicle is
    link_lost, gps_lost   vehicle health
    speed_limit           speed clamped to the type's maximum (an edit, not a refusal)
    geofence              the straight path keeps no stopping margin from a zone
    min_height            a drone waypoint below the minimum height above ground
    separation            the path comes too close to another vehicle's position or plan
    battery_reserve       not enough energy to finish, return home and keep the reserve

Stops (HOLD, LAND, RTL) are never refused for health, fence or battery
reasons: refusing a stop is never the safer choice. While a vehicle is
e-stopped only commands at least as severe as its e-stop category pass:
HOLD (for hold/brake categories), LAND, TERMINATE (where allowed) and DISARM
on the ground; RTL, GOTO, TAKEOFF, FOLLOW_ROUTE and ARM are refused.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sentinel_safety import battery, geofence, geometry
from sentinel_safety.config import AuthorizationConfig, TypeLimits
from sentinel_safety.domain import (COMMAND_RANK, ESTOP_RANK, MOTION_COMMANDS, Action, Command,
                                    CommandKind, Decision, EstopCategory, LinkState, Vec3,
                                    VehicleSnapshot, VehicleType, Verdict)
from sentinel_safety.site import VehicleInfo

# Most waypoints accepted in one route: bounds the gate's work per request.
MAX_ROUTE_POINTS = 500
# A ground vehicle slower than this (m/s) counts as stopped, so it may be disarmed.
GROUND_STOPPED_SPEED = 0.2
# Site coordinates beyond this (m) from the origin are certainly a mistake.
MAX_COORDINATE = 1.0e6


class GateError(enum.IntEnum):
    """CommandVehicle.srv error codes."""

    NONE = 0
    REFUSED = 1
    UNKNOWN_VEHICLE = 2
    INVALID = 3


@dataclass(frozen=True)
class Occupancy:
    """Where another vehicle is and may go: its position and planned waypoints."""

    vehicle_id: str
    points: tuple[Vec3, ...]        # current position first, then its approved plan
    limits: TypeLimits


@dataclass(frozen=True)
class GateContext:
    """Everything the gate needs to judge one command, gathered by the caller."""

    vehicle: VehicleInfo
    limits: TypeLimits
    state: VehicleSnapshot | None     # None or stale: position unknown
    state_fresh: bool
    inclusions: Sequence[geofence.FenceZone]
    exclusions: Sequence[geofence.FenceZone]
    others: Sequence[Occupancy]
    estop_category: EstopCategory | None   # None when the vehicle is not e-stopped
    active_failsafe: Action
    override_window: bool            # a monitoring action is waiting out its hold delay
    authorization: AuthorizationConfig


@dataclass(frozen=True)
class GateOutcome:
    verdict: Verdict
    command: Command | None           # as approved (speed possibly clamped); None if unreadable
    error: GateError
    error_msg: str
    override: bool = False            # an operator took over during a hold-then-act delay
    plan: tuple[Vec3, ...] = ()       # waypoints the vehicle will now fly (for separation)


def refuse(command: Command | None, error: GateError, check: str, reason: str) -> GateOutcome:
    """A refusal outside the normal checks (unknown vehicle, malformed request)."""
    return GateOutcome(Verdict(Decision.REFUSED, (reason,), (check,)), command, error, reason)


def _finite_point(p: Vec3) -> bool:
    return p.is_finite() and max(abs(p.x), abs(p.y), abs(p.z)) <= MAX_COORDINATE


def validate(command: Command, vehicle: VehicleInfo) -> str | None:
    """Why a command is malformed, or None."""
    if not math.isfinite(command.speed_limit) or command.speed_limit < 0.0:
        return f'speed_limit must be a number >= 0 m/s, got {command.speed_limit!r}'
    if command.kind in (CommandKind.GOTO, CommandKind.TAKEOFF) and \
            not _finite_point(command.target):
        return f'target must be finite site coordinates, got {command.target}'
    if command.kind is CommandKind.FOLLOW_ROUTE:
        if not command.route:
            return 'FOLLOW_ROUTE needs at least one route point'
        if len(command.route) > MAX_ROUTE_POINTS:
            return f'route has {len(command.route)} points, at most {MAX_ROUTE_POINTS} accepted'
        if not all(_finite_point(p) for p in command.route):
            return 'route points must be finite site coordinates'
    if command.kind is CommandKind.TAKEOFF:
        if vehicle.vehicle_type is not VehicleType.DRONE:
            return f'{vehicle.vehicle_id} is a ground vehicle: it cannot take off'
        if command.target.z <= 0.0:
            return f'takeoff height target.z must be > 0 m above home, got {command.target.z:g}'
    return None


class _Findings:
    """Collects (check id, reason) pairs, refusals and edits apart."""

    def __init__(self) -> None:
        self.refusals: list[tuple[str, str]] = []
        self.edits: list[tuple[str, str]] = []

    def refuse(self, check: str, reason: str) -> None:
        self.refusals.append((check, reason))

    def edit(self, check: str, reason: str) -> None:
        self.edits.append((check, reason))


def margins(limits: TypeLimits, speed: float) -> geofence.Margins:
    """Geofence margins for flying at ``speed`` (m/s): stopping distance + uncertainty."""
    horizontal = geofence.stopping_distance(speed, limits.max_horizontal_deceleration,
                                            limits.reaction_time) + limits.position_uncertainty
    drone = limits.vehicle_type is VehicleType.DRONE
    vertical = limits.vertical_uncertainty
    if drone:
        vertical += geofence.stopping_distance(limits.max_vertical_speed,
                                               limits.max_vertical_deceleration,
                                               limits.reaction_time)
    return geofence.Margins(horizontal, vertical, limits.vertical_uncertainty, drone)


def clamp_speed(command: Command, limits: TypeLimits, findings: _Findings) -> Command:
    """Bound the commanded speed by the type's maximum (an edit, reported)."""
    if command.kind not in (CommandKind.GOTO, CommandKind.FOLLOW_ROUTE):
        return command
    top = limits.max_horizontal_speed
    if command.speed_limit == 0.0:
        findings.edit('speed_limit', f'speed_limit 0 (vehicle default) is not bounded: set to '
                                     f'the {limits.vehicle_type.value} maximum {top:g} m/s')
        return replace(command, speed_limit=top)
    if command.speed_limit > top:
        findings.edit('speed_limit', f'speed_limit {command.speed_limit:g} m/s clamped to the '
                                     f'{limits.vehicle_type.value} maximum {top:g} m/s')
        return replace(command, speed_limit=top)
    return command


def plan_of(command: Command, here: Vec3, vehicle: VehicleInfo) -> tuple[Vec3, ...]:
    """The waypoints a command makes the vehicle fly, starting where it is."""
    if command.kind is CommandKind.GOTO:
        return (here, command.target)
    if command.kind is CommandKind.FOLLOW_ROUTE:
        return (here, *command.route)
    if command.kind is CommandKind.TAKEOFF:
        return (here, Vec3(here.x, here.y, vehicle.home.z + command.target.z))
    if command.kind is CommandKind.RTL:
        return (here, Vec3(vehicle.home.x, vehicle.home.y, here.z), vehicle.home)
    if command.kind is CommandKind.LAND and vehicle.vehicle_type is VehicleType.DRONE:
        return (here, Vec3(here.x, here.y, vehicle.home.z))
    return (here,)


def _check_health(ctx: GateContext, findings: _Findings) -> VehicleSnapshot | None:
    state = ctx.state
    if state is None or not ctx.state_fresh:
        findings.refuse('stale_state', f'no VehicleState for {ctx.vehicle.vehicle_id} within '
                                       f'{ctx.limits.stale_state_timeout:g} s')
        return None
    if not state.position.is_finite():
        findings.refuse('gps_lost', f'{ctx.vehicle.vehicle_id} reports no position estimate')
        return None
    if state.link is LinkState.LOST:
        findings.refuse('link_lost', f'{ctx.vehicle.vehicle_id} reports its link lost')
    if state.gps_fix < ctx.limits.min_gps_fix:
        findings.refuse('gps_lost', f'GPS fix {state.gps_fix.name} is below the required '
                                    f'{ctx.limits.min_gps_fix.name}')
    return state


def _check_geofence(plan: Sequence[Vec3], ctx: GateContext, speed: float,
                    findings: _Findings) -> None:
    m = margins(ctx.limits, speed)
    if len(plan) == 1:
        conflicts = geofence.position_conflicts(plan[0], ctx.inclusions, ctx.exclusions, m)
    else:
        conflicts = [c for a, b in zip(plan, plan[1:])
                     for c in geofence.check_path(a, b, ctx.inclusions, ctx.exclusions, m)]
    seen: set[str] = set()
    for conflict in conflicts:
        if conflict.reason not in seen:
            seen.add(conflict.reason)
            findings.refuse('geofence', conflict.reason)


def _check_min_height(command: Command, plan: Sequence[Vec3], ctx: GateContext,
                      findings: _Findings) -> None:
    minimum = ctx.limits.min_height_above_ground
    if minimum is None or command.kind not in (CommandKind.GOTO, CommandKind.FOLLOW_ROUTE,
                                               CommandKind.TAKEOFF):
        return
    for point in plan[1:]:
        if point.z < minimum:
            findings.refuse('min_height', f'waypoint at {point.z:.1f} m is below the minimum '
                                          f'height above ground of {minimum:g} m')
            return


def _separated(a: Vec3, b: Vec3, other: Occupancy, limits: TypeLimits) -> tuple[bool, float]:
    """Whether leg a-b keeps separation from another vehicle's occupancy; and the 2D gap."""
    need_h = (max(limits.separation_horizontal, other.limits.separation_horizontal)
              + limits.position_uncertainty + other.limits.position_uncertainty)
    need_v = (max(limits.separation_vertical, other.limits.separation_vertical)
              + limits.vertical_uncertainty + other.limits.vertical_uncertainty)
    points = other.points
    legs = list(zip(points, points[1:])) or [(points[0], points[0])]
    closest = math.inf
    for c, d in legs:
        gap_h = geometry.segment_segment_distance(a.xy, b.xy, c.xy, d.xy)
        gap_v = max(min(c.z, d.z) - max(a.z, b.z), min(a.z, b.z) - max(c.z, d.z))
        closest = min(closest, gap_h)
        if gap_h <= need_h and gap_v <= need_v:
            return False, gap_h
    return True, closest


def _check_separation(plan: Sequence[Vec3], ctx: GateContext, findings: _Findings) -> None:
    legs = list(zip(plan, plan[1:])) or [(plan[0], plan[0])]
    for other in ctx.others:
        for a, b in legs:
            ok, gap = _separated(a, b, other, ctx.limits)
            if not ok:
                findings.refuse('separation', f'path comes within {gap:.1f} m of '
                                              f'{other.vehicle_id} or its planned path')
                break


def _check_battery(command: Command, plan: Sequence[Vec3], ctx: GateContext,
                   state: VehicleSnapshot, findings: _Findings) -> None:
    config = ctx.limits.battery
    model = config.model
    speed = command.speed_limit if command.speed_limit > 0.0 else model.cruise_speed
    needed = battery.route_energy(model, plan, speed)
    needed += battery.leg_energy(model, plan[-1], ctx.vehicle.home, model.cruise_speed)
    check = battery.reserve_check(state.battery_remaining, ctx.vehicle.battery_capacity_wh,
                                  config.reserve, needed)
    if check is None:
        findings.refuse('battery_reserve', 'battery charge unknown: cannot prove the reserve')
    elif not check.ok:
        findings.refuse('battery_reserve', f'needs {check.needed:.1f} Wh to finish and return home '
                                           f'with {check.reserve:.1f} Wh reserve, has '
                                           f'{check.available:.1f} Wh')


def _check_estop(command: Command, ctx: GateContext, findings: _Findings) -> None:
    category = ctx.estop_category
    if category is None:
        return
    stop_commands = (CommandKind.HOLD, CommandKind.LAND, CommandKind.DISARM, CommandKind.TERMINATE)
    if command.kind not in stop_commands or COMMAND_RANK[command.kind] < ESTOP_RANK[category]:
        findings.refuse('estop', f'{ctx.vehicle.vehicle_id} is e-stopped ({category.value}): '
                                 f'{command.kind.name} is not allowed until release')


def _check_terminate(command: Command, ctx: GateContext, findings: _Findings) -> None:
    if command.kind is not CommandKind.TERMINATE:
        return
    if not ctx.limits.allow_terminate:
        findings.refuse('terminate_not_allowed', f'flight termination is not allowed for '
                                                 f'{ctx.limits.vehicle_type.value} vehicles')
    elif command.issued_by not in ctx.authorization.terminate:
        findings.refuse('terminate_not_allowed', f'"{command.issued_by}" may not terminate')


def _check_disarm(command: Command, ctx: GateContext, findings: _Findings) -> None:
    if command.kind is not CommandKind.DISARM:
        return
    state = ctx.state
    if state is None or not ctx.state_fresh:
        findings.refuse('stale_state', 'no fresh state: cannot confirm the vehicle is on the '
                                       'ground')
        return
    on_ground = state.landed if ctx.limits.vehicle_type is VehicleType.DRONE else \
        state.velocity.horizontal_norm() < GROUND_STOPPED_SPEED
    if not on_ground:
        findings.refuse('disarm_in_flight', f'{ctx.vehicle.vehicle_id} is not stopped on the '
                                            'ground')


def _check_failsafe(command: Command, ctx: GateContext, findings: _Findings) -> bool:
    """Refuse what is less severe than the monitor's action; True if an operator overrides."""
    active = ctx.active_failsafe
    if active < Action.HOLD or COMMAND_RANK[command.kind] >= active:
        return False
    if ctx.override_window and command.issued_by in ctx.authorization.override:
        return True
    findings.refuse('failsafe_active', f'{active.name} is in force for {ctx.vehicle.vehicle_id}; '
                                       f'{command.kind.name} is less severe')
    return False


def evaluate(command: Command, ctx: GateContext) -> GateOutcome:
    """Judge one command for the vehicle described by ``ctx``."""
    problem = validate(command, ctx.vehicle)
    if problem is not None:
        return refuse(command, GateError.INVALID, 'invalid', problem)
    findings = _Findings()
    _check_estop(command, ctx, findings)
    _check_terminate(command, ctx, findings)
    _check_disarm(command, ctx, findings)
    override = _check_failsafe(command, ctx, findings)
    command = clamp_speed(command, ctx.limits, findings)
    plan: tuple[Vec3, ...] = ()
    if ctx.state is not None and ctx.state.position.is_finite():
        plan = plan_of(command, ctx.state.position, ctx.vehicle)
    if command.kind in MOTION_COMMANDS:
        state = _check_health(ctx, findings)
        if state is not None:
            speed = command.speed_limit if command.kind is not CommandKind.TAKEOFF else 0.0
            _check_geofence(plan, ctx, speed, findings)
            _check_min_height(command, plan, ctx, findings)
            _check_separation(plan, ctx, findings)
            _check_battery(command, plan, ctx, state, findings)
    if findings.refusals:
        items = findings.refusals + findings.edits
        verdict = Verdict(Decision.REFUSED, tuple(r for _, r in items), tuple(c for c, _ in items))
        return GateOutcome(verdict, command, GateError.REFUSED, '; '.join(verdict.reasons))
    if findings.edits:
        verdict = Verdict(Decision.APPROVED_WITH_CHANGES, tuple(r for _, r in findings.edits),
                          tuple(c for c, _ in findings.edits))
    else:
        verdict = Verdict(Decision.APPROVED)
    return GateOutcome(verdict, command, GateError.NONE, '', override, plan)
