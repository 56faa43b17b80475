"""MAVLink telemetry of one vehicle -> a VehicleState domain object.

Why its own module: turning autopilot messages into Sentinel's state is where
units and frames go wrong (NED vs ENU, centidegrees, millimetres, "unknown"
sentinels such as UINT16_MAX), so it is kept pure, small and tested message by
message. The vehicle interface feeds every decoded message of a vehicle's
autopilot to ``Telemetry.update`` and asks ``Telemetry.snapshot`` at the
publication rate; geodesy runs only then, and only when the position changed.

Altitudes: GLOBAL_POSITION_INT.alt is above mean sea level; the site frame is
anchored on the WGS84 ellipsoid. When GPS_RAW_INT reports the ellipsoid height
too, their difference (the geoid separation) is applied, so a real vehicle's
site z is not off by the geoid undulation (tens of metres in places).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control import modes
from sentinel_sim import geo

NAN = float('nan')
UINT16_UNKNOWN = 65535     # MAVLink "unknown" for uint16 fields (hdg, eph, voltages)
UINT8_UNKNOWN = 255        # MAVLink "unknown" for uint8 counts (satellites_visible)
PERCENT_UNKNOWN = -1       # battery_remaining when the autopilot cannot estimate it
CENTI = 100.0              # centimetres per metre, centidegrees per degree, HDOP * 100
MILLI = 1000.0             # millimetres per metre, millivolts per volt
DEG_E7 = 1e7               # MAVLink degE7 integer latitude/longitude per degree
FULL_TURN_DEG = 360.0      # degrees in a full turn
# Below this relative altitude (m) a drone without EXTENDED_SYS_STATE counts as landed when disarmed.
LANDED_ALTITUDE = 0.5


class VehicleType(enum.IntEnum):
    """Mirror of VehicleState.TYPE_* (logic modules do not import messages)."""

    DRONE = 0
    GROUND = 1


class LinkState(enum.IntEnum):
    """Mirror of VehicleState.LINK_*."""

    OK = 0
    DEGRADED = 1
    LOST = 2


class GpsFix(enum.IntEnum):
    """Mirror of VehicleState.GPS_*."""

    NO_FIX = 0
    FIX_2D = 1
    FIX_3D = 2
    RTK = 3


# GPS_FIX_TYPE -> our coarser scale.
_GPS_FIX = {
    mavlink.GPS_FIX_TYPE_NO_GPS: GpsFix.NO_FIX, mavlink.GPS_FIX_TYPE_NO_FIX: GpsFix.NO_FIX,
    mavlink.GPS_FIX_TYPE_2D_FIX: GpsFix.FIX_2D, mavlink.GPS_FIX_TYPE_3D_FIX: GpsFix.FIX_3D,
    mavlink.GPS_FIX_TYPE_DGPS: GpsFix.FIX_3D, mavlink.GPS_FIX_TYPE_RTK_FLOAT: GpsFix.RTK,
    mavlink.GPS_FIX_TYPE_RTK_FIXED: GpsFix.RTK, mavlink.GPS_FIX_TYPE_STATIC: GpsFix.FIX_3D,
    mavlink.GPS_FIX_TYPE_PPP: GpsFix.FIX_3D,
}


@dataclass(frozen=True)
class Origin:
    """The site frame's origin on the WGS84 ellipsoid (degrees, degrees, metres)."""

    latitude_deg: float
    longitude_deg: float
    altitude: float


@dataclass(frozen=True)
class VehicleStateData:
    """Everything VehicleState carries, plus the raw heights commands need.

    Unknown numbers are NaN (position before the first GLOBAL_POSITION_INT,
    battery without an estimate); ``known_position`` tells them apart.
    """

    vehicle_id: str
    vehicle_type: VehicleType
    armed: bool = False
    mode: str = ''
    autopilot: str = modes.Autopilot.UNKNOWN.value
    position: tuple[float, float, float] = (NAN, NAN, NAN)           # site ENU, m
    geo_position: tuple[float, float, float] = (NAN, NAN, NAN)       # lat deg, lon deg, m (ellipsoid)
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)           # site ENU, m/s
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)  # x, y, z, w (FLU in ENU)
    heading_deg: float = NAN          # compass, clockwise from north
    battery_voltage: float = NAN      # V
    battery_remaining: float = NAN    # fraction 0..1
    link_state: LinkState = LinkState.LOST
    link_quality: float = 0.0         # fraction of packets received, 0..1
    gps_fix: GpsFix = GpsFix.NO_FIX
    gps_satellites: int = 0
    gps_hdop: float = NAN
    landed: bool = True
    current_task_id: str = ''
    relative_altitude: float = NAN    # m above the autopilot's home (GLOBAL_POSITION_INT.relative_alt)
    altitude_msl: float = NAN         # m above mean sea level (GLOBAL_POSITION_INT.alt)
    heard: bool = False               # a heartbeat from the autopilot has arrived at least once

    @property
    def known_position(self) -> bool:
        return all(math.isfinite(v) for v in self.position)


def quaternion_from_ned_euler(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """ATTITUDE (FRD body in NED, radians) -> (x, y, z, w) of the FLU body in ENU.

    FRD/NED and FLU/ENU differ by a rotation of both frames, which in Euler
    terms keeps roll, negates pitch and turns yaw into pi/2 - yaw.
    """
    r, p, y = roll, -pitch, math.pi / 2.0 - yaw
    cr, sr = math.cos(r / 2.0), math.sin(r / 2.0)
    cp, sp = math.cos(p / 2.0), math.sin(p / 2.0)
    cy, sy = math.cos(y / 2.0), math.sin(y / 2.0)
    return (sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy)


def _finite_or_nan(value: float) -> float:
    return value if math.isfinite(value) else NAN


class Telemetry:
    """Latest telemetry of one vehicle, updated message by message.

    Fields are kept as plain attributes and turned into a VehicleStateData only
    in ``snapshot``: messages arrive tens of times per second per vehicle,
    snapshots ten times, so the per-message work stays a few assignments.

    ``vehicle_type`` is the configured kind; the heartbeat's frame is kept
    separately (``frame``) because command mapping must follow what the
    autopilot says it is, while the published type follows the site roster.
    """

    def __init__(self, vehicle_id: str, vehicle_type: VehicleType, origin: Origin) -> None:
        self.vehicle_id = vehicle_id
        self.vehicle_type = vehicle_type
        self.origin = origin
        self.autopilot = modes.Autopilot.UNKNOWN
        self.frame = modes.Frame.MULTIROTOR if vehicle_type is VehicleType.DRONE else modes.Frame.GROUND
        self.base_mode = 0
        self.custom_mode = 0
        self.system_status = mavlink.MAV_STATE_UNINIT
        self.autopilot_component = mavlink.MAV_COMP_ID_AUTOPILOT1
        self.landed_state = mavlink.MAV_LANDED_STATE_UNDEFINED
        self.heard = False
        self.mode = ''
        self.velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
        self.heading_deg = NAN
        self.battery_voltage = NAN
        self.battery_remaining = NAN
        self.gps_fix = GpsFix.NO_FIX
        self.gps_satellites = 0
        self.gps_hdop = NAN
        self.relative_altitude = NAN
        self.altitude_msl = NAN
        self.position: tuple[float, float, float] = (NAN, NAN, NAN)
        self.geo_position: tuple[float, float, float] = (NAN, NAN, NAN)
        self._raw_position: tuple[int, int, int] | None = None   # lat degE7, lon degE7, alt mm (MSL)
        self._converted_for: tuple[int, int, int, float] | None = None
        self._geoid_separation = 0.0    # m, ellipsoid height minus MSL height
        self._yaw_ned: float | None = None
        self._handlers = {
            'HEARTBEAT': self._heartbeat, 'GLOBAL_POSITION_INT': self._global_position,
            'ATTITUDE': self._attitude, 'SYS_STATUS': self._sys_status,
            'BATTERY_STATUS': self._battery_status, 'GPS_RAW_INT': self._gps_raw,
            'EXTENDED_SYS_STATE': self._extended_sys_state,
        }

    # ------------------------------------------------------------------ input

    def update(self, msg: Any) -> bool:
        """Take one message from the vehicle's autopilot; True when it was used."""
        handler = self._handlers.get(msg.get_type())
        if handler is None:
            return False
        handler(msg)
        return True

    @property
    def armed(self) -> bool:
        return bool(self.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)

    def _heartbeat(self, msg: Any) -> None:
        self.autopilot = modes.autopilot_of(msg.autopilot)
        frame = modes.frame_of(msg.type)
        if frame is not modes.Frame.OTHER:
            self.frame = frame
        if (self.base_mode, self.custom_mode) != (int(msg.base_mode), int(msg.custom_mode)) or not self.heard:
            self.base_mode = int(msg.base_mode)
            self.custom_mode = int(msg.custom_mode)
            self.mode = modes.mode_name(self.autopilot, self.frame, self.base_mode, self.custom_mode)
        self.system_status = int(msg.system_status)
        self.autopilot_component = msg.get_srcComponent()
        self.heard = True

    def _global_position(self, msg: Any) -> None:
        self._raw_position = (int(msg.lat), int(msg.lon), int(msg.alt))
        self.velocity = (msg.vy / CENTI, msg.vx / CENTI, -msg.vz / CENTI)   # NED cm/s -> ENU m/s
        self.heading_deg = msg.hdg / CENTI if msg.hdg != UINT16_UNKNOWN else self._heading_from_attitude()
        self.relative_altitude = msg.relative_alt / MILLI
        self.altitude_msl = msg.alt / MILLI

    def _heading_from_attitude(self) -> float:
        if self._yaw_ned is None:
            return NAN
        return math.degrees(self._yaw_ned) % FULL_TURN_DEG

    def _attitude(self, msg: Any) -> None:
        self._yaw_ned = float(msg.yaw)
        if not all(math.isfinite(v) for v in (msg.roll, msg.pitch, msg.yaw)):
            return
        self.orientation = quaternion_from_ned_euler(msg.roll, msg.pitch, msg.yaw)

    def _sys_status(self, msg: Any) -> None:
        self.battery_voltage = msg.voltage_battery / MILLI if msg.voltage_battery != UINT16_UNKNOWN else NAN
        self.battery_remaining = msg.battery_remaining / CENTI if msg.battery_remaining != PERCENT_UNKNOWN \
            else NAN

    def _battery_status(self, msg: Any) -> None:
        self.battery_remaining = msg.battery_remaining / CENTI if msg.battery_remaining != PERCENT_UNKNOWN \
            else NAN
        cells = [v for v in msg.voltages if v != UINT16_UNKNOWN]
        if cells:
            # ArduPilot puts the pack voltage in cell 0; others report cells: the sum is the pack
            self.battery_voltage = sum(cells) / MILLI

    def _gps_raw(self, msg: Any) -> None:
        ellipsoid = getattr(msg, 'alt_ellipsoid', 0)
        if ellipsoid:
            self._geoid_separation = (ellipsoid - msg.alt) / MILLI
        self.gps_satellites = msg.satellites_visible if msg.satellites_visible != UINT8_UNKNOWN else 0
        self.gps_hdop = msg.eph / CENTI if msg.eph != UINT16_UNKNOWN else NAN
        self.gps_fix = _GPS_FIX.get(msg.fix_type, GpsFix.NO_FIX)

    def _extended_sys_state(self, msg: Any) -> None:
        self.landed_state = int(msg.landed_state)

    # ------------------------------------------------------------------ output

    def _landed(self) -> bool:
        if self.vehicle_type is VehicleType.GROUND:
            return True
        if self.landed_state == mavlink.MAV_LANDED_STATE_ON_GROUND:
            return True
        if self.landed_state != mavlink.MAV_LANDED_STATE_UNDEFINED:
            return False
        rel = self.relative_altitude
        return not self.armed and (not math.isfinite(rel) or rel < LANDED_ALTITUDE)

    def _convert_position(self) -> None:
        raw = self._raw_position
        if raw is None:
            return
        key = (*raw, self._geoid_separation)
        if key == self._converted_for:
            return
        lat, lon = raw[0] / DEG_E7, raw[1] / DEG_E7
        height = raw[2] / MILLI + self._geoid_separation
        try:
            east, north, up = geo.wgs84_to_enu(lat, lon, height, self.origin.latitude_deg,
                                               self.origin.longitude_deg, self.origin.altitude)
        except ValueError:
            return   # a corrupt fix (latitude out of range): keep the last good position
        self._converted_for = key
        self.position = (east, north, up)
        self.geo_position = (lat, lon, height)

    def snapshot(self, link_state: LinkState, link_quality: float, task_id: str) -> VehicleStateData:
        """The state to publish now, with the link's health and the task being served."""
        self._convert_position()
        return VehicleStateData(
            self.vehicle_id, self.vehicle_type, self.armed, self.mode, self.autopilot.value, self.position,
            self.geo_position, self.velocity, self.orientation, self.heading_deg, self.battery_voltage,
            self.battery_remaining, link_state, _finite_or_nan(link_quality), self.gps_fix,
            self.gps_satellites, self.gps_hdop, self._landed(), task_id, self.relative_altitude,
            self.altitude_msl, self.heard)
