"""Patrol progress and investigation geometry."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_control.investigation import approach_point, observing_distance, on_target, orbit_points
from sentinel_control.patrol import PatrolProgress, route_length

ROUTE = ((0.0, 0.0, 0.0), (100.0, 0.0, 0.0), (100.0, 100.0, 0.0))


def test_patrol_counts_waypoints_and_laps() -> None:
    progress = PatrolProgress(ROUTE)
    assert not progress.update((50.0, 50.0, 0.0)) and progress.next_index == 0
    assert not progress.update((1.0, 1.0, 0.0)) and progress.remaining() == ROUTE[1:]
    assert not progress.update((99.0, 2.0, 0.0))
    assert progress.update((100.0, 98.0, 0.0)) and progress.laps == 1 and progress.remaining() == ROUTE


def test_patrol_skips_a_waypoint_it_cut() -> None:
    progress = PatrolProgress(ROUTE)
    assert not progress.update((0.0, 0.0, 0.0))
    assert progress.update((100.0, 100.0, 0.0)), 'reaching the last waypoint ends the lap'


def test_route_length_closes_the_loop() -> None:
    assert route_length(ROUTE) == 200.0 + math.hypot(100.0, 100.0)
    assert route_length(ROUTE, closed=False) == 200.0


@settings(max_examples=50)
@given(st.floats(-300, 300), st.floats(-300, 300), st.floats(1.0, 100.0))
def test_approach_point_is_standoff_away_on_the_vehicle_side(x: float, y: float, distance: float) -> None:
    target = (10.0, -20.0, 0.0)
    point = approach_point((x, y, 0.0), target, distance, 30.0)
    assert math.isclose(math.hypot(point[0] - target[0], point[1] - target[1]), distance, rel_tol=1e-9)
    assert point[2] == 30.0
    if math.hypot(x - target[0], y - target[1]) > distance:
        assert math.hypot(x - point[0], y - point[1]) < math.hypot(x - target[0], y - target[1])


def test_orbit_starts_nearest_the_vehicle_and_goes_counter_clockwise() -> None:
    points = orbit_points((0.0, 0.0, 0.0), 20.0, 30.0, (100.0, 0.0, 0.0))
    assert len(points) == 12 and points[0] == (20.0, 0.0, 30.0)
    assert points[3][0] == pytest.approx(0.0, abs=1e-9) and points[3][1] == pytest.approx(20.0)
    assert all(math.isclose(math.hypot(p[0], p[1]), 20.0) for p in points)


def test_on_target_uses_orbit_or_standoff() -> None:
    assert observing_distance(0.0, 15.0) == 15.0 and observing_distance(20.0, 15.0) == 20.0
    assert on_target((25.0, 0.0, 30.0), (0.0, 0.0, 0.0), 20.0, 15.0)
    assert not on_target((60.0, 0.0, 30.0), (0.0, 0.0, 0.0), 20.0, 15.0)
