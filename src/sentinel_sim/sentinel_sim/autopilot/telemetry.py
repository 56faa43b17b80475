"""Telemetry messages: how the vehicle's state looks on the wire, as ArduPilot SITL shows it.

Why a module of its own: ground stations, MAVSDK and Sentinel's vehicle
interface judge the vehicle only by these messages, so their fields (units,
frames, "unknown" markers, flags) must match ArduPilot's exactly. Each builder
reads the vehicle and changes nothing, except that the raw GPS report draws
from the GPS noise generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.geometry import enu_to_geodetic, enu_yaw_to_compass_deg, ned_yaw_to_enu, wrap_pi
from sentinel_sim.autopilot.modes import Behaviour
from sentinel_sim.autopilot.sensors import GPS_VERTICAL_NOISE_FACTOR
from sentinel_sim.autopilot.wire import (
    BATTERY_CELL_SLOTS, CENTI, DEG_E7, INT16_MAX, MICRO, MILLI, UINT16_MAX, MavMessage, i16, u16)
from sentinel_sim.vehicle_types import Vector3

if TYPE_CHECKING:  # the vehicle calls these builders, so it cannot be imported here at run time
    from sentinel_sim.autopilot.vehicle import Vehicle

FIRMWARE_VERSION = (4, 5, 7)        # ArduPilot release the emulation follows (AUTOPILOT_VERSION)
HDOP_CENTI = 121                    # GPS_RAW_INT.eph reported with a 3D fix (HDOP 1.21, SITL's value)
VDOP_CENTI = 200                    # GPS_RAW_INT.epv reported with a 3D fix (VDOP 2.0)
COG_MIN_SPEED_M_S = 0.2             # below this ground speed the course over ground is reported unknown
HOVER_THROTTLE_PCT = 50             # VFR_HUD throttle while motors run (no thrust model here)
SYS_LOAD_PERMILLE = 150             # SYS_STATUS.load reported (15 %, a plausible flight-controller load)
MAVLINK_VERSION_FIELD = 3           # HEARTBEAT.mavlink_version is always 3 on the wire
BATTERY_TEMPERATURE_UNKNOWN = INT16_MAX  # BATTERY_STATUS.temperature when not measured
ENERGY_HJ_PER_WH = 36.0             # hectojoules per watt-hour (BATTERY_STATUS.energy_consumed unit)
CENTIDEGREES_PER_TURN = 36000       # GLOBAL_POSITION_INT.hdg wraps here
MISSION_MODE_ACTIVE = 1             # MISSION_CURRENT.mission_mode: the vehicle is in its mission mode
MISSION_MODE_SUSPENDED = 2          # ... in another mode, the mission paused
IDENTITY_QUATERNION = [1.0, 0.0, 0.0, 0.0]  # HOME_POSITION.q: no approach orientation

# Sensors every emulated vehicle has and reports healthy unless a fault says otherwise.
_SENSORS = (mavlink.MAV_SYS_STATUS_SENSOR_3D_GYRO | mavlink.MAV_SYS_STATUS_SENSOR_3D_ACCEL
            | mavlink.MAV_SYS_STATUS_SENSOR_3D_MAG | mavlink.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
            | mavlink.MAV_SYS_STATUS_SENSOR_GPS | mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
            | mavlink.MAV_SYS_STATUS_AHRS | mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
            | mavlink.MAV_SYS_STATUS_PREARM_CHECK)


def system_status(v: Vehicle) -> int:
    """HEARTBEAT.system_status (MAV_STATE): the worst condition the vehicle is in."""
    if v.terminated:
        return mavlink.MAV_STATE_FLIGHT_TERMINATION
    if v.motor_failed or (v.body is not None and v.body.crashed):
        return mavlink.MAV_STATE_EMERGENCY
    if v.gcs_failsafe or v.battery_low_fired or v.gps_failsafe or v.fence_breached:
        return mavlink.MAV_STATE_CRITICAL if v.armed else mavlink.MAV_STATE_STANDBY
    if v.body is None:
        return mavlink.MAV_STATE_BOOT
    return mavlink.MAV_STATE_ACTIVE if v.armed else mavlink.MAV_STATE_STANDBY


def heartbeat(v: Vehicle, now: float) -> MavMessage:
    behaviour = v.behaviour
    base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED | \
        mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
    if behaviour in (Behaviour.GUIDED, Behaviour.AUTO, Behaviour.RTL, Behaviour.LAND, Behaviour.HOLD):
        base |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
    if behaviour in (Behaviour.AUTO, Behaviour.RTL):
        base |= mavlink.MAV_MODE_FLAG_AUTO_ENABLED
    if v.armed:
        base |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    vehicle_type = mavlink.MAV_TYPE_QUADROTOR if v.drone else mavlink.MAV_TYPE_GROUND_ROVER
    return mavlink.MAVLink_heartbeat_message(vehicle_type, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, base,
                                             v.mode, system_status(v), MAVLINK_VERSION_FIELD)


def sys_status(v: Vehicle, now: float) -> MavMessage:
    present = _SENSORS | (mavlink.MAV_SYS_STATUS_GEOFENCE if v.fence is not None else 0)
    enabled = _SENSORS | (mavlink.MAV_SYS_STATUS_GEOFENCE if v.fence_enabled else 0)
    health = present
    if not v.gps.has_fix:
        health &= ~mavlink.MAV_SYS_STATUS_SENSOR_GPS
    if v.battery_low_fired:
        health &= ~mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
    if v.fence_breached:
        health &= ~mavlink.MAV_SYS_STATUS_GEOFENCE
    if v.motor_failed or v.terminated:
        health &= ~mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    if v.prearm_failure() is not None:
        health &= ~mavlink.MAV_SYS_STATUS_PREARM_CHECK
    b = v.battery
    return mavlink.MAVLink_sys_status_message(
        present, enabled, health, SYS_LOAD_PERMILLE, u16(b.voltage * MILLI), i16(b.current_a * CENTI),
        int(b.remaining_pct), 0, 0, 0, 0, 0, 0)


def gps_raw(v: Vehicle, now: float) -> MavMessage:
    body = v.body
    gps = v.gps
    time_us = int((now - v.boot) * MICRO)
    if body is None or not gps.has_fix:
        return mavlink.MAVLink_gps_raw_int_message(time_us, gps.fix_type, 0, 0, 0, UINT16_MAX, UINT16_MAX,
                                                   UINT16_MAX, UINT16_MAX, gps.satellites)
    lat, lon, alt = enu_to_geodetic(v.origin, gps.measure(body.position))
    speed = math.hypot(body.velocity.x, body.velocity.y)
    cog = int(math.degrees(math.atan2(body.velocity.x, body.velocity.y)) % 360.0 * CENTI) \
        if speed >= COG_MIN_SPEED_M_S else UINT16_MAX
    accuracy_mm = int(gps.noise_m * MILLI)
    return mavlink.MAVLink_gps_raw_int_message(
        time_us, gps.fix_type, round(lat * DEG_E7), round(lon * DEG_E7), round(alt * MILLI),
        HDOP_CENTI, VDOP_CENTI, u16(speed * CENTI), cog, gps.satellites,
        round(alt * MILLI), accuracy_mm, int(accuracy_mm * GPS_VERTICAL_NOISE_FACTOR), 0, 0, 0)


def attitude(v: Vehicle, now: float) -> MavMessage:
    body = v.body
    if body is None:
        return mavlink.MAVLink_attitude_message(v.time_boot_ms(now), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    rates = (0.0, 0.0, 0.0)
    prev = v.prev_body
    dt = v.dt
    if prev is not None and dt > 0:
        rates = ((body.roll - prev.roll) / dt, -(body.pitch - prev.pitch) / dt,
                 -wrap_pi(body.yaw - prev.yaw) / dt)
    # FLU body / ENU world -> FRD body / NED world: roll same, pitch and yaw rate negated
    return mavlink.MAVLink_attitude_message(v.time_boot_ms(now), body.roll, -body.pitch,
                                            ned_yaw_to_enu(body.yaw), *rates)


def global_position(v: Vehicle, now: float) -> MavMessage:
    body = v.body
    if body is None:
        return mavlink.MAVLink_global_position_int_message(v.time_boot_ms(now), 0, 0, 0, 0, 0, 0, 0, UINT16_MAX)
    vel = body.velocity
    position = body.position
    if not v.gps.has_fix and v.last_fix is not None:
        # no fix: the estimate keeps its last horizontal position; the barometer still gives height
        position = Vector3(v.last_fix.x, v.last_fix.y, body.position.z)
        vel = Vector3(0.0, 0.0, vel.z)
    lat, lon, alt = enu_to_geodetic(v.origin, position)
    home_z = v.home.z if v.home is not None else body.position.z
    heading = round(enu_yaw_to_compass_deg(body.yaw) * CENTI) % CENTIDEGREES_PER_TURN
    return mavlink.MAVLink_global_position_int_message(
        v.time_boot_ms(now), round(lat * DEG_E7), round(lon * DEG_E7), round(alt * MILLI),
        round((body.position.z - home_z) * MILLI), i16(vel.y * CENTI), i16(vel.x * CENTI), i16(-vel.z * CENTI),
        heading)


def vfr_hud(v: Vehicle, now: float) -> MavMessage:
    body = v.body
    if body is None:
        return mavlink.MAVLink_vfr_hud_message(0.0, 0.0, 0, 0, 0.0, 0.0)
    speed = math.hypot(body.velocity.x, body.velocity.y)
    throttle = HOVER_THROTTLE_PCT if body.motors_on and v.armed else 0
    alt = v.origin[2] + body.position.z
    return mavlink.MAVLink_vfr_hud_message(speed, speed, int(enu_yaw_to_compass_deg(body.yaw)) % 360,
                                           throttle, alt, body.velocity.z)


def battery_status(v: Vehicle, now: float) -> MavMessage:
    b = v.battery
    voltages = [UINT16_MAX] * BATTERY_CELL_SLOTS
    voltages[0] = u16(b.voltage * MILLI)  # ArduPilot: total voltage in cell 0
    if v.battery_critical_fired:
        state = mavlink.MAV_BATTERY_CHARGE_STATE_CRITICAL
    elif v.battery_low_fired:
        state = mavlink.MAV_BATTERY_CHARGE_STATE_LOW
    else:
        state = mavlink.MAV_BATTERY_CHARGE_STATE_OK
    return mavlink.MAVLink_battery_status_message(
        0, mavlink.MAV_BATTERY_FUNCTION_ALL, mavlink.MAV_BATTERY_TYPE_LIPO, BATTERY_TEMPERATURE_UNKNOWN,
        voltages, i16(b.current_a * CENTI), int(b.consumed_mah), int(b.energy_wh * ENERGY_HJ_PER_WH),
        int(b.remaining_pct), b.time_remaining_s(), state)


def landed_state(v: Vehicle) -> int:
    """EXTENDED_SYS_STATE.landed_state (MAV_LANDED_STATE); ground vehicles are always on the ground."""
    body = v.body
    if not v.drone or body is None:
        return mavlink.MAV_LANDED_STATE_ON_GROUND
    if body.on_ground:
        return mavlink.MAV_LANDED_STATE_ON_GROUND
    if not v.armed:
        return mavlink.MAV_LANDED_STATE_IN_AIR
    if v.taking_off():
        return mavlink.MAV_LANDED_STATE_TAKEOFF
    if v.landing():
        return mavlink.MAV_LANDED_STATE_LANDING
    return mavlink.MAV_LANDED_STATE_IN_AIR


def extended_sys_state(v: Vehicle, now: float) -> MavMessage:
    return mavlink.MAVLink_extended_sys_state_message(mavlink.MAV_VTOL_STATE_UNDEFINED, landed_state(v))


def mission_current(v: Vehicle, now: float) -> MavMessage:
    total = len(v.mission) - 1 if v.mission else UINT16_MAX
    mission_mode = MISSION_MODE_ACTIVE if v.in_auto() else MISSION_MODE_SUSPENDED
    return mavlink.MAVLink_mission_current_message(v.mission_index, total, v.mission_state, mission_mode)


def home_position(v: Vehicle, now: float) -> MavMessage:
    home = v.home if v.home is not None else Vector3()
    lat, lon, alt = enu_to_geodetic(v.origin, home)
    origin = v.ekf_origin if v.ekf_origin is not None else home
    rel = Vector3(home.x - origin.x, home.y - origin.y, home.z - origin.z)
    return mavlink.MAVLink_home_position_message(
        round(lat * DEG_E7), round(lon * DEG_E7), round(alt * MILLI), rel.y, rel.x, -rel.z,
        IDENTITY_QUATERNION, 0.0, 0.0, 0.0, int((now - v.boot) * MICRO))


def autopilot_version(v: Vehicle) -> MavMessage:
    caps = (mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
            | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
            | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
            | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
            | mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE)
    if v.config.allow_flight_termination:
        caps |= mavlink.MAV_PROTOCOL_CAPABILITY_FLIGHT_TERMINATION
    major, minor, patch = FIRMWARE_VERSION
    version = (major << 24) | (minor << 16) | (patch << 8) | mavlink.FIRMWARE_VERSION_TYPE_OFFICIAL
    return mavlink.MAVLink_autopilot_version_message(
        caps, version, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0, v.config.system_id)


# Streamable (and MAV_CMD_REQUEST_MESSAGE-able) messages and their builders.
BUILDERS: dict[int, Callable[[Vehicle, float], MavMessage]] = {
    mavlink.MAVLINK_MSG_ID_HEARTBEAT: heartbeat,
    mavlink.MAVLINK_MSG_ID_SYS_STATUS: sys_status,
    mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: gps_raw,
    mavlink.MAVLINK_MSG_ID_ATTITUDE: attitude,
    mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: global_position,
    mavlink.MAVLINK_MSG_ID_VFR_HUD: vfr_hud,
    mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: battery_status,
    mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: extended_sys_state,
    mavlink.MAVLINK_MSG_ID_MISSION_CURRENT: mission_current,
    mavlink.MAVLINK_MSG_ID_HOME_POSITION: home_position,
}
