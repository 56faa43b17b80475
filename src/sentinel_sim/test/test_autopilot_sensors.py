"""Emulated autopilot: the battery and GPS models."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import BatteryModel, GpsModel
from sentinel_sim.vehicle_types import Vector3, VehicleKind


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


def test_gps_noise_is_seeded_and_deterministic() -> None:
    def fixes(seed: int) -> list[tuple[int, int]]:
        sim = drone(gps_noise_m=1.0, seed=seed)
        sim.run(5.0)
        return [(m.lat, m.lon) for m in sim.of_type('GPS_RAW_INT')]

    assert fixes(7) == fixes(7)
    assert fixes(7) != fixes(8)
    sim = drone(gps_noise_m=1.0, seed=7)
    sim.run(5.0)
    raw = sim.of_type('GPS_RAW_INT')[-1]
    assert raw.fix_type == mavlink.GPS_FIX_TYPE_3D_FIX and raw.satellites_visible == 14
    assert raw.lat != sim.geodetic(0.0, 0.0)[0]  # noisy, unlike the fused position


def test_battery_model_draw_and_voltage() -> None:
    config = H.make_config(battery_capacity_mah=1000.0, battery_cells=4, idle_current_a=1.0,
                           motors_current_a=10.0, current_per_speed_a=2.0)
    battery = BatteryModel(config)
    assert battery.voltage == pytest.approx(4 * 4.2 - 1.0 * config.battery_internal_resistance_ohm)
    battery.update(36.0, motors_on=True, speed=5.0)          # 21 A for 36 s = 210 mAh
    assert battery.consumed_mah == pytest.approx(210.0)
    assert battery.remaining_pct == pytest.approx(79.0)
    idle = BatteryModel(config)
    idle.update(36.0, motors_on=False, speed=0.0)
    assert idle.consumed_mah == pytest.approx(10.0)
    battery.set_remaining(0.0)
    assert battery.remaining_pct == 0.0
    # empty LiPo rests at 3.3 V per cell; 21 A through the pack's resistance sags it further
    assert battery.voltage == pytest.approx(4 * 3.3 - 21.0 * config.battery_internal_resistance_ohm)


def test_gps_model_fix_needs_satellites_and_noise_is_seeded() -> None:
    truth = Vector3(10.0, 20.0, 5.0)
    few = GpsModel(H.make_config(gps_satellites=5), np.random.default_rng(0))
    assert not few.has_fix and few.fix_type == mavlink.GPS_FIX_TYPE_NO_FIX
    gps = GpsModel(H.make_config(gps_noise_m=0.0), np.random.default_rng(0))
    assert gps.has_fix and gps.measure(truth) == truth
    gps.lost = True
    assert not gps.has_fix and gps.satellites == 0
    readings = [GpsModel(H.make_config(gps_noise_m=1.0), np.random.default_rng(seed)).measure(truth)
                for seed in (1, 1, 2)]
    assert readings[0] == readings[1] != readings[2]
    spread = GpsModel(H.make_config(gps_noise_m=1.0), np.random.default_rng(0))
    errors = [spread.measure(truth).x - truth.x for _ in range(2000)]
    assert 0.9 < float(np.std(errors)) < 1.1
