"""Angles, distances and site-frame <-> WGS84 conversions for the emulated autopilot.

Why: MAVLink speaks NED yaw, compass headings and latitude/longitude while the
physics speaks site ENU. Every conversion between the two lives here, so a sign
or axis convention is decided once and the other modules only call names.
"""

from __future__ import annotations

import math

from sentinel_sim import geo
from sentinel_sim.autopilot.wire import finite
from sentinel_sim.vehicle_types import Vector3

BEARING_MIN_DISTANCE_M = 1.0        # closer than this, a bearing to the target is too jumpy to steer by


def wrap_pi(angle: float) -> float:
    """An angle in radians folded into [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def enu_yaw_to_compass_deg(yaw: float) -> float:
    """ENU yaw (0 east, CCW) -> compass heading in degrees (0 north, CW), in [0, 360)."""
    return math.degrees(math.pi / 2.0 - yaw) % 360.0


def ned_yaw_to_enu(yaw_ned: float) -> float:
    """NED yaw (0 north, CW) -> ENU yaw (0 east, CCW); the map is its own inverse."""
    return wrap_pi(math.pi / 2.0 - yaw_ned)


def hdist(a: Vector3, b: Vector3) -> float:
    """Horizontal distance in metres."""
    return math.hypot(a.x - b.x, a.y - b.y)


def dist(a: Vector3, b: Vector3) -> float:
    """3D distance in metres."""
    return math.sqrt((a.x - b.x) ** 2 + (a.y - b.y) ** 2 + (a.z - b.z) ** 2)


def bearing_enu(frm: Vector3, to: Vector3) -> float | None:
    """ENU yaw pointing from one point to another, None when they (nearly) coincide."""
    if hdist(frm, to) < BEARING_MIN_DISTANCE_M:
        return None
    return math.atan2(to.y - frm.y, to.x - frm.x)


def valid_lat_lon(lat: float, lon: float) -> bool:
    """Finite and on the globe."""
    return finite(lat) and finite(lon) and abs(lat) <= 90.0 and abs(lon) <= 180.0


# The two conversions the autopilot needs, behind one seam: the site-wide helpers in
# sentinel_sim.geo (pymap3d underneath). Callers validate inputs first, so the
# helpers' ValueError on non-finite or out-of-range values cannot reach the wire.
def enu_to_geodetic(origin: tuple[float, float, float], p: Vector3) -> tuple[float, float, float]:
    """Site ENU point -> (lat deg, lon deg, alt m) around the site origin (lat, lon, alt)."""
    return geo.enu_to_wgs84(p.x, p.y, p.z, *origin)


def geodetic_to_enu(origin: tuple[float, float, float], lat: float, lon: float, alt: float) -> Vector3:
    """(lat deg, lon deg, alt m) -> site ENU point around the site origin (lat, lon, alt)."""
    return Vector3(*geo.wgs84_to_enu(lat, lon, alt, *origin))
