"""Quaternions, headings, polygon triangulation and frusta of the Foxglove scene."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentinel_sim.site_config import point_in_polygon
from sentinel_sim.world import Pose

from sentinel_bridge.foxglove_geometry import (OPTICAL_IN_SENSOR, centroid, clean_polygon,
                                               frustum_segments, normalize, quat_from_matrix,
                                               quat_from_rpy, quat_multiply, rotate, signed_area,
                                               triangulate, yaw_from_heading_deg)

angles = st.floats(-math.pi, math.pi, allow_nan=False)


def _matrix(q):
    return np.array([rotate(q, axis) for axis in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]).T


@given(angles, angles, angles)
def test_rpy_quaternion_matches_the_sdf_rotation_of_the_world_loader(roll, pitch, yaw):
    expected = Pose(0, 0, 0, roll, pitch, yaw).rotation()
    assert np.allclose(_matrix(quat_from_rpy(roll, pitch, yaw)), expected, atol=1e-9)


@given(angles, angles, angles)
def test_matrix_to_quaternion_round_trips(roll, pitch, yaw):
    rotation = Pose(0, 0, 0, roll, pitch, yaw).rotation()
    assert np.allclose(_matrix(quat_from_matrix(rotation)), rotation, atol=1e-9)


def test_optical_frame_looks_along_the_sensor_x_axis_with_image_y_down():
    assert np.allclose(rotate(OPTICAL_IN_SENSOR, (0, 0, 1)), (1, 0, 0), atol=1e-12)   # forward
    assert np.allclose(rotate(OPTICAL_IN_SENSOR, (1, 0, 0)), (0, -1, 0), atol=1e-12)  # right
    assert np.allclose(rotate(OPTICAL_IN_SENSOR, (0, 1, 0)), (0, 0, -1), atol=1e-12)  # down


@pytest.mark.parametrize('heading, yaw', [(0, 90), (90, 0), (180, -90), (270, 180), (45, 45)])
def test_compass_heading_becomes_site_yaw(heading, yaw):
    assert math.isclose(abs(math.degrees(yaw_from_heading_deg(heading))), abs(yaw),
                        abs_tol=1e-9)
    assert np.allclose(rotate(quat_from_rpy(0, 0, yaw_from_heading_deg(heading)), (1, 0, 0)),
                       (math.sin(math.radians(heading)), math.cos(math.radians(heading)), 0),
                       atol=1e-9)


def test_unset_quaternion_normalizes_to_identity_and_products_compose():
    assert normalize((0, 0, 0, 0)) == (0.0, 0.0, 0.0, 1.0)
    a, b = quat_from_rpy(0, 0, 0.3), quat_from_rpy(0, 0, 0.4)
    assert np.allclose(quat_multiply(a, b), quat_from_rpy(0, 0, 0.7), atol=1e-12)


@st.composite
def star_polygons(draw):
    """Simple polygons: vertices at increasing angles around a centre, random radii.

    Every angular gap is below pi, so the centre sees the whole boundary (star-shaped),
    which makes the polygon simple whatever the radii.
    """
    count = draw(st.integers(3, 12))
    angles_ = sorted(draw(st.lists(st.floats(0, 2 * math.pi, exclude_max=True), min_size=count,
                                   max_size=count, unique=True)))
    wrapped = angles_[1:] + [angles_[0] + 2 * math.pi]
    if any(not 0.05 < b - a < math.pi - 0.05 for a, b in zip(angles_, wrapped, strict=True)):
        angles_ = [2 * math.pi * i / count for i in range(count)]
    radii = draw(st.lists(st.floats(5.0, 100.0), min_size=count, max_size=count))
    points = [(r * math.cos(a), r * math.sin(a)) for a, r in zip(angles_, radii, strict=True)]
    return points if draw(st.booleans()) else points[::-1]


@settings(max_examples=100, deadline=None)
@given(star_polygons())
def test_triangulation_covers_the_polygon_exactly(polygon):
    points = clean_polygon(polygon)
    triangles = triangulate(polygon)
    total = sum(signed_area([points[i] for i in triangle]) for triangle in triangles)
    assert all(signed_area([points[i] for i in t]) > 0 for t in triangles)  # counter-clockwise
    assert math.isclose(total, abs(signed_area(points)), rel_tol=1e-9)
    for triangle in triangles:   # every triangle lies inside the polygon
        corners = [points[i] for i in triangle]
        middle = (sum(c[0] for c in corners) / 3, sum(c[1] for c in corners) / 3)
        assert point_in_polygon(*middle, points)


def test_concave_polygon_is_not_filled_outside():
    # An L shape: a fan from vertex 0 would cover the notch at (7.5, 7.5).
    polygon = [(0, 0), (10, 0), (10, 5), (5, 5), (5, 10), (0, 10)]
    points = clean_polygon(polygon)
    for triangle in triangulate(polygon):
        a, b, c = (points[i] for i in triangle)
        cx, cy = (a[0] + b[0] + c[0]) / 3, (a[1] + b[1] + c[1]) / 3
        assert not (cx > 5 and cy > 5)
    assert math.isclose(sum(signed_area([points[i] for i in t])
                            for t in triangulate(polygon)), 75.0)


def test_degenerate_polygons_are_refused():
    with pytest.raises(ValueError, match='3 distinct'):
        triangulate([(0, 0), (1, 1), (0, 0)])
    with pytest.raises(ValueError, match='zero area'):
        triangulate([(0, 0), (1, 1), (2, 2)])


def test_closing_vertex_is_ignored_and_centroid_is_the_area_centre():
    square = [(0, 0), (4, 0), (4, 2), (0, 2), (0, 0)]
    assert len(clean_polygon(square)) == 4
    assert centroid(square) == pytest.approx((2.0, 1.0))


def test_frustum_has_four_edges_and_an_image_rectangle_at_depth():
    points = frustum_segments(math.radians(90), 640, 480, 5.0)
    assert len(points) == 16
    far = [p for p in points if p[2] == 5.0]
    assert max(p[0] for p in far) == pytest.approx(5.0)      # tan(45 deg) * depth
    assert max(p[1] for p in far) == pytest.approx(3.75)     # aspect 3:4
    with pytest.raises(ValueError):
        frustum_segments(0.0, 640, 480, 5.0)
