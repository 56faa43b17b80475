"""Emulated autopilot: SET_POSITION_TARGET_* guided targets, taken or refused (fake clock)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.vehicle_types import SetpointMode, Vector3, VehicleKind


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
REL_ALT_INT = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT


def drone(**overrides: object) -> H.Sim:
    return H.Sim(H.make_config(VehicleKind.DRONE, **overrides))


def test_set_position_target_global_int_position_and_velocity() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    lat, lon = sim.geodetic(-20.0, 15.0)
    pos_mask = (mavlink.POSITION_TARGET_TYPEMASK_VX_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_VY_IGNORE
                | mavlink.POSITION_TARGET_TYPEMASK_VZ_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_AX_IGNORE
                | mavlink.POSITION_TARGET_TYPEMASK_AY_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_AZ_IGNORE
                | mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE)
    sim.send(sim.gcs.set_position_target_global_int_encode(0, 1, 1, REL_ALT_INT, pos_mask, lat, lon, 12.0,
                                                           0, 0, 0, 0, 0, 0, 0, 0))
    sim.run_until(lambda: H.dist(sim.physics.position, Vector3(-20, 15, 12)) < 0.5, 20, 'position target')
    vel_mask = (mavlink.POSITION_TARGET_TYPEMASK_X_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_Y_IGNORE
                | mavlink.POSITION_TARGET_TYPEMASK_Z_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_AX_IGNORE
                | mavlink.POSITION_TARGET_TYPEMASK_AY_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_AZ_IGNORE
                | mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE)
    sim.send(sim.gcs.set_position_target_global_int_encode(0, 1, 1, REL_ALT_INT, vel_mask, 0, 0, 0,
                                                           2.0, 0.0, 0.0, 0, 0, 0, 0, 0))  # 2 m/s north
    sim.step()
    sp = sim.setpoints[-1]
    assert sp.mode is SetpointMode.VELOCITY and sp.velocity == Vector3(0.0, 2.0, 0.0)
    y0 = sim.physics.position.y
    sim.run(2.0)
    assert sim.physics.position.y == pytest.approx(y0 + 4.0, abs=0.3)
    sim.run(2.0)  # the velocity target times out after 3 s: the vehicle stops
    assert sim.setpoints[-1].mode is SetpointMode.POSITION
    y_stop = sim.physics.position.y
    sim.run(2.0)
    assert sim.physics.position.y == pytest.approx(y_stop, abs=0.01)


def test_position_targets_are_ignored_outside_guided_and_bad_ones_rejected() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    sim.set_mode('LOITER')
    lat, lon = sim.geodetic(-20.0, 15.0)
    mark = len(sim.messages)
    sim.send(sim.gcs.set_position_target_global_int_encode(0, 1, 1, REL_ALT_INT, 0b110111111000, lat, lon, 12.0,
                                                           0, 0, 0, 0, 0, 0, 0, 0))
    assert any('not armed in GUIDED' in t for t in sim.texts(mark))
    sim.set_mode('GUIDED')
    here = sim.physics.position
    for lat_i, alt, vx in ((91 * 10**7, 12.0, 0.0), (lat, math.nan, 0.0)):
        sim.send(sim.gcs.set_position_target_global_int_encode(0, 1, 1, REL_ALT_INT, 0b110111111000, lat_i, lon,
                                                               alt, vx, 0, 0, 0, 0, 0, 0, 0))
    sim.send(sim.gcs.set_position_target_global_int_encode(0, 1, 1, REL_ALT_INT, 0b110111000111, 0, 0, 0,
                                                           math.nan, 0, 0, 0, 0, 0, 0, 0))
    sim.send(sim.gcs.set_position_target_global_int_encode(0, 1, 1, REL_ALT_INT, 0b110111000111, 0, 0, 0,
                                                           500.0, 0, 0, 0, 0, 0, 0, 0))
    assert sum('Target rejected' in t for t in sim.texts(mark)) >= 3
    sim.run(2.0)
    assert H.dist(sim.physics.position, here) < 0.1


def test_set_position_target_local_ned_offsets() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    mask = 0b110111111000  # position only
    sim.send(sim.gcs.set_position_target_local_ned_encode(0, 1, 1, mavlink.MAV_FRAME_LOCAL_OFFSET_NED, mask,
                                                          10.0, 5.0, -2.0, 0, 0, 0, 0, 0, 0, 0, 0))
    sim.run_until(lambda: H.dist(sim.physics.position, Vector3(5, 10, 12)) < 0.5, 20, 'offset target')
    sim.send(sim.gcs.set_position_target_local_ned_encode(0, 1, 1, mavlink.MAV_FRAME_LOCAL_NED, mask,
                                                          0.0, 0.0, -8.0, 0, 0, 0, 0, 0, 0, 0, 0))
    sim.run_until(lambda: H.dist(sim.physics.position, Vector3(0, 0, 8)) < 0.5, 20, 'local target')
