"""Allocation: always a capable vehicle with enough battery for trip and return, never a busier one."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_control.allocation import (Candidate, Requirement, assess, choose, mission_energy_wh,
                                         travel_time)
from sentinel_control.response_policy import load_response_policy

POLICY = load_response_policy(Path(__file__).resolve().parents[3] / 'config' / 'response_policy.yaml')
PROFILES = POLICY.profiles
CAPS = ['camera', 'thermal_camera', 'spotlight', 'loudspeaker']
coordinate = st.floats(min_value=-500.0, max_value=500.0)
point = st.tuples(coordinate, coordinate, st.just(0.0))

candidates = st.lists(st.builds(
    Candidate,
    vehicle_id=st.text('abcdef', min_size=1, max_size=3),
    kind=st.sampled_from(['drone', 'ground']),
    capabilities=st.frozensets(st.sampled_from(CAPS)),
    position=point, home=point,
    battery=st.one_of(st.floats(min_value=0.0, max_value=1.0), st.just(math.nan)),
    capacity_wh=st.sampled_from([0.0, 90.0, 500.0]),
    landed=st.booleans(), available=st.booleans(),
    busy_priority=st.one_of(st.none(), st.integers(0, 255))), max_size=8, unique_by=lambda c: c.vehicle_id)

requirements = st.builds(
    Requirement,
    kinds=st.lists(st.sampled_from(['drone', 'ground']), min_size=1, max_size=2, unique=True).map(tuple),
    capabilities=st.frozensets(st.sampled_from(CAPS), max_size=2),
    target=point, on_target=st.floats(min_value=0.0, max_value=600.0), priority=st.integers(0, 255),
    excluded=st.frozensets(st.text('abcdef', min_size=1, max_size=3), max_size=3))


@settings(max_examples=80, deadline=None)
@given(requirements, candidates)
def test_choice_is_capable_available_and_keeps_its_reserve(req: Requirement, fleet: list[Candidate]) -> None:
    choice, assessments = choose(req, fleet, PROFILES)
    eligible = [a for a in assessments if a.eligible]
    if choice is None:
        assert not eligible
        return
    chosen = next(c for c in fleet if c.vehicle_id == choice.vehicle_id)
    profile = PROFILES[chosen.kind]
    assert chosen.available and chosen.kind in req.kinds and chosen.vehicle_id not in req.excluded
    assert req.capabilities <= chosen.capabilities
    assert chosen.busy_priority is None or chosen.busy_priority < req.priority
    needed = mission_energy_wh(profile, chosen, req.target, req.on_target)
    assert chosen.battery - needed / chosen.capacity_wh >= profile.battery_reserve
    assert choice.score == min(a.score for a in eligible)


def _candidate(vid: str, x: float, **kw: object) -> Candidate:
    values: dict[str, object] = dict(kind='drone', capabilities=frozenset({'camera'}), position=(x, 0.0, 0.0),
                                     home=(x, 0.0, 0.0), battery=0.9, capacity_wh=90.0, landed=True,
                                     available=True)
    values.update(kw)
    return Candidate(vid, **values)   # type: ignore[arg-type]


def test_nearest_wins_and_idle_beats_slightly_nearer_busy() -> None:
    req = Requirement(('drone',), frozenset({'camera'}), (100.0, 0.0, 0.0), 60.0, 50)
    choice, _ = choose(req, [_candidate('far', -100.0), _candidate('near', 50.0)], PROFILES)
    assert choice is not None and choice.vehicle_id == 'near'
    busy_near = _candidate('busy', 60.0, busy_priority=10)
    idle = _candidate('idle', 40.0)
    choice, _ = choose(req, [busy_near, idle], PROFILES)
    assert choice is not None and choice.vehicle_id == 'idle' and not choice.preempts


def test_equal_or_higher_priority_work_is_never_preempted() -> None:
    req = Requirement(('drone',), frozenset(), (0.0, 0.0, 0.0), 0.0, 50)
    result = assess(_candidate('d', 0.0, busy_priority=50), req, PROFILES)
    assert not result.eligible and 'priority 50' in result.reason


def test_battery_for_trip_and_return_is_checked() -> None:
    profile = PROFILES['drone']
    far = (1500.0, 0.0, 0.0)
    req = Requirement(('drone',), frozenset(), far, 120.0, 50)
    weak = _candidate('weak', 0.0, battery=0.5)
    result = assess(weak, req, PROFILES)
    assert not result.eligible and 'reserve' in result.reason
    trip = travel_time(profile, weak.position, far, airborne_at_start=False)
    assert trip == 1500.0 / profile.cruise_speed + profile.altitude / profile.climb_rate


def test_ground_vehicles_pay_the_path_factor() -> None:
    profile = PROFILES['ground']
    assert travel_time(profile, (0.0, 0.0, 0.0), (30.0, 40.0, 0.0), True) == \
        50.0 * profile.path_factor / profile.cruise_speed
