"""Geofence path checks against an independent box oracle, in 2D and 3D, with recovery."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sentinel_safety.domain import Vec3
from sentinel_safety.geofence import (RECOVERY_STEP, FenceKind, FenceZone, Margins, check_path,
                                      exclusion_clearance, position_conflicts, stopping_distance)


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
SAMPLES = 100            # oracle samples along a path
OUTER = FenceZone('outer', FenceKind.INCLUSION, 'geofence_inclusion', K.box(-100, -100, 100, 100),
                  0.0, 60.0)

coordinate = st.floats(-120.0, 120.0, allow_nan=False)
altitude = st.floats(0.0, 70.0, allow_nan=False)
points = st.builds(Vec3, coordinate, coordinate, altitude)


@st.composite
def exclusion_boxes(draw: st.DrawFn) -> FenceZone:
    x0, y0 = draw(st.floats(-80, 60)), draw(st.floats(-80, 60))
    w, h = draw(st.floats(2, 40)), draw(st.floats(2, 40))
    floor = draw(st.one_of(st.just(-math.inf), st.floats(0, 30)))
    ceiling = draw(st.one_of(st.just(math.inf), st.floats(floor + 1 if floor > -math.inf else 1,
                                                          60)))
    return FenceZone('box', FenceKind.EXCLUSION, 'geofence_exclusion',
                     K.box(x0, y0, x0 + w, y0 + h), floor, ceiling)


margins = st.builds(Margins, st.floats(0.0, 20.0), st.floats(0.0, 5.0), st.just(0.5), st.booleans())


def _path(a: Vec3, b: Vec3) -> list[Vec3]:
    return [a.lerp(b, i / SAMPLES) for i in range(SAMPLES + 1)]


def _excl_ok(p: Vec3, zone: FenceZone, m: Margins) -> bool:
    """Oracle: clear of an exclusion box by the margins."""
    if K.box_distance(p, zone.polygon) > m.horizontal:
        return True
    return m.vertical_checks and (p.z < zone.floor - m.vertical or p.z > zone.ceiling + m.vertical)


def _incl_ok(p: Vec3, zone: FenceZone, m: Margins) -> bool:
    """Oracle: strictly inside an inclusion box by the margins (on a limit counts as out, as
    the gate's zero clearance does, sideways and vertically alike)."""
    if K.box_depth(p, zone.polygon) <= m.horizontal:
        return False
    return not m.vertical_checks or (zone.floor - m.floor_tolerance < p.z
                                     < zone.ceiling - m.vertical)


@settings(max_examples=100, deadline=None)
@given(points, points, exclusion_boxes(), margins)
def test_exclusion_verdict_matches_the_oracle(a: Vec3, b: Vec3, zone: FenceZone,
                                              m: Margins) -> None:
    assume(_excl_ok(a, zone, m) and exclusion_clearance(a, zone, m) > 1e-6)
    conflicts = check_path(a, b, [], [zone], m)
    samples = _path(a, b)
    if not conflicts:
        assert all(_excl_ok(p, zone, m) for p in samples)
    else:
        # Some point of the path is within the margin (up to the sampling resolution).
        step = math.dist((a.x, a.y, a.z), (b.x, b.y, b.z)) / SAMPLES
        grown = Margins(m.horizontal + step, m.vertical + step, m.floor_tolerance,
                        m.vertical_checks)   # the band is entered between two samples
        assert not all(_excl_ok(p, zone, grown) for p in samples)


@settings(max_examples=100, deadline=None)
@given(points, points, margins)
def test_inclusion_verdict_matches_the_oracle(a: Vec3, b: Vec3, m: Margins) -> None:
    assume(_incl_ok(a, OUTER, m))
    conflicts = check_path(a, b, [OUTER], [], m)
    if not conflicts:
        assert all(_incl_ok(p, OUTER, m) for p in _path(a, b))
    else:
        # Depth inside a box is concave along a segment and altitude is linear: the worst
        # point of the path is one of its ends, so the oracle is exact here.
        assert not (_incl_ok(a, OUTER, m) and _incl_ok(b, OUTER, m))


@st.composite
def starts_in_margin(draw: st.DrawFn) -> tuple[Vec3, FenceZone, Margins]:
    """An exclusion box, margins, and a start point inside the box grown by the margins."""
    zone = draw(exclusion_boxes())
    m = draw(margins)
    xs = [x for x, _ in zone.polygon]
    ys = [y for _, y in zone.polygon]
    x = draw(st.floats(min(xs) - m.horizontal, max(xs) + m.horizontal))
    y = draw(st.floats(min(ys) - m.horizontal, max(ys) + m.horizontal))
    low = max(0.0, zone.floor - m.vertical) if zone.floor > -math.inf else 0.0
    high = min(70.0, zone.ceiling + m.vertical) if zone.ceiling < math.inf else 70.0
    return Vec3(x, y, draw(st.floats(low, max(low, high)))), zone, m


@settings(max_examples=100, deadline=None)
@given(starts_in_margin(), points)
def test_recovery_paths_end_clear_and_never_go_deeper(start: tuple[Vec3, FenceZone, Margins],
                                                      b: Vec3) -> None:
    a, zone, m = start
    assume(exclusion_clearance(a, zone, m) <= 0.0)
    if check_path(a, b, [], [zone], m):
        return
    assert _excl_ok(b, zone, m)
    depth = exclusion_clearance(a, zone, m)
    for p in _path(a, b):
        assert exclusion_clearance(p, zone, m) >= depth - RECOVERY_STEP - 1e-6


def test_a_drone_may_overfly_a_low_zone_but_not_clip_it() -> None:
    low = FenceZone('yard', FenceKind.EXCLUSION, 'geofence_exclusion', K.box(10, -10, 30, 10),
                    0.0, 25.0)
    m = Margins(5.0, 3.0, 1.0, True)
    assert not check_path(Vec3(0, 0, 30), Vec3(40, 0, 30), [OUTER], [low], m)   # 30 > 25 + 3
    assert check_path(Vec3(0, 0, 27), Vec3(40, 0, 27), [OUTER], [low], m)       # 27 < 28
    # The same path for a ground vehicle: zones apply at every height.
    ground = Margins(5.0, 0.0, 0.0, False)
    assert check_path(Vec3(0, 0, 30), Vec3(40, 0, 30), [OUTER], [low], ground)
    # Passing beside it with exactly the margin and a little more.
    assert check_path(Vec3(0, 15, 10), Vec3(40, 15, 10), [OUTER], [low], m)      # 5 m away
    assert not check_path(Vec3(0, 15.1, 10), Vec3(40, 15.1, 10), [OUTER], [low], m)


def test_climbing_into_a_zones_band_is_caught() -> None:
    above = FenceZone('high', FenceKind.EXCLUSION, 'geofence_exclusion', K.box(-5, -5, 5, 5),
                      20.0, 40.0)
    m = Margins(2.0, 2.0, 1.0, True)
    assert check_path(Vec3(0, 0, 5), Vec3(0, 0, 19), [OUTER], [above], m)       # 19 > 18
    assert not check_path(Vec3(0, 0, 5), Vec3(0, 0, 17.5), [OUTER], [above], m)


def test_leaving_through_the_nearest_side_is_allowed_crossing_is_not() -> None:
    zone = FenceZone('pad', FenceKind.EXCLUSION, 'keep_out', K.box(0, 0, 20, 20))
    m = Margins(3.0, 0.0, 0.0, False)
    inside = Vec3(2.0, 10.0, 0.0)
    assert not check_path(inside, Vec3(-10.0, 10.0, 0.0), [OUTER], [zone], m)   # straight out
    assert check_path(inside, Vec3(30.0, 10.0, 0.0), [OUTER], [zone], m)        # through it
    assert check_path(inside, Vec3(-2.0, 10.0, 0.0), [OUTER], [zone], m)        # not clear yet


def test_outside_the_inclusion_a_vehicle_may_come_back() -> None:
    m = Margins(3.0, 1.0, 0.5, True)
    outside = Vec3(105.0, 0.0, 10.0)
    assert not check_path(outside, Vec3(90.0, 0.0, 10.0), [OUTER], [], m)
    assert check_path(outside, Vec3(110.0, 0.0, 10.0), [OUTER], [], m)
    assert position_conflicts(outside, [OUTER], [], m)[0].kind is FenceKind.INCLUSION


def test_several_inclusions_a_path_must_stay_in_one() -> None:
    west = FenceZone('west', FenceKind.INCLUSION, 'geofence_inclusion', K.box(-100, -10, 0, 10),
                     0.0, 60.0)
    east = FenceZone('east', FenceKind.INCLUSION, 'geofence_inclusion', K.box(-5, -10, 100, 10),
                     0.0, 60.0)
    m = Margins(1.0, 1.0, 0.5, True)
    assert not check_path(Vec3(-50, 0, 10), Vec3(-20, 0, 10), [west, east], [], m)
    assert not check_path(Vec3(50, 0, 10), Vec3(20, 0, 10), [west, east], [], m)
    # Conservative: a path from one into the other is refused even through the overlap.
    assert check_path(Vec3(-50, 0, 10), Vec3(50, 0, 10), [west, east], [], m)


def test_stopping_distance() -> None:
    assert stopping_distance(0.0, 2.0, 0.5) == 0.0
    assert math.isclose(stopping_distance(8.0, 2.5, 0.5), 4.0 + 12.8)
    assert stopping_distance(-8.0, 2.5, 0.5) == stopping_distance(8.0, 2.5, 0.5)
