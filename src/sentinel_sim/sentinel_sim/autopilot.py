"""Emulated ArduPilot autopilot for one simulated vehicle: MAVLink in, setpoints out.

Why this exists: Sentinel speaks to vehicles in standard MAVLink only, so the
embedded simulator must offer each airframe an autopilot that behaves, on the
wire, like ArduPilot SITL (Copter for drones, Rover for ground vehicles). Then
the vehicle interface, the safety node, QGroundControl or MAVSDK cannot tell a
simulated vehicle from SITL or a real one.

This module is pure logic: no sockets, no rclpy, no wall clock. Every entry
point takes ``now`` (seconds on any monotonic clock, usually simulation time),
so a test can drive it with a fake clock and get the same result every run.

    receive(msg, now)      a decoded MAVLink message from a ground station
    step(now, body)        once per physics step: returns the Setpoint for the
                           physics and the MAVLink messages due now
    flush(now)             messages due now without stepping (replies to
                           ``receive`` can leave before the next physics step)

The physics contract (``Setpoint`` / ``BodyState``) is in ``vehicle_types``.
The navigation estimate is the physics ground truth (a perfect EKF); only the
raw GPS report carries noise.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeAlias

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim import geo
from sentinel_sim.vehicle_types import BodyState, Setpoint, SetpointMode, Vector3, VehicleKind

_LOG = logging.getLogger(__name__)

MavMessage: TypeAlias = mavlink.MAVLink_message

# --------------------------------------------------------------------------------------
# Constants. Where ArduPilot has a parameter for the same thing its name is given.
# --------------------------------------------------------------------------------------

FIRMWARE_VERSION = (4, 5, 7)        # ArduPilot release the emulation follows (AUTOPILOT_VERSION)
FORCE_DISARM_MAGIC = 21196.0        # COMPONENT_ARM_DISARM param2 that allows disarming in flight
GUIDED_VELOCITY_TIMEOUT_S = 3.0     # GUID_TIMEOUT: a velocity target not refreshed for this long stops
LAND_DETECT_S = 1.0                 # on the ground this long while landing counts as touchdown
GPS_FAILSAFE_DELAY_S = 1.0          # EKF failsafe: GPS lost this long in flight triggers LAND/HOLD
TAKEOFF_DONE_TOLERANCE_M = 0.5      # takeoff is complete this close below the target altitude
ALT_REACHED_TOLERANCE_M = 1.0       # RTL climb stage ends this close to the return altitude
LAND_ALIGN_RADIUS_M = 0.2          # descend for a landing only once this close above the landing point...
LAND_ALIGN_TIMEOUT_S = 10.0         # ...or after holding over it this long (the physics lands straight down)
LAND_ALT_LOW_M = 10.0               # LAND_ALT_LOW: below this descend at land speed, above at descent speed
MIN_TARGET_ALTITUDE_M = 1.0         # position targets below this (above home) would fly into the ground
MAX_COMMAND_SPEED_M_S = 30.0        # speed / velocity requests above this are refused as nonsense
MISSION_MAX_ITEMS = 700             # storage limit reported as MAV_MISSION_NO_SPACE (ArduPilot on 2 MB boards)
MISSION_RETRY_S = 1.0               # re-request an upload item not received within this time
MISSION_UPLOAD_TIMEOUT_S = 8.0      # abandon an upload with no item received for this long (ArduPilot: 8 s)
STATUSTEXT_MAX_LEN = 50             # STATUSTEXT.text field size in bytes
STREAM_SLACK_S = 1e-6              # a stream message due within this much of now is sent now (float drift)
STATUS_THROTTLE_S = 5.0             # repeated identical warnings are sent at most this often
UINT16_MAX = 65535                  # MAVLink "unknown / not used" for uint16 fields
INT16_MAX = 32767                   # largest value of an int16 field
HDOP_CENTI = 121                    # GPS_RAW_INT.eph reported with a 3D fix (HDOP 1.21, SITL's value)
VDOP_CENTI = 200                    # GPS_RAW_INT.epv reported with a 3D fix (VDOP 2.0)
GPS_VERTICAL_NOISE_FACTOR = 1.5     # GPS vertical noise relative to horizontal
COG_MIN_SPEED_M_S = 0.2             # below this ground speed the course over ground is reported unknown
HOVER_THROTTLE_PCT = 50             # VFR_HUD throttle while motors run (no thrust model here)
SYS_LOAD_PERMILLE = 150             # SYS_STATUS.load reported (15 %, a plausible flight-controller load)
MAVLINK_VERSION_FIELD = 3           # HEARTBEAT.mavlink_version is always 3 on the wire
CENTI = 100.0                       # metres -> centimetres, m/s -> cm/s
MILLI = 1000.0                      # metres -> millimetres, seconds -> milliseconds, volts -> millivolts
DEG_E7 = 1e7                        # degrees -> MAVLink int32 degE7
BATTERY_CELL_SLOTS = 10             # BATTERY_STATUS.voltages array length
BATTERY_TEMPERATURE_UNKNOWN = INT16_MAX  # BATTERY_STATUS.temperature when not measured
ENERGY_HJ_PER_WH = 36.0             # hectojoules per watt-hour (BATTERY_STATUS.energy_consumed unit)

# LiPo resting cell voltage against state of charge (fraction), piecewise linear.
CELL_CURVE: tuple[tuple[float, float], ...] = (
    (0.00, 3.30), (0.05, 3.50), (0.10, 3.60), (0.20, 3.70),
    (0.50, 3.80), (0.80, 3.95), (1.00, 4.20),
)

# MAVLink message ids the autopilot can stream, and their default rates (Hz). They
# resemble SITL answering MAVProxy's default stream request; 0 means "on event or
# request only". SET_MESSAGE_INTERVAL and REQUEST_DATA_STREAM change them at run time.
DEFAULT_RATES_HZ: dict[int, float] = {
    mavlink.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
    mavlink.MAVLINK_MSG_ID_SYS_STATUS: 2.0,
    mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: 2.0,
    mavlink.MAVLINK_MSG_ID_ATTITUDE: 4.0,
    mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 4.0,
    mavlink.MAVLINK_MSG_ID_VFR_HUD: 4.0,
    mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
    mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    mavlink.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
    mavlink.MAVLINK_MSG_ID_HOME_POSITION: 0.0,
}

# REQUEST_DATA_STREAM groups, as ArduPilot maps them onto the messages above.
DATA_STREAMS: dict[int, tuple[int, ...]] = {
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS: (
        mavlink.MAVLINK_MSG_ID_SYS_STATUS, mavlink.MAVLINK_MSG_ID_GPS_RAW_INT,
        mavlink.MAVLINK_MSG_ID_MISSION_CURRENT, mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE),
    mavlink.MAV_DATA_STREAM_POSITION: (mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,),
    mavlink.MAV_DATA_STREAM_EXTRA1: (mavlink.MAVLINK_MSG_ID_ATTITUDE,),
    mavlink.MAV_DATA_STREAM_EXTRA2: (mavlink.MAVLINK_MSG_ID_VFR_HUD,),
    mavlink.MAV_DATA_STREAM_EXTRA3: (mavlink.MAVLINK_MSG_ID_BATTERY_STATUS,),
}


# --------------------------------------------------------------------------------------
# Flight modes
# --------------------------------------------------------------------------------------

class CopterMode(enum.IntEnum):
    """ArduCopter custom_mode numbers (the subset this emulation flies)."""

    STABILIZE = 0
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    LAND = 9
    BRAKE = 17


class RoverMode(enum.IntEnum):
    """ArduRover custom_mode numbers (the subset this emulation drives)."""

    MANUAL = 0
    HOLD = 4
    AUTO = 10
    RTL = 11
    GUIDED = 15


class _Behaviour(enum.Enum):
    """What a mode does, independent of its number on the wire."""

    MANUAL = 'manual'   # no RC in the simulator: sticks centred, the vehicle keeps still
    GUIDED = 'guided'
    AUTO = 'auto'
    RTL = 'rtl'
    LAND = 'land'
    HOLD = 'hold'       # LOITER, BRAKE, HOLD: keep the current position


@dataclass(frozen=True)
class _ModeSpec:
    name: str
    behaviour: _Behaviour
    needs_position: bool   # refuses to engage without a GPS fix
    armable: bool          # ArduPilot's Mode::allows_arming


_MODES: dict[VehicleKind, dict[int, _ModeSpec]] = {
    VehicleKind.DRONE: {
        CopterMode.STABILIZE: _ModeSpec('STABILIZE', _Behaviour.MANUAL, False, True),
        CopterMode.GUIDED: _ModeSpec('GUIDED', _Behaviour.GUIDED, True, True),
        CopterMode.AUTO: _ModeSpec('AUTO', _Behaviour.AUTO, True, False),
        CopterMode.RTL: _ModeSpec('RTL', _Behaviour.RTL, True, False),
        CopterMode.LAND: _ModeSpec('LAND', _Behaviour.LAND, False, False),
        CopterMode.LOITER: _ModeSpec('LOITER', _Behaviour.HOLD, True, True),
        CopterMode.BRAKE: _ModeSpec('BRAKE', _Behaviour.HOLD, True, False),
    },
    VehicleKind.GROUND: {
        RoverMode.MANUAL: _ModeSpec('MANUAL', _Behaviour.MANUAL, False, True),
        RoverMode.HOLD: _ModeSpec('HOLD', _Behaviour.HOLD, False, True),
        RoverMode.GUIDED: _ModeSpec('GUIDED', _Behaviour.GUIDED, True, True),
        RoverMode.AUTO: _ModeSpec('AUTO', _Behaviour.AUTO, True, True),
        RoverMode.RTL: _ModeSpec('RTL', _Behaviour.RTL, True, False),
    },
}

_INITIAL_MODE = {VehicleKind.DRONE: int(CopterMode.STABILIZE), VehicleKind.GROUND: int(RoverMode.MANUAL)}


def mode_names(kind: VehicleKind) -> dict[str, int]:
    """Mode name -> custom_mode number for a vehicle kind (what a GCS mode menu offers)."""
    return {spec.name: number for number, spec in _MODES[kind].items()}


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------

class FailsafeAction(enum.Enum):
    """What a failsafe does (FS_GCS_ENABLE / BATT_FS_*_ACT analogues)."""

    NONE = 'none'   # report only
    RTL = 'rtl'
    LAND = 'land'   # ground vehicles stop (HOLD)
    HOLD = 'hold'   # drones LOITER, ground vehicles HOLD


class FenceAction(enum.Enum):
    """What a geofence breach does (FENCE_ACTION analogue)."""

    REPORT = 'report'
    RTL = 'rtl'
    BRAKE_THEN_RTL = 'brake_then_rtl'


class ConfigError(ValueError):
    """An autopilot configuration value is missing or invalid; names the key and why."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(f'{source}: {key}: {reason}')
        self.source = source
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class AutopilotConfig:
    """Per-vehicle settings of the emulated autopilot.

    Defaults follow ArduPilot's defaults where ArduPilot has the parameter, so a
    site file only needs what differs. ``origin_*`` is the site's ENU origin (the
    world's spherical_coordinates) shared by every vehicle of the site.
    """

    system_id: int                          # SYSID_THISMAV, 1..254
    kind: VehicleKind
    origin_lat_deg: float                   # site ENU origin, WGS84 latitude
    origin_lon_deg: float                   # site ENU origin, WGS84 longitude
    origin_alt_m: float                     # site ENU origin altitude (treated as AMSL)
    component_id: int = mavlink.MAV_COMP_ID_AUTOPILOT1
    battery_capacity_mah: float = 5000.0    # BATT_CAPACITY
    battery_cells: int = 4                  # series LiPo cells
    battery_internal_resistance_ohm: float = 0.02  # voltage sag per ampere drawn
    battery_low_pct: float = 30.0           # remaining % that triggers the low failsafe (RTL)
    battery_critical_pct: float = 15.0      # remaining % that triggers the critical failsafe (LAND)
    idle_current_a: float = 0.5             # avionics draw with motors off
    motors_current_a: float = 15.0          # draw with motors running at zero speed (hover / standing)
    current_per_speed_a: float = 1.0        # extra draw per m/s of ground speed
    gcs_timeout_s: float = 5.0              # FS_GCS_TIMEOUT
    gcs_failsafe_action: FailsafeAction = FailsafeAction.RTL   # FS_GCS_ENABLE
    battery_low_action: FailsafeAction = FailsafeAction.RTL    # BATT_FS_LOW_ACT
    battery_critical_action: FailsafeAction = FailsafeAction.LAND  # BATT_FS_CRT_ACT
    fence_action: FenceAction = FenceAction.RTL  # FENCE_ACTION
    fence_brake_s: float = 2.0              # time spent braking before RTL with BRAKE_THEN_RTL
    allow_flight_termination: bool = False  # MAV_CMD_DO_FLIGHTTERMINATION honoured only if true
    cruise_speed_m_s: float = 5.0           # WPNAV_SPEED (drones) / CRUISE_SPEED (ground)
    max_altitude_m: float = 120.0           # highest target accepted, metres above home
    max_range_m: float = 5000.0             # farthest target accepted, metres from the site origin
    rtl_altitude_m: float = 15.0            # RTL_ALT
    rtl_loiter_s: float = 5.0               # RTL_LOIT_TIME
    descent_speed_m_s: float = 1.5          # WPNAV_SPEED_DN
    land_speed_m_s: float = 0.5             # LAND_SPEED
    wp_radius_m: float = 2.0                # WPNAV_RADIUS / WP_RADIUS
    auto_disarm_s: float = 10.0             # DISARM_DELAY; 0 disables
    gps_noise_m: float = 0.3                # standard deviation of the raw GPS horizontal error
    gps_satellites: int = 14                # satellites reported with a fix
    seed: int | None = None                 # noise and link-fault random seed; None uses system_id
    gcs_system_id: int | None = None        # SYSID_MYGCS; None: any GCS heartbeat counts
    stream_rates_hz: Mapping[str, float] = field(default_factory=dict)  # e.g. {'ATTITUDE': 10}

    def __post_init__(self) -> None:
        self.validate('config')

    def validate(self, source: str) -> None:
        """Raise ConfigError naming the first invalid key."""
        def need(ok: bool, key: str, reason: str) -> None:
            if not ok:
                raise ConfigError(source, key, reason)

        need(isinstance(self.kind, VehicleKind), 'kind', 'must be drone or ground')
        need(isinstance(self.system_id, int) and 1 <= self.system_id <= 254, 'system_id', 'must be 1..254')
        need(isinstance(self.component_id, int) and 1 <= self.component_id <= 255, 'component_id', 'must be 1..255')
        need(_finite(self.origin_lat_deg) and abs(self.origin_lat_deg) <= 90.0,
             'origin_lat_deg', 'must be in [-90, 90]')
        need(_finite(self.origin_lon_deg) and abs(self.origin_lon_deg) <= 180.0,
             'origin_lon_deg', 'must be in [-180, 180]')
        need(_finite(self.origin_alt_m), 'origin_alt_m', 'must be finite')
        for key in ('battery_capacity_mah', 'cruise_speed_m_s', 'max_altitude_m', 'max_range_m',
                    'rtl_altitude_m', 'descent_speed_m_s', 'land_speed_m_s', 'wp_radius_m', 'gcs_timeout_s'):
            value = getattr(self, key)
            need(_finite(value) and value > 0.0, key, 'must be a positive number')
        for key in ('battery_internal_resistance_ohm', 'idle_current_a', 'motors_current_a',
                    'current_per_speed_a', 'fence_brake_s', 'rtl_loiter_s', 'auto_disarm_s', 'gps_noise_m'):
            value = getattr(self, key)
            need(_finite(value) and value >= 0.0, key, 'must be a number >= 0')
        need(isinstance(self.battery_cells, int) and 1 <= self.battery_cells <= BATTERY_CELL_SLOTS,
             'battery_cells', f'must be 1..{BATTERY_CELL_SLOTS}')
        need(_finite(self.battery_low_pct) and 0.0 <= self.battery_low_pct < 100.0,
             'battery_low_pct', 'must be in [0, 100)')
        need(_finite(self.battery_critical_pct) and 0.0 <= self.battery_critical_pct < self.battery_low_pct,
             'battery_critical_pct', 'must be >= 0 and below battery_low_pct')
        need(self.cruise_speed_m_s <= MAX_COMMAND_SPEED_M_S, 'cruise_speed_m_s', f'must be <= {MAX_COMMAND_SPEED_M_S}')
        need(self.rtl_altitude_m <= self.max_altitude_m, 'rtl_altitude_m', 'must not exceed max_altitude_m')
        need(isinstance(self.gps_satellites, int) and 0 <= self.gps_satellites <= 255,
             'gps_satellites', 'must be 0..255')
        need(self.seed is None or isinstance(self.seed, int), 'seed', 'must be an integer')
        need(self.gcs_system_id is None or (isinstance(self.gcs_system_id, int) and 1 <= self.gcs_system_id <= 255),
             'gcs_system_id', 'must be 1..255')
        for key, enum_type in (('gcs_failsafe_action', FailsafeAction), ('battery_low_action', FailsafeAction),
                               ('battery_critical_action', FailsafeAction), ('fence_action', FenceAction)):
            need(isinstance(getattr(self, key), enum_type), key, f'must be one of {[e.value for e in enum_type]}')
        names = {_message_name(i) for i in DEFAULT_RATES_HZ}
        for name, rate in self.stream_rates_hz.items():
            need(name in names, f'stream_rates_hz.{name}', f'unknown stream; known: {sorted(names)}')
            need(_finite(rate) and rate >= 0.0, f'stream_rates_hz.{name}', 'must be a rate in Hz >= 0')

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = 'config') -> AutopilotConfig:
        """Build from a parsed site-config section (strings for enums), naming bad keys."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(source, str(key), 'unknown key')
        for key in ('system_id', 'kind', 'origin_lat_deg', 'origin_lon_deg', 'origin_alt_m'):
            if key not in data:
                raise ConfigError(source, key, 'missing')
        values = dict(data)
        converters: dict[str, type[enum.Enum]] = {
            'kind': VehicleKind, 'gcs_failsafe_action': FailsafeAction, 'battery_low_action': FailsafeAction,
            'battery_critical_action': FailsafeAction, 'fence_action': FenceAction}
        for key, enum_type in converters.items():
            if key in values and isinstance(values[key], str):
                try:
                    values[key] = enum_type(values[key].lower())
                except ValueError:
                    raise ConfigError(source, key, f'must be one of {[e.value for e in enum_type]}') from None
        try:
            config = cls(**values)
        except ConfigError as error:
            raise ConfigError(source, error.key, error.reason) from None
        except TypeError as error:
            raise ConfigError(source, '?', str(error)) from None
        return config


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------

def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _message_name(msg_id: int) -> str:
    return mavlink.mavlink_map[msg_id].msgname


def _i16(value: float) -> int:
    """Round into an int16 field (telemetry must encode whatever the physics reports)."""
    return max(-INT16_MAX - 1, min(INT16_MAX, round(value)))


def _u16(value: float) -> int:
    """Round into a uint16 field, keeping UINT16_MAX free for "unknown"."""
    return max(0, min(UINT16_MAX - 1, round(value)))


def _wrap_pi(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _enu_yaw_to_compass_deg(yaw: float) -> float:
    """ENU yaw (0 east, CCW) -> compass heading in degrees (0 north, CW), in [0, 360)."""
    return math.degrees(math.pi / 2.0 - yaw) % 360.0


def _ned_yaw_to_enu(yaw_ned: float) -> float:
    return _wrap_pi(math.pi / 2.0 - yaw_ned)


def _hdist(a: Vector3, b: Vector3) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)


def _dist(a: Vector3, b: Vector3) -> float:
    return math.sqrt((a.x - b.x) ** 2 + (a.y - b.y) ** 2 + (a.z - b.z) ** 2)


def _bearing_enu(frm: Vector3, to: Vector3) -> float | None:
    """ENU yaw pointing from one point to another, None when they (nearly) coincide."""
    if _hdist(frm, to) < 1.0:
        return None
    return math.atan2(to.y - frm.y, to.x - frm.x)


def _check_body(body: BodyState) -> None:
    """The physics must hand over finite numbers; anything else is a bug upstream, said loudly."""
    values = (body.position.x, body.position.y, body.position.z, body.velocity.x, body.velocity.y,
              body.velocity.z, body.roll, body.pitch, body.yaw)
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f'non-finite BodyState from the physics: {body}')


def _valid_lat_lon(lat: float, lon: float) -> bool:
    return _finite(lat) and _finite(lon) and abs(lat) <= 90.0 and abs(lon) <= 180.0


# The two conversions this module needs, behind one seam: the site-wide helpers in
# sentinel_sim.geo (pymap3d underneath). Callers validate inputs first, so the
# helpers' ValueError on non-finite or out-of-range values cannot reach the wire.
def _enu_to_geodetic(origin: tuple[float, float, float], p: Vector3) -> tuple[float, float, float]:
    """Site ENU point -> (lat deg, lon deg, alt m) around the site origin (lat, lon, alt)."""
    return geo.enu_to_wgs84(p.x, p.y, p.z, *origin)


def _geodetic_to_enu(origin: tuple[float, float, float], lat: float, lon: float, alt: float) -> Vector3:
    """(lat deg, lon deg, alt m) -> site ENU point around the site origin (lat, lon, alt)."""
    return Vector3(*geo.wgs84_to_enu(lat, lon, alt, *origin))


class _VehicleLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every record with the vehicle's system id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        assert self.extra is not None
        return f'vehicle {self.extra["sysid"]}: {msg}', kwargs


class _Throttle:
    """Lets a keyed event through at most once per period (for repeated warnings)."""

    def __init__(self, period_s: float) -> None:
        self._period = period_s
        self._last: dict[str, float] = {}

    def allow(self, key: str, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            return False
        self._last[key] = now
        return True


# --------------------------------------------------------------------------------------
# Battery and GPS models
# --------------------------------------------------------------------------------------

class BatteryModel:
    """Coulomb-counting battery: capacity, draw by activity and speed, LiPo voltage curve.

    Why so simple: the failsafes only need a remaining percentage that falls at a
    believable rate and a voltage that looks like a pack's, not electrochemistry.
    """

    def __init__(self, config: AutopilotConfig) -> None:
        self._capacity_mah = config.battery_capacity_mah
        self._cells = config.battery_cells
        self._resistance = config.battery_internal_resistance_ohm
        self._idle_a = config.idle_current_a
        self._motors_a = config.motors_current_a
        self._per_speed_a = config.current_per_speed_a
        self.consumed_mah = 0.0
        self.energy_wh = 0.0
        self.current_a = self._idle_a

    @property
    def remaining_fraction(self) -> float:
        return min(1.0, max(0.0, 1.0 - self.consumed_mah / self._capacity_mah))

    @property
    def remaining_pct(self) -> float:
        return 100.0 * self.remaining_fraction

    @property
    def cell_voltage(self) -> float:
        frac = self.remaining_fraction
        for (f0, v0), (f1, v1) in itertools.pairwise(CELL_CURVE):
            if frac <= f1:
                return v0 + (v1 - v0) * (frac - f0) / (f1 - f0)
        return CELL_CURVE[-1][1]

    @property
    def voltage(self) -> float:
        return max(0.0, self.cell_voltage * self._cells - self.current_a * self._resistance)

    def update(self, dt: float, motors_on: bool, speed: float) -> None:
        """Integrate the draw over dt seconds."""
        self.current_a = self._idle_a + ((self._motors_a + self._per_speed_a * speed) if motors_on else 0.0)
        self.consumed_mah += self.current_a * dt * MILLI / 3600.0
        self.energy_wh += self.current_a * self.voltage * dt / 3600.0
        self.consumed_mah = min(self.consumed_mah, self._capacity_mah)

    def set_remaining(self, pct: float) -> None:
        """Fault injection: jump to the given remaining percentage."""
        pct = min(100.0, max(0.0, pct))
        self.consumed_mah = self._capacity_mah * (1.0 - pct / 100.0)

    def time_remaining_s(self) -> int:
        if self.current_a <= 0.0:
            return 0
        return int(3600.0 * (self._capacity_mah - self.consumed_mah) / MILLI / self.current_a)


class GpsModel:
    """GPS receiver: fix state, satellite count, seeded white noise on the raw report."""

    def __init__(self, config: AutopilotConfig, rng: np.random.Generator) -> None:
        self._rng = rng
        self._noise = config.gps_noise_m
        self._satellites = config.gps_satellites
        self.lost = False

    @property
    def has_fix(self) -> bool:
        return not self.lost and self._satellites >= 6

    @property
    def fix_type(self) -> int:
        return mavlink.GPS_FIX_TYPE_3D_FIX if self.has_fix else mavlink.GPS_FIX_TYPE_NO_FIX

    @property
    def satellites(self) -> int:
        return 0 if self.lost else self._satellites

    @property
    def noise_m(self) -> float:
        return self._noise

    def measure(self, truth: Vector3) -> Vector3:
        """A noisy ENU reading of the true position."""
        if self._noise <= 0.0:
            return truth
        dx, dy, dz = self._rng.normal(0.0, self._noise, size=3)
        return Vector3(truth.x + float(dx), truth.y + float(dy), truth.z + float(dz) * GPS_VERTICAL_NOISE_FACTOR)


@dataclass
class LinkFaults:
    """Injected link degradation, applied to both directions by the autopilot."""

    drop_probability: float = 0.0
    latency_s: float = 0.0


# --------------------------------------------------------------------------------------
# Missions and fences
# --------------------------------------------------------------------------------------

_GLOBAL_FRAMES = {mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT}
_RELATIVE_FRAMES = {mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT}
_LOCATION_FRAMES = _GLOBAL_FRAMES | _RELATIVE_FRAMES
_NAV_COMMANDS = {
    VehicleKind.DRONE: {mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_LOITER_TIME,
                        mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, mavlink.MAV_CMD_NAV_LAND,
                        mavlink.MAV_CMD_NAV_TAKEOFF},
    VehicleKind.GROUND: {mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_LOITER_TIME,
                         mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH},
}
_DO_COMMANDS = {mavlink.MAV_CMD_DO_CHANGE_SPEED}
_FENCE_POLYGONS = {mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                   mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION}
_FENCE_CIRCLES = {mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION}
_FENCE_COMMANDS = _FENCE_POLYGONS | _FENCE_CIRCLES | {mavlink.MAV_CMD_NAV_FENCE_RETURN_POINT}
_SUPPORTED_MISSION_TYPES = (mavlink.MAV_MISSION_TYPE_MISSION, mavlink.MAV_MISSION_TYPE_FENCE)


@dataclass(frozen=True)
class MissionItem:
    """One stored mission or fence item, as MISSION_ITEM_INT carries it."""

    seq: int
    frame: int
    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0          # latitude, degE7, for location frames
    y: int = 0          # longitude, degE7, for location frames
    z: float = 0.0      # altitude in the frame's reference, metres
    autocontinue: int = 1
    mission_type: int = mavlink.MAV_MISSION_TYPE_MISSION

    @property
    def has_latlon(self) -> bool:
        return self.x != 0 or self.y != 0

    @property
    def lat(self) -> float:
        return self.x / DEG_E7

    @property
    def lon(self) -> float:
        return self.y / DEG_E7


@dataclass
class _Upload:
    """An upload in progress (MISSION_COUNT received, items being requested)."""

    mission_type: int
    count: int
    peer: tuple[int, int]
    items: list[MissionItem] = field(default_factory=list)
    last_request: float = 0.0
    last_receive: float = 0.0


@dataclass(frozen=True)
class Fence:
    """Geofence zones in the site ENU plane (x east, y north), from an uploaded FENCE list."""

    inclusion_polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    exclusion_polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    inclusion_circles: tuple[tuple[float, float, float], ...] = ()   # (x, y, radius)
    exclusion_circles: tuple[tuple[float, float, float], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.inclusion_polygons or self.exclusion_polygons
                    or self.inclusion_circles or self.exclusion_circles)

    def breach(self, x: float, y: float) -> str | None:
        """Why the point breaches the fence (inside every inclusion, outside every exclusion), or None."""
        for polygon in self.inclusion_polygons:
            if not _inside_polygon(x, y, polygon):
                return 'outside inclusion polygon'
        for cx, cy, r in self.inclusion_circles:
            if math.hypot(x - cx, y - cy) > r:
                return 'outside inclusion circle'
        for polygon in self.exclusion_polygons:
            if _inside_polygon(x, y, polygon):
                return 'inside exclusion polygon'
        for cx, cy, r in self.exclusion_circles:
            if math.hypot(x - cx, y - cy) < r:
                return 'inside exclusion circle'
        return None


def _inside_polygon(x: float, y: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    """Even-odd ray casting."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            cross_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < cross_x:
                inside = not inside
    return inside


def _build_fence(items: list[MissionItem], origin: tuple[float, float, float]) -> tuple[Fence | None, int]:
    """Group uploaded fence items into zones; (fence, MAV_MISSION_ACCEPTED) or (None, error)."""
    inc_poly: list[tuple[tuple[float, float], ...]] = []
    exc_poly: list[tuple[tuple[float, float], ...]] = []
    inc_circ: list[tuple[float, float, float]] = []
    exc_circ: list[tuple[float, float, float]] = []
    i = 0
    while i < len(items):
        item = items[i]
        if item.command in _FENCE_POLYGONS:
            n = int(item.param1)
            group = items[i:i + n]
            if n < 3 or len(group) < n or any(g.command != item.command or int(g.param1) != n for g in group):
                return None, mavlink.MAV_MISSION_INVALID_PARAM1
            pts = []
            for g in group:
                p = _geodetic_to_enu(origin, g.lat, g.lon, origin[2])
                pts.append((p.x, p.y))
            (inc_poly if item.command == mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION else exc_poly).append(
                tuple(pts))
            i += n
            continue
        if item.command in _FENCE_CIRCLES:
            p = _geodetic_to_enu(origin, item.lat, item.lon, origin[2])
            (inc_circ if item.command == mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION else exc_circ).append(
                (p.x, p.y, float(item.param1)))
        i += 1
    return Fence(tuple(inc_poly), tuple(exc_poly), tuple(inc_circ), tuple(exc_circ)), mavlink.MAV_MISSION_ACCEPTED


# --------------------------------------------------------------------------------------
# Run-time state of the navigation behaviours
# --------------------------------------------------------------------------------------

class _RtlStage(enum.Enum):
    CLIMB = 'climb'
    RETURN = 'return'
    LOITER = 'loiter'
    DESCEND = 'descend'
    DONE = 'done'


@dataclass
class _Rtl:
    stage: _RtlStage
    altitude: float          # ENU z of the return leg
    loiter_until: float = 0.0


class _GuidedKind(enum.Enum):
    HOLD = 'hold'
    TAKEOFF = 'takeoff'
    POSITION = 'position'
    VELOCITY = 'velocity'


@dataclass
class _Guided:
    kind: _GuidedKind
    position: Vector3 = Vector3()
    velocity: Vector3 = Vector3()
    yaw: float | None = None
    speed: float | None = None
    expires: float = math.inf


class _NavStage(enum.Enum):
    START = 'start'
    MOVING = 'moving'
    WAITING = 'waiting'
    LANDING = 'landing'


@dataclass
class _Nav:
    """The mission item AUTO is executing."""

    item: MissionItem
    stage: _NavStage = _NavStage.START
    target: Vector3 = Vector3()
    wait_until: float = 0.0
    rtl: _Rtl | None = None


@dataclass(frozen=True)
class _Command:
    """COMMAND_LONG and COMMAND_INT in one shape."""

    command: int
    params: tuple[float, float, float, float, float, float, float]
    frame: int | None          # COMMAND_INT's frame; None for COMMAND_LONG
    source: tuple[int, int]    # (system, component) to acknowledge

    @property
    def lat(self) -> float:
        return self.params[4] / DEG_E7 if self.frame is not None else self.params[4]

    @property
    def lon(self) -> float:
        return self.params[5] / DEG_E7 if self.frame is not None else self.params[5]

    @property
    def alt(self) -> float:
        return self.params[6]


@dataclass(frozen=True)
class AutopilotOutput:
    """What one step produces: the physics setpoint and the MAVLink messages due."""

    setpoint: Setpoint
    messages: list[MavMessage]


class _Reject(Exception):
    """A command refused with a MAV_RESULT and a reason for the STATUSTEXT."""

    def __init__(self, result: int, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


# --------------------------------------------------------------------------------------
# The autopilot
# --------------------------------------------------------------------------------------

class Autopilot:
    """ArduPilot-like autopilot for one vehicle; see the module docstring for the contract."""

    def __init__(self, config: AutopilotConfig, start_time: float = 0.0) -> None:
        self.config = config
        self._kind = config.kind
        self._drone = config.kind is VehicleKind.DRONE
        self._origin = (config.origin_lat_deg, config.origin_lon_deg, config.origin_alt_m)
        seed = config.system_id if config.seed is None else config.seed
        gps_seq, link_seq = np.random.SeedSequence(seed).spawn(2)
        self._link_rng = np.random.default_rng(link_seq)
        self.battery = BatteryModel(config)
        self.gps = GpsModel(config, np.random.default_rng(gps_seq))
        self.link = LinkFaults()
        self._boot = start_time
        self._now = start_time
        self._last_step: float | None = None
        self._dt = 0.0
        self._order = itertools.count()
        self._inbox: list[tuple[float, int, MavMessage]] = []
        self._outbox: list[tuple[float, int, MavMessage]] = []
        self._throttle = _Throttle(STATUS_THROTTLE_S)
        self._warned_commands: set[int] = set()

        self._body: BodyState | None = None
        self._prev_body: BodyState | None = None
        self._armed = False
        self._mode = _INITIAL_MODE[config.kind]
        self._terminated = False
        self._motor_failed = False
        self._home: Vector3 | None = None
        self._ekf_origin: Vector3 | None = None
        self._last_fix: Vector3 | None = None     # position at the last GPS fix (reported while lost)
        self._speed_override: float | None = None
        self._guided = _Guided(_GuidedKind.HOLD)
        self._hold_position: Vector3 | None = None
        self._land_xy: Vector3 | None = None
        self._rtl: _Rtl | None = None
        self._landed_since: float | None = None
        self._idle_on_ground_since: float | None = None
        self._brake_until: float | None = None

        self._gcs_last_heartbeat: float | None = None
        self._gcs_failsafe = False
        self._battery_low_fired = False
        self._battery_critical_fired = False
        self._gps_lost_since: float | None = None
        self._gps_failsafe = False
        self._fence_breached = False

        self.mission: list[MissionItem] = []      # index 0 is the home slot
        self.fence_items: list[MissionItem] = []
        self.fence: Fence | None = None
        self.fence_enabled = False
        self._upload: _Upload | None = None
        self._mission_index = 1
        self._mission_state = mavlink.MISSION_STATE_NO_MISSION
        self._nav: _Nav | None = None

        self._default_intervals: dict[int, float] = {}   # msg id -> seconds; 0: not streamed
        for msg_id, rate in DEFAULT_RATES_HZ.items():
            rate = config.stream_rates_hz.get(_message_name(msg_id), rate)
            self._default_intervals[msg_id] = 1.0 / rate if rate > 0 else 0.0
        self._intervals = dict(self._default_intervals)
        self._next_due: dict[int, float] = {}

        self._params = self._parameter_table()
        self._log = _VehicleLog(_LOG, {'sysid': config.system_id})

    # ---------------------------------------------------------------- public state

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def mode(self) -> int:
        """The custom_mode number on the wire."""
        return self._mode

    @property
    def mode_name(self) -> str:
        return _MODES[self._kind][self._mode].name

    @property
    def home(self) -> Vector3 | None:
        """Home in site ENU, None until the first GPS fix."""
        return self._home

    @property
    def terminated(self) -> bool:
        return self._terminated

    @property
    def gcs_failsafe(self) -> bool:
        return self._gcs_failsafe

    @property
    def mission_index(self) -> int:
        return self._mission_index

    @property
    def mission_state(self) -> int:
        return self._mission_state

    def message_interval(self, msg_id: int) -> float:
        """Current stream interval in seconds; 0 when not streamed."""
        return max(0.0, self._intervals.get(msg_id, 0.0))

    # ---------------------------------------------------------------- fault injection

    def inject_link_degradation(self, drop_probability: float, latency_s: float) -> None:
        """Drop each message (both directions) with this probability and delay the rest."""
        if not (_finite(drop_probability) and 0.0 <= drop_probability <= 1.0):
            raise ValueError('drop_probability must be in [0, 1]')
        if not (_finite(latency_s) and latency_s >= 0.0):
            raise ValueError('latency_s must be >= 0')
        self.link = LinkFaults(float(drop_probability), float(latency_s))
        self._log.warning('link degradation: drop %.0f %%, latency %.3f s', drop_probability * 100, latency_s)

    def inject_gps_loss(self, lost: bool = True) -> None:
        """Lose (or regain) the GPS fix."""
        self.gps.lost = lost
        self._log.warning('GPS %s (injected)', 'lost' if lost else 'restored')

    def inject_battery_remaining(self, pct: float) -> None:
        """Set the battery's remaining charge, in percent."""
        if not _finite(pct):
            raise ValueError('pct must be a number')
        self.battery.set_remaining(float(pct))
        self._log.warning('battery set to %.1f %% (injected)', pct)

    def inject_motor_failure(self) -> None:
        """Motors stop for good: a drone falls (KILL), a ground vehicle coasts (IDLE)."""
        if not self._motor_failed:
            self._motor_failed = True
            self._status(mavlink.MAV_SEVERITY_EMERGENCY, 'Motor failure', self._now)

    # ---------------------------------------------------------------- main entry points

    def receive(self, msg: MavMessage, now: float) -> None:
        """Accept one decoded message from the link (link faults apply)."""
        now = self._clock(now)
        if self.link.drop_probability > 0.0 and self._link_rng.random() < self.link.drop_probability:
            return
        if self.link.latency_s > 0.0:
            heapq.heappush(self._inbox, (now + self.link.latency_s, next(self._order), msg))
            return
        self._handle_message(msg, now)

    def flush(self, now: float) -> list[MavMessage]:
        """Messages due now: replies, status texts and telemetry already scheduled."""
        now = self._clock(now)
        self._process_inbox(now)
        due: list[MavMessage] = []
        while self._outbox and self._outbox[0][0] <= now:
            due.append(heapq.heappop(self._outbox)[2])
        return due

    def step(self, now: float, body: BodyState) -> AutopilotOutput:
        """Advance to ``now`` with the physics state; returns the setpoint and due messages."""
        now = self._clock(now)
        _check_body(body)
        dt = 0.0 if self._last_step is None else now - self._last_step
        self._last_step = now
        self._dt = dt
        self._prev_body, self._body = self._body, body
        self._process_inbox(now)
        self._update_sensors(now, dt, body)
        self._check_vehicle_health(now, body)
        self._check_failsafes(now, body)
        self._check_mission_upload_timeout(now)
        setpoint = self._control(now, body)
        setpoint = self._check_landing_and_disarm(now, body, setpoint)
        if self._terminated:
            setpoint = Setpoint(SetpointMode.KILL)  # motors off; a ground vehicle brakes
        elif self._motor_failed:
            setpoint = Setpoint(SetpointMode.KILL if self._drone else SetpointMode.IDLE)  # rover coasts
        elif not self._armed:
            setpoint = Setpoint(SetpointMode.IDLE)
        self._stream_telemetry(now)
        return AutopilotOutput(setpoint, self.flush(now))

    # ---------------------------------------------------------------- plumbing

    def _clock(self, now: float) -> float:
        if not _finite(now):
            raise ValueError('now must be a finite number of seconds')
        if now < self._now:
            if self._throttle.allow('clock', now):
                self._log.warning('time went backwards (%.3f < %.3f s); holding', now, self._now)
            return self._now
        self._now = now
        return now

    def _process_inbox(self, now: float) -> None:
        while self._inbox and self._inbox[0][0] <= now:
            self._handle_message(heapq.heappop(self._inbox)[2], now)

    def _send(self, msg: MavMessage, now: float) -> None:
        """Queue an outgoing message through the (possibly degraded) link."""
        if self.link.drop_probability > 0.0 and self._link_rng.random() < self.link.drop_probability:
            return
        heapq.heappush(self._outbox, (now + self.link.latency_s, next(self._order), msg))

    def _status(self, severity: int, text: str, now: float) -> None:
        """Queue a STATUSTEXT (cut to the field size) and log it."""
        data = text.encode('ascii', 'replace')[:STATUSTEXT_MAX_LEN]
        self._send(mavlink.MAVLink_statustext_message(severity, data), now)
        level = logging.WARNING if severity <= mavlink.MAV_SEVERITY_WARNING else logging.INFO
        self._log.log(level, '%s', text)

    def _time_boot_ms(self, now: float) -> int:
        return int((now - self._boot) * MILLI) & 0xFFFFFFFF

    # ---------------------------------------------------------------- incoming messages

    def _handle_message(self, msg: MavMessage, now: float) -> None:
        msg_type = msg.get_type()
        if msg_type == 'BAD_DATA':
            return
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        if src[0] == self.config.system_id:
            return  # our own messages echoed back
        target_system = getattr(msg, 'target_system', 0)
        if target_system not in (0, self.config.system_id):
            return
        target_component = getattr(msg, 'target_component', 0)
        if msg_type in ('COMMAND_LONG', 'COMMAND_INT') and target_component not in (0, self.config.component_id):
            return
        handler = self._handlers().get(msg_type)
        if handler is None:
            return
        try:
            handler(msg, src, now)
        except Exception:  # a bug in one handler must not stop the vehicle; the fault is logged in full
            self._log.exception('error handling %s', msg_type)

    def _handlers(self) -> dict[str, Callable[[Any, tuple[int, int], float], None]]:
        return {
            'HEARTBEAT': self._on_heartbeat,
            'COMMAND_LONG': self._on_command_long,
            'COMMAND_INT': self._on_command_int,
            'SET_MODE': self._on_set_mode,
            'SET_POSITION_TARGET_GLOBAL_INT': self._on_position_target_global,
            'SET_POSITION_TARGET_LOCAL_NED': self._on_position_target_local,
            'REQUEST_DATA_STREAM': self._on_request_data_stream,
            'MISSION_COUNT': self._on_mission_count,
            'MISSION_ITEM_INT': self._on_mission_item,
            'MISSION_ITEM': self._on_mission_item,
            'MISSION_REQUEST_LIST': self._on_mission_request_list,
            'MISSION_REQUEST_INT': self._on_mission_request,
            'MISSION_REQUEST': self._on_mission_request,
            'MISSION_CLEAR_ALL': self._on_mission_clear_all,
            'MISSION_SET_CURRENT': self._on_mission_set_current,
            'MISSION_ACK': self._on_mission_ack,
            'PARAM_REQUEST_LIST': self._on_param_request_list,
            'PARAM_REQUEST_READ': self._on_param_request_read,
            'PARAM_SET': self._on_param_set,
        }

    def _on_heartbeat(self, msg: Any, src: tuple[int, int], now: float) -> None:
        if msg.type != mavlink.MAV_TYPE_GCS:
            return
        if self.config.gcs_system_id is not None and src[0] != self.config.gcs_system_id:
            return
        self._gcs_last_heartbeat = now
        if self._gcs_failsafe:
            self._gcs_failsafe = False
            self._status(mavlink.MAV_SEVERITY_INFO, 'GCS Failsafe Cleared', now)

    def _ack(self, command: int, result: int, src: tuple[int, int], now: float) -> None:
        self._send(mavlink.MAVLink_command_ack_message(
            command, result, 0, 0, src[0], src[1]), now)

    def _on_command_long(self, msg: Any, src: tuple[int, int], now: float) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
        self._run_command(_Command(int(msg.command), params, None, src), now)

    def _on_command_int(self, msg: Any, src: tuple[int, int], now: float) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4, float(msg.x), float(msg.y), msg.z)
        self._run_command(_Command(int(msg.command), params, int(msg.frame), src), now)

    def _run_command(self, cmd: _Command, now: float) -> None:
        """Execute one command and send exactly one COMMAND_ACK."""
        handler = self._command_handlers().get(cmd.command)
        if handler is None:
            if cmd.command not in self._warned_commands:
                self._warned_commands.add(cmd.command)
                self._status(mavlink.MAV_SEVERITY_INFO, f'Unsupported command {cmd.command}', now)
            self._ack(cmd.command, mavlink.MAV_RESULT_UNSUPPORTED, cmd.source, now)
            return
        try:
            result = handler(cmd, now)
        except _Reject as reject:
            self._status(mavlink.MAV_SEVERITY_WARNING, reject.reason, now)
            result = reject.result
        except Exception:  # a bug must still cost exactly one ack, and never the vehicle; logged in full
            self._log.exception('error executing command %d', cmd.command)
            result = mavlink.MAV_RESULT_FAILED
        self._ack(cmd.command, result, cmd.source, now)
        if result != mavlink.MAV_RESULT_ACCEPTED:
            return
        if cmd.command == mavlink.MAV_CMD_REQUEST_MESSAGE:
            self._send_requested(int(cmd.params[0]), now)
        elif cmd.command == mavlink.MAV_CMD_GET_MESSAGE_INTERVAL:
            self._send_interval(int(cmd.params[0]), now)

    def _command_handlers(self) -> dict[int, Callable[[_Command, float], int]]:
        return {
            mavlink.MAV_CMD_COMPONENT_ARM_DISARM: self._cmd_arm_disarm,
            mavlink.MAV_CMD_NAV_TAKEOFF: self._cmd_takeoff,
            mavlink.MAV_CMD_NAV_LAND: self._cmd_land,
            mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH: self._cmd_rtl,
            mavlink.MAV_CMD_DO_SET_MODE: self._cmd_set_mode,
            mavlink.MAV_CMD_DO_REPOSITION: self._cmd_reposition,
            mavlink.MAV_CMD_DO_CHANGE_SPEED: self._cmd_change_speed,
            mavlink.MAV_CMD_DO_SET_HOME: self._cmd_set_home,
            mavlink.MAV_CMD_DO_FLIGHTTERMINATION: self._cmd_terminate,
            mavlink.MAV_CMD_DO_FENCE_ENABLE: self._cmd_fence_enable,
            mavlink.MAV_CMD_SET_MESSAGE_INTERVAL: self._cmd_set_message_interval,
            mavlink.MAV_CMD_GET_MESSAGE_INTERVAL: self._cmd_get_message_interval,
            mavlink.MAV_CMD_REQUEST_MESSAGE: self._cmd_request_message,
            mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES: self._cmd_request_capabilities,
            mavlink.MAV_CMD_GET_HOME_POSITION: self._cmd_get_home,
            mavlink.MAV_CMD_MISSION_START: self._cmd_mission_start,
            mavlink.MAV_CMD_DO_SET_MISSION_CURRENT: self._cmd_set_mission_current,
        }

    # ---------------------------------------------------------------- commands

    def _cmd_arm_disarm(self, cmd: _Command, now: float) -> int:
        want = cmd.params[0]
        if want not in (0.0, 1.0):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Arm: param1 must be 0 or 1')
        if want == 1.0:
            self._arm(now)
            return mavlink.MAV_RESULT_ACCEPTED
        if not self._armed:
            return mavlink.MAV_RESULT_ACCEPTED
        flying = self._body is not None and not self._body.on_ground
        if flying and cmd.params[1] != FORCE_DISARM_MAGIC:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Disarm: vehicle is flying')
        self._disarm('GCS command', now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _prearm_failure(self) -> str | None:
        """ArduPilot-style pre-arm checks; the first failure's text, or None."""
        if self._terminated:
            return 'PreArm: Flight terminated, reboot required'
        if self._motor_failed:
            return 'PreArm: Motor failure'
        if self._body is None:
            return 'PreArm: Waiting for sensors'
        if self._body.crashed:
            return 'PreArm: Vehicle crashed'
        if not self.gps.has_fix:
            return 'PreArm: Need 3D Fix'
        if self._battery_critical_fired or self._battery_low_fired or \
                self.battery.remaining_pct <= self.config.battery_low_pct:
            return 'PreArm: Battery below failsafe level'
        if self.fence_enabled and self.fence is not None and \
                self.fence.breach(self._body.position.x, self._body.position.y) is not None:
            return 'PreArm: Vehicle outside fence'
        return None

    def _arm(self, now: float) -> None:
        if self._armed:
            return
        failure = self._prearm_failure()
        if failure is not None:
            raise _Reject(mavlink.MAV_RESULT_FAILED, failure)
        if not _MODES[self._kind][self._mode].armable:
            raise _Reject(mavlink.MAV_RESULT_FAILED, f'Arm: Mode {self.mode_name} not armable')
        assert self._body is not None
        self._armed = True
        self._home = self._body.position  # ArduPilot resets home on arming
        if self._ekf_origin is None:
            self._ekf_origin = self._body.position
        self._send(self._msg_home_position(now), now)
        self._fence_breached = False
        self._idle_on_ground_since = None
        self._enter_mode_behaviour(now)
        self._log.info('armed in %s', self.mode_name)

    def _disarm(self, reason: str, now: float) -> None:
        if not self._armed:
            return
        self._armed = False
        self._log.info('disarmed (%s)', reason)
        self._status(mavlink.MAV_SEVERITY_INFO, f'Disarming: {reason}'[:STATUSTEXT_MAX_LEN], now)

    def _cmd_takeoff(self, cmd: _Command, now: float) -> int:
        if not self._drone:
            raise _Reject(mavlink.MAV_RESULT_UNSUPPORTED, 'Takeoff: not a flying vehicle')
        alt = self._relative_alt(cmd.alt, cmd.frame if cmd.frame is not None else mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT)
        self._check_altitude(alt, 'Takeoff')
        if self._mode != CopterMode.GUIDED:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Takeoff: mode must be GUIDED')
        if not self._armed:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Takeoff: not armed')
        assert self._body is not None and self._home is not None
        if not self._body.on_ground:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Takeoff: already flying')
        p = self._body.position
        self._guided = _Guided(_GuidedKind.TAKEOFF, Vector3(p.x, p.y, self._home.z + alt))
        self._idle_on_ground_since = None
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_land(self, cmd: _Command, now: float) -> int:
        if not self._drone:
            raise _Reject(mavlink.MAV_RESULT_UNSUPPORTED, 'Land: not a flying vehicle')
        self._require_mode(int(CopterMode.LAND), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_rtl(self, cmd: _Command, now: float) -> int:
        self._require_mode(int(CopterMode.RTL if self._drone else RoverMode.RTL), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_set_mode(self, cmd: _Command, now: float) -> int:
        base_mode, custom_mode = cmd.params[0], cmd.params[1]
        if not (_finite(base_mode) and _finite(custom_mode)):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Mode: parameters must be numbers')
        if not int(base_mode) & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Mode: custom mode flag required')
        if custom_mode != int(custom_mode) or int(custom_mode) not in _MODES[self._kind]:
            raise _Reject(mavlink.MAV_RESULT_DENIED, f'Mode: unknown mode {custom_mode:g}')
        self._require_mode(int(custom_mode), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _on_set_mode(self, msg: Any, src: tuple[int, int], now: float) -> None:
        """Legacy SET_MODE message; ArduPilot answers it with a DO_SET_MODE COMMAND_ACK."""
        params = (float(msg.base_mode), float(msg.custom_mode), 0.0, 0.0, 0.0, 0.0, 0.0)
        self._run_command(_Command(mavlink.MAV_CMD_DO_SET_MODE, params, None, src), now)

    def _cmd_reposition(self, cmd: _Command, now: float) -> int:
        speed, flags, _, yaw_deg = cmd.params[0], cmd.params[1], cmd.params[2], cmd.params[3]
        frame = cmd.frame if cmd.frame is not None else mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
        target = self._target_from_location(cmd.lat, cmd.lon, cmd.alt, frame, 'Reposition')
        speed_value = self._optional_speed(speed, 'Reposition')
        if not (math.isnan(yaw_deg) or _finite(yaw_deg)):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Reposition: bad yaw')
        if not _finite(flags):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Reposition: bad flags')
        if not self._armed:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Reposition: not armed')
        assert self._body is not None
        if self._drone and self._body.on_ground:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Reposition: take off first')
        if _MODES[self._kind][self._mode].behaviour is not _Behaviour.GUIDED:
            if not int(flags) & mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE:
                raise _Reject(mavlink.MAV_RESULT_DENIED, 'Reposition: not in GUIDED')
            self._require_mode(int(CopterMode.GUIDED if self._drone else RoverMode.GUIDED), now)
        yaw = None if math.isnan(yaw_deg) else _ned_yaw_to_enu(math.radians(yaw_deg))
        self._guided = _Guided(_GuidedKind.POSITION, target, yaw=yaw, speed=speed_value)
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_change_speed(self, cmd: _Command, now: float) -> int:
        speed = cmd.params[1]
        if speed == -1.0:
            self._speed_override = None
            return mavlink.MAV_RESULT_ACCEPTED
        if not (_finite(speed) and 0.0 < speed <= MAX_COMMAND_SPEED_M_S):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Speed: out of range')
        self._speed_override = float(speed)
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_set_home(self, cmd: _Command, now: float) -> int:
        if cmd.params[0] == 1.0:
            if self._body is None or not self.gps.has_fix:
                raise _Reject(mavlink.MAV_RESULT_FAILED, 'Set home: no position')
            self._home = self._body.position
        else:
            frame = cmd.frame if cmd.frame is not None else mavlink.MAV_FRAME_GLOBAL
            if frame not in _GLOBAL_FRAMES:
                raise _Reject(mavlink.MAV_RESULT_DENIED, 'Set home: frame must be GLOBAL')
            if not _valid_lat_lon(cmd.lat, cmd.lon) or not _finite(cmd.alt):
                raise _Reject(mavlink.MAV_RESULT_DENIED, 'Set home: invalid location')
            home = _geodetic_to_enu(self._origin, cmd.lat, cmd.lon, cmd.alt)
            if math.hypot(home.x, home.y) > self.config.max_range_m:
                raise _Reject(mavlink.MAV_RESULT_DENIED, 'Set home: too far from site')
            self._home = home
        self._send(self._msg_home_position(now), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_terminate(self, cmd: _Command, now: float) -> int:
        value = cmd.params[0]
        if not _finite(value):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Terminate: bad parameter')
        if value < 0.5:
            return mavlink.MAV_RESULT_ACCEPTED
        if not self.config.allow_flight_termination:
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Terminate: disabled for this vehicle')
        if not self._terminated:
            self._terminated = True
            self._status(mavlink.MAV_SEVERITY_EMERGENCY, 'Flight terminated', now)
            self._disarm('flight termination', now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_fence_enable(self, cmd: _Command, now: float) -> int:
        value = cmd.params[0]
        if value not in (0.0, 1.0):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Fence: param1 must be 0 or 1')
        if value == 1.0 and (self.fence is None or self.fence.empty):
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Fence: none uploaded')
        self.fence_enabled = value == 1.0
        self._fence_breached = False
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_set_message_interval(self, cmd: _Command, now: float) -> int:
        msg_id, interval_us = cmd.params[0], cmd.params[1]
        if not (_finite(msg_id) and _finite(interval_us)):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Interval: parameters must be numbers')
        if int(msg_id) not in DEFAULT_RATES_HZ:
            raise _Reject(mavlink.MAV_RESULT_UNSUPPORTED, f'Interval: cannot stream message {msg_id:g}')
        if interval_us < -1.0:
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Interval: must be -1, 0 or positive')
        self._set_interval(int(msg_id), interval_us, now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _set_interval(self, msg_id: int, interval_us: float, now: float) -> None:
        if interval_us == -1.0:
            self._intervals[msg_id] = 0.0
        elif interval_us == 0.0:
            self._intervals[msg_id] = self._default_intervals[msg_id]
        else:
            self._intervals[msg_id] = interval_us / 1e6
        self._next_due[msg_id] = now

    def _cmd_get_message_interval(self, cmd: _Command, now: float) -> int:
        msg_id = cmd.params[0]
        if not (_finite(msg_id) and msg_id == int(msg_id) and 0 <= msg_id <= UINT16_MAX):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Interval: bad message id')
        return mavlink.MAV_RESULT_ACCEPTED

    def _send_interval(self, msg_id: int, now: float) -> None:
        if msg_id in DEFAULT_RATES_HZ:
            interval = self._intervals[msg_id]
            interval_us = int(interval * 1e6) if interval > 0 else -1
        else:
            interval_us = 0  # not available
        self._send(mavlink.MAVLink_message_interval_message(msg_id, interval_us), now)

    def _cmd_request_message(self, cmd: _Command, now: float) -> int:
        msg_id = cmd.params[0]
        if not _finite(msg_id):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Request: bad message id')
        if int(msg_id) not in self._builders() and int(msg_id) != mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            raise _Reject(mavlink.MAV_RESULT_UNSUPPORTED, f'Request: cannot send message {msg_id:g}')
        if int(msg_id) == mavlink.MAVLINK_MSG_ID_HOME_POSITION and self._home is None:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Request: home not set')
        if int(msg_id) != mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION and self._body is None:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Request: no state yet')
        return mavlink.MAV_RESULT_ACCEPTED

    def _send_requested(self, msg_id: int, now: float) -> None:
        if msg_id == mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            self._send(self._msg_autopilot_version(), now)
        else:
            self._send(self._builders()[msg_id](now), now)

    def _cmd_request_capabilities(self, cmd: _Command, now: float) -> int:
        self._send(self._msg_autopilot_version(), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_get_home(self, cmd: _Command, now: float) -> int:
        if self._home is None:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Home not set')
        self._send(self._msg_home_position(now), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_mission_start(self, cmd: _Command, now: float) -> int:
        first = cmd.params[0]
        if not _finite(first) or first < 0 or first != int(first):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Mission start: bad first item')
        if self._drone and not self._armed:
            raise _Reject(mavlink.MAV_RESULT_FAILED, 'Mission start: not armed')
        if first >= max(1, len(self.mission)):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Mission start: no such item')
        if first > 0 or self._mission_state == mavlink.MISSION_STATE_COMPLETE:
            self._mission_index = max(1, int(first))
            self._mission_state = mavlink.MISSION_STATE_NOT_STARTED
        if self._in_auto():
            self._mission_state = mavlink.MISSION_STATE_ACTIVE
            self._start_nav(now)
        else:
            self._require_mode(int(CopterMode.AUTO if self._drone else RoverMode.AUTO), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _cmd_set_mission_current(self, cmd: _Command, now: float) -> int:
        seq = cmd.params[0]
        if not _finite(seq) or seq != int(seq):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Mission: bad item number')
        if not self._set_mission_current(int(seq), now):
            raise _Reject(mavlink.MAV_RESULT_DENIED, f'Mission: no item {int(seq)}')
        return mavlink.MAV_RESULT_ACCEPTED

    # ---------------------------------------------------------------- command helpers

    def _relative_alt(self, alt: float, frame: int) -> float:
        """An altitude in a global frame -> metres above home."""
        if not _finite(alt):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'Altitude is not a number')
        if frame in _GLOBAL_FRAMES:
            home_amsl = self._origin[2] + (self._home.z if self._home is not None else 0.0)
            return alt - home_amsl
        if frame in _RELATIVE_FRAMES:
            return alt
        raise _Reject(mavlink.MAV_RESULT_DENIED, f'Unsupported frame {frame}')

    def _check_altitude(self, rel_alt: float, what: str) -> None:
        if rel_alt > self.config.max_altitude_m:
            raise _Reject(mavlink.MAV_RESULT_DENIED, f'{what}: altitude above {self.config.max_altitude_m:g} m')
        if rel_alt < MIN_TARGET_ALTITUDE_M:
            raise _Reject(mavlink.MAV_RESULT_DENIED, f'{what}: altitude below {MIN_TARGET_ALTITUDE_M:g} m')

    def _target_from_location(self, lat: float, lon: float, alt: float, frame: int, what: str) -> Vector3:
        """Validate a lat/lon/alt target and turn it into site ENU (ground vehicles keep their z)."""
        if not _valid_lat_lon(lat, lon):
            raise _Reject(mavlink.MAV_RESULT_DENIED, f'{what}: invalid latitude/longitude')
        if self._home is None or self._body is None:
            raise _Reject(mavlink.MAV_RESULT_FAILED, f'{what}: no position yet')
        if self._drone:
            rel = self._relative_alt(alt, frame)
            self._check_altitude(rel, what)
            z = self._home.z + rel
        else:
            if frame not in _LOCATION_FRAMES:
                raise _Reject(mavlink.MAV_RESULT_DENIED, f'{what}: unsupported frame {frame}')
            z = self._body.position.z
        p = _geodetic_to_enu(self._origin, lat, lon, self._origin[2])
        if math.hypot(p.x, p.y) > self.config.max_range_m:
            raise _Reject(mavlink.MAV_RESULT_DENIED, f'{what}: target beyond {self.config.max_range_m:g} m')
        target = Vector3(p.x, p.y, z)
        self._check_fence_target(target, what)
        return target

    def _check_fence_target(self, target: Vector3, what: str) -> None:
        """As ArduPilot's GUIDED: a destination outside an enabled fence is refused."""
        if self.fence_enabled and self.fence is not None and self.fence.breach(target.x, target.y) is not None:
            raise _Reject(mavlink.MAV_RESULT_DENIED, f'{what}: target outside fence')

    def _optional_speed(self, speed: float, what: str) -> float | None:
        if math.isnan(speed) or speed == -1.0 or speed == 0.0:
            return None
        if not (_finite(speed) and 0.0 < speed <= MAX_COMMAND_SPEED_M_S):
            raise _Reject(mavlink.MAV_RESULT_DENIED, f'{what}: speed out of range')
        return float(speed)

    # ---------------------------------------------------------------- modes

    def _require_mode(self, mode: int, now: float) -> None:
        """Change mode or raise _Reject(FAILED) with ArduPilot's reason."""
        reason = self._set_mode(mode, now)
        if reason is not None:
            raise _Reject(mavlink.MAV_RESULT_FAILED, reason)

    def _set_mode(self, mode: int, now: float) -> str | None:
        """Change mode; None on success, else why not."""
        spec = _MODES[self._kind].get(mode)
        if spec is None:
            return f'Mode change failed: unknown mode {mode}'
        if self._terminated:
            return 'Mode change failed: flight terminated'
        if spec.needs_position and not self.gps.has_fix:
            return f'Mode change to {spec.name} failed: requires position'
        if spec.behaviour is _Behaviour.RTL and self._home is None:
            return f'Mode change to {spec.name} failed: home not set'
        if spec.behaviour is _Behaviour.AUTO:
            reason = self._auto_entry_failure()
            if reason is not None:
                return reason
        if mode == self._mode:
            return None  # as ArduPilot: re-selecting the current mode changes nothing
        self._mode = mode
        self._enter_mode_behaviour(now)
        self._log.info('mode %s', spec.name)
        return None

    def _auto_entry_failure(self) -> str | None:
        nav = [i for i in self.mission[1:] if i.command in _NAV_COMMANDS[self._kind]]
        if not nav:
            return 'Mode change to AUTO failed: no mission'
        if self._drone and self._armed and self._body is not None and self._body.on_ground:
            start = min(max(1, self._mission_index), len(self.mission) - 1)
            if self._mission_state == mavlink.MISSION_STATE_COMPLETE:
                start = 1
            first_nav = next((i for i in self.mission[start:] if i.command in _NAV_COMMANDS[self._kind]), None)
            if first_nav is None or first_nav.command != mavlink.MAV_CMD_NAV_TAKEOFF:
                return 'Auto: Missing Takeoff Cmd'
        return None

    def _enter_mode_behaviour(self, now: float) -> None:
        """(Re)initialise the current mode's targets from the present state."""
        behaviour = _MODES[self._kind][self._mode].behaviour
        body = self._body
        here = body.position if body is not None else Vector3()
        self._brake_until = None
        self._landed_since = None
        if behaviour is _Behaviour.GUIDED:
            self._guided = _Guided(_GuidedKind.HOLD, here)
        elif behaviour is _Behaviour.HOLD:
            self._hold_position = here
        elif behaviour is _Behaviour.LAND:
            self._land_xy = here
        elif behaviour is _Behaviour.RTL:
            self._rtl = self._new_rtl(here)
        elif behaviour is _Behaviour.AUTO:
            if self._mission_state in (mavlink.MISSION_STATE_COMPLETE, mavlink.MISSION_STATE_NO_MISSION):
                self._mission_index = 1
            self._mission_state = mavlink.MISSION_STATE_ACTIVE
            self._start_nav(now)

    def _new_rtl(self, here: Vector3) -> _Rtl:
        home = self._home if self._home is not None else here
        if not self._drone:
            return _Rtl(_RtlStage.RETURN, here.z)
        altitude = max(home.z + self.config.rtl_altitude_m, here.z)
        return _Rtl(_RtlStage.CLIMB, altitude)

    # ---------------------------------------------------------------- position targets

    def _guided_target_ok(self, now: float) -> bool:
        if _MODES[self._kind][self._mode].behaviour is not _Behaviour.GUIDED or not self._armed:
            if self._throttle.allow('target-mode', now):
                self._status(mavlink.MAV_SEVERITY_WARNING, 'Target ignored: not armed in GUIDED', now)
            return False
        if self._drone and self._body is not None and self._body.on_ground:
            if self._throttle.allow('target-ground', now):
                self._status(mavlink.MAV_SEVERITY_WARNING, 'Target ignored: take off first', now)
            return False
        return True

    def _reject_target(self, reason: str, now: float) -> None:
        if self._throttle.allow('target:' + reason, now):
            self._status(mavlink.MAV_SEVERITY_WARNING, f'Target rejected: {reason}', now)

    def _on_position_target_global(self, msg: Any, src: tuple[int, int], now: float) -> None:
        mask = int(msg.type_mask)
        use_pos, use_vel = self._mask_use(mask)
        if not (use_pos or use_vel):
            self._reject_target('unsupported type_mask', now)
            return
        if not self._guided_target_ok(now):
            return
        try:
            yaw = self._mask_yaw(mask, msg.yaw)
            if use_pos:
                target = self._target_from_location(msg.lat_int / DEG_E7, msg.lon_int / DEG_E7, msg.alt,
                                                    int(msg.coordinate_frame), 'Target')
                self._guided = _Guided(_GuidedKind.POSITION, target, yaw=yaw)
            else:
                vel = self._velocity_ned(msg.vx, msg.vy, msg.vz)
                self._set_guided_velocity(vel, yaw, now)
        except _Reject as reject:
            self._reject_target(reject.reason, now)

    def _on_position_target_local(self, msg: Any, src: tuple[int, int], now: float) -> None:
        mask = int(msg.type_mask)
        use_pos, use_vel = self._mask_use(mask)
        frame = int(msg.coordinate_frame)
        frames = (mavlink.MAV_FRAME_LOCAL_NED, mavlink.MAV_FRAME_LOCAL_OFFSET_NED,
                  mavlink.MAV_FRAME_BODY_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED)
        if frame not in frames:
            self._reject_target(f'unsupported frame {frame}', now)
            return
        if not (use_pos or use_vel):
            self._reject_target('unsupported type_mask', now)
            return
        if not self._guided_target_ok(now):
            return
        assert self._body is not None and self._ekf_origin is not None
        try:
            yaw = self._mask_yaw(mask, msg.yaw)
            body_frame = frame in (mavlink.MAV_FRAME_BODY_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED)
            if use_pos:
                north, east, down = msg.x, msg.y, msg.z
                if not all(_finite(v) for v in (north, east, down)):
                    raise _Reject(mavlink.MAV_RESULT_DENIED, 'position is not a number')
                if body_frame:
                    north, east = self._body_to_ned(north, east)
                base = self._ekf_origin if frame == mavlink.MAV_FRAME_LOCAL_NED else self._body.position
                target = Vector3(base.x + east, base.y + north, base.z - down)
                self._check_local_target(target)
                self._guided = _Guided(_GuidedKind.POSITION, target, yaw=yaw)
            else:
                vx, vy = msg.vx, msg.vy
                if body_frame and _finite(vx) and _finite(vy):
                    vx, vy = self._body_to_ned(vx, vy)
                self._set_guided_velocity(self._velocity_ned(vx, vy, msg.vz), yaw, now)
        except _Reject as reject:
            self._reject_target(reject.reason, now)

    def _check_local_target(self, target: Vector3) -> None:
        if math.hypot(target.x, target.y) > self.config.max_range_m:
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'beyond range limit')
        self._check_fence_target(target, 'Target')
        if self._drone:
            assert self._home is not None
            self._check_altitude(target.z - self._home.z, 'Target')

    def _body_to_ned(self, forward: float, right: float) -> tuple[float, float]:
        assert self._body is not None
        heading = math.pi / 2.0 - self._body.yaw  # NED yaw
        north = forward * math.cos(heading) - right * math.sin(heading)
        east = forward * math.sin(heading) + right * math.cos(heading)
        return north, east

    @staticmethod
    def _mask_use(mask: int) -> tuple[bool, bool]:
        pos_bits = (mavlink.POSITION_TARGET_TYPEMASK_X_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_Y_IGNORE
                    | mavlink.POSITION_TARGET_TYPEMASK_Z_IGNORE)
        vel_bits = (mavlink.POSITION_TARGET_TYPEMASK_VX_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_VY_IGNORE
                    | mavlink.POSITION_TARGET_TYPEMASK_VZ_IGNORE)
        return not mask & pos_bits, not mask & vel_bits

    @staticmethod
    def _mask_yaw(mask: int, yaw_ned: float) -> float | None:
        if mask & mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE:
            return None
        if not _finite(yaw_ned):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'yaw is not a number')
        return _ned_yaw_to_enu(yaw_ned)

    def _velocity_ned(self, vn: float, ve: float, vd: float) -> Vector3:
        if not all(_finite(v) for v in (vn, ve, vd)):
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'velocity is not a number')
        vel = Vector3(float(ve), float(vn), 0.0 if not self._drone else -float(vd))
        if math.sqrt(vel.x ** 2 + vel.y ** 2 + vel.z ** 2) > MAX_COMMAND_SPEED_M_S:
            raise _Reject(mavlink.MAV_RESULT_DENIED, 'velocity too high')
        return vel

    def _set_guided_velocity(self, vel: Vector3, yaw: float | None, now: float) -> None:
        self._guided = _Guided(_GuidedKind.VELOCITY, velocity=vel, yaw=yaw,
                               expires=now + GUIDED_VELOCITY_TIMEOUT_S)

    # ---------------------------------------------------------------- stream requests

    def _on_request_data_stream(self, msg: Any, src: tuple[int, int], now: float) -> None:
        stream = int(msg.req_stream_id)
        if stream == mavlink.MAV_DATA_STREAM_ALL:
            ids = tuple(i for group in DATA_STREAMS.values() for i in group)
        else:
            ids = DATA_STREAMS.get(stream, ())
        rate = int(msg.req_message_rate)
        for msg_id in ids:
            if not msg.start_stop or rate <= 0:
                self._set_interval(msg_id, -1.0, now)
            else:
                self._set_interval(msg_id, 1e6 / rate, now)

    # ---------------------------------------------------------------- mission protocol

    def _mission_ack(self, peer: tuple[int, int], result: int, mission_type: int, now: float) -> None:
        self._send(mavlink.MAVLink_mission_ack_message(peer[0], peer[1], result, mission_type), now)

    def _on_mission_count(self, msg: Any, src: tuple[int, int], now: float) -> None:
        mission_type = int(getattr(msg, 'mission_type', mavlink.MAV_MISSION_TYPE_MISSION))
        if mission_type not in _SUPPORTED_MISSION_TYPES:
            self._mission_ack(src, mavlink.MAV_MISSION_UNSUPPORTED, mission_type, now)
            return
        if self._upload is not None and self._upload.peer != src:
            self._mission_ack(src, mavlink.MAV_MISSION_DENIED, mission_type, now)
            self._status(mavlink.MAV_SEVERITY_WARNING, 'Mission upload busy with another GCS', now)
            return
        count = int(msg.count)
        if count > MISSION_MAX_ITEMS:
            self._upload = None
            self._mission_ack(src, mavlink.MAV_MISSION_NO_SPACE, mission_type, now)
            return
        if count == 0:
            self._upload = None
            self._commit_upload(mission_type, [], src, now)
            return
        self._upload = _Upload(mission_type, count, src, last_request=now, last_receive=now)
        self._request_item(self._upload, now)

    def _request_item(self, upload: _Upload, now: float) -> None:
        upload.last_request = now
        self._send(mavlink.MAVLink_mission_request_int_message(
            upload.peer[0], upload.peer[1], len(upload.items), upload.mission_type), now)

    def _on_mission_item(self, msg: Any, src: tuple[int, int], now: float) -> None:
        upload = self._upload
        mission_type = int(getattr(msg, 'mission_type', mavlink.MAV_MISSION_TYPE_MISSION))
        if upload is None or upload.peer != src or mission_type != upload.mission_type:
            return  # not part of an upload we run; ArduPilot ignores these too
        if int(msg.seq) != len(upload.items):
            self._request_item(upload, now)  # out of order: ask again for the one we need
            return
        upload.last_receive = now
        item = self._item_from_message(msg)
        result = self._validate_item(item)
        if result != mavlink.MAV_MISSION_ACCEPTED:
            self._upload = None
            self._mission_ack(src, result, mission_type, now)
            self._status(mavlink.MAV_SEVERITY_WARNING, f'Mission item {item.seq} rejected ({result})', now)
            return
        upload.items.append(item)
        if len(upload.items) < upload.count:
            self._request_item(upload, now)
            return
        self._upload = None
        self._commit_upload(mission_type, upload.items, src, now)

    @staticmethod
    def _item_from_message(msg: Any) -> MissionItem:
        frame = int(msg.frame)
        if msg.get_type() == 'MISSION_ITEM':
            if frame in _LOCATION_FRAMES and _finite(msg.x) and _finite(msg.y) \
                    and abs(msg.x) <= 1000 and abs(msg.y) <= 1000:
                x, y = round(msg.x * DEG_E7), round(msg.y * DEG_E7)
            else:
                x = y = 2 ** 31 - 1 if frame in _LOCATION_FRAMES else 0  # invalid marker, rejected below
        else:
            x, y = int(msg.x), int(msg.y)
        return MissionItem(int(msg.seq), frame, int(msg.command), float(msg.param1), float(msg.param2),
                           float(msg.param3), float(msg.param4), x, y, float(msg.z), int(msg.autocontinue),
                           int(getattr(msg, 'mission_type', 0)))

    def _validate_item(self, item: MissionItem) -> int:
        """MAV_MISSION_ACCEPTED or the MAV_MISSION_RESULT naming the bad field."""
        if item.mission_type == mavlink.MAV_MISSION_TYPE_MISSION and item.seq == 0:
            return mavlink.MAV_MISSION_ACCEPTED  # home slot: ArduPilot replaces it with home
        if item.mission_type == mavlink.MAV_MISSION_TYPE_FENCE:
            if item.command not in _FENCE_COMMANDS:
                return mavlink.MAV_MISSION_UNSUPPORTED
        elif item.command not in _NAV_COMMANDS[self._kind] | _DO_COMMANDS:
            return mavlink.MAV_MISSION_UNSUPPORTED
        params = (item.param1, item.param2, item.param3, item.param4)
        results = (mavlink.MAV_MISSION_INVALID_PARAM1, mavlink.MAV_MISSION_INVALID_PARAM2,
                   mavlink.MAV_MISSION_INVALID_PARAM3, mavlink.MAV_MISSION_INVALID_PARAM4)
        if item.command == mavlink.MAV_CMD_DO_CHANGE_SPEED:
            if not (_finite(item.param2) and 0.0 < item.param2 <= MAX_COMMAND_SPEED_M_S):
                return mavlink.MAV_MISSION_INVALID_PARAM2
            return mavlink.MAV_MISSION_ACCEPTED
        if item.frame not in _LOCATION_FRAMES:
            return mavlink.MAV_MISSION_UNSUPPORTED_FRAME
        for index in (0, 1):  # param3/4 are NaN in many GCS uploads (yaw "unchanged"); tolerated
            if not _finite(params[index]):
                return results[index]
        if item.command in _FENCE_POLYGONS and item.param1 < 3:
            return mavlink.MAV_MISSION_INVALID_PARAM1
        if item.command in _FENCE_CIRCLES and not item.param1 > 0.0:
            return mavlink.MAV_MISSION_INVALID_PARAM1
        if item.command == mavlink.MAV_CMD_NAV_LOITER_TIME and item.param1 < 0.0:
            return mavlink.MAV_MISSION_INVALID_PARAM1
        if item.command == mavlink.MAV_CMD_NAV_WAYPOINT and item.param1 < 0.0:
            return mavlink.MAV_MISSION_INVALID_PARAM1
        if abs(item.x) > 90 * DEG_E7:
            return mavlink.MAV_MISSION_INVALID_PARAM5_X
        if abs(item.y) > 180 * DEG_E7:
            return mavlink.MAV_MISSION_INVALID_PARAM6_Y
        if item.has_latlon:
            p = _geodetic_to_enu(self._origin, item.lat, item.lon, self._origin[2])
            if math.hypot(p.x, p.y) > self.config.max_range_m:
                return mavlink.MAV_MISSION_INVALID_PARAM5_X
        if not _finite(item.z):
            return mavlink.MAV_MISSION_INVALID_PARAM7
        if self._drone and item.mission_type == mavlink.MAV_MISSION_TYPE_MISSION:
            rel = item.z - (self._origin[2] + (self._home.z if self._home else 0.0)) \
                if item.frame in _GLOBAL_FRAMES else item.z
            if rel > self.config.max_altitude_m:
                return mavlink.MAV_MISSION_INVALID_PARAM7
            if item.command == mavlink.MAV_CMD_NAV_TAKEOFF and rel < MIN_TARGET_ALTITUDE_M:
                return mavlink.MAV_MISSION_INVALID_PARAM7
        return mavlink.MAV_MISSION_ACCEPTED

    def _commit_upload(self, mission_type: int, items: list[MissionItem], peer: tuple[int, int], now: float) -> None:
        """Replace the stored list in one go (never half-written), then MISSION_ACK."""
        if mission_type == mavlink.MAV_MISSION_TYPE_FENCE:
            fence, result = _build_fence(items, self._origin)
            if fence is None:
                self._mission_ack(peer, result, mission_type, now)
                self._status(mavlink.MAV_SEVERITY_WARNING, 'Fence upload rejected: bad zones', now)
                return
            self.fence_items = list(items)
            self.fence = None if fence.empty else fence
            self.fence_enabled = self.fence is not None
            self._fence_breached = False
            self._mission_ack(peer, mavlink.MAV_MISSION_ACCEPTED, mission_type, now)
            self._log.info('fence stored: %d items', len(items))
            return
        self.mission = list(items)
        running = self._mission_state == mavlink.MISSION_STATE_ACTIVE and self._in_auto()
        if len(self.mission) <= 1:
            self.mission = []
            self._mission_state = mavlink.MISSION_STATE_NO_MISSION
            self._mission_index = 1
            self._nav = None
        elif not running:
            self._mission_state = mavlink.MISSION_STATE_NOT_STARTED
            self._mission_index = 1
        self._mission_ack(peer, mavlink.MAV_MISSION_ACCEPTED, mission_type, now)
        self._log.info('mission stored: %d items', len(items))
        if running:
            self._start_nav(now)  # ArduPilot keeps the current index against the new list
        self._send(self._msg_mission_current(now), now)

    def _check_mission_upload_timeout(self, now: float) -> None:
        upload = self._upload
        if upload is None:
            return
        if now - upload.last_receive > MISSION_UPLOAD_TIMEOUT_S:
            self._upload = None
            self._mission_ack(upload.peer, mavlink.MAV_MISSION_OPERATION_CANCELLED, upload.mission_type, now)
            self._status(mavlink.MAV_SEVERITY_WARNING, 'Mission upload timed out', now)
        elif now - upload.last_request > MISSION_RETRY_S:
            self._request_item(upload, now)

    def _on_mission_request_list(self, msg: Any, src: tuple[int, int], now: float) -> None:
        mission_type = int(getattr(msg, 'mission_type', mavlink.MAV_MISSION_TYPE_MISSION))
        if mission_type not in _SUPPORTED_MISSION_TYPES:
            self._mission_ack(src, mavlink.MAV_MISSION_UNSUPPORTED, mission_type, now)
            return
        count = len(self._download_list(mission_type))
        self._send(mavlink.MAVLink_mission_count_message(src[0], src[1], count, mission_type), now)

    def _download_list(self, mission_type: int) -> list[MissionItem]:
        if mission_type == mavlink.MAV_MISSION_TYPE_FENCE:
            return self.fence_items
        home_item = self._home_item()
        return [home_item] + self.mission[1:] if self.mission else [home_item]

    def _home_item(self) -> MissionItem:
        if self._home is None:
            return MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT)
        lat, lon, alt = _enu_to_geodetic(self._origin, self._home)
        return MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT,
                           x=round(lat * DEG_E7), y=round(lon * DEG_E7), z=alt)

    def _on_mission_request(self, msg: Any, src: tuple[int, int], now: float) -> None:
        mission_type = int(getattr(msg, 'mission_type', mavlink.MAV_MISSION_TYPE_MISSION))
        if mission_type not in _SUPPORTED_MISSION_TYPES:
            self._mission_ack(src, mavlink.MAV_MISSION_UNSUPPORTED, mission_type, now)
            return
        items = self._download_list(mission_type)
        seq = int(msg.seq)
        if not 0 <= seq < len(items):
            self._mission_ack(src, mavlink.MAV_MISSION_INVALID_SEQUENCE, mission_type, now)
            return
        item = items[seq]
        current = int(mission_type == mavlink.MAV_MISSION_TYPE_MISSION and seq == self._mission_index)
        if msg.get_type() == 'MISSION_REQUEST':
            reply: MavMessage = mavlink.MAVLink_mission_item_message(
                src[0], src[1], seq, item.frame, item.command, current, item.autocontinue,
                item.param1, item.param2, item.param3, item.param4, item.lat, item.lon, item.z, mission_type)
        else:
            reply = mavlink.MAVLink_mission_item_int_message(
                src[0], src[1], seq, item.frame, item.command, current, item.autocontinue,
                item.param1, item.param2, item.param3, item.param4, item.x, item.y, item.z, mission_type)
        self._send(reply, now)

    def _on_mission_ack(self, msg: Any, src: tuple[int, int], now: float) -> None:
        """The GCS closes a download; nothing to keep."""

    def _on_mission_clear_all(self, msg: Any, src: tuple[int, int], now: float) -> None:
        mission_type = int(getattr(msg, 'mission_type', mavlink.MAV_MISSION_TYPE_MISSION))
        if mission_type == mavlink.MAV_MISSION_TYPE_ALL:
            types: tuple[int, ...] = _SUPPORTED_MISSION_TYPES
        elif mission_type in _SUPPORTED_MISSION_TYPES:
            types = (mission_type,)
        else:
            self._mission_ack(src, mavlink.MAV_MISSION_UNSUPPORTED, mission_type, now)
            return
        if mavlink.MAV_MISSION_TYPE_MISSION in types and self._in_auto() and self._armed:
            self._mission_ack(src, mavlink.MAV_MISSION_DENIED, mission_type, now)
            self._status(mavlink.MAV_SEVERITY_WARNING, 'Mission clear refused: running in AUTO', now)
            return
        if mavlink.MAV_MISSION_TYPE_FENCE in types:
            self.fence_items = []
            self.fence = None
            self.fence_enabled = False
            self._fence_breached = False
        if mavlink.MAV_MISSION_TYPE_MISSION in types:
            self.mission = []
            self._mission_state = mavlink.MISSION_STATE_NO_MISSION
            self._mission_index = 1
            self._nav = None
        self._mission_ack(src, mavlink.MAV_MISSION_ACCEPTED, mission_type, now)
        if mavlink.MAV_MISSION_TYPE_MISSION in types:
            self._send(self._msg_mission_current(now), now)

    def _on_mission_set_current(self, msg: Any, src: tuple[int, int], now: float) -> None:
        if not self._set_mission_current(int(msg.seq), now):
            self._status(mavlink.MAV_SEVERITY_WARNING, f'Mission: no item {int(msg.seq)}', now)
            self._send(self._msg_mission_current(now), now)

    def _set_mission_current(self, seq: int, now: float) -> bool:
        """Jump to an item; the new MISSION_CURRENT is sent once on success."""
        if not 1 <= seq < len(self.mission):
            return False
        self._mission_index = seq
        if self._in_auto():
            self._mission_state = mavlink.MISSION_STATE_ACTIVE
            self._start_nav(now)
            return True
        if self._mission_state == mavlink.MISSION_STATE_COMPLETE:
            self._mission_state = mavlink.MISSION_STATE_NOT_STARTED
        self._send(self._msg_mission_current(now), now)
        return True

    def _in_auto(self) -> bool:
        return _MODES[self._kind][self._mode].behaviour is _Behaviour.AUTO

    # ---------------------------------------------------------------- parameters (read-only)

    def _parameter_table(self) -> dict[str, float]:
        """A few ArduPilot parameter names mirroring the config, so GCS parameter pages load."""
        c = self.config
        table = {
            'SYSID_THISMAV': float(c.system_id),
            'FS_GCS_ENABLE': 0.0 if c.gcs_failsafe_action is FailsafeAction.NONE else 1.0,
            'FS_GCS_TIMEOUT': c.gcs_timeout_s,
            'BATT_CAPACITY': c.battery_capacity_mah,
            'FENCE_ACTION': {FenceAction.REPORT: 0.0, FenceAction.RTL: 1.0, FenceAction.BRAKE_THEN_RTL: 4.0}[
                c.fence_action],
            'WP_RADIUS': c.wp_radius_m,
        }
        if self._drone:
            table.update({'RTL_ALT': c.rtl_altitude_m * CENTI, 'WPNAV_SPEED': c.cruise_speed_m_s * CENTI,
                          'LAND_SPEED': c.land_speed_m_s * CENTI, 'DISARM_DELAY': c.auto_disarm_s})
        else:
            table['CRUISE_SPEED'] = c.cruise_speed_m_s
        return dict(sorted(table.items()))

    def _param_value(self, name: str, now: float) -> None:
        names = list(self._params)
        self._send(mavlink.MAVLink_param_value_message(
            name.encode('ascii'), self._params[name], mavlink.MAV_PARAM_TYPE_REAL32,
            len(names), names.index(name)), now)

    def _on_param_request_list(self, msg: Any, src: tuple[int, int], now: float) -> None:
        for name in self._params:
            self._param_value(name, now)

    def _on_param_request_read(self, msg: Any, src: tuple[int, int], now: float) -> None:
        names = list(self._params)
        index = int(msg.param_index)
        name = msg.param_id if index < 0 else (names[index] if index < len(names) else '')
        if name in self._params:
            self._param_value(name, now)

    def _on_param_set(self, msg: Any, src: tuple[int, int], now: float) -> None:
        name = msg.param_id
        if name in self._params:
            self._status(mavlink.MAV_SEVERITY_WARNING, f'Param {name} is read-only here', now)
            self._param_value(name, now)
        else:
            self._status(mavlink.MAV_SEVERITY_WARNING, f'Param {name} unknown', now)

    # ---------------------------------------------------------------- sensors and health

    def _update_sensors(self, now: float, dt: float, body: BodyState) -> None:
        speed = math.hypot(body.velocity.x, body.velocity.y)
        self.battery.update(dt, self._armed and body.motors_on, speed)
        if self.gps.has_fix:
            self._last_fix = body.position
            if self._ekf_origin is None:
                self._ekf_origin = body.position
            if self._home is None:
                self._home = body.position
                self._status(mavlink.MAV_SEVERITY_INFO, 'Home set', now)
                self._send(self._msg_home_position(now), now)

    def _check_vehicle_health(self, now: float, body: BodyState) -> None:
        if body.crashed and self._armed:
            self._status(mavlink.MAV_SEVERITY_EMERGENCY, 'Crash: Disarming', now)
            self._disarm('crash', now)
        if self._motor_failed and self._armed and (not self._drone or body.on_ground):
            self._disarm('motor failure', now)

    # ---------------------------------------------------------------- failsafes

    def _mode_rank(self, mode: int) -> int:
        """How far a mode already goes towards safety; failsafes never step down."""
        behaviour = _MODES[self._kind][mode].behaviour
        if behaviour is _Behaviour.LAND or (not self._drone and behaviour is _Behaviour.HOLD):
            return 3
        if behaviour is _Behaviour.RTL:
            return 2
        return 0

    def _failsafe_modes(self, action: FailsafeAction) -> list[int]:
        """Modes to try for an action, best first (ArduPilot falls back to LAND / HOLD)."""
        table: dict[FailsafeAction, list[int]]
        if self._drone:
            table = {FailsafeAction.RTL: [CopterMode.RTL, CopterMode.LAND],
                     FailsafeAction.LAND: [CopterMode.LAND],
                     FailsafeAction.HOLD: [CopterMode.LOITER, CopterMode.LAND],
                     FailsafeAction.NONE: []}
        else:
            table = {FailsafeAction.RTL: [RoverMode.RTL, RoverMode.HOLD],
                     FailsafeAction.LAND: [RoverMode.HOLD],
                     FailsafeAction.HOLD: [RoverMode.HOLD],
                     FailsafeAction.NONE: []}
        return table[action]

    def _do_failsafe(self, action: FailsafeAction, why: str, now: float) -> None:
        """Announce a failsafe and change mode as ArduPilot would."""
        self._status(mavlink.MAV_SEVERITY_CRITICAL, f'Failsafe: {why}', now)
        if not self._armed or action is FailsafeAction.NONE:
            return
        if self._drone and self._body is not None and self._body.on_ground and not self._taking_off():
            self._disarm(f'{why} failsafe on ground', now)
            return
        modes = self._failsafe_modes(action)
        current = self._mode_rank(self._mode)
        if not modes or (current > 0 and current >= self._mode_rank(modes[0])):
            return  # already doing something at least as safe
        self._try_modes(modes, now)

    def _try_modes(self, modes: list[int], now: float) -> None:
        for mode in modes:
            if self._set_mode(mode, now) is None:
                return

    def _taking_off(self) -> bool:
        if self._mode == CopterMode.GUIDED and self._drone:
            return self._guided.kind is _GuidedKind.TAKEOFF
        return self._in_auto() and self._nav is not None and self._nav.item.command == mavlink.MAV_CMD_NAV_TAKEOFF

    def _check_failsafes(self, now: float, body: BodyState) -> None:
        c = self.config
        if self._gcs_last_heartbeat is not None and not self._gcs_failsafe and \
                now - self._gcs_last_heartbeat > c.gcs_timeout_s:
            self._gcs_failsafe = True
            self._do_failsafe(c.gcs_failsafe_action, 'GCS heartbeat lost', now)
        remaining = self.battery.remaining_pct
        if remaining <= c.battery_critical_pct and not self._battery_critical_fired:
            self._battery_critical_fired = self._battery_low_fired = True
            self._do_failsafe(c.battery_critical_action, f'Battery critical {remaining:.0f}%', now)
        elif remaining <= c.battery_low_pct and not self._battery_low_fired:
            self._battery_low_fired = True
            self._do_failsafe(c.battery_low_action, f'Battery low {remaining:.0f}%', now)
        self._check_gps_failsafe(now, body)
        self._check_fence(now, body)

    def _check_gps_failsafe(self, now: float, body: BodyState) -> None:
        if self.gps.has_fix:
            self._gps_lost_since = None
            self._gps_failsafe = False
            return
        if self._gps_lost_since is None:
            self._gps_lost_since = now
        needs_position = _MODES[self._kind][self._mode].needs_position
        if self._gps_failsafe or not self._armed or not needs_position or (self._drone and body.on_ground):
            return
        if now - self._gps_lost_since >= GPS_FAILSAFE_DELAY_S:
            self._gps_failsafe = True
            self._do_failsafe(FailsafeAction.LAND, 'GPS lost', now)

    def _check_fence(self, now: float, body: BodyState) -> None:
        if self._brake_until is not None and now >= self._brake_until:
            self._brake_until = None
            braking = int(CopterMode.BRAKE if self._drone else RoverMode.HOLD)
            if self._mode == braking and self._armed:
                self._status(mavlink.MAV_SEVERITY_CRITICAL, 'Fence: braked, returning', now)
                self._try_modes(self._failsafe_modes(FailsafeAction.RTL), now)
        if not (self.fence_enabled and self.fence is not None and self._armed):
            return
        reason = self.fence.breach(body.position.x, body.position.y)
        if reason is None:
            self._fence_breached = False
            return
        if self._fence_breached:
            return
        self._fence_breached = True
        action = self.config.fence_action
        if action is FenceAction.REPORT:
            self._status(mavlink.MAV_SEVERITY_CRITICAL, f'Fence breach: {reason}', now)
        elif action is FenceAction.RTL:
            self._do_failsafe(FailsafeAction.RTL, f'Fence {reason}', now)
        else:
            self._status(mavlink.MAV_SEVERITY_CRITICAL, f'Failsafe: Fence {reason}', now)
            if self._mode_rank(self._mode) == 0 and not (self._drone and body.on_ground):
                brake = int(CopterMode.BRAKE if self._drone else RoverMode.HOLD)
                if self._set_mode(brake, now) is None:
                    self._brake_until = now + self.config.fence_brake_s

    # ---------------------------------------------------------------- control

    def _speed(self, override: float | None = None) -> float:
        if override is not None:
            return override
        return self._speed_override if self._speed_override is not None else self.config.cruise_speed_m_s

    def _hold(self, p: Vector3) -> Setpoint:
        if not self._drone:
            return Setpoint(SetpointMode.VELOCITY, position=p, velocity=Vector3(), max_speed=self._speed())
        return Setpoint(SetpointMode.POSITION, position=p, max_speed=self._speed())

    def _goto(self, here: Vector3, target: Vector3, speed: float | None = None, yaw: float | None = None) -> Setpoint:
        if not self._drone:
            target = Vector3(target.x, target.y, here.z)
        return Setpoint(SetpointMode.POSITION, position=target, max_speed=self._speed(speed),
                        yaw=yaw if yaw is not None else _bearing_enu(here, target))

    def _land_setpoint(self, here: Vector3, xy: Vector3) -> Setpoint:
        home_z = self._home.z if self._home is not None else 0.0
        rate = self.config.land_speed_m_s if here.z - home_z < LAND_ALT_LOW_M else self.config.descent_speed_m_s
        return Setpoint(SetpointMode.LAND, position=Vector3(xy.x, xy.y, here.z), max_speed=rate)

    def _arrived(self, here: Vector3, target: Vector3) -> bool:
        distance = _dist(here, target) if self._drone else _hdist(here, target)
        return distance <= self.config.wp_radius_m

    def _control(self, now: float, body: BodyState) -> Setpoint:
        here = body.position
        behaviour = _MODES[self._kind][self._mode].behaviour
        if not self._armed:
            return Setpoint(SetpointMode.IDLE)
        if behaviour is _Behaviour.MANUAL:
            return Setpoint(SetpointMode.VELOCITY, velocity=Vector3(), max_speed=self._speed())
        if behaviour is _Behaviour.HOLD:
            if self._hold_position is None:
                self._hold_position = here
            return self._hold(self._hold_position)
        if behaviour is _Behaviour.LAND:
            xy = self._land_xy if self._land_xy is not None else here
            return self._land_setpoint(here, xy)
        if behaviour is _Behaviour.GUIDED:
            return self._guided_setpoint(now, here)
        if behaviour is _Behaviour.RTL:
            if self._rtl is None:
                self._rtl = self._new_rtl(here)
            return self._rtl_setpoint(now, here, self._rtl)
        return self._auto_setpoint(now, body)

    def _guided_setpoint(self, now: float, here: Vector3) -> Setpoint:
        g = self._guided
        if g.kind is _GuidedKind.TAKEOFF:
            if here.z >= g.position.z - TAKEOFF_DONE_TOLERANCE_M:
                self._guided = _Guided(_GuidedKind.HOLD, g.position)
            return Setpoint(SetpointMode.POSITION, position=g.position, max_speed=self._speed())
        if g.kind is _GuidedKind.VELOCITY:
            if now > g.expires:
                self._guided = _Guided(_GuidedKind.HOLD, here)
                return self._hold(here)
            return Setpoint(SetpointMode.VELOCITY, position=here, velocity=g.velocity, yaw=g.yaw,
                            max_speed=self._speed())
        if g.kind is _GuidedKind.POSITION:
            return self._goto(here, g.position, g.speed, g.yaw)
        return self._hold(g.position)

    def _rtl_setpoint(self, now: float, here: Vector3, rtl: _Rtl) -> Setpoint:
        """Climb, return, loiter, descend (drones); return and stop (ground vehicles)."""
        home = self._home if self._home is not None else here
        if rtl.stage is _RtlStage.CLIMB:
            if here.z >= rtl.altitude - ALT_REACHED_TOLERANCE_M:
                rtl.stage = _RtlStage.RETURN
            else:
                return Setpoint(SetpointMode.POSITION, position=Vector3(here.x, here.y, rtl.altitude),
                                max_speed=self._speed())
        if rtl.stage is _RtlStage.RETURN:
            target = Vector3(home.x, home.y, rtl.altitude if self._drone else here.z)
            if _hdist(here, target) > self.config.wp_radius_m:
                return self._goto(here, target)
            if not self._drone:
                rtl.stage = _RtlStage.DONE
                self._status(mavlink.MAV_SEVERITY_INFO, 'Reached home', now)
            else:
                rtl.stage = _RtlStage.LOITER
                rtl.loiter_until = now + self.config.rtl_loiter_s
        if rtl.stage is _RtlStage.LOITER:
            aligned = _hdist(here, home) <= LAND_ALIGN_RADIUS_M
            if now < rtl.loiter_until or (not aligned and now < rtl.loiter_until + LAND_ALIGN_TIMEOUT_S):
                return self._hold(Vector3(home.x, home.y, rtl.altitude))
            rtl.stage = _RtlStage.DESCEND
        if rtl.stage is _RtlStage.DESCEND:
            return self._land_setpoint(here, home)
        return self._hold(Vector3(home.x, home.y, here.z))

    # ---------------------------------------------------------------- AUTO

    def _start_nav(self, now: float) -> None:
        """Begin the item at the current index, running DO commands on the way."""
        self._nav = None
        while 1 <= self._mission_index < len(self.mission):
            item = self.mission[self._mission_index]
            if item.command in _DO_COMMANDS:
                if item.command == mavlink.MAV_CMD_DO_CHANGE_SPEED:
                    self._speed_override = item.param2
                self._mission_index += 1
                continue
            self._nav = _Nav(item)
            self._send(self._msg_mission_current(now), now)
            return
        self._finish_mission(now)

    def _finish_mission(self, now: float) -> None:
        self._nav = None
        if self._mission_state != mavlink.MISSION_STATE_COMPLETE:
            self._mission_state = mavlink.MISSION_STATE_COMPLETE
            self._status(mavlink.MAV_SEVERITY_INFO, 'Mission complete', now)
            self._send(self._msg_mission_current(now), now)
        if not self._drone and self._in_auto():
            self._set_mode(int(RoverMode.HOLD), now)  # MIS_DONE_BEHAVE = HOLD
        elif self._body is not None:
            self._hold_position = self._body.position

    def _item_reached(self, nav: _Nav, now: float) -> None:
        self._send(mavlink.MAVLink_mission_item_reached_message(nav.item.seq), now)
        self._status(mavlink.MAV_SEVERITY_INFO, f'Reached command #{nav.item.seq}', now)
        self._mission_index = nav.item.seq + 1
        self._start_nav(now)

    def _item_target(self, item: MissionItem, here: Vector3) -> Vector3:
        """Where a nav item goes; lat/lon 0 means here, altitude 0 means the current altitude."""
        home = self._home if self._home is not None else here
        if item.has_latlon:
            p = _geodetic_to_enu(self._origin, item.lat, item.lon, self._origin[2])
            x, y = p.x, p.y
        else:
            x, y = here.x, here.y
        if not self._drone or item.z == 0.0:
            z = here.z
        elif item.frame in _GLOBAL_FRAMES:
            z = item.z - self._origin[2]
        else:
            z = home.z + item.z
        return Vector3(x, y, z)

    def _auto_setpoint(self, now: float, body: BodyState) -> Setpoint:
        here = body.position
        nav = self._nav
        if nav is None or self._mission_state != mavlink.MISSION_STATE_ACTIVE:
            hold = self._hold_position if self._hold_position is not None else here
            if self._drone and body.on_ground:
                return Setpoint(SetpointMode.LAND, position=here, max_speed=self.config.land_speed_m_s)
            return self._hold(hold)
        command = nav.item.command
        if nav.stage is _NavStage.START:
            nav.stage = _NavStage.MOVING
            nav.target = self._item_target(nav.item, here)
            if command == mavlink.MAV_CMD_NAV_TAKEOFF:
                nav.target = Vector3(here.x, here.y, max(nav.target.z, here.z))
            if command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
                nav.rtl = self._new_rtl(here)
            if command == mavlink.MAV_CMD_NAV_LAND and not nav.item.has_latlon:
                nav.stage = _NavStage.LANDING
                nav.target = here
        if command == mavlink.MAV_CMD_NAV_TAKEOFF:
            if here.z >= nav.target.z - TAKEOFF_DONE_TOLERANCE_M:
                self._item_reached(nav, now)
                return self._auto_setpoint(now, body)
            return Setpoint(SetpointMode.POSITION, position=nav.target, max_speed=self._speed())
        if command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            assert nav.rtl is not None
            if nav.rtl.stage is _RtlStage.DONE:
                self._item_reached(nav, now)
                return self._auto_setpoint(now, body)
            return self._rtl_setpoint(now, here, nav.rtl)
        if command == mavlink.MAV_CMD_NAV_LAND:
            above = Vector3(nav.target.x, nav.target.y, here.z)
            if nav.stage is _NavStage.MOVING:
                if _hdist(here, above) > self.config.wp_radius_m:
                    return self._goto(here, above)
                nav.stage = _NavStage.WAITING
                nav.wait_until = now + LAND_ALIGN_TIMEOUT_S
            if nav.stage is _NavStage.WAITING:
                if _hdist(here, above) > LAND_ALIGN_RADIUS_M and now < nav.wait_until:
                    return self._hold(above)
                nav.stage = _NavStage.LANDING
            return self._land_setpoint(here, nav.target)
        # waypoint and loiter-time: go there, wait param1 seconds, done
        if nav.stage is _NavStage.MOVING:
            if self._arrived(here, nav.target):
                nav.stage = _NavStage.WAITING
                nav.wait_until = now + max(0.0, nav.item.param1)
            else:
                return self._goto(here, nav.target)
        if now >= nav.wait_until:
            self._item_reached(nav, now)
            return self._auto_setpoint(now, body)
        return self._hold(nav.target)

    # ---------------------------------------------------------------- landing, disarm

    def _landing(self) -> bool:
        behaviour = _MODES[self._kind][self._mode].behaviour
        if behaviour is _Behaviour.LAND:
            return True
        if behaviour is _Behaviour.RTL:
            return self._rtl is not None and self._rtl.stage is _RtlStage.DESCEND
        if behaviour is _Behaviour.AUTO and self._nav is not None:
            if self._nav.rtl is not None:
                return self._nav.rtl.stage is _RtlStage.DESCEND
            return self._nav.stage is _NavStage.LANDING
        return False

    def _check_landing_and_disarm(self, now: float, body: BodyState, setpoint: Setpoint) -> Setpoint:
        """Touchdown while landing disarms; so does idling on the ground (DISARM_DELAY)."""
        if not (self._drone and self._armed):
            return setpoint
        if self._landing() or setpoint.mode is SetpointMode.LAND:
            if body.on_ground:
                if self._landed_since is None:
                    self._landed_since = now
                if now - self._landed_since >= LAND_DETECT_S:
                    self._status(mavlink.MAV_SEVERITY_INFO, 'Land complete', now)
                    nav = self._nav
                    self._disarm('landed', now)
                    if self._in_auto() and nav is not None:
                        self._send(mavlink.MAVLink_mission_item_reached_message(nav.item.seq), now)
                        self._mission_index = nav.item.seq + 1
                        self._finish_mission(now)
                    if self._rtl is not None:
                        self._rtl.stage = _RtlStage.DONE
            else:
                self._landed_since = None
            return setpoint
        wants_up = (setpoint.mode is SetpointMode.POSITION and setpoint.position.z > body.position.z + 0.2) or \
                   (setpoint.mode is SetpointMode.VELOCITY and setpoint.velocity.z > 0.0)
        if body.on_ground and not wants_up and self.config.auto_disarm_s > 0:
            if self._idle_on_ground_since is None:
                self._idle_on_ground_since = now
            if now - self._idle_on_ground_since >= self.config.auto_disarm_s:
                self._disarm('auto disarm on ground', now)
                self._idle_on_ground_since = None
        else:
            self._idle_on_ground_since = None
        return setpoint

    # ---------------------------------------------------------------- telemetry

    def _builders(self) -> dict[int, Callable[[float], MavMessage]]:
        return {
            mavlink.MAVLINK_MSG_ID_HEARTBEAT: self._msg_heartbeat,
            mavlink.MAVLINK_MSG_ID_SYS_STATUS: self._msg_sys_status,
            mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: self._msg_gps_raw,
            mavlink.MAVLINK_MSG_ID_ATTITUDE: self._msg_attitude,
            mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: self._msg_global_position,
            mavlink.MAVLINK_MSG_ID_VFR_HUD: self._msg_vfr_hud,
            mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: self._msg_battery_status,
            mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: self._msg_extended_sys_state,
            mavlink.MAVLINK_MSG_ID_MISSION_CURRENT: self._msg_mission_current,
            mavlink.MAVLINK_MSG_ID_HOME_POSITION: self._msg_home_position,
        }

    def _stream_telemetry(self, now: float) -> None:
        builders = self._builders()
        for msg_id, interval in self._intervals.items():
            if interval <= 0.0:
                continue
            if msg_id == mavlink.MAVLINK_MSG_ID_HOME_POSITION and self._home is None:
                continue
            due = self._next_due.get(msg_id, now)
            if now < due - STREAM_SLACK_S:
                continue
            self._send(builders[msg_id](now), now)
            due += interval
            self._next_due[msg_id] = due if due > now else now + interval

    def _system_status(self) -> int:
        if self._terminated:
            return mavlink.MAV_STATE_FLIGHT_TERMINATION
        if self._motor_failed or (self._body is not None and self._body.crashed):
            return mavlink.MAV_STATE_EMERGENCY
        if self._gcs_failsafe or self._battery_low_fired or self._gps_failsafe or self._fence_breached:
            return mavlink.MAV_STATE_CRITICAL if self._armed else mavlink.MAV_STATE_STANDBY
        if self._body is None:
            return mavlink.MAV_STATE_BOOT
        return mavlink.MAV_STATE_ACTIVE if self._armed else mavlink.MAV_STATE_STANDBY

    def _msg_heartbeat(self, now: float) -> MavMessage:
        behaviour = _MODES[self._kind][self._mode].behaviour
        base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED | \
            mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
        if behaviour in (_Behaviour.GUIDED, _Behaviour.AUTO, _Behaviour.RTL, _Behaviour.LAND, _Behaviour.HOLD):
            base |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
        if behaviour in (_Behaviour.AUTO, _Behaviour.RTL):
            base |= mavlink.MAV_MODE_FLAG_AUTO_ENABLED
        if self._armed:
            base |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
        vehicle_type = mavlink.MAV_TYPE_QUADROTOR if self._drone else mavlink.MAV_TYPE_GROUND_ROVER
        return mavlink.MAVLink_heartbeat_message(vehicle_type, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, base,
                                                 self._mode, self._system_status(), MAVLINK_VERSION_FIELD)

    def _msg_sys_status(self, now: float) -> MavMessage:
        sensors = (mavlink.MAV_SYS_STATUS_SENSOR_3D_GYRO | mavlink.MAV_SYS_STATUS_SENSOR_3D_ACCEL
                   | mavlink.MAV_SYS_STATUS_SENSOR_3D_MAG | mavlink.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
                   | mavlink.MAV_SYS_STATUS_SENSOR_GPS | mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
                   | mavlink.MAV_SYS_STATUS_AHRS | mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
                   | mavlink.MAV_SYS_STATUS_PREARM_CHECK)
        present = sensors | (mavlink.MAV_SYS_STATUS_GEOFENCE if self.fence is not None else 0)
        enabled = sensors | (mavlink.MAV_SYS_STATUS_GEOFENCE if self.fence_enabled else 0)
        health = present
        if not self.gps.has_fix:
            health &= ~mavlink.MAV_SYS_STATUS_SENSOR_GPS
        if self._battery_low_fired:
            health &= ~mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
        if self._fence_breached:
            health &= ~mavlink.MAV_SYS_STATUS_GEOFENCE
        if self._motor_failed or self._terminated:
            health &= ~mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
        if self._prearm_failure() is not None:
            health &= ~mavlink.MAV_SYS_STATUS_PREARM_CHECK
        b = self.battery
        return mavlink.MAVLink_sys_status_message(
            present, enabled, health, SYS_LOAD_PERMILLE, _u16(b.voltage * MILLI), _i16(b.current_a * CENTI),
            int(b.remaining_pct), 0, 0, 0, 0, 0, 0)

    def _msg_gps_raw(self, now: float) -> MavMessage:
        body = self._body
        time_us = int((now - self._boot) * 1e6)
        if body is None or not self.gps.has_fix:
            return mavlink.MAVLink_gps_raw_int_message(time_us, self.gps.fix_type, 0, 0, 0, UINT16_MAX, UINT16_MAX,
                                                       UINT16_MAX, UINT16_MAX, self.gps.satellites)
        lat, lon, alt = _enu_to_geodetic(self._origin, self.gps.measure(body.position))
        speed = math.hypot(body.velocity.x, body.velocity.y)
        cog = int(math.degrees(math.atan2(body.velocity.x, body.velocity.y)) % 360.0 * CENTI) \
            if speed >= COG_MIN_SPEED_M_S else UINT16_MAX
        accuracy_mm = int(self.gps.noise_m * MILLI)
        return mavlink.MAVLink_gps_raw_int_message(
            time_us, self.gps.fix_type, round(lat * DEG_E7), round(lon * DEG_E7), round(alt * MILLI),
            HDOP_CENTI, VDOP_CENTI, _u16(speed * CENTI), cog, self.gps.satellites,
            round(alt * MILLI), accuracy_mm, int(accuracy_mm * GPS_VERTICAL_NOISE_FACTOR), 0, 0, 0)

    def _msg_attitude(self, now: float) -> MavMessage:
        body = self._body
        if body is None:
            return mavlink.MAVLink_attitude_message(self._time_boot_ms(now), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        rates = (0.0, 0.0, 0.0)
        prev = self._prev_body
        dt = self._dt
        if prev is not None and dt > 0:
            rates = ((body.roll - prev.roll) / dt, -(body.pitch - prev.pitch) / dt,
                     -_wrap_pi(body.yaw - prev.yaw) / dt)
        # FLU body / ENU world -> FRD body / NED world: roll same, pitch and yaw rate negated
        return mavlink.MAVLink_attitude_message(self._time_boot_ms(now), body.roll, -body.pitch,
                                                _ned_yaw_to_enu(body.yaw), *rates)

    def _msg_global_position(self, now: float) -> MavMessage:
        body = self._body
        if body is None:
            return mavlink.MAVLink_global_position_int_message(self._time_boot_ms(now), 0, 0, 0, 0, 0, 0, 0,
                                                               UINT16_MAX)
        v = body.velocity
        position = body.position
        if not self.gps.has_fix and self._last_fix is not None:
            # no fix: the estimate keeps its last horizontal position; the barometer still gives height
            position = Vector3(self._last_fix.x, self._last_fix.y, body.position.z)
            v = Vector3(0.0, 0.0, v.z)
        lat, lon, alt = _enu_to_geodetic(self._origin, position)
        home_z = self._home.z if self._home is not None else body.position.z
        heading = round(_enu_yaw_to_compass_deg(body.yaw) * CENTI) % 36000
        return mavlink.MAVLink_global_position_int_message(
            self._time_boot_ms(now), round(lat * DEG_E7), round(lon * DEG_E7), round(alt * MILLI),
            round((body.position.z - home_z) * MILLI), _i16(v.y * CENTI), _i16(v.x * CENTI), _i16(-v.z * CENTI),
            heading)

    def _msg_vfr_hud(self, now: float) -> MavMessage:
        body = self._body
        if body is None:
            return mavlink.MAVLink_vfr_hud_message(0.0, 0.0, 0, 0, 0.0, 0.0)
        speed = math.hypot(body.velocity.x, body.velocity.y)
        throttle = HOVER_THROTTLE_PCT if body.motors_on and self._armed else 0
        alt = self._origin[2] + body.position.z
        return mavlink.MAVLink_vfr_hud_message(speed, speed, int(_enu_yaw_to_compass_deg(body.yaw)) % 360,
                                               throttle, alt, body.velocity.z)

    def _msg_battery_status(self, now: float) -> MavMessage:
        b = self.battery
        voltages = [UINT16_MAX] * BATTERY_CELL_SLOTS
        voltages[0] = _u16(b.voltage * MILLI)  # ArduPilot: total voltage in cell 0
        pct = b.remaining_pct
        if self._battery_critical_fired:
            state = mavlink.MAV_BATTERY_CHARGE_STATE_CRITICAL
        elif self._battery_low_fired:
            state = mavlink.MAV_BATTERY_CHARGE_STATE_LOW
        else:
            state = mavlink.MAV_BATTERY_CHARGE_STATE_OK
        return mavlink.MAVLink_battery_status_message(
            0, mavlink.MAV_BATTERY_FUNCTION_ALL, mavlink.MAV_BATTERY_TYPE_LIPO, BATTERY_TEMPERATURE_UNKNOWN,
            voltages, _i16(b.current_a * CENTI), int(b.consumed_mah), int(b.energy_wh * ENERGY_HJ_PER_WH),
            int(pct), b.time_remaining_s(), state)

    def _landed_state(self) -> int:
        body = self._body
        if not self._drone or body is None:
            return mavlink.MAV_LANDED_STATE_ON_GROUND
        if body.on_ground:
            return mavlink.MAV_LANDED_STATE_ON_GROUND
        if not self._armed:
            return mavlink.MAV_LANDED_STATE_IN_AIR
        if self._taking_off():
            return mavlink.MAV_LANDED_STATE_TAKEOFF
        if self._landing():
            return mavlink.MAV_LANDED_STATE_LANDING
        return mavlink.MAV_LANDED_STATE_IN_AIR

    def _msg_extended_sys_state(self, now: float) -> MavMessage:
        return mavlink.MAVLink_extended_sys_state_message(mavlink.MAV_VTOL_STATE_UNDEFINED, self._landed_state())

    def _msg_mission_current(self, now: float) -> MavMessage:
        total = len(self.mission) - 1 if self.mission else UINT16_MAX
        mission_mode = 1 if self._in_auto() else 2  # 1: in mission mode, 2: suspended
        return mavlink.MAVLink_mission_current_message(self._mission_index, total, self._mission_state, mission_mode)

    def _msg_home_position(self, now: float) -> MavMessage:
        home = self._home if self._home is not None else Vector3()
        lat, lon, alt = _enu_to_geodetic(self._origin, home)
        origin = self._ekf_origin if self._ekf_origin is not None else home
        rel = Vector3(home.x - origin.x, home.y - origin.y, home.z - origin.z)
        return mavlink.MAVLink_home_position_message(
            round(lat * DEG_E7), round(lon * DEG_E7), round(alt * MILLI), rel.y, rel.x, -rel.z,
            [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0, int((now - self._boot) * 1e6))

    def _msg_autopilot_version(self) -> MavMessage:
        caps = (mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
                | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
                | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
                | mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE)
        if self.config.allow_flight_termination:
            caps |= mavlink.MAV_PROTOCOL_CAPABILITY_FLIGHT_TERMINATION
        major, minor, patch = FIRMWARE_VERSION
        version = (major << 24) | (minor << 16) | (patch << 8) | mavlink.FIRMWARE_VERSION_TYPE_OFFICIAL
        return mavlink.MAVLink_autopilot_version_message(
            caps, version, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0, self.config.system_id)

    # ---------------------------------------------------------------- introspection for tests/tools

    def snapshot(self) -> dict[str, Any]:
        """A plain summary of the state (for logs, debug topics and tests)."""
        return {
            'system_id': self.config.system_id, 'mode': self.mode_name, 'armed': self._armed,
            'terminated': self._terminated, 'motor_failed': self._motor_failed,
            'gcs_failsafe': self._gcs_failsafe, 'battery_pct': self.battery.remaining_pct,
            'battery_low': self._battery_low_fired, 'battery_critical': self._battery_critical_fired,
            'gps_fix': self.gps.has_fix, 'fence_enabled': self.fence_enabled,
            'fence_breached': self._fence_breached, 'mission_index': self._mission_index,
            'mission_state': self._mission_state, 'mission_items': max(0, len(self.mission) - 1),
        }
