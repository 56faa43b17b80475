"""Emulated autopilot: commands and their acknowledgements, arming, modes and flight (fake clock)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import (
    CopterMode, RoverMode)
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
DENIED = mavlink.MAV_RESULT_DENIED
FAILED = mavlink.MAV_RESULT_FAILED
UNSUPPORTED = mavlink.MAV_RESULT_UNSUPPORTED
REL_ALT_INT = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT


def drone(**overrides: object) -> H.Sim:
    return H.Sim(H.make_config(VehicleKind.DRONE, **overrides))


def rover(**overrides: object) -> H.Sim:
    return H.Sim(H.make_config(VehicleKind.GROUND, **overrides))


# ------------------------------------------------------------------ arming

def test_arming_refused_without_gps_fix_with_reason() -> None:
    sim = drone()
    sim.ap.inject_gps_loss(True)
    sim.run(0.5)
    mark = len(sim.messages)
    assert sim.arm().result == FAILED
    assert 'PreArm: Need 3D Fix' in sim.texts(mark)
    assert not sim.ap.armed


def test_arming_refused_with_low_battery_with_reason() -> None:
    sim = drone()
    sim.ap.inject_battery_remaining(20.0)
    sim.run(0.2)
    mark = len(sim.messages)
    assert sim.arm().result == FAILED
    assert any('Battery' in t for t in sim.texts(mark))
    assert not sim.ap.armed


def test_copter_cannot_arm_in_auto_rtl_land_but_can_in_guided_and_stabilize() -> None:
    sim = drone()
    for mode in ('RTL', 'LAND', 'BRAKE'):
        assert sim.set_mode(mode).result == ACCEPTED
        mark = len(sim.messages)
        assert sim.arm().result == FAILED
        assert any('not armable' in t for t in sim.texts(mark))
    assert sim.set_mode('STABILIZE').result == ACCEPTED
    assert sim.arm().result == ACCEPTED
    assert sim.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0).result == ACCEPTED
    assert sim.set_mode('GUIDED').result == ACCEPTED
    assert sim.arm().result == ACCEPTED
    assert sim.arm().result == ACCEPTED  # arming when armed is a no-op, as ArduPilot


def test_disarm_in_flight_needs_the_force_magic() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    assert sim.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0).result == FAILED
    assert sim.ap.armed
    assert sim.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, 21196).result == ACCEPTED
    assert not sim.ap.armed
    sim.step()
    assert sim.setpoints[-1].mode is SetpointMode.IDLE


def test_arm_param_out_of_range_is_denied() -> None:
    sim = drone()
    assert sim.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0.5).result == DENIED
    assert sim.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, math.nan).result == DENIED
    assert not sim.ap.armed


def test_idle_armed_copter_disarms_itself_after_the_delay() -> None:
    sim = drone(auto_disarm_s=10.0)
    sim.set_mode('GUIDED')
    sim.arm()
    sim.run(9.5)
    assert sim.ap.armed
    sim.run(1.0)
    assert not sim.ap.armed


# ------------------------------------------------------------------ flying

def test_takeoff_goto_rtl_land_flow() -> None:
    sim = drone(cruise_speed_m_s=8.0, rtl_altitude_m=15.0, rtl_loiter_s=2.0, land_speed_m_s=1.0)
    sim.fly_to_altitude(10.0)
    assert sim.ap.mode == CopterMode.GUIDED
    assert abs(sim.physics.position.z - 10.0) < 0.6
    lat, lon = sim.geodetic(60.0, 80.0)
    ack = sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, REL_ALT_INT, (-1, 0, 0, math.nan), lat, lon, 20.0)
    assert ack.result == ACCEPTED
    sim.run_until(lambda: H.dist(sim.physics.position, Vector3(60, 80, 20)) < 0.5, 30, 'reposition target')
    assert sim.command(mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH).result == ACCEPTED
    assert sim.ap.mode == CopterMode.RTL
    # return leg at max(RTL_ALT, current altitude) = 20 m
    sim.run_until(lambda: math.hypot(sim.physics.position.x, sim.physics.position.y) < 1.0, 40, 'home')
    assert abs(sim.physics.position.z - 20.0) < 0.6
    sim.run_until(lambda: not sim.ap.armed, 60, 'landing and disarm')
    assert sim.physics.position.z == 0.0 and not sim.physics.crashed
    assert sim.ap.mode == CopterMode.RTL
    landed_states = [m.landed_state for m in sim.of_type('EXTENDED_SYS_STATE')]
    for state in (mavlink.MAV_LANDED_STATE_TAKEOFF, mavlink.MAV_LANDED_STATE_IN_AIR,
                  mavlink.MAV_LANDED_STATE_LANDING, mavlink.MAV_LANDED_STATE_ON_GROUND):
        assert state in landed_states
    assert 'Land complete' in sim.texts()


def test_rtl_climbs_to_rtl_altitude_first_when_lower() -> None:
    sim = drone(rtl_altitude_m=15.0)
    sim.fly_to_altitude(5.0)
    lat, lon = sim.geodetic(30.0, 0.0)
    sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, REL_ALT_INT, (-1, 0, 0, math.nan), lat, lon, 5.0)
    sim.run_until(lambda: sim.physics.position.x > 29.0, 20)
    sim.command(mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH)
    sim.run_until(lambda: sim.physics.position.z > 14.5, 10, 'climb')
    assert sim.physics.position.x > 28.0  # climbed before turning home


def test_land_command_descends_in_place_and_disarms() -> None:
    sim = drone(land_speed_m_s=2.0, descent_speed_m_s=3.0)
    sim.fly_to_altitude(12.0)
    assert sim.command(mavlink.MAV_CMD_NAV_LAND).result == ACCEPTED
    assert sim.ap.mode == CopterMode.LAND
    sim.run(0.5)
    assert sim.setpoints[-1].mode is SetpointMode.LAND and sim.setpoints[-1].max_speed == 3.0  # above 10 m
    sim.run_until(lambda: not sim.ap.armed, 30, 'landing')
    assert sim.physics.position.z == 0.0


def test_takeoff_refusals() -> None:
    sim = drone(max_altitude_m=100.0)
    assert sim.takeoff(10).result == FAILED                      # STABILIZE, disarmed
    sim.set_mode('GUIDED')
    assert sim.takeoff(10).result == FAILED                      # not armed
    sim.arm()
    mark = len(sim.messages)
    assert sim.takeoff(math.nan).result == DENIED
    assert sim.takeoff(150).result == DENIED
    assert sim.takeoff(-3).result == DENIED
    assert len(sim.texts(mark)) == 3
    assert sim.takeoff(10).result == ACCEPTED
    sim.run(5.0)
    assert sim.takeoff(20).result == FAILED                      # already flying
    assert rover().takeoff(10).result == UNSUPPORTED


def test_reposition_bad_inputs_are_denied_and_vehicle_keeps_flying() -> None:
    sim = drone(max_range_m=1000.0)
    sim.fly_to_altitude(10.0)
    lat, lon = sim.geodetic(10.0, 10.0)
    cases = [
        ((-1, 0, 0, math.nan), 91 * 10**7, lon, 10.0),      # latitude out of range
        ((-1, 0, 0, math.nan), lat, 181 * 10**7, 10.0),     # longitude out of range
        ((-1, 0, 0, math.nan), lat, lon, math.nan),         # altitude NaN
        ((-1, 0, 0, math.nan), lat, lon, 500.0),            # above max altitude
        ((-1, 0, 0, math.nan), lat, lon, 0.2),              # into the ground
        ((99.0, 0, 0, math.nan), lat, lon, 10.0),           # speed out of range
        ((-1, 0, 0, math.inf), lat, lon, 10.0),             # yaw infinite
    ]
    far_lat, far_lon = sim.geodetic(5000.0, 0.0)
    cases.append(((-1, 0, 0, math.nan), far_lat, far_lon, 10.0))  # beyond max range
    for params, x, y, z in cases:
        mark = len(sim.messages)
        ack = sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, REL_ALT_INT, params, x, y, z)
        assert ack.result == DENIED, (params, x, y, z)
        assert sim.texts(mark), 'a refusal must say why'
    assert sim.ap.armed and sim.ap.mode == CopterMode.GUIDED
    bad_frame = sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, mavlink.MAV_FRAME_LOCAL_NED,
                                (-1, 0, 0, math.nan), lat, lon, 10.0)
    assert bad_frame.result == DENIED
    sim.run(2.0)
    assert abs(sim.physics.position.z - 10.0) < 0.6


def test_reposition_outside_guided_needs_the_change_mode_flag() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    assert sim.set_mode('LOITER').result == ACCEPTED
    lat, lon = sim.geodetic(20.0, 0.0)
    assert sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, REL_ALT_INT, (-1, 0, 0, math.nan),
                           lat, lon, 10.0).result == DENIED
    assert sim.ap.mode == CopterMode.LOITER
    flags = mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE
    assert sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, REL_ALT_INT, (-1, flags, 0, math.nan),
                           lat, lon, 10.0).result == ACCEPTED
    assert sim.ap.mode == CopterMode.GUIDED
    sim.run_until(lambda: sim.physics.position.x > 19.5, 10)


def test_reposition_as_command_long_uses_degrees_and_relative_altitude() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    lat, lon = sim.geodetic(0.0, 25.0)
    ack = sim.command(mavlink.MAV_CMD_DO_REPOSITION, -1, 0, 0, math.nan, lat / 1e7, lon / 1e7, 15.0)
    assert ack.result == ACCEPTED
    # COMMAND_LONG carries degrees as float32: about half a metre of resolution here
    sim.run_until(lambda: H.dist(sim.physics.position, Vector3(0, 25, 15)) < 1.0, 20)


def test_reposition_absolute_altitude_frame() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    lat, lon = sim.geodetic(0.0, 10.0)
    ack = sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, mavlink.MAV_FRAME_GLOBAL_INT, (-1, 0, 0, math.nan),
                          lat, lon, H.ORIGIN[2] + 30.0)
    assert ack.result == ACCEPTED
    sim.run_until(lambda: abs(sim.physics.position.z - 30.0) < 0.3, 20)


def test_loiter_and_brake_hold_position() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    for mode in ('LOITER', 'BRAKE'):
        assert sim.set_mode(mode).result == ACCEPTED
        here = sim.physics.position
        sim.run(3.0)
        assert H.dist(sim.physics.position, here) < 0.1


def test_mode_changes_need_position_when_the_mode_does() -> None:
    sim = drone()
    sim.ap.inject_gps_loss(True)
    for mode in ('GUIDED', 'LOITER', 'AUTO', 'RTL', 'BRAKE'):
        mark = len(sim.messages)
        assert sim.set_mode(mode).result == FAILED
        assert sim.texts(mark)
    assert sim.set_mode('LAND').result == ACCEPTED
    assert sim.set_mode('STABILIZE').result == ACCEPTED


def test_set_mode_bad_inputs() -> None:
    sim = drone()
    assert sim.command(mavlink.MAV_CMD_DO_SET_MODE, 1, 42).result == DENIED        # no such copter mode
    assert sim.command(mavlink.MAV_CMD_DO_SET_MODE, 0, 4).result == DENIED         # custom flag missing
    assert sim.command(mavlink.MAV_CMD_DO_SET_MODE, 1, math.nan).result == DENIED
    assert sim.command(mavlink.MAV_CMD_DO_SET_MODE, 1, 4.5).result == DENIED
    assert sim.ap.mode == CopterMode.STABILIZE
    assert rover().set_mode('GUIDED').result == ACCEPTED


def test_legacy_set_mode_message_is_acknowledged_as_do_set_mode() -> None:
    sim = drone()
    replies = sim.send(sim.gcs.set_mode_encode(1, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, CopterMode.LOITER))
    assert H.single_ack(replies, mavlink.MAV_CMD_DO_SET_MODE).result == ACCEPTED
    assert sim.ap.mode == CopterMode.LOITER


def test_unknown_command_is_unsupported_with_a_status_text() -> None:
    sim = drone()
    mark = len(sim.messages)
    assert sim.command(31_337).result == UNSUPPORTED
    assert any('31337' in t for t in sim.texts(mark))
    assert sim.command(31_337).result == UNSUPPORTED  # still exactly one ack, no text flood
    assert sum('31337' in t for t in sim.texts(mark)) == 1


def test_messages_for_other_systems_are_ignored() -> None:
    sim = drone()
    replies = sim.send(sim.gcs.command_long_encode(7, 1, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0,
                                                   0, 0))
    assert [m for m in replies if m.get_type() == 'COMMAND_ACK'] == []
    broadcast = sim.send(sim.gcs.command_long_encode(0, 0, mavlink.MAV_CMD_REQUEST_MESSAGE, 0,
                                                     mavlink.MAVLINK_MSG_ID_HOME_POSITION, 0, 0, 0, 0, 0, 0))
    assert H.single_ack(broadcast, mavlink.MAV_CMD_REQUEST_MESSAGE).result == ACCEPTED


def test_flight_termination_only_when_allowed() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    mark = len(sim.messages)
    assert sim.command(mavlink.MAV_CMD_DO_FLIGHTTERMINATION, 1).result == DENIED
    assert sim.texts(mark) and sim.ap.armed
    sim = drone(allow_flight_termination=True)
    sim.fly_to_altitude(10.0)
    assert sim.command(mavlink.MAV_CMD_DO_FLIGHTTERMINATION, math.nan).result == DENIED
    assert sim.command(mavlink.MAV_CMD_DO_FLIGHTTERMINATION, 1).result == ACCEPTED
    sim.step()
    assert sim.setpoints[-1].mode is SetpointMode.KILL and not sim.ap.armed and sim.ap.terminated
    sim.run(3.0)
    assert sim.physics.on_ground
    assert sim.arm().result == FAILED
    assert sim.of_type('HEARTBEAT')[-1].system_status == mavlink.MAV_STATE_FLIGHT_TERMINATION
    ground = rover(allow_flight_termination=True)
    ground.set_mode('GUIDED')
    ground.arm()
    assert ground.command(mavlink.MAV_CMD_DO_FLIGHTTERMINATION, 1).result == ACCEPTED
    ground.step()
    assert ground.setpoints[-1].mode is SetpointMode.KILL  # a ground vehicle brakes to a stop


def test_change_speed_and_set_home() -> None:
    sim = drone()
    sim.fly_to_altitude(10.0)
    assert sim.command(mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, 2.0).result == ACCEPTED
    lat, lon = sim.geodetic(40.0, 0.0)
    sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, REL_ALT_INT, (-1, 0, 0, math.nan), lat, lon, 10.0)
    sim.step()
    assert sim.setpoints[-1].max_speed == 2.0
    assert sim.command(mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, -5.0).result == DENIED
    assert sim.command(mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, math.nan).result == DENIED
    hlat, hlon = sim.geodetic(5.0, 5.0)
    assert sim.command_int(mavlink.MAV_CMD_DO_SET_HOME, mavlink.MAV_FRAME_GLOBAL_INT, (0, 0, 0, 0),
                           hlat, hlon, H.ORIGIN[2]).result == ACCEPTED
    assert sim.ap.home is not None and H.dist(sim.ap.home, Vector3(5, 5, 0)) < 0.05
    assert sim.command(mavlink.MAV_CMD_DO_SET_HOME, 0, 0, 0, 0, 95.0, 0.0, 0.0).result == DENIED
    assert sim.command(mavlink.MAV_CMD_DO_SET_HOME, 1).result == ACCEPTED
    assert H.dist(sim.ap.home, sim.physics.position) < 0.5


# ------------------------------------------------------------------ ground vehicles

def test_rover_guided_drive_and_rtl_stops_at_home() -> None:
    sim = rover(cruise_speed_m_s=4.0)
    assert sim.set_mode('GUIDED').result == ACCEPTED
    assert sim.arm().result == ACCEPTED
    lat, lon = sim.geodetic(30.0, -10.0)
    ack = sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, REL_ALT_INT, (-1, 0, 0, math.nan), lat, lon, 0.0)
    assert ack.result == ACCEPTED
    sim.run_until(lambda: math.hypot(sim.physics.position.x - 30, sim.physics.position.y + 10) < 0.5, 20)
    assert sim.physics.position.z == 0.0
    assert sim.command(mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH).result == ACCEPTED
    assert sim.ap.mode == RoverMode.RTL
    sim.run_until(lambda: math.hypot(sim.physics.position.x, sim.physics.position.y) < 2.0, 20)
    sim.run(3.0)
    assert math.hypot(sim.physics.position.x, sim.physics.position.y) < 2.0
    assert sim.ap.armed  # a rover stays armed at home
    assert sim.command(mavlink.MAV_CMD_NAV_LAND).result == UNSUPPORTED


def test_rover_hold_and_manual_keep_still() -> None:
    sim = rover()
    sim.set_mode('HOLD')
    assert sim.arm().result == ACCEPTED
    sim.run(1.0)
    assert sim.setpoints[-1].mode is SetpointMode.VELOCITY and sim.setpoints[-1].velocity == Vector3()
    assert sim.set_mode('MANUAL').result == ACCEPTED
    sim.run(1.0)
    assert sim.physics.position == Vector3()
