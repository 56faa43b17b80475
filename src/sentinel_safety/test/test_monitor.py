"""The monitoring ladder (fake clock) and per-vehicle detection."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_safety import monitor
from sentinel_safety.config import Rung
from sentinel_safety.domain import Action, GpsFix, LinkState, Vec3, VehicleSnapshot, VehicleType
from sentinel_safety.monitor import Detected, VehicleLadder


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
STOPS = [Action.WARN, Action.HOLD, Action.RETURN, Action.LAND, Action.TERMINATE]

rungs = st.builds(Rung, st.sampled_from(STOPS), st.floats(0.0, 10.0))
POOL = ['a', 'b', 'c', 'd']   # violation keys a scenario draws from


def item(key: str, rung: Rung) -> Detected:
    return Detected(key, key, '', rung, f'{key} happened')


def expected_action(rung: Rung, since: float, now: float) -> Action:
    """Oracle for one episode: hold first when the action is more than hold and delayed."""
    if rung.action <= Action.HOLD or now - since >= rung.delay:
        return rung.action
    return Action.HOLD


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(POOL), st.tuples(rungs, st.floats(0.0, 20.0)),
                       min_size=1), st.floats(0.0, 40.0))
def test_the_most_severe_action_wins(active: dict[str, tuple[Rung, float]], later: float) -> None:
    ladder = VehicleLadder()
    starts = sorted({since for _, since in active.values()})
    for moment in starts:   # violations appear at their own times
        ladder.update([item(k, r) for k, (r, s) in active.items() if s <= moment], moment, True)
    now = starts[-1] + later
    ladder.update([item(k, r) for k, (r, _) in active.items()], now, True)
    oracle = max(expected_action(r, s, now) for r, s in active.values())
    assert ladder.effective(now, armed=True) == oracle
    assert ladder.effective(now, armed=False) == min(oracle, Action.WARN)


scenario = st.lists(st.tuples(st.sets(st.sampled_from(POOL)), st.floats(0.01, 3.0)),
                    min_size=1, max_size=30)


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({k: rungs for k in POOL}), scenario)
def test_orders_never_step_down_within_an_incident(table: dict[str, Rung],
                                                   steps: list[tuple[set[str], float]]) -> None:
    ladder = VehicleLadder()
    now = 0.0
    last = Action.NONE
    for keys, dt in steps:
        update = ladder.update([item(k, table[k]) for k in sorted(keys)], now, True)
        effective = ladder.effective(now, True)
        if update.order is not None:
            assert update.order > last, 'an order must be more severe than the one before'
            assert update.order == effective
            last = update.order
        if effective <= Action.WARN:
            last = Action.NONE   # the incident is over: the next one starts afresh
        now += dt


@settings(max_examples=50, deadline=None)
@given(st.floats(0.5, 10.0), st.floats(0.01, 0.2), st.floats(0.0, 5.0))
def test_hold_then_act_fires_on_time(delay: float, period: float, onset: float) -> None:
    ladder = VehicleLadder()
    rung = Rung(Action.RETURN, delay)
    now = 0.0
    orders: list[tuple[float, Action]] = []
    while now < onset + delay + 1.0:
        keys = [item('low_battery', rung)] if now >= onset else []
        update = ladder.update(keys, now, True)
        if update.order is not None:
            orders.append((now, update.order))
        now += period
    (hold_at, first), (return_at, second) = orders
    assert (first, second) == (Action.HOLD, Action.RETURN)
    assert onset <= hold_at < onset + period + 1e-9
    assert onset + delay <= return_at + 1e-9 < onset + delay + period + 1e-9 + period


def test_an_operator_takes_over_during_the_delay_only() -> None:
    ladder = VehicleLadder()
    fence = item('fence_breach:area', Rung(Action.RETURN, 3.0))
    assert ladder.update([fence], 0.0, True).order is Action.HOLD
    assert ladder.waiting(1.0) and ladder.override(1.0)
    for t in (1.0, 2.0, 5.0, 10.0):
        assert ladder.update([fence], t, True).order is None
    assert ladder.effective(10.0, True) is Action.WARN
    # A new violation starts its own ladder.
    assert ladder.update([fence, item('gps_lost', Rung(Action.LAND, 2.0))], 11.0,
                         True).order is Action.HOLD
    assert not ladder.override(13.5)   # too late: LAND is in force
    assert ladder.update([fence, item('gps_lost', Rung(Action.LAND, 2.0))], 13.5,
                         True).order is Action.LAND


def test_a_disarmed_vehicle_gets_warnings_only() -> None:
    ladder = VehicleLadder()
    update = ladder.update([item('low_battery', Rung(Action.RETURN, 0.0))], 0.0, False)
    assert update.order is None and ladder.effective(0.0, False) is Action.WARN
    assert [e.detected.key for e in update.started] == ['low_battery']
    # Armed later with the violation still there: the action applies at once.
    assert ladder.update([item('low_battery', Rung(Action.RETURN, 0.0))], 1.0,
                         True).order is Action.RETURN


# ----------------------------------------------------------------------------------
# Detection
# ----------------------------------------------------------------------------------

FENCE = K.box(-100, -100, 100, 100)   # the flight area of the detection tests
SITE = K.site([K.zone('area', 'geofence_inclusion', FENCE, 0.0, 60.0),
               K.zone('bus', 'keep_out', K.box(40, -10, 60, 10))],
              [K.vehicle('drone_1', home=Vec3(0, 0, 0))])
INCLUSIONS, EXCLUSIONS = SITE.fence_zones(DRONE.zone_kinds, None)


def view(state: VehicleSnapshot | None, fresh: bool = True,
         silent: bool = False) -> monitor.VehicleView:
    return monitor.VehicleView(SITE.vehicles['drone_1'], DRONE, state, fresh, True, silent, None)


def detect(state: VehicleSnapshot | None, fresh: bool = True, silent: bool = False,
           previous: list[Detected] | None = None) -> dict[str, Detected]:
    found = monitor.detect(view(state, fresh, silent), INCLUSIONS, EXCLUSIONS,
                           {'bus': {'fence_breach': Rung(Action.LAND, 0.0)}}, previous or [])
    return {d.key: d for d in found}


def test_breach_and_imminent_breach_with_zone_rungs() -> None:
    assert detect(K.snapshot(position=Vec3(0, 0, 20))) == {}
    inside_bus = detect(K.snapshot(position=Vec3(50, 0, 20)))
    assert inside_bus['fence_breach:bus'].rung == Rung(Action.LAND, 0.0)   # the zone's own rung
    outside = detect(K.snapshot(position=Vec3(120, 0, 20)))
    assert outside['fence_breach:area'].rung == DRONE.ladder['fence_breach']
    # 15 m from the bus, flying at it at 8 m/s: stops in 16.8 m (+1.5 m uncertainty): imminent.
    rushing = detect(K.snapshot(position=Vec3(25, 0, 20), velocity=Vec3(8, 0, 0)))
    assert set(rushing) == {'fence_imminent:bus'}
    # 20 m away it still has room; flying away it is fine.
    assert detect(K.snapshot(position=Vec3(20, 0, 20), velocity=Vec3(8, 0, 0))) == {}
    assert detect(K.snapshot(position=Vec3(25, 0, 20), velocity=Vec3(-8, 0, 0))) == {}


@settings(max_examples=40, deadline=None)
@given(st.floats(1.0, 12.0), st.floats(0.05, 0.2), st.floats(0.0, 1.0))
def test_imminent_breach_is_flagged_before_the_stopping_distance_is_used_up(
        speed: float, period: float, phase: float) -> None:
    """Flying straight at the bus, the first alarm leaves room to stop before it."""
    needed = speed * DRONE.reaction_time + speed ** 2 / (2 * DRONE.max_horizontal_deceleration)
    x = 40.0 - needed - DRONE.position_uncertainty - 2.0 - speed * period * (1.0 + phase)
    assert detect(K.snapshot(position=Vec3(x, 0, 20), velocity=Vec3(speed, 0, 0))) == {}
    while True:
        found = detect(K.snapshot(position=Vec3(x, 0, 20), velocity=Vec3(speed, 0, 0)))
        if found:
            break
        x += speed * period
    assert set(found) == {'fence_imminent:bus'}
    room = 40.0 - x
    assert room >= needed + DRONE.position_uncertainty - speed * period - 1e-6


def test_battery_gps_and_link() -> None:
    far = Vec3(-90, 90, 50)
    assert 'low_battery' in detect(K.snapshot(position=far, battery=0.27))
    assert 'battery_critical' in detect(K.snapshot(position=far, battery=0.01))
    assert 'battery_unknown' in detect(K.snapshot(position=far, battery=math.nan))
    assert set(detect(K.snapshot(gps=GpsFix.FIX_2D))) == {'gps_lost'}
    assert set(detect(K.snapshot(link=LinkState.LOST))) == {'link_lost'}


def test_stale_state_carries_position_violations_over() -> None:
    breached = list(detect(K.snapshot(position=Vec3(120, 0, 20))).values())
    stale = detect(K.snapshot(position=Vec3(0, 0, 20)), fresh=False, previous=breached)
    assert set(stale) == {'fence_breach:area', 'stale_state'}
    silent = detect(None, fresh=False, silent=True)
    assert set(silent) == {'stale_state', 'link_lost'}


def test_armed_for_ladder_uses_the_freshest_source() -> None:
    disarmed = K.snapshot(armed=False)
    assert not monitor.armed_for_ladder(view(disarmed))
    assert monitor.armed_for_ladder(view(disarmed, fresh=False))
    heard = monitor.VehicleView(SITE.vehicles['drone_1'], DRONE, None, False, True, False, False)
    assert not monitor.armed_for_ladder(heard)


def test_an_unknown_position_is_gps_lost_and_keeps_what_was_known() -> None:
    unknown = Vec3(math.nan, math.nan, math.nan)
    found = detect(K.snapshot(position=unknown, velocity=unknown, battery=math.nan))
    assert set(found) == {'gps_lost'} and 'no position' in found['gps_lost'].detail
    breached = list(detect(K.snapshot(position=Vec3(120, 0, 20))).values())
    assert set(detect(K.snapshot(position=unknown), previous=breached)) == \
        {'fence_breach:area', 'gps_lost'}
