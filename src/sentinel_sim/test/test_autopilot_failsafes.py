"""Emulated autopilot: failsafes (GCS link, battery, GPS) and injected vehicle faults (fake clock)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import CopterMode, FailsafeAction, RoverMode
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
ACCEPTED = mavlink.MAV_RESULT_ACCEPTED
FAILED = mavlink.MAV_RESULT_FAILED


def critical_texts(sim: H.Sim, since: int = 0) -> list[str]:
    return [m.text for m in sim.of_type('STATUSTEXT', since) if m.severity <= mavlink.MAV_SEVERITY_CRITICAL]


# ------------------------------------------------------------------ GCS heartbeat

def test_gcs_failsafe_needs_a_gcs_to_have_been_seen() -> None:
    sim = H.Sim(H.make_config(), gcs_heartbeats=False)
    sim.fly_to_altitude(10.0)   # commands arrive, but no GCS heartbeat ever does
    sim.run(30.0)
    assert sim.ap.mode == CopterMode.GUIDED and not sim.ap.gcs_failsafe
    assert critical_texts(sim) == []


def test_gcs_failsafe_fires_only_after_the_timeout_then_rtl() -> None:
    sim = H.Sim(H.make_config(gcs_timeout_s=5.0))
    sim.fly_to_altitude(10.0)
    sim.gcs_heartbeats = False
    last_beat = sim.last_gcs_heartbeat
    mark = len(sim.messages)
    sim.run_until(lambda: sim.t >= last_beat + 5.0, 10)   # exactly the timeout: not yet
    sim.step()
    assert sim.ap.mode == CopterMode.GUIDED and not sim.ap.gcs_failsafe
    sim.step()                                            # 5.1 s without a heartbeat
    assert sim.ap.gcs_failsafe and sim.ap.mode == CopterMode.RTL
    assert any('GCS' in t for t in critical_texts(sim, mark))
    sim.run(1.0)
    assert sim.of_type('HEARTBEAT')[-1].system_status == mavlink.MAV_STATE_CRITICAL
    sim.gcs_heartbeats = True
    sim.step()
    assert not sim.ap.gcs_failsafe
    assert 'GCS Failsafe Cleared' in sim.texts(mark)
    assert sim.ap.mode == CopterMode.RTL         # as ArduPilot: the failsafe mode stays


def test_gcs_failsafe_waits_until_every_gcs_is_quiet() -> None:
    # Sentinel's vehicle interface (the harness GCS, 255) and its safety watchdog (250) both connect
    watchdog = mavlink.MAVLink(None, 250, mavlink.MAV_COMP_ID_ONBOARD_COMPUTER)

    def run_with_watchdog(seconds: float) -> None:
        for i in range(round(seconds / sim.dt)):
            if i % round(1.0 / sim.dt) == 0:   # 1 Hz, as ground stations beat
                sim.send(watchdog.heartbeat_encode(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0),
                         250, mavlink.MAV_COMP_ID_ONBOARD_COMPUTER)
            sim.step()

    sim = H.Sim(H.make_config(gcs_timeout_s=5.0))
    sim.fly_to_altitude(10.0)
    sim.gcs_heartbeats = False                 # one station goes quiet...
    run_with_watchdog(15.0)                    # ...for three timeouts while the other keeps beating
    assert not sim.ap.gcs_failsafe and sim.ap.mode == CopterMode.GUIDED
    sim.run(5.2)                               # now neither is heard
    assert sim.ap.gcs_failsafe and sim.ap.mode == CopterMode.RTL


def test_with_sysid_mygcs_only_that_gcs_keeps_the_failsafe_away() -> None:
    sim = H.Sim(H.make_config(gcs_timeout_s=5.0, gcs_system_id=250))
    sim.fly_to_altitude(10.0)                  # heartbeats from 255 only: they do not count
    assert not sim.ap.gcs_failsafe             # and the timer has not started yet
    watchdog = mavlink.MAVLink(None, 250, mavlink.MAV_COMP_ID_ONBOARD_COMPUTER)
    sim.send(watchdog.heartbeat_encode(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0), 250)
    sim.run(5.2)                               # 255 still beats; 250 does not
    assert sim.ap.gcs_failsafe and sim.ap.mode == CopterMode.RTL


@pytest.mark.parametrize(('action', 'kind', 'expected'), [
    (FailsafeAction.LAND, VehicleKind.DRONE, CopterMode.LAND),
    (FailsafeAction.HOLD, VehicleKind.DRONE, CopterMode.LOITER),
    (FailsafeAction.RTL, VehicleKind.GROUND, RoverMode.RTL),
    (FailsafeAction.HOLD, VehicleKind.GROUND, RoverMode.HOLD),
])
def test_gcs_failsafe_actions(action: FailsafeAction, kind: VehicleKind, expected: int) -> None:
    sim = H.Sim(H.make_config(kind, gcs_failsafe_action=action))
    if kind is VehicleKind.DRONE:
        sim.fly_to_altitude(10.0)
    else:
        sim.set_mode('GUIDED')
        sim.arm()
    sim.gcs_heartbeats = False
    sim.run(7.0)
    assert sim.ap.mode == expected


def test_gcs_failsafe_on_the_ground_disarms_and_none_only_reports() -> None:
    sim = H.Sim(H.make_config(auto_disarm_s=0.0))
    sim.set_mode('GUIDED')
    sim.arm()
    sim.gcs_heartbeats = False
    sim.run(7.0)
    assert not sim.ap.armed
    sim = H.Sim(H.make_config(gcs_failsafe_action=FailsafeAction.NONE))
    sim.fly_to_altitude(10.0)
    sim.gcs_heartbeats = False
    sim.run(7.0)
    assert sim.ap.gcs_failsafe and sim.ap.mode == CopterMode.GUIDED and critical_texts(sim)


def test_failsafes_never_step_down_from_land() -> None:
    sim = H.Sim(H.make_config(descent_speed_m_s=0.5, land_speed_m_s=0.5))
    sim.fly_to_altitude(20.0)
    sim.command(mavlink.MAV_CMD_NAV_LAND)
    sim.gcs_heartbeats = False
    sim.run(7.0)
    assert sim.ap.gcs_failsafe and sim.ap.mode == CopterMode.LAND


# ------------------------------------------------------------------ battery

def test_low_battery_rtl_then_critical_land() -> None:
    sim = H.Sim(H.make_config(battery_low_pct=30.0, battery_critical_pct=15.0, rtl_altitude_m=15.0))
    sim.fly_to_altitude(10.0)
    lat, lon = sim.geodetic(100.0, 0.0)
    sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                    (-1, 0, 0, math.nan), lat, lon, 10.0)
    sim.run(10.0)
    mark = len(sim.messages)
    sim.ap.inject_battery_remaining(29.0)
    sim.step()
    assert sim.ap.mode == CopterMode.RTL
    assert any('Battery low' in t for t in critical_texts(sim, mark))
    sim.run(2.0)
    sim.ap.inject_battery_remaining(14.0)
    sim.step()
    assert sim.ap.mode == CopterMode.LAND
    assert any('Battery critical' in t for t in critical_texts(sim, mark))
    sim.run_until(lambda: not sim.ap.armed, 60, 'battery landing')
    assert sim.physics.position.x > 30.0            # landed where it was, not at home
    status = sim.of_type('BATTERY_STATUS')[-1]
    assert status.charge_state == mavlink.MAV_BATTERY_CHARGE_STATE_CRITICAL
    assert sim.arm().result == FAILED


def test_battery_drains_by_itself_into_the_failsafe() -> None:
    sim = H.Sim(H.make_config(battery_capacity_mah=300.0, motors_current_a=20.0, battery_low_pct=50.0,
                              battery_critical_pct=10.0))
    sim.fly_to_altitude(10.0)
    # 150 mAh at about 20 A is 27 s of hover
    sim.run_until(lambda: sim.ap.mode == CopterMode.RTL, 40, 'battery low from drain')
    assert 20.0 < sim.t < 35.0
    pct = [m.battery_remaining for m in sim.of_type('SYS_STATUS')]
    assert pct[0] >= 99 and pct == sorted(pct, reverse=True)


# ------------------------------------------------------------------ GPS

def test_gps_loss_in_flight_lands_and_blocks_position_modes() -> None:
    sim = H.Sim(H.make_config())
    sim.fly_to_altitude(10.0)
    mark = len(sim.messages)
    sim.ap.inject_gps_loss(True)
    sim.run(0.5)
    assert sim.ap.mode == CopterMode.GUIDED        # EKF failsafe waits a moment
    sim.run(1.0)
    assert sim.ap.mode == CopterMode.LAND
    assert any('GPS' in t for t in critical_texts(sim, mark))
    assert sim.set_mode('GUIDED').result == FAILED
    raw = sim.of_type('GPS_RAW_INT')[-1]
    assert raw.fix_type == mavlink.GPS_FIX_TYPE_NO_FIX and raw.satellites_visible == 0
    sys_status = sim.of_type('SYS_STATUS')[-1]
    assert not sys_status.onboard_control_sensors_health & mavlink.MAV_SYS_STATUS_SENSOR_GPS
    sim.run_until(lambda: not sim.ap.armed, 40)
    assert sim.arm().result == FAILED
    sim.ap.inject_gps_loss(False)
    sim.step()
    assert sim.set_mode('GUIDED').result == ACCEPTED


def test_gps_loss_freezes_the_reported_horizontal_position() -> None:
    sim = H.Sim(H.make_config())
    sim.fly_to_altitude(10.0)
    sim.ap.inject_gps_loss(True)
    sim.physics.position = Vector3(20.0, 0.0, 10.0)
    mark = len(sim.messages)
    sim.run(0.5)
    reported = sim.of_type('GLOBAL_POSITION_INT', mark)[-1]
    assert (reported.lat, reported.lon) == sim.geodetic(0.0, 0.0)


# ------------------------------------------------------------------ injected faults

def test_motor_failure_kills_a_drone_and_it_disarms_after_the_crash() -> None:
    sim = H.Sim(H.make_config())
    sim.fly_to_altitude(15.0)
    sim.ap.inject_motor_failure()
    sim.step()
    assert sim.setpoints[-1].mode is SetpointMode.KILL
    sim.run_until(lambda: sim.physics.on_ground, 5)
    sim.run(0.5)
    assert not sim.ap.armed and sim.physics.crashed
    assert any('Motor failure' in t for t in critical_texts(sim))
    assert sim.of_type('HEARTBEAT')[-1].system_status == mavlink.MAV_STATE_EMERGENCY
    assert sim.arm().result == FAILED


def test_motor_failure_idles_a_ground_vehicle() -> None:
    sim = H.Sim(H.make_config(VehicleKind.GROUND))
    sim.set_mode('GUIDED')
    sim.arm()
    sim.ap.inject_motor_failure()
    sim.step()
    assert sim.setpoints[-1].mode is SetpointMode.IDLE and not sim.ap.armed
