"""Per-vehicle settings of the emulated autopilot, checked before anything runs.

Why a module of its own: a site file is a boundary. Every key is validated here
and a bad one stops start-up with a message naming the file, the key and the
reason, so the flight logic downstream can trust every value it reads.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.streams import streamable_names
from sentinel_sim.autopilot.wire import BATTERY_CELL_SLOTS, finite
from sentinel_sim.vehicle_types import VehicleKind

MAX_COMMAND_SPEED_M_S = 30.0        # speed / velocity requests above this are refused as nonsense
SYSTEM_ID_MAX = 254                 # MAVLink system ids 1..254 (255 is customary for ground stations)
ID_FIELD_MAX = 255                  # largest component / GCS system id a uint8 field holds
REQUIRED_KEYS = ('system_id', 'kind', 'origin_lat_deg', 'origin_lon_deg', 'origin_alt_m')  # no default


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
        need(isinstance(self.system_id, int) and 1 <= self.system_id <= SYSTEM_ID_MAX, 'system_id',
             f'must be 1..{SYSTEM_ID_MAX}')
        need(isinstance(self.component_id, int) and 1 <= self.component_id <= ID_FIELD_MAX, 'component_id',
             f'must be 1..{ID_FIELD_MAX}')
        need(finite(self.origin_lat_deg) and abs(self.origin_lat_deg) <= 90.0,
             'origin_lat_deg', 'must be in [-90, 90]')
        need(finite(self.origin_lon_deg) and abs(self.origin_lon_deg) <= 180.0,
             'origin_lon_deg', 'must be in [-180, 180]')
        need(finite(self.origin_alt_m), 'origin_alt_m', 'must be finite')
        for key in ('battery_capacity_mah', 'cruise_speed_m_s', 'max_altitude_m', 'max_range_m',
                    'rtl_altitude_m', 'descent_speed_m_s', 'land_speed_m_s', 'wp_radius_m', 'gcs_timeout_s'):
            value = getattr(self, key)
            need(finite(value) and value > 0.0, key, 'must be a positive number')
        for key in ('battery_internal_resistance_ohm', 'idle_current_a', 'motors_current_a',
                    'current_per_speed_a', 'fence_brake_s', 'rtl_loiter_s', 'auto_disarm_s', 'gps_noise_m'):
            value = getattr(self, key)
            need(finite(value) and value >= 0.0, key, 'must be a number >= 0')
        need(isinstance(self.battery_cells, int) and 1 <= self.battery_cells <= BATTERY_CELL_SLOTS,
             'battery_cells', f'must be 1..{BATTERY_CELL_SLOTS}')
        need(finite(self.battery_low_pct) and 0.0 <= self.battery_low_pct < 100.0,
             'battery_low_pct', 'must be in [0, 100)')
        need(finite(self.battery_critical_pct) and 0.0 <= self.battery_critical_pct < self.battery_low_pct,
             'battery_critical_pct', 'must be >= 0 and below battery_low_pct')
        need(self.cruise_speed_m_s <= MAX_COMMAND_SPEED_M_S, 'cruise_speed_m_s', f'must be <= {MAX_COMMAND_SPEED_M_S}')
        need(self.rtl_altitude_m <= self.max_altitude_m, 'rtl_altitude_m', 'must not exceed max_altitude_m')
        need(isinstance(self.gps_satellites, int) and 0 <= self.gps_satellites <= ID_FIELD_MAX,
             'gps_satellites', f'must be 0..{ID_FIELD_MAX}')
        need(self.seed is None or isinstance(self.seed, int), 'seed', 'must be an integer')
        need(self.gcs_system_id is None
             or (isinstance(self.gcs_system_id, int) and 1 <= self.gcs_system_id <= ID_FIELD_MAX),
             'gcs_system_id', f'must be 1..{ID_FIELD_MAX}')
        for key, enum_type in (('gcs_failsafe_action', FailsafeAction), ('battery_low_action', FailsafeAction),
                               ('battery_critical_action', FailsafeAction), ('fence_action', FenceAction)):
            need(isinstance(getattr(self, key), enum_type), key, f'must be one of {[e.value for e in enum_type]}')
        names = streamable_names()
        for name, rate in self.stream_rates_hz.items():
            need(name in names, f'stream_rates_hz.{name}', f'unknown stream; known: {sorted(names)}')
            need(finite(rate) and rate >= 0.0, f'stream_rates_hz.{name}', 'must be a rate in Hz >= 0')

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = 'config') -> AutopilotConfig:
        """Build from a parsed site-config section (strings for enums), naming bad keys."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(source, str(key), 'unknown key')
        for key in REQUIRED_KEYS:
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
