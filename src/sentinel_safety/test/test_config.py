"""Configuration: the shipped file loads for both sites; every bad value names file, key, reason."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sentinel_safety.config import SafetyConfigError, load_safety_config, parse_safety_config
from sentinel_safety.domain import Action, EstopCategory, VehicleType
from sentinel_safety.site import bind, load_site


def _testkit() -> ModuleType:
    name = 'sentinel_safety_testkit'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(
            'safety_testkit.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


K = _testkit()   # shared builders (safety_testkit.py)


def test_shipped_config_loads_and_covers_both_sites() -> None:
    config = load_safety_config(K.SAFETY_YAML)
    for site_file in (K.SITE_YAML, K.SOLAR_YAML):
        bind(config, load_site(site_file))
    drone = config.vehicle_types[VehicleType.DRONE]
    assert drone.estop_category is EstopCategory.BRAKE
    assert drone.ladder['battery_critical'].action is Action.LAND
    assert config.vehicle_types[VehicleType.GROUND].min_height_above_ground is None
    assert config.estop.state_file.is_absolute()


def _leaf_paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of the config, the optional per-zone overrides excepted."""
    if isinstance(data, dict):
        for key, value in data.items():
            path = prefix + (key,)
            if prefix[:2] == ('monitoring', 'zone_actions'):
                continue   # optional per-zone rungs
            if path[:1] != ('vehicle_types',) or len(path) != 2:
                yield path   # a whole vehicle type is required by the site, checked by bind
            yield from _leaf_paths(value, path)
    elif isinstance(data, list) and data and isinstance(data[0], dict):
        yield from _leaf_paths(data[0], prefix + (0,))


def _dotted(path: tuple[Any, ...]) -> str:
    text = ''
    for part in path:
        text += f'[{part}]' if isinstance(part, int) else (f'.{part}' if text else str(part))
    return text


def _parse(data: dict[str, Any]) -> None:
    parse_safety_config(K.dump(data), 'edited-safety.yaml', Path('/tmp'))


@pytest.mark.parametrize('path', list(_leaf_paths(K.safety_dict())), ids=_dotted)
def test_every_key_is_required(path: tuple[Any, ...]) -> None:
    data = K.safety_dict()
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    with pytest.raises(SafetyConfigError) as caught:
        _parse(data)
    assert caught.value.file == 'edited-safety.yaml'
    assert caught.value.key == _dotted(path)
    assert 'missing' in caught.value.reason


def _set(path: str, value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split('.')]
        target = data
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value
    return mutate


@pytest.mark.parametrize(('path', 'value', 'key', 'reason'), [
    ('vehicle_types.drone.max_horizontal_speed', -1.0, 'vehicle_types.drone.max_horizontal_speed',
     'out of range'),
    ('vehicle_types.drone.max_horizontal_speed', 'fast', 'vehicle_types.drone.max_horizontal_speed',
     'expected a number'),
    ('vehicle_types.drone.max_horizontal_deceleration', float('nan'),
     'vehicle_types.drone.max_horizontal_deceleration', 'finite'),
    ('vehicle_types.drone.battery.reserve', 1.0, 'vehicle_types.drone.battery.reserve', 'below 1'),
    ('vehicle_types.drone.battery.cruise_speed', 20.0, 'vehicle_types.drone.battery.cruise_speed',
     'out of range'),
    ('vehicle_types.drone.min_gps_fix', '4d', 'vehicle_types.drone.min_gps_fix', 'not one of'),
    ('vehicle_types.drone.ladder.low_battery.action', 'terminate',
     'vehicle_types.drone.ladder.low_battery.action', 'not one of'),
    ('vehicle_types.drone.estop_category', 'terminate', 'vehicle_types.drone.estop_category',
     'not one of'),
    ('vehicle_types.ground.ladder.gps_lost.action', 'land',
     'vehicle_types.ground.ladder.gps_lost.action', 'not one of'),
    ('vehicle_types.ground.estop_category', 'brake', 'vehicle_types.ground.estop_category',
     'not one of'),
    ('vehicle_types.drone.ladder.gps_lost.delay', -2.0, 'vehicle_types.drone.ladder.gps_lost.delay',
     'out of range'),
    ('vehicle_types.drone.zone_kinds', ['keep_out'], 'vehicle_types.drone.zone_kinds',
     'must include geofence_inclusion'),
    ('vehicle_types.drone.zone_kinds', ['geofence_inclusion', 'restricted'],
     'vehicle_types.drone.zone_kinds', 'not one of'),
    ('vehicle_types.drone.allow_terminate', 'no', 'vehicle_types.drone.allow_terminate',
     'true or false'),
    ('vehicle_types.ground.min_height_above_ground', 1.0,
     'vehicle_types.ground.min_height_above_ground', 'unknown key'),
    ('vehicle_types.boat', {}, 'vehicle_types.boat', 'unknown key'),
    ('monitoring.period', 0.5, 'monitoring.period', '1.1 x lease'),
    ('monitoring.zone_actions.substation.hv_bus.fence_breach.action', 'land',
     'monitoring.zone_actions.substation.hv_bus.fence_breach.action', 'not one of'),
    ('monitoring.zone_actions.substation.hv_bus', {'low_battery': {'action': 'hold', 'delay': 0}},
     'monitoring.zone_actions.substation.hv_bus.low_battery', 'unknown key'),
    ('heartbeats.own_period', 0.5, 'heartbeats.own_period', 'out of range'),
    ('heartbeats.nodes.0.name', 'detector', 'heartbeats.nodes[0].name', 'fully qualified'),
    ('heartbeats.nodes.1.name', '/perception/detector', 'heartbeats.nodes[1].name', 'twice'),
    ('heartbeats.nodes.0.lease', 0.1, 'heartbeats.nodes[0].lease', 'shorter than'),
    ('heartbeats.nodes.0.role', 'camera', 'heartbeats.nodes[0].role', 'not one of'),
    ('heartbeats.policy.perception', ['explode'], 'heartbeats.policy.perception[0]', 'not one of'),
    ('authorization.estop_release', ['shift_supervisor'], 'authorization.estop_release',
     'at least two'),
    ('authorization.estop_engage', [], 'authorization.estop_engage', 'must not be empty'),
    ('authorization.override', ['a', 'a'], 'authorization.override[1]', 'listed twice'),
    ('estop.status_period', 2.0, 'estop.status_period', 'out of range'),
    ('estop.state_file', '$SENTINEL_NO_SUCH_VARIABLE/x.json', 'estop.state_file',
     'unset environment variable'),
    ('estop.state_file', '/tmp', 'estop.state_file', 'directory'),
    ('mavlink.source_system', 256, 'mavlink.source_system', 'out of range'),
    ('mavlink.command_timeout', 0.1, 'mavlink.command_timeout', 'no time to resend'),
    ('mavlink.heartbeat_period', 5.0, 'mavlink.heartbeat_period', 'out of range'),
    ('version', 2, 'version', 'version 2'),
])
def test_invalid_values_name_the_key_and_reason(path: str, value: Any, key: str,
                                                reason: str) -> None:
    data = K.safety_dict()
    _set(path, value)(data)
    with pytest.raises(SafetyConfigError) as caught:
        _parse(data)
    assert (caught.value.file, caught.value.key) == ('edited-safety.yaml', key)
    assert reason in caught.value.reason, caught.value.reason
    assert str(caught.value).startswith(f'edited-safety.yaml: {key}: ')


def test_terminate_becomes_valid_only_where_allowed() -> None:
    def allow(data: dict[str, Any]) -> None:
        data['vehicle_types']['ground']['allow_terminate'] = True
        data['vehicle_types']['ground']['estop_category'] = 'terminate'
        data['vehicle_types']['ground']['ladder']['gps_lost']['action'] = 'terminate'
    config = K.config(allow)
    assert config.vehicle_types[VehicleType.GROUND].estop_category is EstopCategory.TERMINATE


def test_yaml_problems_name_the_line() -> None:
    text = K.SAFETY_YAML.read_text(encoding='utf-8')
    duplicated = text.replace('monitoring:\n', 'monitoring:\n  period: 0.1\n', 1)
    with pytest.raises(SafetyConfigError) as caught:
        parse_safety_config(duplicated, 'dup.yaml', Path('/tmp'))
    assert caught.value.key.startswith('line ') and 'twice' in caught.value.reason
    with pytest.raises(SafetyConfigError) as caught:
        parse_safety_config('version: [1\n', 'broken.yaml', Path('/tmp'))
    assert 'invalid YAML' in caught.value.reason


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SafetyConfigError) as caught:
        load_safety_config(tmp_path / 'nope.yaml')
    assert caught.value.key == 'file' and 'cannot read' in caught.value.reason


def test_relative_state_file_resolves_next_to_the_config(tmp_path: Path) -> None:
    path = K.write_config(tmp_path, _set('estop.state_file', 'state/estop.json'))
    assert load_safety_config(path).estop.state_file == tmp_path / 'state' / 'estop.json'


def test_binding_to_a_site_checks_types_zones_and_ids() -> None:
    site = K.substation()

    def no_ground(data: dict[str, Any]) -> None:
        del data['vehicle_types']['ground']
    with pytest.raises(SafetyConfigError) as caught:
        bind(K.config(no_ground), site)
    assert caught.value.key == 'vehicle_types.ground' and 'rover_1' in caught.value.reason

    def unknown_zone(data: dict[str, Any]) -> None:
        data['monitoring']['zone_actions']['substation']['atlantis'] = {
            'fence_breach': {'action': 'hold', 'delay': 0.0}}
    with pytest.raises(SafetyConfigError) as caught:
        bind(K.config(unknown_zone), site)
    assert caught.value.key == 'monitoring.zone_actions.substation.atlantis'

    with pytest.raises(SafetyConfigError) as caught:
        bind(K.config(_set('mavlink.source_system', 11)), site)
    assert caught.value.key == 'mavlink.source_system' and 'rover_1' in caught.value.reason
