"""MAVLink messages -> VehicleState: frames, units and "unknown" values, message by message."""

from __future__ import annotations

import math

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control.telemetry import (GpsFix, LinkState, Origin, Telemetry, VehicleType,
                                        quaternion_from_ned_euler)
from sentinel_sim import geo

ORIGIN = Origin(40.5853, -105.0844, 1525.0)
CUSTOM = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED


def wire(msg: mavlink.MAVLink_message, system: int = 1, component: int = 1) -> mavlink.MAVLink_message:
    """Pack and parse, as the message would cross a link."""
    data = msg.pack(mavlink.MAVLink(None, system, component))
    parsed = mavlink.MAVLink(None).parse_buffer(data)
    assert parsed is not None
    return parsed[0]


def heartbeat(custom: int = 4, armed: bool = False, mav_type: int = mavlink.MAV_TYPE_QUADROTOR,
              autopilot: int = mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA) -> mavlink.MAVLink_message:
    base = CUSTOM | (mavlink.MAV_MODE_FLAG_SAFETY_ARMED if armed else 0)
    return wire(mavlink.MAVLink_heartbeat_message(mav_type, autopilot, base, custom, mavlink.MAV_STATE_ACTIVE, 3))


def position(east: float, north: float, up: float, vn: float = 0.0, ve: float = 0.0, vd: float = 0.0,
             hdg: int = 9000, rel: float | None = None) -> mavlink.MAVLink_message:
    lat, lon, alt = geo.enu_to_wgs84(east, north, up, ORIGIN.latitude_deg, ORIGIN.longitude_deg, ORIGIN.altitude)
    return wire(mavlink.MAVLink_global_position_int_message(
        1000, round(lat * 1e7), round(lon * 1e7), round(alt * 1000), round((up if rel is None else rel) * 1000),
        round(vn * 100), round(ve * 100), round(vd * 100), hdg))


def fresh(kind: VehicleType = VehicleType.DRONE) -> Telemetry:
    return Telemetry('drone_1', kind, ORIGIN)


def test_before_any_message_everything_is_unknown() -> None:
    state = fresh().snapshot(LinkState.LOST, 0.0, '')
    assert not state.known_position and not state.heard and math.isnan(state.battery_remaining)
    assert state.autopilot == 'unknown' and state.link_state is LinkState.LOST


def test_heartbeat_gives_mode_armed_and_autopilot() -> None:
    t = fresh()
    t.update(heartbeat(custom=4, armed=True))
    state = t.snapshot(LinkState.OK, 1.0, 'task-1')
    assert (state.mode, state.armed, state.autopilot, state.current_task_id) == ('GUIDED', True, 'ardupilot',
                                                                                 'task-1')
    t.update(heartbeat(custom=15, mav_type=mavlink.MAV_TYPE_GROUND_ROVER))
    assert t.snapshot(LinkState.OK, 1.0, '').mode == 'GUIDED'   # rover 15 is GUIDED as well
    t.update(heartbeat(custom=(4 << 16) | (5 << 24), autopilot=mavlink.MAV_AUTOPILOT_PX4))
    assert t.snapshot(LinkState.OK, 1.0, '').mode == 'AUTO.RTL'


def test_position_and_velocity_are_site_enu() -> None:
    t = fresh()
    t.update(position(-60.0, -20.0, 30.0, vn=2.0, ve=-1.0, vd=-0.5, hdg=27000))
    state = t.snapshot(LinkState.OK, 1.0, '')
    assert state.position == pytest.approx((-60.0, -20.0, 30.0), abs=0.02)
    assert state.velocity == pytest.approx((-1.0, 2.0, 0.5))
    assert state.heading_deg == pytest.approx(270.0)
    assert state.relative_altitude == pytest.approx(30.0)
    assert state.geo_position[0] == pytest.approx(40.5853, abs=1e-3)


def test_geoid_separation_from_gps_raw_moves_height_to_the_ellipsoid() -> None:
    t = fresh()
    t.update(position(0.0, 0.0, 10.0))
    before = t.snapshot(LinkState.OK, 1.0, '').position[2]
    t.update(wire(mavlink.MAVLink_gps_raw_int_message(0, 3, 0, 0, 1_535_000, 121, 200, 0, 65535, 14,
                                                      1_535_000 - 17_000)))
    after = t.snapshot(LinkState.OK, 1.0, '')
    assert after.position[2] == pytest.approx(before - 17.0, abs=0.01)
    assert (after.gps_fix, after.gps_satellites, after.gps_hdop) == (GpsFix.FIX_3D, 14, pytest.approx(1.21))


def test_unknown_sentinels_become_nan_or_zero() -> None:
    t = fresh()
    t.update(wire(mavlink.MAVLink_sys_status_message(0, 0, 0, 0, 65535, -1, -1, 0, 0, 0, 0, 0, 0)))
    t.update(wire(mavlink.MAVLink_gps_raw_int_message(0, 0, 0, 0, 0, 65535, 65535, 0, 65535, 255)))
    t.update(position(0.0, 0.0, 0.0, hdg=65535))
    state = t.snapshot(LinkState.OK, 1.0, '')
    assert math.isnan(state.battery_voltage) and math.isnan(state.battery_remaining)
    assert math.isnan(state.gps_hdop) and state.gps_satellites == 0 and state.gps_fix is GpsFix.NO_FIX
    assert math.isnan(state.heading_deg)


def test_battery_status_sums_cells_and_reports_fraction() -> None:
    t = fresh()
    cells = [4000, 4000, 4000, 4000] + [65535] * 6
    t.update(wire(mavlink.MAVLink_battery_status_message(0, 0, 0, 32767, cells, 100, 500, 10, 73, 0, 0)))
    state = t.snapshot(LinkState.OK, 1.0, '')
    assert state.battery_voltage == pytest.approx(16.0) and state.battery_remaining == pytest.approx(0.73)


def test_landed_from_extended_sys_state_or_disarmed_on_the_ground() -> None:
    t = fresh()
    t.update(heartbeat(armed=True))
    t.update(position(0.0, 0.0, 5.0))
    assert not t.snapshot(LinkState.OK, 1.0, '').landed   # armed, 5 m up, no EXTENDED_SYS_STATE
    t.update(wire(mavlink.MAVLink_extended_sys_state_message(0, mavlink.MAV_LANDED_STATE_ON_GROUND)))
    assert t.snapshot(LinkState.OK, 1.0, '').landed
    rover = fresh(VehicleType.GROUND)
    assert rover.snapshot(LinkState.OK, 1.0, '').landed


def test_attitude_quaternion_is_flu_in_enu() -> None:
    # NED yaw 0 (north) is ENU yaw +90 deg: a rotation about z by pi/2
    x, y, z, w = quaternion_from_ned_euler(0.0, 0.0, 0.0)
    assert (x, y, z, w) == pytest.approx((0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)))
    # NED yaw 90 deg (east) is ENU yaw 0: identity
    assert quaternion_from_ned_euler(0.0, 0.0, math.pi / 2) == pytest.approx((0.0, 0.0, 0.0, 1.0), abs=1e-12)
    # nose up in FRD (positive pitch) is nose up in FLU, which is negative pitch about y (y left)
    x, y, z, w = quaternion_from_ned_euler(0.0, 0.2, math.pi / 2)
    assert y == pytest.approx(-math.sin(0.1)) and x == pytest.approx(0.0, abs=1e-12)
