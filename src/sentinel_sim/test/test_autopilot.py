"""Emulated autopilot: commands, acknowledgements, modes, flight and telemetry (fake clock)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import (
    AutopilotConfig, ConfigError, CopterMode, RoverMode, mode_names)
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


# ------------------------------------------------------------------ identity and telemetry

def test_heartbeat_identifies_an_ardupilot_copter_and_tracks_arming() -> None:
    sim = drone()
    sim.run(1.0)
    hb = sim.of_type('HEARTBEAT')[-1]
    assert (hb.type, hb.autopilot) == (mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA)
    assert hb.custom_mode == CopterMode.STABILIZE
    assert hb.base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    assert not hb.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    assert hb.system_status == mavlink.MAV_STATE_STANDBY
    sim.set_mode('GUIDED')
    sim.arm()
    mark = len(sim.messages)
    sim.run(1.1)
    hb = sim.of_type('HEARTBEAT', mark)[-1]
    assert hb.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    assert hb.custom_mode == CopterMode.GUIDED
    assert hb.system_status == mavlink.MAV_STATE_ACTIVE


def test_rover_heartbeat_and_mode_numbers() -> None:
    sim = rover()
    sim.run(1.0)
    hb = sim.of_type('HEARTBEAT')[-1]
    assert hb.type == mavlink.MAV_TYPE_GROUND_ROVER and hb.custom_mode == RoverMode.MANUAL
    assert mode_names(VehicleKind.GROUND) == {'MANUAL': 0, 'HOLD': 4, 'AUTO': 10, 'RTL': 11, 'GUIDED': 15}
    assert mode_names(VehicleKind.DRONE) == {'STABILIZE': 0, 'AUTO': 3, 'GUIDED': 4, 'LOITER': 5, 'RTL': 6,
                                             'LAND': 9, 'BRAKE': 17}


def test_default_stream_rates_resemble_sitl() -> None:
    sim = drone()
    mark = len(sim.messages)
    sim.run(10.0)
    counts = {t: len(sim.of_type(t, mark)) for t in
              ('HEARTBEAT', 'GLOBAL_POSITION_INT', 'ATTITUDE', 'SYS_STATUS', 'GPS_RAW_INT', 'BATTERY_STATUS',
               'VFR_HUD', 'EXTENDED_SYS_STATE', 'MISSION_CURRENT')}
    assert counts['HEARTBEAT'] == 10
    assert counts['GLOBAL_POSITION_INT'] == 40 and counts['ATTITUDE'] == 40 and counts['VFR_HUD'] == 40
    assert counts['SYS_STATUS'] == 20 and counts['GPS_RAW_INT'] == 20
    assert counts['BATTERY_STATUS'] == 10 and counts['EXTENDED_SYS_STATE'] == 10


def test_position_telemetry_matches_the_physics() -> None:
    sim = drone(gps_noise_m=0.0)
    sim.fly_to_altitude(10.0)
    sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 100_000)
    sim.physics.position = Vector3(100.0, -50.0, 10.0)
    sim.physics.velocity = Vector3(2.0, 1.0, 0.5)
    sim.physics.yaw = 0.0  # east
    mark = len(sim.messages)
    sim.step()  # the report reflects the state handed to this step
    pos = sim.of_type('GLOBAL_POSITION_INT', mark)[0]
    lat, lon = sim.geodetic(100.0, -50.0)
    assert abs(pos.lat - lat) <= 2 and abs(pos.lon - lon) <= 2   # within ~2 cm
    assert pos.relative_alt == 10000
    assert abs(pos.alt - (H.ORIGIN[2] + 10.0) * 1000) <= 2           # mm; the ENU plane curves away
    assert (pos.vx, pos.vy, pos.vz) == (100, 200, -50)            # NED, cm/s
    assert pos.hdg == 9000                                        # east is 90 deg on the compass


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


def test_set_message_interval_changes_disables_and_restores_a_stream() -> None:
    sim = drone()
    ack = sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, 500_000)
    assert ack.result == ACCEPTED
    mark = len(sim.messages)
    sim.run(10.0)
    assert len(sim.of_type('ATTITUDE', mark)) == 20
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, -1).result == ACCEPTED
    mark = len(sim.messages)
    sim.run(3.0)
    assert sim.of_type('ATTITUDE', mark) == []
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, 0).result == ACCEPTED
    mark = len(sim.messages)
    sim.run(5.0)
    assert len(sim.of_type('ATTITUDE', mark)) == 20
    # HOME_POSITION is event-only by default but can be streamed
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_HOME_POSITION,
                       1_000_000).result == ACCEPTED
    mark = len(sim.messages)
    sim.run(3.0)
    assert len(sim.of_type('HOME_POSITION', mark)) == 3


def test_message_interval_bad_requests_are_refused() -> None:
    sim = drone()
    unknown = sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_SCALED_IMU, 100_000)
    assert unknown.result == UNSUPPORTED
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, math.nan, 100).result == DENIED
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, -5).result == DENIED
    mark = len(sim.messages)
    ack = sim.command(mavlink.MAV_CMD_GET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT)
    assert ack.result == ACCEPTED
    reply = sim.of_type('MESSAGE_INTERVAL', mark)[-1]
    assert (reply.message_id, reply.interval_us) == (mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 250_000)


def test_request_data_stream_sets_group_rates() -> None:
    sim = drone()
    sim.send(sim.gcs.request_data_stream_encode(1, 1, mavlink.MAV_DATA_STREAM_POSITION, 10, 1))
    mark = len(sim.messages)
    sim.run(2.0)
    assert len(sim.of_type('GLOBAL_POSITION_INT', mark)) == 20
    sim.send(sim.gcs.request_data_stream_encode(1, 1, mavlink.MAV_DATA_STREAM_ALL, 0, 0))
    mark = len(sim.messages)
    sim.run(2.0)
    assert sim.of_type('GLOBAL_POSITION_INT', mark) == [] and sim.of_type('ATTITUDE', mark) == []
    assert len(sim.of_type('HEARTBEAT', mark)) == 2  # heartbeats are not part of any data stream


def test_request_message_home_and_autopilot_version() -> None:
    sim = drone(allow_flight_termination=True)
    mark = len(sim.messages)
    assert sim.command(mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_HOME_POSITION).result == ACCEPTED
    home = sim.of_type('HOME_POSITION', mark)[-1]
    assert (home.latitude, home.longitude) == sim.geodetic(0.0, 0.0)
    ack = sim.command(mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
    assert ack.result == ACCEPTED
    version = sim.of_type('AUTOPILOT_VERSION', mark)[-1]
    assert version.capabilities & mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    assert version.capabilities & mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    assert version.capabilities & mavlink.MAV_PROTOCOL_CAPABILITY_FLIGHT_TERMINATION
    assert version.flight_sw_version >> 24 == 4
    assert sim.command(mavlink.MAV_CMD_REQUEST_MESSAGE, 99_999).result == UNSUPPORTED
    assert sim.command(mavlink.MAV_CMD_REQUEST_MESSAGE, math.inf).result == DENIED
    assert sim.command(mavlink.MAV_CMD_GET_HOME_POSITION).result == ACCEPTED
    assert sim.command(mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES, 1).result == ACCEPTED


def test_home_is_not_available_before_a_fix() -> None:
    from sentinel_sim.autopilot import Autopilot
    ap = Autopilot(H.make_config())
    ap.inject_gps_loss(True)
    ap.step(0.0, H.FakePhysics(VehicleKind.DRONE).state())
    assert ap.home is None
    gcs = mavlink.MAVLink(None, H.GCS_SYSID, H.GCS_COMPID)
    request = gcs.command_long_encode(1, 1, mavlink.MAV_CMD_REQUEST_MESSAGE, 0,
                                      mavlink.MAVLINK_MSG_ID_HOME_POSITION, 0, 0, 0, 0, 0, 0)
    ap.receive(H.wire(request, H.GCS_SYSID, H.GCS_COMPID), 0.0)
    acks = [m for m in ap.flush(0.0) if m.get_type() == 'COMMAND_ACK']
    assert [a.result for a in acks] == [FAILED]
    ap.inject_gps_loss(False)
    ap.step(0.1, H.FakePhysics(VehicleKind.DRONE).state())
    assert ap.home == Vector3()


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


# ------------------------------------------------------------------ parameters and config

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


def test_configured_stream_rate_is_used() -> None:
    sim = drone(stream_rates_hz={'ATTITUDE': 10.0})
    mark = len(sim.messages)
    sim.run(2.0)
    assert len(sim.of_type('ATTITUDE', mark)) == 20
