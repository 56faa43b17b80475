"""Geometry of an investigation: where to stand off, the orbit around the target, being on target.

Why standoff and orbit points rather than flying to the target itself: the
target is a person, a vehicle or a foreign drone, and the camera needs a
view of it, not a position above it. A hold observes from ``standoff``
metres on the side the vehicle comes from; an orbit visits ORBIT_POINTS
points on a circle of ``orbit_radius`` around the target, counter-clockwise
from the one nearest the vehicle, facing the target at every point.

Pure logic.
"""

from __future__ import annotations

import math

Point = tuple[float, float, float]
# Points per orbit lap, 30 degrees apart: the heading, set toward the target at each point,
# stays within 30 degrees of it in between, well inside a 90 degree camera view.
ORBIT_POINTS = 12
ON_TARGET_MARGIN = 10.0      # m beyond the observing distance that still counts as watching


def approach_point(vehicle: Point, target: Point, distance: float, z: float) -> Point:
    """The point ``distance`` metres from the target toward the vehicle, at height z."""
    dx, dy = vehicle[0] - target[0], vehicle[1] - target[1]
    norm = math.hypot(dx, dy)
    if norm < 1e-6:
        dx, dy, norm = 0.0, -1.0, 1.0    # vehicle right over the target: stand off to the south
    scale = distance / norm
    return (target[0] + dx * scale, target[1] + dy * scale, z)


def orbit_points(center: Point, radius: float, z: float, start_near: Point,
                 count: int = ORBIT_POINTS) -> list[Point]:
    """``count`` points on the circle, counter-clockwise, starting nearest ``start_near``."""
    start = math.atan2(start_near[1] - center[1], start_near[0] - center[0])
    if math.hypot(start_near[0] - center[0], start_near[1] - center[1]) < 1e-6:
        start = -math.pi / 2.0
    return [(center[0] + radius * math.cos(start + 2.0 * math.pi * i / count),
             center[1] + radius * math.sin(start + 2.0 * math.pi * i / count), z) for i in range(count)]


def observing_distance(orbit_radius: float, standoff: float) -> float:
    """How far from the target the vehicle observes from."""
    return orbit_radius if orbit_radius > 0.0 else standoff


def on_target(vehicle: Point, target: Point, orbit_radius: float, standoff: float) -> bool:
    """Whether the vehicle is close enough to the target to count as observing it."""
    distance = math.hypot(vehicle[0] - target[0], vehicle[1] - target[1])
    return distance <= observing_distance(orbit_radius, standoff) + ON_TARGET_MARGIN
