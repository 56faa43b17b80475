"""Site configuration: the shipped sites, validation, and cross-checks with the world."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sentinel_sim.site_config import (
    SiteConfigError,
    ZoneKind,
    cross_check,
    load_site,
    load_site_config,
    point_in_polygon,
    polygon_area,
)
from sentinel_sim.vehicle_types import VehicleKind
from sentinel_sim.world import ActorKind, load_world

REPO = Path(__file__).resolve().parents[3]
SITES = REPO / 'config' / 'sites'
SUBSTATION = SITES / 'substation.yaml'


def substation_document() -> dict[str, Any]:
    document = yaml.safe_load(SUBSTATION.read_text())
    document['site']['world'] = str(REPO / 'worlds' / 'substation.sdf')
    return document


def write_config(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    document = copy.deepcopy(substation_document())
    mutate(document)
    path = tmp_path / 'site.yaml'
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def expect_error(path: Path, key: str, *fragments: str) -> SiteConfigError:
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(path)
    error = caught.value
    assert error.file == str(path)
    assert error.key == key, str(error)
    assert str(error).startswith(f'{path}: {key}: ')
    for fragment in fragments:
        assert fragment in error.reason, str(error)
    return error


# --------------------------------------------------------------------------
# The shipped sites
# --------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['substation', 'solar_farm'])
def test_shipped_site_validates_and_matches_its_world(name: str) -> None:
    config, world = load_site(SITES / f'{name}.yaml')
    assert config.name == world.name == name
    assert cross_check(config, world) == ()
    assert config.world == (REPO / 'worlds' / f'{name}.sdf').resolve()
    assert len(config.zones_of(ZoneKind.PERIMETER)) == 1
    assert len(config.zones_of(ZoneKind.GEOFENCE_INCLUSION)) == 1
    assert len(config.zones_of(ZoneKind.GATE)) == 2


def test_shipped_counts() -> None:
    substation = load_site_config(SUBSTATION)
    assert [c.name for c in substation.cameras] == ['cam_nw', 'cam_ne', 'cam_se', 'cam_sw', 'cam_bus']
    assert len(substation.vehicles) == 5
    solar = load_site_config(SITES / 'solar_farm.yaml')
    assert len(solar.cameras) == 8
    assert sum(v.kind is VehicleKind.DRONE for v in solar.vehicles) == 10
    assert sum(v.kind is VehicleKind.GROUND for v in solar.vehicles) == 4


def test_substation_scenario_meets_the_zones() -> None:
    """The scripted actors do what the scenario needs, judged with the site's zones."""
    config, world = load_site(SUBSTATION)
    zone = {z.name: z for z in config.zones}
    intruder = world.actor('intruder')
    start, end = intruder.waypoints[0].pose, intruder.waypoints[-1].pose
    assert not zone['perimeter'].contains(start.x, start.y)
    assert zone['transformer_yard'].contains(end.x, end.y)
    car = world.actor('loiter_car')
    parked = [wp.pose for wp in car.waypoints if zone['north_gate'].contains(wp.pose.x, wp.pose.y)]
    stops = zip(car.waypoints, car.waypoints[1:], strict=False)
    longest_stop = max(b.time - a.time for a, b in stops if a.pose.position == b.pose.position)
    assert parked and longest_stop >= 60.0
    rogue = world.actor('rogue_drone')
    assert rogue.kind is ActorKind.DRONE
    first_pass = [rogue.pose_at(rogue.delay_start + t) for t in range(0, 60)]
    assert sum(zone['hv_bus'].contains(p.x, p.y) for p in first_pass) >= 10  # it hovers there
    guard = world.actor('guard')
    assert guard.authorized and guard.loop


# --------------------------------------------------------------------------
# Validation errors
# --------------------------------------------------------------------------

def set_zone(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        document['zones'][index].update(values)
    return mutate


@pytest.mark.parametrize('mutate, key, fragment', [
    (set_zone(1, polygon=[[0, 0], [10, 10], [10, 0], [0, 10]]), 'zones[1].polygon', 'cross'),
    (set_zone(1, polygon=[[0, 0], [10, 0]]), 'zones[1].polygon', 'at least 3 vertices'),
    (set_zone(1, polygon=[[0, 0], [5, 5], [10, 10]]), 'zones[1].polygon', 'no area'),
    (set_zone(1, polygon=[[0, 0], [10, 0], [10]]), 'zones[1].polygon[2]', '[x, y]'),
    (set_zone(1, polygon=[[0, 0], [10, 0], [10, 'north']]), 'zones[1].polygon[2]',
     'expected a number'),
    (set_zone(1, kind='forbidden'), 'zones[1].kind', '"forbidden" is not one of'),
    (set_zone(5, ceiling=None), 'zones[5].ceiling', 'expected a number'),
    (set_zone(5, floor=70.0), 'zones[5].ceiling', 'must be above the floor'),
    (set_zone(2, schedule=[{'days': ['funday'], 'start': '18:00', 'end': '07:00'}]),
     'zones[2].schedule[0].days[0]', 'not a day'),
    (set_zone(2, schedule=[{'days': ['mon'], 'start': '25:00', 'end': '07:00'}]),
     'zones[2].schedule[0].start', 'not a time of day'),
    (set_zone(5, schedule=[{'days': ['mon'], 'start': '01:00', 'end': '02:00'}]),
     'zones[5].schedule', 'always active'),
    (set_zone(0, polgon=[[0, 0]]), 'zones[0].polgon', 'unknown key'),
])
def test_zone_errors(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], key: str,
                     fragment: str) -> None:
    expect_error(write_config(tmp_path, mutate), key, fragment)


def test_geofence_needs_floor_and_ceiling(tmp_path: Path) -> None:
    def mutate(document: dict[str, Any]) -> None:
        del document['zones'][5]['ceiling']
    expect_error(write_config(tmp_path, mutate), 'zones[5].ceiling',
                 'required for a geofence_inclusion zone')


def test_closed_ring_is_accepted(tmp_path: Path) -> None:
    ring = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
    config = load_site_config(write_config(tmp_path, set_zone(1, polygon=ring)))
    assert config.zones[1].polygon == ((0, 0), (10, 0), (10, 10), (0, 10))


def set_vehicle(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        document['vehicles'][index].update(values)
    return mutate


@pytest.mark.parametrize('mutate, key, fragment', [
    (set_vehicle(0, mavlink={'url': 'http://drone', 'system_id': 1}), 'vehicles[0].mavlink.url',
     'not a MAVLink connection string'),
    (set_vehicle(0, mavlink={'url': 'udpout:127.0.0.1:14551', 'system_id': 300}),
     'vehicles[0].mavlink.system_id', 'out of range'),
    (set_vehicle(0, capabilities=['camera', 'laser']), 'vehicles[0].capabilities[1]',
     'unknown capability "laser"'),
    (set_vehicle(0, capabilities=['spotlight']), 'vehicles[0].camera', 'exactly when'),
    (set_vehicle(0, kind='boat'), 'vehicles[0].kind', '"boat" is not one of'),
    (set_vehicle(0, battery_capacity_wh=0), 'vehicles[0].battery_capacity_wh', 'positive'),
    (set_vehicle(1, id='drone_1'), 'vehicles[1]', 'duplicate vehicle id "drone_1"'),
    (set_vehicle(1, mavlink={'url': 'udpout:127.0.0.1:14552', 'system_id': 1}), 'vehicles[1]',
     'duplicate MAVLink system id'),
])
def test_vehicle_errors(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], key: str,
                        fragment: str) -> None:
    expect_error(write_config(tmp_path, mutate), key, fragment)


def test_site_errors(tmp_path: Path) -> None:
    def no_world(document: dict[str, Any]) -> None:
        document['site']['world'] = 'missing.sdf'
    expect_error(write_config(tmp_path, no_world), 'site.world', 'world file not found')

    def bad_timezone(document: dict[str, Any]) -> None:
        document['site']['timezone'] = 'Mars/Olympus_Mons'
    expect_error(write_config(tmp_path, bad_timezone), 'site.timezone', 'not an IANA time zone')

    def newer(document: dict[str, Any]) -> None:
        document['version'] = 2
    expect_error(write_config(tmp_path, newer), 'version', 'format version 1')

    def missing(document: dict[str, Any]) -> None:
        del document['cameras']
    expect_error(write_config(tmp_path, missing), 'cameras', 'missing required key')


def test_duplicate_and_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / 'dup.yaml'
    path.write_text('version: 1\nversion: 1\n')
    error = expect_error(path, 'line 2', 'duplicate key "version"')
    assert 'dup.yaml' in str(error)
    path.write_text('version: [1\n')
    expect_error(path, 'line 2', 'invalid YAML')
    path.write_text('- just\n- a list\n')
    expect_error(path, '(top level)', 'expected a mapping')


# --------------------------------------------------------------------------
# Cross-checks
# --------------------------------------------------------------------------

def mismatches(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> list[str]:
    config = load_site_config(write_config(tmp_path, mutate))
    found = cross_check(config, load_world(config.world))
    assert all(m.file == config.file for m in found)
    return [f'{m.key}: {m.reason}' for m in found]


def test_camera_in_config_missing_from_world(tmp_path: Path) -> None:
    def rename(document: dict[str, Any]) -> None:
        document['cameras'][0]['name'] = 'cam_roof'
    found = mismatches(tmp_path, rename)
    assert any(m.startswith('cameras[0].name: no fixed camera "cam_roof" in world substation')
               for m in found), found
    assert any(m.startswith('cameras: world camera "cam_nw" is missing') for m in found), found


def test_vehicle_camera_listed_as_fixed_camera(tmp_path: Path) -> None:
    def add(document: dict[str, Any]) -> None:
        document['cameras'].append({'name': 'drone_1_camera', 'intrinsics': 'derived',
                                    'pose': {k: 0.0 for k in ('x', 'y', 'z', 'roll', 'pitch',
                                                              'yaw')}})
    assert mismatches(tmp_path, add) == [
        'cameras[5].name: camera "drone_1_camera" is a vehicle camera: list it as the '
        'vehicle\'s "camera"']


def test_camera_pose_and_intrinsics_must_match(tmp_path: Path) -> None:
    def drift(document: dict[str, Any]) -> None:
        document['cameras'][0]['pose']['x'] = -144.0
        document['cameras'][1]['pose']['yaw'] = -2.5
        document['cameras'][3]['intrinsics']['fx'] = 400.0
    found = mismatches(tmp_path, drift)
    assert [m.split(':')[0] for m in found] == ['cameras[0].pose', 'cameras[1].pose',
                                                 'cameras[3].intrinsics.fx'], found


def test_vehicle_mismatches(tmp_path: Path) -> None:
    def drift(document: dict[str, Any]) -> None:
        document['vehicles'][0]['mavlink']['url'] = 'udpout:127.0.0.1:14599'
        document['vehicles'][1]['home']['x'] = 0.0
        document['vehicles'][2]['kind'] = 'ground'
        document['vehicles'][3]['mavlink']['system_id'] = 99
        del document['vehicles'][4]
    found = mismatches(tmp_path, drift)
    keys = [m.split(':')[0] for m in found]
    assert keys == ['vehicles[0].mavlink.url', 'vehicles[1].home', 'vehicles[2].kind',
                    'vehicles[3].mavlink.system_id', 'vehicles'], found
    assert 'use udpout:127.0.0.1:14551' in found[0]
    assert 'world vehicle "rover_2" is missing' in found[4]


def test_real_vehicle_url_is_not_port_checked(tmp_path: Path) -> None:
    def real(document: dict[str, Any]) -> None:
        document['vehicles'][0]['mavlink']['url'] = 'udpout:10.1.2.3:14550'
        document['vehicles'][1]['mavlink']['url'] = '/dev/ttyUSB0,57600'
    assert mismatches(tmp_path, real) == []


def test_home_must_be_inside_the_geofence(tmp_path: Path) -> None:
    def outside(document: dict[str, Any]) -> None:
        document['zones'][5]['polygon'] = [[0, 0], [10, 0], [10, 10], [0, 10]]
    found = mismatches(tmp_path, outside)
    assert found and all(m.endswith('outside every geofence_inclusion zone') for m in found)


def test_load_site_names_every_mismatch(tmp_path: Path) -> None:
    def drift(document: dict[str, Any]) -> None:
        document['site']['name'] = 'other'
        document['cameras'][0]['name'] = 'cam_roof'
    with pytest.raises(SiteConfigError) as caught:
        load_site(write_config(tmp_path, drift))
    assert caught.value.key == 'site.name'
    assert 'cam_roof' in caught.value.reason and 'more' in caught.value.reason


# --------------------------------------------------------------------------
# Zones at work
# --------------------------------------------------------------------------

def test_schedule_runs_past_midnight_in_site_time() -> None:
    building = next(z for z in load_site_config(SUBSTATION).zones if z.name == 'control_building')
    tz = 'America/Denver'  # UTC-6 in June (MDT)
    thursday_night = datetime(2024, 6, 7, 5, 0, tzinfo=UTC)    # Thu 23:00 local
    monday_noon = datetime(2024, 6, 10, 18, 0, tzinfo=UTC)   # Mon 12:00 local
    tuesday_early = datetime(2024, 6, 11, 12, 30, tzinfo=UTC)  # Tue 06:30 local
    tuesday_late = datetime(2024, 6, 11, 13, 30, tzinfo=UTC)   # Tue 07:30 local
    sunday = datetime(2024, 6, 9, 18, 0, tzinfo=UTC)          # Sun 12:00 local
    assert building.active_at(thursday_night, tz)
    assert not building.active_at(monday_noon, tz)
    assert building.active_at(tuesday_early, tz)
    assert not building.active_at(tuesday_late, tz)
    assert building.active_at(sunday, tz)
    with pytest.raises(ValueError):
        building.active_at(datetime(2024, 6, 9, 12, 0), tz)


def test_zone_altitude_band() -> None:
    airspace = next(z for z in load_site_config(SUBSTATION).zones
                    if z.name == 'transformer_airspace')
    assert airspace.contains(50.0, 20.0, 10.0)
    assert not airspace.contains(50.0, 20.0, 30.0)
    assert airspace.contains(50.0, 20.0)  # no altitude: horizontal test only


@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(1.0, 1e3), st.floats(1.0, 1e3),
       st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_point_in_polygon_rectangles(x0: float, y0: float, width: float, height: float,
                                     u: float, v: float) -> None:
    rectangle = [(x0, y0), (x0 + width, y0), (x0 + width, y0 + height), (x0, y0 + height)]
    assert polygon_area(rectangle) > 0.0
    assert point_in_polygon(x0 + u * width, y0 + v * height, rectangle)
    assert point_in_polygon(x0 + u * width, y0 + v * height, rectangle[::-1])
    assert not point_in_polygon(x0 - 1.0, y0 + v * height, rectangle)
    assert not point_in_polygon(x0 + u * width, y0 + height + 1.0, rectangle)
