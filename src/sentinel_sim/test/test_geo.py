"""ENU <-> WGS84 around a site origin."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentinel_sim.geo import enu_to_wgs84, wgs84_to_enu

# Metres per degree of latitude near 40 deg N on WGS84 (from the meridian radius of curvature).
METRES_PER_DEG_LAT_40N = 111_034.6

latitudes = st.floats(-85.0, 85.0)
longitudes = st.floats(-180.0, 180.0)
elevations = st.floats(-400.0, 5000.0)
offsets = st.floats(-5000.0, 5000.0)
heights = st.floats(-200.0, 500.0)


@settings(max_examples=300, deadline=None)
@given(latitudes, longitudes, elevations, offsets, offsets, heights)
def test_round_trip_enu(lat0: float, lon0: float, alt0: float, east: float, north: float,
                        up: float) -> None:
    lat, lon, alt = enu_to_wgs84(east, north, up, lat0, lon0, alt0)
    assert -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0
    back = wgs84_to_enu(lat, lon, alt, lat0, lon0, alt0)
    assert math.dist(back, (east, north, up)) < 1e-3  # 1 mm over 5 km


@settings(max_examples=200, deadline=None)
@given(latitudes, longitudes, elevations, st.floats(-0.04, 0.04), st.floats(-0.04, 0.04),
       heights)
def test_round_trip_geodetic(lat0: float, lon0: float, alt0: float, dlat: float, dlon: float,
                             dalt: float) -> None:
    lat, lon, alt = lat0 + dlat, lon0 + dlon, alt0 + dalt
    if not -180.0 <= lon <= 180.0:
        lon -= math.copysign(360.0, lon)
    east, north, up = wgs84_to_enu(lat, lon, alt, lat0, lon0, alt0)
    back = enu_to_wgs84(east, north, up, lat0, lon0, alt0)
    assert back[0] == pytest.approx(lat, abs=1e-9)
    assert math.remainder(back[1] - lon, 360.0) == pytest.approx(0.0, abs=1e-9)
    assert back[2] == pytest.approx(alt, abs=1e-3)


def test_origin_maps_to_itself() -> None:
    assert enu_to_wgs84(0.0, 0.0, 0.0, 40.5853, -105.0844, 1525.0) == pytest.approx(
        (40.5853, -105.0844, 1525.0))
    assert wgs84_to_enu(40.5853, -105.0844, 1525.0, 40.5853, -105.0844, 1525.0) == pytest.approx(
        (0.0, 0.0, 0.0), abs=1e-6)


def test_directions_and_scale() -> None:
    lat, lon, alt = enu_to_wgs84(0.0, 1000.0, 0.0, 40.0, -105.0, 1500.0)
    assert (lat - 40.0) * METRES_PER_DEG_LAT_40N == pytest.approx(1000.0, rel=1e-3)
    assert lon == pytest.approx(-105.0, abs=1e-9)
    # The ground curves away: a point 1 km north at up = 0 is ~8 cm above the ellipsoid there.
    assert alt - 1500.0 == pytest.approx(0.0785, abs=0.005)
    lat, lon, _ = enu_to_wgs84(1000.0, 0.0, 0.0, 40.0, -105.0, 1500.0)
    assert lon > -105.0 and lat == pytest.approx(40.0, abs=1e-5)


@pytest.mark.parametrize('function, args', [
    (enu_to_wgs84, (0.0, 0.0, 0.0, 91.0, 0.0, 0.0)),        # origin latitude
    (enu_to_wgs84, (0.0, 0.0, 0.0, 0.0, 181.0, 0.0)),       # origin longitude
    (enu_to_wgs84, (math.nan, 0.0, 0.0, 0.0, 0.0, 0.0)),    # east
    (enu_to_wgs84, (0.0, 0.0, 0.0, 0.0, 0.0, math.inf)),    # origin altitude
    (wgs84_to_enu, (-90.5, 0.0, 0.0, 0.0, 0.0, 0.0)),       # point latitude
    (wgs84_to_enu, (0.0, 0.0, math.nan, 0.0, 0.0, 0.0)),    # point altitude
    (wgs84_to_enu, (0.0, 0.0, 0.0, 0.0, -180.5, 0.0)),      # origin longitude
])
def test_invalid_input_is_rejected(function: object, args: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        function(*args)  # type: ignore[operator]
