"""Geofence geometry: zones built from uploaded FENCE items, and the breach test (pure, no autopilot)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim import geo
from sentinel_sim.autopilot import Fence, MissionItem
from sentinel_sim.autopilot.fence import build_fence

ORIGIN = (47.397742, 8.545594, 488.0)   # site origin (lat, lon, alt)
FENCE = mavlink.MAV_MISSION_TYPE_FENCE
INCLUDE_POLYGON = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
EXCLUDE_CIRCLE = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION


def item(seq: int, command: int, param1: float, east: float, north: float) -> MissionItem:
    lat, lon, _ = geo.enu_to_wgs84(east, north, 0.0, *ORIGIN)
    return MissionItem(seq, mavlink.MAV_FRAME_GLOBAL_INT, command, param1, x=round(lat * 1e7),
                       y=round(lon * 1e7), mission_type=FENCE)


def square(half: float, start: int = 0) -> list[MissionItem]:
    corners = ((-half, -half), (half, -half), (half, half), (-half, half))
    return [item(start + i, INCLUDE_POLYGON, 4, e, n) for i, (e, n) in enumerate(corners)]


@given(x=st.floats(-200, 200), y=st.floats(-200, 200), half=st.floats(1, 150))
def test_fence_square_agrees_with_plain_bounds(x: float, y: float, half: float) -> None:
    square = ((-half, -half), (half, -half), (half, half), (-half, half))
    fence = Fence(inclusion_polygons=(square,))
    inside = abs(x) < half and abs(y) < half
    on_edge = math.isclose(abs(x), half) or math.isclose(abs(y), half)
    if not on_edge:
        assert (fence.breach(x, y) is None) == inside


def test_uploaded_items_become_zones_in_the_site_plane() -> None:
    fence, result = build_fence([*square(50.0), item(4, EXCLUDE_CIRCLE, 10.0, 20.0, 0.0)], ORIGIN)
    assert result == mavlink.MAV_MISSION_ACCEPTED and fence is not None
    (polygon,) = fence.inclusion_polygons
    assert all(math.isclose(abs(x), 50.0, abs_tol=0.01) and math.isclose(abs(y), 50.0, abs_tol=0.01)
               for x, y in polygon)
    (circle,) = fence.exclusion_circles
    assert math.isclose(circle[0], 20.0, abs_tol=0.01) and circle[2] == 10.0
    assert fence.breach(0.0, 0.0) is None
    assert fence.breach(60.0, 0.0) == 'outside inclusion polygon'
    assert fence.breach(22.0, 1.0) == 'inside exclusion circle'


def test_a_polygon_with_missing_or_inconsistent_vertices_is_refused() -> None:
    vertices = square(50.0)
    assert build_fence(vertices[:3], ORIGIN) == (None, mavlink.MAV_MISSION_INVALID_PARAM1)   # 3 of 4
    odd = [*vertices[:3], item(3, INCLUDE_POLYGON, 5, 0.0, 0.0)]                             # counts differ
    assert build_fence(odd, ORIGIN) == (None, mavlink.MAV_MISSION_INVALID_PARAM1)
    fence, result = build_fence([], ORIGIN)
    assert result == mavlink.MAV_MISSION_ACCEPTED and fence is not None and fence.empty
