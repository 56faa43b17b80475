"""The command gate: each check, the e-stop and failsafe rules, and safety properties."""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from sentinel_safety import gate
from sentinel_safety.domain import (Action, CommandKind, Decision, EstopCategory, GpsFix,
                                    LinkState, Vec3, VehicleType)
from sentinel_safety.geofence import stopping_distance


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
CONFIG = K.config()
DRONE = CONFIG.vehicle_types[VehicleType.DRONE]
GROUND = CONFIG.vehicle_types[VehicleType.GROUND]
FENCE = K.box(-100, -100, 100, 100)
YARD = K.box(20, -10, 40, 10)          # no flying below 25 m
BUS = K.box(60, 30, 70, 40)            # keep out at any height
SITE = K.site(
    [K.zone('area', 'geofence_inclusion', FENCE, 0.0, 60.0),
     K.zone('yard', 'geofence_exclusion', YARD, 0.0, 25.0),
     K.zone('bus', 'keep_out', BUS)],
    [K.vehicle('drone_1', home=Vec3(0, 0, 0), system_id=1),
     K.vehicle('drone_2', home=Vec3(-50, 0, 0), system_id=2),
     K.vehicle('rover_1', VehicleType.GROUND, home=Vec3(-80, -80, 0), system_id=11,
               capacity_wh=500.0)])
INCLUSIONS, EXCLUSIONS = SITE.fence_zones(DRONE.zone_kinds, None)


def context(state: Any = None, vehicle_id: str = 'drone_1', **overrides: Any) -> gate.GateContext:
    vehicle = SITE.vehicles[vehicle_id]
    limits = CONFIG.vehicle_types[vehicle.vehicle_type]
    if state is None:
        state = K.snapshot(vehicle_id, kind=vehicle.vehicle_type,
                           position=Vec3(0, 0, 10) if vehicle.vehicle_type is VehicleType.DRONE
                           else Vec3(-80, -80, 0))
    values: dict[str, Any] = dict(
        vehicle=vehicle, limits=limits, state=state, state_fresh=True, inclusions=INCLUSIONS,
        exclusions=EXCLUSIONS, others=[], estop_category=None, active_failsafe=Action.NONE,
        override_window=False, authorization=CONFIG.authorization)
    values.update(overrides)
    return gate.GateContext(**values)


def judge(cmd: Any, ctx: gate.GateContext | None = None) -> gate.GateOutcome:
    return gate.evaluate(cmd, ctx or context())


def checks(outcome: gate.GateOutcome) -> set[str]:
    return set(outcome.verdict.checks_failed)


def approved_speed(outcome: gate.GateOutcome) -> float:
    """The speed limit of the command as approved."""
    assert outcome.command is not None
    return outcome.command.speed_limit


def test_a_plain_goto_is_approved_unchanged() -> None:
    outcome = judge(K.command(target=Vec3(-20, 30, 20), speed=5.0))
    assert outcome.verdict.decision is Decision.APPROVED
    assert outcome.error is gate.GateError.NONE
    assert approved_speed(outcome) == 5.0
    assert outcome.plan == (Vec3(0, 0, 10), Vec3(-20, 30, 20))


@pytest.mark.parametrize('speed', [0.0, 25.0])
def test_speed_is_clamped_and_reported(speed: float) -> None:
    outcome = judge(K.command(target=Vec3(-20, 30, 20), speed=speed))
    assert outcome.verdict.decision is Decision.APPROVED_WITH_CHANGES
    assert approved_speed(outcome) == DRONE.max_horizontal_speed
    assert checks(outcome) == {'speed_limit'}
    assert 'm/s' in outcome.verdict.reasons[0]


@pytest.mark.parametrize(('target', 'why'), [
    (Vec3(150, 0, 20), 'outside the inclusion fence'),
    (Vec3(95, 0, 20), 'within the stopping margin of the fence'),
    (Vec3(0, 0, 59), 'too close to the ceiling'),
    (Vec3(60, 0, 10), 'path crosses the yard below its ceiling'),
    (Vec3(65, 35, 50), 'inside the keep-out zone at any height'),
])
def test_geofence_refusals(target: Vec3, why: str) -> None:
    outcome = judge(K.command(target=target, speed=8.0))
    assert outcome.verdict.decision is Decision.REFUSED, why
    assert 'geofence' in checks(outcome)
    assert outcome.error is gate.GateError.REFUSED


def test_overflying_the_yard_high_enough_is_allowed() -> None:
    start = K.snapshot(position=Vec3(0, 0, 40))
    assert judge(K.command(target=Vec3(60, 0, 40), speed=5.0), context(start)).verdict.decision \
        is Decision.APPROVED


def test_the_margin_grows_with_speed() -> None:
    target = Vec3(0, 80, 20)   # 20 m from the fence
    slow = judge(K.command(target=target, speed=2.0))
    fast = judge(K.command(target=target, speed=8.0))   # stops in 16.8 m + 1.5 m
    assert slow.verdict.decision is Decision.APPROVED
    assert fast.verdict.decision is Decision.APPROVED
    assert judge(K.command(target=Vec3(0, 82, 20), speed=8.0)).verdict.decision \
        is Decision.REFUSED


def test_min_height_for_drones() -> None:
    outcome = judge(K.command(target=Vec3(-20, 30, 3), speed=5.0))
    assert checks(outcome) == {'min_height'}


def test_separation_from_another_vehicle_and_its_plan() -> None:
    other = gate.Occupancy('drone_2', (Vec3(-30, 0, 10), Vec3(-30, 50, 10)), DRONE)
    crossing = K.command(target=Vec3(-60, 30, 10), speed=5.0)
    assert 'separation' in checks(judge(crossing, context(others=[other])))
    above = K.command(target=Vec3(-60, 30, 30), speed=5.0)
    ctx = context(K.snapshot(position=Vec3(0, 0, 30)), others=[other])
    assert judge(above, ctx).verdict.decision is Decision.APPROVED   # 20 m above its path


def test_battery_reserve() -> None:
    far = K.command(target=Vec3(-70, 70, 50), speed=8.0)
    assert judge(far).verdict.decision is Decision.APPROVED
    weak = K.snapshot(battery=0.27)
    outcome = judge(far, context(weak))
    assert checks(outcome) == {'battery_reserve'} and 'Wh' in outcome.verdict.reasons[0]
    unknown = K.snapshot(battery=math.nan)
    assert checks(judge(far, context(unknown))) == {'battery_reserve'}


@pytest.mark.parametrize(('state_change', 'fresh', 'check'), [
    ({}, False, 'stale_state'),
    ({'link': LinkState.LOST}, True, 'link_lost'),
    ({'gps': GpsFix.FIX_2D}, True, 'gps_lost'),
])
def test_health_blocks_motion_but_never_stops(state_change: dict[str, Any], fresh: bool,
                                             check: str) -> None:
    state = K.snapshot(**state_change)
    ctx = context(state, state_fresh=fresh)
    assert check in checks(judge(K.command(target=Vec3(-20, 30, 20)), ctx))
    for kind in (CommandKind.HOLD, CommandKind.RTL, CommandKind.LAND):
        assert judge(K.command(kind), ctx).verdict.decision is Decision.APPROVED


def test_an_unknown_position_refuses_motion_and_allows_stops() -> None:
    ctx = context(K.snapshot(position=Vec3(math.nan, math.nan, math.nan)))
    assert checks(judge(K.command(target=Vec3(1, 1, 10)), ctx)) == {'gps_lost'}
    for kind in (CommandKind.HOLD, CommandKind.LAND, CommandKind.RTL):
        outcome = judge(K.command(kind), ctx)
        assert outcome.verdict.decision is Decision.APPROVED and outcome.plan == ()


def test_no_state_at_all_refuses_motion_and_allows_stops() -> None:
    ctx = context(None)
    ctx = replace(ctx, state=None, state_fresh=False)
    assert checks(judge(K.command(target=Vec3(1, 1, 10)), ctx)) == {'stale_state'}
    assert judge(K.command(CommandKind.LAND), ctx).verdict.decision is Decision.APPROVED


ALL_KINDS = list(CommandKind)   # every command the gate may be asked


@pytest.mark.parametrize('category', list(EstopCategory))
@pytest.mark.parametrize('kind', ALL_KINDS)
def test_estop_lets_only_stops_at_least_as_severe_pass(category: EstopCategory,
                                                       kind: CommandKind) -> None:
    landed = K.snapshot(position=Vec3(0, 0, 0), landed=True)
    cmd = K.command(kind, target=Vec3(5, 5, 10), issued_by='safety_officer',
                    route=[Vec3(5, 5, 10)])
    outcome = judge(cmd, context(landed, estop_category=category))
    rank = {EstopCategory.HOLD: 1, EstopCategory.BRAKE: 1, EstopCategory.LAND: 2,
            EstopCategory.TERMINATE: 3}[category]
    allowed = {CommandKind.HOLD: rank <= 1, CommandKind.LAND: rank <= 2,
               CommandKind.DISARM: True, CommandKind.TERMINATE: True}.get(kind, False)
    assert ('estop' not in checks(outcome)) == allowed, outcome.verdict


def test_terminate_needs_the_type_and_the_role() -> None:
    assert checks(judge(K.command(CommandKind.TERMINATE, issued_by='safety_officer'))) == \
        {'terminate_not_allowed'}
    allowed = replace(DRONE, allow_terminate=True)
    assert judge(K.command(CommandKind.TERMINATE, issued_by='safety_officer'),
                 context(limits=allowed)).verdict.decision is Decision.APPROVED
    assert checks(judge(K.command(CommandKind.TERMINATE, issued_by='mission_control'),
                        context(limits=allowed))) == {'terminate_not_allowed'}


def test_disarm_only_on_the_ground() -> None:
    assert checks(judge(K.command(CommandKind.DISARM))) == {'disarm_in_flight'}
    landed = K.snapshot(position=Vec3(0, 0, 0), landed=True)
    assert judge(K.command(CommandKind.DISARM), context(landed)).verdict.decision \
        is Decision.APPROVED
    rolling = K.snapshot('rover_1', Vec3(-80, -80, 0), Vec3(1.0, 0, 0), VehicleType.GROUND)
    stopped = K.snapshot('rover_1', Vec3(-80, -80, 0), kind=VehicleType.GROUND)
    disarm = K.command(CommandKind.DISARM, 'rover_1')
    assert checks(judge(disarm, context(rolling, 'rover_1'))) == {'disarm_in_flight'}
    assert judge(disarm, context(stopped, 'rover_1')).verdict.decision is Decision.APPROVED


def test_failsafe_blocks_less_severe_commands_unless_an_operator_takes_over() -> None:
    goto = K.command(target=Vec3(-20, 30, 20))
    held = context(active_failsafe=Action.HOLD, override_window=True)
    assert checks(judge(goto, held)) == {'failsafe_active'}
    operator = replace(goto, issued_by='operator_console')
    outcome = judge(operator, held)
    assert outcome.verdict.decision is Decision.APPROVED and outcome.override
    late = context(active_failsafe=Action.RETURN, override_window=False)
    assert checks(judge(operator, late)) == {'failsafe_active'}
    assert checks(judge(K.command(CommandKind.HOLD), late)) == {'failsafe_active'}
    assert judge(K.command(CommandKind.LAND), late).verdict.decision is Decision.APPROVED
    assert judge(K.command(CommandKind.RTL), late).verdict.decision is Decision.APPROVED


@pytest.mark.parametrize(('cmd', 'vehicle_id'), [
    (K.command(target=Vec3(math.nan, 0, 10)), 'drone_1'),
    (K.command(speed=-1.0), 'drone_1'),
    (K.command(speed=math.inf), 'drone_1'),
    (K.command(CommandKind.FOLLOW_ROUTE), 'drone_1'),
    (K.command(CommandKind.TAKEOFF, target=Vec3(0, 0, -5)), 'drone_1'),
    (K.command(CommandKind.TAKEOFF, 'rover_1', target=Vec3(0, 0, 5)), 'rover_1'),
])
def test_malformed_requests_are_invalid(cmd: Any, vehicle_id: str) -> None:
    outcome = judge(cmd, context(vehicle_id=vehicle_id))
    assert outcome.error is gate.GateError.INVALID and checks(outcome) == {'invalid'}


def test_routes_and_takeoff() -> None:
    route = K.command(CommandKind.FOLLOW_ROUTE, route=[Vec3(-20, 20, 20), Vec3(-40, 40, 20)],
                      speed=4.0)
    outcome = judge(route)
    assert outcome.verdict.decision is Decision.APPROVED and len(outcome.plan) == 3
    through = K.command(CommandKind.FOLLOW_ROUTE, route=[Vec3(10, 0, 10), Vec3(50, 0, 10)])
    assert 'geofence' in checks(judge(through))
    on_pad = K.snapshot(position=Vec3(0, 0, 0), landed=True)
    takeoff = K.command(CommandKind.TAKEOFF, target=Vec3(0, 0, 15))
    assert judge(takeoff, context(on_pad)).plan[-1] == Vec3(0, 0, 15)
    too_high = K.command(CommandKind.TAKEOFF, target=Vec3(0, 0, 58))
    assert 'geofence' in checks(judge(too_high, context(on_pad)))


# ----------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------

inside_xy = st.floats(-99.0, 99.0)
drone_positions = st.builds(Vec3, inside_xy, inside_xy, st.floats(5.0, 58.0))
targets = st.builds(Vec3, st.floats(-130.0, 130.0), st.floats(-130.0, 130.0),
                    st.floats(-5.0, 70.0))
speeds = st.one_of(st.just(0.0), st.floats(0.1, 30.0))


def _clear(p: Vec3, horizontal: float, vertical: float) -> bool:
    """Independent oracle: inside the fence and outside both zones by the given margins."""
    if not K.inside_box(p, FENCE, -horizontal) or not 0.0 <= p.z <= 60.0 - vertical:
        return False
    if K.box_distance(p, BUS) <= horizontal:
        return False
    return K.box_distance(p, YARD) > horizontal or p.z > 25.0 + vertical


@settings(max_examples=200, deadline=None)
@given(drone_positions, targets, speeds, st.floats(0.0, 1.0))
def test_no_approved_goto_can_end_or_stop_outside_the_fence(start: Vec3, target: Vec3,
                                                          speed: float, fraction: float) -> None:
    u, uz = DRONE.position_uncertainty, DRONE.vertical_uncertainty
    assume(_clear(start, u, uz))
    state = K.snapshot(position=start)
    outcome = judge(K.command(target=target, speed=speed), context(state))
    event(outcome.verdict.decision.name)
    if outcome.verdict.decision is Decision.REFUSED:
        return
    clamped = approved_speed(outcome)
    assert 0.0 < clamped <= DRONE.max_horizontal_speed
    # The target itself, wherever the vehicle really is within its uncertainty.
    assert _clear(target, u, uz)
    # Brake at full clamped speed from any point of the path: the stop is still inside.
    here = start.lerp(target, fraction)
    direction = target - start
    length = direction.horizontal_norm()
    if length > 0.0:
        brake = stopping_distance(clamped, DRONE.max_horizontal_deceleration,
                                  DRONE.reaction_time)
        stop = here + Vec3(direction.x / length * brake, direction.y / length * brake, 0.0)
        assert _clear(stop, u - 1e-6, uz)


@settings(max_examples=100, deadline=None)
@given(drone_positions, targets, speeds, st.floats(0.0, 1.0))
def test_approved_goto_keeps_the_battery_reserve(start: Vec3, target: Vec3, speed: float,
                                                 charge: float) -> None:
    state = K.snapshot(position=start, battery=charge)
    outcome = judge(K.command(target=target, speed=speed), context(state))
    event(outcome.verdict.decision.name)
    if outcome.verdict.decision is Decision.REFUSED:
        return
    model = DRONE.battery.model
    capacity = SITE.vehicles['drone_1'].battery_capacity_wh
    seconds = (math.hypot(target.x - start.x, target.y - start.y) / approved_speed(outcome)
               + abs(target.z - start.z) / model.vertical_speed
               + math.hypot(target.x, target.y) / model.cruise_speed
               + abs(target.z) / model.vertical_speed)
    energy = (model.idle_power * seconds / 3600.0
              + model.travel_energy * (math.hypot(target.x - start.x, target.y - start.y)
                                       + math.hypot(target.x, target.y))
              + model.climb_energy * max(0.0, target.z - start.z))
    assert charge * capacity - energy >= DRONE.battery.reserve * capacity - 1e-9


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ALL_KINDS), st.sampled_from(list(EstopCategory)), targets)
def test_nothing_that_moves_passes_an_estop(kind: CommandKind, category: EstopCategory,
                                            target: Vec3) -> None:
    outcome = judge(K.command(kind, target=target, issued_by='safety_officer'),
                    context(estop_category=category))
    if outcome.verdict.decision is not Decision.REFUSED:
        assert kind in (CommandKind.HOLD, CommandKind.LAND, CommandKind.DISARM,
                        CommandKind.TERMINATE)
