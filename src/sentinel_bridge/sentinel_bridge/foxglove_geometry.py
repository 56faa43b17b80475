"""Small 3D and polygon geometry for the Foxglove scene: pure functions, no ROS.

The scene shows site-frame data (ENU metres) in Foxglove's 3D panel. Three
things need care and are kept here, tested on their own: quaternions from
SDF roll-pitch-yaw and from compass headings (a vehicle's heading is degrees
clockwise from north, the site frame's yaw counter-clockwise from east), the
triangulation of zone polygons (zones may be concave; a triangle fan would
paint outside them), and camera frusta in the optical frame Foxglove projects
images with (z forward, x right, y down).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Quaternion = tuple[float, float, float, float]   # (x, y, z, w), unit length
Vector = tuple[float, float, float]

# The identity rotation.
IDENTITY: Quaternion = (0.0, 0.0, 0.0, 1.0)

# Quaternions shorter than this are treated as "not set" (a default message has all zeros).
_MIN_QUATERNION_NORM = 1e-6

# Vertices closer than this (m) are the same point when cleaning a polygon.
_SAME_POINT = 1e-9


def quat_from_rpy(roll: float, pitch: float, yaw: float) -> Quaternion:
    """SDF fixed-axis roll-pitch-yaw (R = Rz(yaw) Ry(pitch) Rx(roll)) as a quaternion."""
    cr, sr = math.cos(roll / 2.0), math.sin(roll / 2.0)
    cp, sp = math.cos(pitch / 2.0), math.sin(pitch / 2.0)
    cy, sy = math.cos(yaw / 2.0), math.sin(yaw / 2.0)
    return (sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy)


def quat_from_yaw(yaw: float) -> Quaternion:
    """Rotation about the site's up axis by ``yaw`` radians (counter-clockwise from east)."""
    return (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


def quat_from_matrix(rows: Sequence[Sequence[float]]) -> Quaternion:
    """Quaternion of a 3x3 rotation matrix (Shepperd's method, stable for every angle)."""
    m00, m01, m02 = (float(v) for v in rows[0])
    m10, m11, m12 = (float(v) for v in rows[1])
    m20, m21, m22 = (float(v) for v in rows[2])
    trace = m00 + m11 + m22
    if trace > 0.0:
        s = math.sqrt(trace + 1.0) * 2.0
        q = ((m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, 0.25 * s)
    elif m00 > m11 and m00 > m22:
        s = math.sqrt(1.0 + m00 - m11 - m22) * 2.0
        q = (0.25 * s, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s)
    elif m11 > m22:
        s = math.sqrt(1.0 + m11 - m00 - m22) * 2.0
        q = ((m01 + m10) / s, 0.25 * s, (m12 + m21) / s, (m02 - m20) / s)
    else:
        s = math.sqrt(1.0 + m22 - m00 - m11) * 2.0
        q = ((m02 + m20) / s, (m12 + m21) / s, 0.25 * s, (m10 - m01) / s)
    return normalize(q)


def normalize(q: Sequence[float]) -> Quaternion:
    """Unit quaternion, or identity when ``q`` is (nearly) zero or not finite."""
    x, y, z, w = (float(v) for v in q)
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if not math.isfinite(norm) or norm < _MIN_QUATERNION_NORM:
        return IDENTITY
    return (x / norm, y / norm, z / norm, w / norm)


def is_set(q: Sequence[float]) -> bool:
    """Whether a message quaternion carries an orientation (all zeros means unset)."""
    norm = math.sqrt(sum(float(v) * float(v) for v in q))
    return math.isfinite(norm) and norm >= _MIN_QUATERNION_NORM


def quat_multiply(a: Quaternion, b: Quaternion) -> Quaternion:
    """Hamilton product: rotation ``b`` followed by ``a`` (frame composition a * b)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz)


def rotate(q: Quaternion, v: Vector) -> Vector:
    """Vector ``v`` rotated by the unit quaternion ``q``."""
    x, y, z, w = q
    vx, vy, vz = v
    # t = 2 * cross(q.xyz, v); v' = v + w * t + cross(q.xyz, t)
    tx, ty, tz = 2.0 * (y * vz - z * vy), 2.0 * (z * vx - x * vz), 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty),
            vy + w * ty + (z * tx - x * tz),
            vz + w * tz + (x * ty - y * tx))


def yaw_from_heading_deg(heading_deg: float) -> float:
    """Site-frame yaw (rad, counter-clockwise from east) of a compass heading (deg from north)."""
    yaw = math.radians(90.0 - heading_deg)
    return math.atan2(math.sin(yaw), math.cos(yaw))


# The optical frame (z forward, x right, y down) in the SDF sensor frame
# (x forward, y left, z up): its axes are the columns.
OPTICAL_IN_SENSOR: Quaternion = quat_from_matrix(((0.0, 0.0, 1.0),
                                                  (-1.0, 0.0, 0.0),
                                                  (0.0, -1.0, 0.0)))


def frustum_segments(horizontal_fov: float, width_px: int, height_px: int,
                     depth: float) -> tuple[Vector, ...]:
    """Line-list points (pairs) of a camera frustum in its optical frame.

    Four edges from the optical centre to the corners of the image plane at
    ``depth`` metres, and that plane's rectangle. Square pixels are assumed
    (the simulators render them), so the vertical extent follows the aspect.
    """
    if not 0.0 < horizontal_fov < math.pi:
        raise ValueError(f'horizontal_fov must be in (0, pi) rad, got {horizontal_fov!r}')
    if width_px <= 0 or height_px <= 0:
        raise ValueError(f'image size must be positive, got {width_px}x{height_px}')
    if not depth > 0.0:
        raise ValueError(f'frustum depth must be positive, got {depth!r}')
    half_w = depth * math.tan(horizontal_fov / 2.0)
    half_h = half_w * height_px / width_px
    corners = ((-half_w, -half_h, depth), (half_w, -half_h, depth),
               (half_w, half_h, depth), (-half_w, half_h, depth))
    origin = (0.0, 0.0, 0.0)
    points: list[Vector] = []
    for corner in corners:
        points += [origin, corner]
    for i, corner in enumerate(corners):
        points += [corner, corners[(i + 1) % 4]]
    return tuple(points)


# --------------------------------------------------------------------------
# Polygons
# --------------------------------------------------------------------------

def signed_area(polygon: Sequence[tuple[float, float]]) -> float:
    """Signed area (m^2), positive when the vertices run counter-clockwise."""
    total = 0.0
    count = len(polygon)
    for i in range(count):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % count]
        total += x1 * y2 - x2 * y1
    return total / 2.0


def clean_polygon(polygon: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop repeated vertices, including a closing vertex equal to the first."""
    out: list[tuple[float, float]] = []
    for x, y in polygon:
        point = (float(x), float(y))
        if out and math.dist(out[-1], point) <= _SAME_POINT:
            continue
        out.append(point)
    while len(out) > 1 and math.dist(out[0], out[-1]) <= _SAME_POINT:
        out.pop()
    return out


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _inside_triangle(p: tuple[float, float], a: tuple[float, float],
                     b: tuple[float, float], c: tuple[float, float]) -> bool:
    """Whether p lies inside or on the counter-clockwise triangle abc."""
    return _cross(a, b, p) >= 0.0 and _cross(b, c, p) >= 0.0 and _cross(c, a, p) >= 0.0


def triangulate(polygon: Sequence[tuple[float, float]]) -> list[tuple[int, int, int]]:
    """Ear-clipping triangulation of a simple polygon, as counter-clockwise index triples.

    Indices refer to ``clean_polygon(polygon)``. Either winding is accepted.
    Collinear vertices are clipped as zero-area ears, so the triangles' areas
    always add up to the polygon's. Raises ValueError for fewer than three
    distinct vertices or a zero-area polygon.
    """
    points = clean_polygon(polygon)
    if len(points) < 3:
        raise ValueError(f'a polygon needs at least 3 distinct vertices, got {len(points)}')
    area = signed_area(points)
    if area == 0.0:
        raise ValueError('polygon has zero area')
    order = list(range(len(points)))
    if area < 0.0:
        order.reverse()
    triangles: list[tuple[int, int, int]] = []
    guard = 0
    while len(order) > 3:
        count = len(order)
        clipped = False
        for i in range(count):
            ia, ib, ic = order[i - 1], order[i], order[(i + 1) % count]
            a, b, c = points[ia], points[ib], points[ic]
            turn = _cross(a, b, c)
            if turn < 0.0:
                continue  # reflex vertex: not an ear
            if turn > 0.0 and any(_inside_triangle(points[j], a, b, c)
                                  for j in order if j not in (ia, ib, ic)):
                continue
            if turn > 0.0:
                triangles.append((ia, ib, ic))
            del order[i]
            clipped = True
            break
        guard += 1
        if not clipped or guard > 10 * len(points):
            raise ValueError('polygon is not simple (self-intersecting): cannot triangulate')
    last = (order[0], order[1], order[2])
    if _cross(*(points[i] for i in last)) > 0.0:   # the remainder may be a collinear sliver
        triangles.append(last)
    return triangles


def centroid(polygon: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Area centroid of a simple polygon (vertex mean when degenerate)."""
    points = clean_polygon(polygon)
    area = signed_area(points)
    if not points:
        raise ValueError('empty polygon')
    if abs(area) < 1e-12:
        return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
    cx = cy = 0.0
    for i in range(len(points)):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % len(points)]
        cross = x1 * y2 - x2 * y1
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    return (cx / (6.0 * area), cy / (6.0 * area))
