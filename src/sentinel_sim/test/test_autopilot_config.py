"""Emulated autopilot: configuration checks and the read-only parameter table that mirrors it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import AutopilotConfig, ConfigError
from sentinel_sim.vehicle_types import VehicleKind


def _harness() -> ModuleType:
    """The shared harness, loaded by path: pytest's importlib mode puts no test folder on sys.path."""
    name = 'sentinel_sim_autopilot_harness'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name('test_autopilot_harness.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


H = _harness()


def drone(**overrides: object) -> H.Sim:
    return H.Sim(H.make_config(VehicleKind.DRONE, **overrides))


def test_config_from_mapping_names_the_bad_key() -> None:
    base = dict(system_id=3, kind='drone', origin_lat_deg=47.0, origin_lon_deg=8.0, origin_alt_m=400.0)
    config = AutopilotConfig.from_mapping({**base, 'gcs_failsafe_action': 'LAND'}, 'site.yaml')
    assert config.kind is VehicleKind.DRONE and config.gcs_failsafe_action.value == 'land'
    bad_cases = {
        'battery_critical_pct': {'battery_low_pct': 20.0, 'battery_critical_pct': 25.0},
        'origin_lat_deg': {'origin_lat_deg': 100.0},
        'kind': {'kind': 'boat'},
        'bogus': {'bogus': 1},
        'gcs_timeout_s': {'gcs_timeout_s': -1.0},
        'stream_rates_hz.NOPE': {'stream_rates_hz': {'NOPE': 3.0}},
    }
    for key, change in bad_cases.items():
        with pytest.raises(ConfigError) as info:
            AutopilotConfig.from_mapping({**base, **change}, 'site.yaml')
        assert info.value.key == key and 'site.yaml' in str(info.value)
    missing = dict(base)
    del missing['origin_alt_m']
    with pytest.raises(ConfigError, match='origin_alt_m'):
        AutopilotConfig.from_mapping(missing, 'site.yaml')


def test_parameters_are_listed_and_read_only() -> None:
    sim = drone(gcs_timeout_s=7.0)
    replies = sim.send(sim.gcs.param_request_list_encode(1, 1))
    values = {m.param_id: m.param_value for m in replies if m.get_type() == 'PARAM_VALUE'}
    assert values['FS_GCS_TIMEOUT'] == 7.0 and values['SYSID_THISMAV'] == 1.0
    assert all(m.param_count == len(values) for m in replies if m.get_type() == 'PARAM_VALUE')
    replies = sim.send(sim.gcs.param_set_encode(1, 1, b'FS_GCS_TIMEOUT', 1.0, mavlink.MAV_PARAM_TYPE_REAL32))
    echoed = [m for m in replies if m.get_type() == 'PARAM_VALUE']
    assert echoed[0].param_value == 7.0
    assert any('read-only' in m.text for m in replies if m.get_type() == 'STATUSTEXT')
    replies = sim.send(sim.gcs.param_request_read_encode(1, 1, b'RTL_ALT', -1))
    assert [m.param_value for m in replies if m.get_type() == 'PARAM_VALUE'] == [1500.0]
