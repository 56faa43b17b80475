"""Exact plane geometry for geofences: points, segments and simple polygons.

Why exact rather than sampled: the command gate must prove that a whole
straight path keeps a margin from every zone, and a sampled check can miss a
corner between two samples. Everything here is closed-form on segments and
polygon edges. Two facts carry the proofs:

- two segments that do not cross are closest at an endpoint of one of them;
- a segment that starts inside a polygon and never meets its boundary stays
  inside.

Polygons are tuples of (x, y) vertices in site metres, either winding, closed
implicitly, not self-intersecting (the site configuration loader enforces it).
Points on an edge count as inside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]
Polygon = Sequence[Point]

# Distances below this (metres) count as touching; it absorbs floating-point
# rounding in coordinates of a few kilometres without hiding real gaps.
EPS = 1e-9


def point_segment_distance(p: Point, a: Point, b: Point) -> float:
    """Distance (m) from point p to the segment a-b."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length_sq = dx * dx + dy * dy
    if length_sq == 0.0:
        return math.hypot(p[0] - ax, p[1] - ay)
    t = ((p[0] - ax) * dx + (p[1] - ay) * dy) / length_sq
    t = min(1.0, max(0.0, t))
    return math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy))


def _orient(a: Point, b: Point, c: Point) -> float:
    """Twice the signed area of a-b-c: > 0 counter-clockwise, < 0 clockwise."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def segments_intersect(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segments a-b and c-d share a point (touching counts)."""
    d1, d2 = _orient(c, d, a), _orient(c, d, b)
    d3, d4 = _orient(a, b, c), _orient(a, b, d)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return min(point_segment_distance(a, c, d), point_segment_distance(b, c, d),
               point_segment_distance(c, a, b), point_segment_distance(d, a, b)) <= EPS


def segment_segment_distance(a: Point, b: Point, c: Point, d: Point) -> float:
    """Smallest distance (m) between segments a-b and c-d; 0 when they meet."""
    if segments_intersect(a, b, c, d):
        return 0.0
    return min(point_segment_distance(a, c, d), point_segment_distance(b, c, d),
               point_segment_distance(c, a, b), point_segment_distance(d, a, b))


def _edges(polygon: Polygon) -> list[tuple[Point, Point]]:
    count = len(polygon)
    return [(polygon[i], polygon[(i + 1) % count]) for i in range(count)]


def boundary_distance(p: Point, polygon: Polygon) -> float:
    """Distance (m) from a point to the polygon's boundary."""
    return min(point_segment_distance(p, a, b) for a, b in _edges(polygon))


def point_in_polygon(p: Point, polygon: Polygon) -> bool:
    """Even-odd rule; a point on the boundary is inside."""
    if boundary_distance(p, polygon) <= EPS:
        return True
    x, y = p
    inside = False
    for (x1, y1), (x2, y2) in _edges(polygon):
        if (y1 > y) != (y2 > y):
            crossing = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if crossing > x:
                inside = not inside
    return inside


def signed_depth(p: Point, polygon: Polygon) -> float:
    """Distance to the boundary, positive inside the polygon and negative outside (m)."""
    distance = boundary_distance(p, polygon)
    return distance if point_in_polygon(p, polygon) else -distance


def segment_boundary_distance(a: Point, b: Point, polygon: Polygon) -> float:
    """Smallest distance (m) from segment a-b to the polygon's boundary; 0 if it crosses."""
    return min(segment_segment_distance(a, b, c, d) for c, d in _edges(polygon))


def segment_polygon_distance(a: Point, b: Point, polygon: Polygon) -> float:
    """Smallest distance (m) from segment a-b to the polygon as a filled region.

    Zero when either end is inside or the segment crosses the boundary;
    otherwise the segment lies wholly outside and the closest approach is to
    an edge.
    """
    if point_in_polygon(a, polygon) or point_in_polygon(b, polygon):
        return 0.0
    return segment_boundary_distance(a, b, polygon)


def interval_overlap(t_lo: float, t_hi: float, a: float, b: float,
                     lo: float, hi: float) -> tuple[float, float] | None:
    """Sub-interval of [t_lo, t_hi] where a value moving linearly from a to b lies in [lo, hi].

    The value is ``a + (b - a) * t`` for t in [0, 1]; used to find the part of
    a climbing or descending path that is inside a zone's altitude band.
    """
    if a == b:
        return (t_lo, t_hi) if lo <= a <= hi else None
    t1, t2 = (lo - a) / (b - a), (hi - a) / (b - a)
    start, end = max(t_lo, min(t1, t2)), min(t_hi, max(t1, t2))
    return (start, end) if start <= end else None
