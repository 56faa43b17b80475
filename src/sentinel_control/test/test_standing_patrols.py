"""The standing patrols file: the shipped one fits both shipped sites; mistakes name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel_control.standing_patrols import PatrolConfigError, load_patrols, parse_patrols
from sentinel_sim.site_config import load_site_config

CONFIG = Path(__file__).resolve().parents[3] / 'config'
SHIPPED = CONFIG / 'patrols.yaml'
SUBSTATION = load_site_config(CONFIG / 'sites' / 'substation.yaml')

# One valid patrol of each shape, edited by the cases below.
BASE = """version: 1
sites:
  substation:
    - name: fence
      vehicle_types: [drone]
      capabilities: [camera]
      altitude: 35.0
      speed: 6.0
      route: [[-140, -90], [140, -90], [140, 90]]
    - name: road
      vehicle_id: rover_2
      speed: 2.0
      route: [[-85, -60], [-20, -60]]
  elsewhere:
    - name: fence
      vehicle_types: [ground]
      speed: 1.0
      route: [[0, 0], [10, 0]]
"""


def test_shipped_patrols_fit_both_shipped_sites() -> None:
    substation = load_patrols(SHIPPED, SUBSTATION)
    assert {p.name for p in substation} == {'fence_line', 'service_road'}
    fence = next(p for p in substation if p.name == 'fence_line')
    assert fence.vehicle_kinds == ('drone',) and fence.vehicle_id == '' and fence.speed > 0.0
    assert all(z == 35.0 for _, _, z in fence.route)
    road = next(p for p in substation if p.name == 'service_road')
    assert road.vehicle_id == 'rover_2' and all(z == 0.0 for _, _, z in road.route)
    request = fence.request()
    assert request.route == fence.route and request.speed == fence.speed and request.priority is None
    assert 'fence_line' in request.created_by
    solar = load_patrols(SHIPPED, load_site_config(CONFIG / 'sites' / 'solar_farm.yaml'))
    assert [p.name for p in solar] == ['south_rows']


def test_a_site_without_a_section_has_no_patrols() -> None:
    assert parse_patrols(BASE.replace('  substation:', '  other_site:'), 'p.yaml', SUBSTATION) == ()


@pytest.mark.parametrize('edit,key,reason', [
    (('version: 1', 'version: 2'), 'version', 'reads version 1'),
    (('speed: 6.0', 'speed: 6.0\n      loop: true'), 'sites.substation[0].loop', 'unknown key'),
    (('speed: 6.0', 'speed: 0'), 'sites.substation[0].speed', 'out of range'),
    (('vehicle_types: [drone]', 'vehicle_types: [boat]'), 'sites.substation[0].vehicle_types[0]', 'not one of'),
    (('vehicle_types: [drone]', 'vehicle_types: [drone]\n      vehicle_id: drone_1'), 'sites.substation[0]',
     'exactly one of vehicle_id'),
    (('      altitude: 35.0\n', ''), 'sites.substation[0].altitude', 'missing required key'),
    (('altitude: 35.0\n      speed: 6.0\n      route: [[-140, -90], [140, -90], [140, 90]]',
      'altitude: 20.0\n      speed: 6.0\n      route: [[-140, -90], [50, 20]]'), 'sites.substation[0].route[1]',
     'geofence exclusion transformer_airspace'),
    (('[140, -90], [140, 90]', '[140, -90], [100, 20]'), 'sites.substation[0].route[2]', 'keep-out zone hv_bus'),
    (('[140, -90], [140, 90]', '[140, -90], [400, 90]'), 'sites.substation[0].route[2]', 'outside the flight area'),
    (('altitude: 35.0', 'altitude: 80.0'), 'sites.substation[0].route[0]', 'outside the flight area'),
    (('route: [[-85, -60], [-20, -60]]', 'route: [[-85, -60]]'), 'sites.substation[1].route', 'list of 2 to'),
    (('route: [[-85, -60], [-20, -60]]', 'route: [[-85, -60], [-20]]'), 'sites.substation[1].route[1]',
     'expected [x, y]'),
    (('route: [[-85, -60], [-20, -60]]', 'route: [[-85, -60], [-20, .nan]]'), 'sites.substation[1].route[1][1]',
     'finite number'),
    (('vehicle_id: rover_2', 'vehicle_id: rover_9'), 'sites.substation[1].vehicle_id', "no vehicle 'rover_9'"),
    (('vehicle_id: rover_2', 'vehicle_id: rover_2\n      capabilities: [thermal_camera]'),
     'sites.substation[1].capabilities', 'rover_2 lacks thermal_camera'),
    (('speed: 2.0', 'speed: 2.0\n      altitude: 10.0'), 'sites.substation[1].altitude', 'ground vehicle'),
    (('vehicle_id: rover_2', 'vehicle_id: drone_1'), 'sites.substation[1].altitude', 'drone_1 is a drone'),
    (('capabilities: [camera]', 'capabilities: [gimbal]'), 'sites.substation[0].vehicle_types', 'no vehicle'),
    (('name: road', 'name: fence'), 'sites.substation[1].name', 'defined twice'),
    (('speed: 1.0', 'speed: 1.0\n      priority: 256'), 'sites.elsewhere[0].priority', 'out of range'),
])
def test_errors_name_the_key(edit: tuple[str, str], key: str, reason: str) -> None:
    assert edit[0] in BASE
    with pytest.raises(PatrolConfigError) as info:
        parse_patrols(BASE.replace(edit[0], edit[1], 1), 'patrols.yaml', SUBSTATION)
    assert info.value.file == 'patrols.yaml' and info.value.key == key, str(info.value)
    assert reason in info.value.reason


def test_duplicate_keys_bad_yaml_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PatrolConfigError, match='duplicate key'):
        parse_patrols(BASE.replace('speed: 2.0', 'speed: 2.0\n      speed: 3.0'), 'p', SUBSTATION)
    with pytest.raises(PatrolConfigError, match='invalid YAML'):
        parse_patrols('sites: [', 'p', SUBSTATION)
    with pytest.raises(PatrolConfigError, match='cannot read'):
        load_patrols(tmp_path / 'missing.yaml', SUBSTATION)
