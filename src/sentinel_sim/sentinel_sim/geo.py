"""Convert between the site's ENU frame and WGS84 coordinates.

Every Sentinel position is in the site frame (metres east, north and up of
the world origin given by the SDF ``<spherical_coordinates>``); MAVLink,
operators' maps and real GNSS speak latitude, longitude and altitude. These
two functions are the only bridge between the two, so every package converts
the same way. The geodesy is pymap3d's (exact ellipsoidal ENU, no flat-earth
approximation): 1 km from the origin the Earth's curvature alone already
drops the ground by about 8 cm, more than a geofence margin should absorb.

Altitudes are metres above the WGS84 ellipsoid, like the world's elevation.
"""

from __future__ import annotations

import math

import pymap3d


def _check_origin(lat0_deg: float, lon0_deg: float, alt0: float) -> None:
    _check_geodetic(lat0_deg, lon0_deg, alt0, 'origin')


def _check_geodetic(lat_deg: float, lon_deg: float, alt: float, what: str) -> None:
    for name, value in (('latitude', lat_deg), ('longitude', lon_deg), ('altitude', alt)):
        if not math.isfinite(value):
            raise ValueError(f'{what} {name} must be finite, got {value!r}')
    if not -90.0 <= lat_deg <= 90.0:
        raise ValueError(f'{what} latitude {lat_deg} deg is outside [-90, 90]')
    if not -180.0 <= lon_deg <= 180.0:
        raise ValueError(f'{what} longitude {lon_deg} deg is outside [-180, 180]')


def enu_to_wgs84(east: float, north: float, up: float,
                 lat0_deg: float, lon0_deg: float, alt0: float) -> tuple[float, float, float]:
    """Site ENU (m) to (latitude deg, longitude deg, altitude m above the ellipsoid)."""
    _check_origin(lat0_deg, lon0_deg, alt0)
    for name, value in (('east', east), ('north', north), ('up', up)):
        if not math.isfinite(value):
            raise ValueError(f'{name} must be finite, got {value!r}')
    lat, lon, alt = pymap3d.enu2geodetic(east, north, up, lat0_deg, lon0_deg, alt0, deg=True)
    return float(lat), float(lon), float(alt)


def wgs84_to_enu(lat_deg: float, lon_deg: float, alt: float,
                 lat0_deg: float, lon0_deg: float, alt0: float) -> tuple[float, float, float]:
    """(Latitude deg, longitude deg, altitude m) to site ENU (m east, north, up)."""
    _check_origin(lat0_deg, lon0_deg, alt0)
    _check_geodetic(lat_deg, lon_deg, alt, 'point')
    east, north, up = pymap3d.geodetic2enu(lat_deg, lon_deg, alt, lat0_deg, lon0_deg, alt0,
                                           deg=True)
    return float(east), float(north), float(up)
