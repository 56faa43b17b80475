"""Plane geometry against brute force: distances, containment, altitude intervals."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_safety import geometry

coordinate = st.floats(-200.0, 200.0, allow_nan=False, allow_infinity=False)
point = st.tuples(coordinate, coordinate)
SAMPLES = 400   # points per segment for the brute-force minimum


def _sampled_distance(a: geometry.Point, b: geometry.Point, c: geometry.Point,
                      d: geometry.Point) -> float:
    best = math.inf
    for i in range(SAMPLES + 1):
        t = i / SAMPLES
        p = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
        best = min(best, geometry.point_segment_distance(p, c, d))
    return best


@settings(max_examples=150, deadline=None)
@given(point, point, point, point)
def test_segment_distance_is_the_true_minimum(a, b, c, d) -> None:
    exact = geometry.segment_segment_distance(a, b, c, d)
    sampled = _sampled_distance(a, b, c, d)
    step = math.dist(a, b) / SAMPLES
    assert exact <= sampled + 1e-6                 # never overestimates
    assert sampled <= exact + step / 2 + 1e-6       # sampling converges on it


@settings(max_examples=150, deadline=None)
@given(point, st.floats(1.0, 100.0), st.floats(1.0, 100.0), point)
def test_point_in_box_and_depth(corner, width, height, p) -> None:
    x0, y0 = corner
    polygon = ((x0, y0), (x0 + width, y0), (x0 + width, y0 + height), (x0, y0 + height))
    inside = x0 <= p[0] <= x0 + width and y0 <= p[1] <= y0 + height
    if geometry.boundary_distance(p, polygon) > geometry.EPS:   # on the edge: either answer
        assert geometry.point_in_polygon(p, polygon) == inside
    dx = max(x0 - p[0], 0.0, p[0] - x0 - width)
    dy = max(y0 - p[1], 0.0, p[1] - y0 - height)
    expected = (min(p[0] - x0, x0 + width - p[0], p[1] - y0, y0 + height - p[1]) if inside
                else -math.hypot(dx, dy))
    depth = geometry.signed_depth(p, polygon)
    assert math.isclose(abs(depth), abs(expected), abs_tol=1e-9)
    if abs(expected) > geometry.EPS:
        assert (depth > 0.0) == inside


def test_concave_polygon_and_crossing_segments() -> None:
    # An L shape: the notch at the top right is outside.
    shape = ((0.0, 0.0), (10.0, 0.0), (10.0, 4.0), (4.0, 4.0), (4.0, 10.0), (0.0, 10.0))
    assert geometry.point_in_polygon((2.0, 8.0), shape)
    assert not geometry.point_in_polygon((8.0, 8.0), shape)
    assert geometry.point_in_polygon((4.0, 6.0), shape)          # on an edge
    # A segment from one arm to the other crosses the notch: it leaves the polygon.
    assert geometry.segment_boundary_distance((2.0, 8.0), (8.0, 2.0), shape) == 0.0
    # Outside, across the notch: closest to the corners (10, 4) and (4, 10), 2 sqrt(2) away.
    assert math.isclose(geometry.segment_polygon_distance((6.0, 12.0), (12.0, 6.0), shape),
                        2.0 * math.sqrt(2.0))
    assert geometry.segment_polygon_distance((2.0, 2.0), (50.0, 50.0), shape) == 0.0


@given(st.floats(-50, 50), st.floats(-50, 50), st.floats(-10, 10), st.floats(0.1, 30))
def test_interval_overlap_is_where_the_value_is_in_range(a, b, lo, width) -> None:
    hi = lo + width
    span = geometry.interval_overlap(0.0, 1.0, a, b, lo, hi)
    for i in range(101):
        t = i / 100
        value = a + (b - a) * t
        inside = lo <= value <= hi
        if span is None:
            assert not inside or math.isclose(value, lo, abs_tol=1e-9) or \
                math.isclose(value, hi, abs_tol=1e-9)
        elif inside and not (math.isclose(value, lo, abs_tol=1e-9) or
                             math.isclose(value, hi, abs_tol=1e-9)):
            assert span[0] - 1e-9 <= t <= span[1] + 1e-9
        elif not inside:
            assert not span[0] + 1e-9 < t < span[1] - 1e-9


def test_interval_overlap_with_unbounded_bands() -> None:
    assert geometry.interval_overlap(0.0, 1.0, 5.0, 50.0, -math.inf, math.inf) == (0.0, 1.0)
    assert geometry.interval_overlap(0.0, 1.0, 5.0, 5.0, 10.0, math.inf) is None
    assert geometry.interval_overlap(0.0, 1.0, 0.0, 20.0, 10.0, math.inf) == (0.5, 1.0)
