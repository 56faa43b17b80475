"""Geofence zones in the site plane, built from an uploaded FENCE item list.

Why a module of its own: the breach test runs every physics step and decides
whether a vehicle is sent home, so it is kept as small, pure geometry that a
property test can compare against plain bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.geometry import geodetic_to_enu
from sentinel_sim.autopilot.mission import FENCE_CIRCLES, FENCE_POLYGONS, MIN_POLYGON_VERTICES, MissionItem

Polygon = tuple[tuple[float, float], ...]   # (x east, y north) vertices in metres


@dataclass(frozen=True)
class Fence:
    """Geofence zones in the site ENU plane (x east, y north), from an uploaded FENCE list."""

    inclusion_polygons: tuple[Polygon, ...] = ()
    exclusion_polygons: tuple[Polygon, ...] = ()
    inclusion_circles: tuple[tuple[float, float, float], ...] = ()   # (x, y, radius)
    exclusion_circles: tuple[tuple[float, float, float], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.inclusion_polygons or self.exclusion_polygons
                    or self.inclusion_circles or self.exclusion_circles)

    def breach(self, x: float, y: float) -> str | None:
        """Why the point breaches the fence (inside every inclusion, outside every exclusion), or None."""
        for polygon in self.inclusion_polygons:
            if not inside_polygon(x, y, polygon):
                return 'outside inclusion polygon'
        for cx, cy, r in self.inclusion_circles:
            if math.hypot(x - cx, y - cy) > r:
                return 'outside inclusion circle'
        for polygon in self.exclusion_polygons:
            if inside_polygon(x, y, polygon):
                return 'inside exclusion polygon'
        for cx, cy, r in self.exclusion_circles:
            if math.hypot(x - cx, y - cy) < r:
                return 'inside exclusion circle'
        return None


def inside_polygon(x: float, y: float, polygon: Polygon) -> bool:
    """Even-odd ray casting."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            cross_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < cross_x:
                inside = not inside
    return inside


def build_fence(items: list[MissionItem], origin: tuple[float, float, float]) -> tuple[Fence | None, int]:
    """Group uploaded fence items into zones; (fence, MAV_MISSION_ACCEPTED) or (None, error)."""
    inc_poly: list[Polygon] = []
    exc_poly: list[Polygon] = []
    inc_circ: list[tuple[float, float, float]] = []
    exc_circ: list[tuple[float, float, float]] = []
    i = 0
    while i < len(items):
        item = items[i]
        if item.command in FENCE_POLYGONS:
            n = int(item.param1)
            group = items[i:i + n]
            if n < MIN_POLYGON_VERTICES or len(group) < n \
                    or any(g.command != item.command or int(g.param1) != n for g in group):
                return None, mavlink.MAV_MISSION_INVALID_PARAM1
            pts = []
            for g in group:
                p = geodetic_to_enu(origin, g.lat, g.lon, origin[2])
                pts.append((p.x, p.y))
            (inc_poly if item.command == mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION else exc_poly).append(
                tuple(pts))
            i += n
            continue
        if item.command in FENCE_CIRCLES:
            p = geodetic_to_enu(origin, item.lat, item.lon, origin[2])
            (inc_circ if item.command == mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION else exc_circ).append(
                (p.x, p.y, float(item.param1)))
        i += 1
    return Fence(tuple(inc_poly), tuple(exc_poly), tuple(inc_circ), tuple(exc_circ)), mavlink.MAV_MISSION_ACCEPTED
