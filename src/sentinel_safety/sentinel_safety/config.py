"""The watchdog's configuration (``config/safety.yaml``): strict loading, no defaults.

Why so strict: these numbers are the safety case. A limit that silently fell
back to a value written in code would be a limit nobody reviewed for this
site, so every limit must be in the file, and a missing, unknown, duplicated
or out-of-range key stops the watchdog at start with a ``SafetyConfigError``
naming the file, the key and the reason. The meaning of every key is in
``docs/safety.md``.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from sentinel_safety.battery import EnergyModel
from sentinel_safety.domain import Action, EstopCategory, GpsFix, VehicleType

# The format version this module reads (top-level ``version``).
FORMAT_VERSION = 1

# Violations the monitor detects; every vehicle type's ladder names an action for each.
VIOLATIONS = (
    'fence_imminent',    # predicted stopping path leaves the fence (margin: position uncertainty)
    'fence_breach',      # the reported position itself is outside the fence
    'low_battery',       # cannot get home and keep the reserve
    'battery_critical',  # cannot get home even by using the reserve
    'battery_unknown',   # the vehicle does not report its charge
    'gps_lost',          # fix below the type's minimum
    'link_lost',         # the vehicle's link is reported lost, or silent on every path
    'stale_state',       # no fresh VehicleState within the type's timeout
)

# Violations that a zone may set its own rung for (``monitoring.zone_actions``).
ZONE_VIOLATIONS = ('fence_imminent', 'fence_breach')

# Site zone kinds that bound our vehicles, and may be listed in ``zone_kinds``.
FENCE_KINDS = ('geofence_inclusion', 'geofence_exclusion', 'keep_out')

# Ladder action names in the file, and what they mean.
ACTION_NAMES: dict[str, Action] = {
    'warn': Action.WARN, 'hold': Action.HOLD, 'return': Action.RETURN,
    'land': Action.LAND, 'terminate': Action.TERMINATE,
}

# GPS fix names in the file.
GPS_FIX_NAMES: dict[str, GpsFix] = {'2d': GpsFix.FIX_2D, '3d': GpsFix.FIX_3D, 'rtk': GpsFix.RTK}

# The heartbeat period every node must keep (sentinel_common.heartbeat.MAX_HEARTBEAT_PERIOD);
# repeated here so the safety package's limits do not move when another package changes.
MAX_HEARTBEAT_PERIOD = 0.2

# The monitoring cycle must be at most this fraction of the shortest lease, so a
# dead or stuck node is detected within (1 + fraction) x its lease.
DETECTION_SLACK = 0.1

# SafetyStatus must be republished at least this often (s) for late or lossy listeners.
MAX_STATUS_PERIOD = 1.0

# The GCS heartbeat the autopilots' failsafe watches must come at least this often (s).
MAX_GCS_HEARTBEAT_PERIOD = 1.0


class SafetyConfigError(ValueError):
    """A configuration value the watchdog cannot run with: file, key and reason."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        super().__init__(f'{file}: {key}: {reason}')


class NodeRole(enum.Enum):
    """What a monitored node does, which decides the degraded-mode policy."""

    PERCEPTION = 'perception'
    MISSION_CONTROL = 'mission_control'
    VEHICLE_INTERFACE = 'vehicle_interface'
    OTHER = 'other'


class DegradedEffect(enum.Enum):
    """What happens, besides an alert, while a node of a role is down."""

    HOLD = 'hold'                          # every armed vehicle is told to hold, once
    MAVLINK_TAKEOVER = 'mavlink_takeover'  # stop orders also go over the watchdog's MAVLink path


@dataclass(frozen=True)
class Rung:
    """One step of the monitoring ladder: the action and the hold-then-act delay (s)."""

    action: Action
    delay: float


@dataclass(frozen=True)
class BatteryConfig:
    reserve: float            # fraction of capacity left after the task and the return
    model: EnergyModel


@dataclass(frozen=True)
class TypeLimits:
    """Every limit of one vehicle type."""

    vehicle_type: VehicleType
    max_horizontal_speed: float       # m/s
    max_vertical_speed: float         # m/s; 0 for ground vehicles
    max_horizontal_deceleration: float  # m/s^2
    max_vertical_deceleration: float  # m/s^2; inf for ground vehicles (no vertical motion)
    reaction_time: float              # s from decision to braking
    position_uncertainty: float       # m, horizontal
    vertical_uncertainty: float       # m
    min_height_above_ground: float | None  # m; drones only
    min_gps_fix: GpsFix
    separation_horizontal: float      # m
    separation_vertical: float        # m
    battery: BatteryConfig
    stale_state_timeout: float        # s
    link_loss_timeout: float          # s
    zone_kinds: frozenset[str]
    allow_terminate: bool
    estop_category: EstopCategory
    ladder: Mapping[str, Rung]


@dataclass(frozen=True)
class MonitoringConfig:
    period: float                                     # s per monitoring cycle
    startup_grace: float                              # s before a silent vehicle counts as stale
    # site name -> zone name -> violation -> rung
    zone_actions: Mapping[str, Mapping[str, Mapping[str, Rung]]]

    def zone_actions_for(self, site_name: str) -> Mapping[str, Mapping[str, Rung]]:
        """The per-zone rungs of one site (none when the site is not listed)."""
        return self.zone_actions.get(site_name, {})


@dataclass(frozen=True)
class NodeSpec:
    name: str          # fully qualified node name, e.g. /control/mission_control
    role: NodeRole
    lease: float       # s without a heartbeat (or progress) before the node is down
    main_loop: bool    # whether its progress counter must keep increasing


@dataclass(frozen=True)
class HeartbeatConfig:
    own_period: float                                     # s between the watchdog's heartbeats
    startup_grace: float                                  # s before a never-seen node is down
    nodes: tuple[NodeSpec, ...]
    policy: Mapping[NodeRole, frozenset[DegradedEffect]]


@dataclass(frozen=True)
class AuthorizationConfig:
    estop_engage: frozenset[str]
    estop_release: frozenset[str]
    override: frozenset[str]
    terminate: frozenset[str]


@dataclass(frozen=True)
class EstopConfig:
    state_file: Path
    status_period: float     # s between SafetyStatus republications


@dataclass(frozen=True)
class MavlinkConfig:
    source_system: int       # the watchdog's MAVLink system id
    source_component: int    # and component id
    heartbeat_period: float  # s between GCS heartbeats
    resend_interval: float   # s between resends of an unacknowledged stop command
    command_timeout: float   # s after which an unacknowledged stop command is given up


@dataclass(frozen=True)
class SafetyConfig:
    file: str
    vehicle_types: Mapping[VehicleType, TypeLimits]
    monitoring: MonitoringConfig
    heartbeats: HeartbeatConfig
    authorization: AuthorizationConfig
    estop: EstopConfig
    mavlink: MavlinkConfig


# ----------------------------------------------------------------------------------
# Reading YAML strictly
# ----------------------------------------------------------------------------------

# libyaml's parser when PyYAML has it (about ten times faster), else the pure-Python one.
_SafeLoaderBase: type[yaml.SafeLoader] = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)


class _NoDuplicatesLoader(_SafeLoaderBase):  # type: ignore[misc, valid-type]
    """A safe loader that rejects a key given twice (PyYAML would keep the last one)."""


def _mapping_without_duplicates(loader: _NoDuplicatesLoader, node: yaml.MappingNode,
                                deep: bool = False) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f'key "{key}" is given twice', key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_NoDuplicatesLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                    _mapping_without_duplicates)

_E = TypeVar('_E', bound=enum.Enum)   # an enum type read by _Reader.enum


def _what(value: Any) -> str:
    return 'nothing' if value is None else type(value).__name__


class _Reader:
    """Typed access to parsed YAML; every failure names file and key."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, reason: str) -> SafetyConfigError:
        return SafetyConfigError(self.file, key or '(top level)', reason)

    def mapping(self, value: Any, key: str, required: Sequence[str],
                optional: Sequence[str] = ()) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f'expected a mapping, got {_what(value)}')
        for name in value:
            if name not in required and name not in optional:
                allowed = ', '.join([*required, *optional])
                raise self.fail(f'{key}.{name}' if key else str(name),
                                f'unknown key (expected one of: {allowed})')
        for name in required:
            if name not in value:
                raise self.fail(f'{key}.{name}' if key else name, 'missing (safety limits have '
                                                                  'no default)')
        return value

    def number(self, value: Any, key: str, low: float = -math.inf, high: float = math.inf,
               low_open: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f'expected a number, got {_what(value)}')
        number = float(value)
        if not math.isfinite(number):
            raise self.fail(key, f'must be finite, got {value}')
        too_low = number <= low if low_open else number < low
        if too_low or number > high:
            left = '(' if low_open else '['
            raise self.fail(key, f'{number:g} is out of range {left}{low:g}, {high:g}]')
        return number

    def positive(self, value: Any, key: str, high: float = math.inf) -> float:
        return self.number(value, key, 0.0, high, low_open=True)

    def non_negative(self, value: Any, key: str, high: float = math.inf) -> float:
        return self.number(value, key, 0.0, high)

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f'expected an integer, got {_what(value)}')
        if not low <= value <= high:
            raise self.fail(key, f'{value} is out of range [{low}, {high}]')
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f'expected true or false, got {_what(value)}')
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f'expected a non-empty string, got {_what(value)}')
        return value.strip()

    def sequence(self, value: Any, key: str, allow_empty: bool) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f'expected a list, got {_what(value)}')
        if not value and not allow_empty:
            raise self.fail(key, 'must not be empty')
        return value

    def choice(self, value: Any, key: str, options: Mapping[str, Any]) -> Any:
        text = self.text(value, key)
        if text not in options:
            raise self.fail(key, f'"{text}" is not one of: {", ".join(options)}')
        return options[text]

    def enum(self, value: Any, key: str, enum_type: type[_E]) -> _E:
        return self.choice(value, key, {str(member.value): member for member in enum_type})

    def names(self, value: Any, key: str, allow_empty: bool) -> frozenset[str]:
        items = [self.text(item, f'{key}[{i}]')
                 for i, item in enumerate(self.sequence(value, key, allow_empty))]
        for index, item in enumerate(items):
            if item in items[:index]:
                raise self.fail(f'{key}[{index}]', f'"{item}" is listed twice')
        return frozenset(items)


# ----------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------

# Keys every vehicle type has, and the ones only drones have.
_COMMON_TYPE_KEYS = ('max_horizontal_speed', 'max_horizontal_deceleration', 'reaction_time',
                     'position_uncertainty', 'vertical_uncertainty', 'min_gps_fix', 'separation',
                     'battery', 'stale_state_timeout', 'link_loss_timeout', 'zone_kinds',
                     'allow_terminate', 'estop_category', 'ladder')
_DRONE_ONLY_KEYS = ('max_vertical_speed', 'max_vertical_deceleration', 'min_height_above_ground')


def _rung(reader: _Reader, raw: Any, key: str, allowed: Mapping[str, Action]) -> Rung:
    entry = reader.mapping(raw, key, ('action', 'delay'))
    return Rung(reader.choice(entry['action'], f'{key}.action', allowed),
                reader.non_negative(entry['delay'], f'{key}.delay'))


def _allowed_actions(vehicle_type: VehicleType, allow_terminate: bool) -> dict[str, Action]:
    allowed = dict(ACTION_NAMES)
    if vehicle_type is VehicleType.GROUND:
        del allowed['land']   # a ground vehicle stops with hold
    if not allow_terminate:
        del allowed['terminate']
    return allowed


def _battery(reader: _Reader, raw: Any, key: str, vertical_speed: float,
             max_speed: float) -> BatteryConfig:
    entry = reader.mapping(raw, key, ('reserve', 'cruise_speed', 'idle_power', 'travel_energy',
                                      'climb_energy'))
    cruise = reader.positive(entry['cruise_speed'], f'{key}.cruise_speed', max_speed)
    model = EnergyModel(
        idle_power=reader.non_negative(entry['idle_power'], f'{key}.idle_power'),
        travel_energy=reader.non_negative(entry['travel_energy'], f'{key}.travel_energy'),
        climb_energy=reader.non_negative(entry['climb_energy'], f'{key}.climb_energy'),
        cruise_speed=cruise, vertical_speed=vertical_speed)
    reserve = reader.number(entry['reserve'], f'{key}.reserve', 0.0, 1.0)
    if reserve >= 1.0:
        raise reader.fail(f'{key}.reserve', 'must be below 1 (a full battery as reserve '
                                            'allows nothing)')
    return BatteryConfig(reserve, model)


def _vehicle_type(reader: _Reader, raw: Any, key: str, vehicle_type: VehicleType) -> TypeLimits:
    drone = vehicle_type is VehicleType.DRONE
    required = _COMMON_TYPE_KEYS + (_DRONE_ONLY_KEYS if drone else ())
    entry = reader.mapping(raw, key, required)
    max_speed = reader.positive(entry['max_horizontal_speed'], f'{key}.max_horizontal_speed')
    vertical_speed = (reader.positive(entry['max_vertical_speed'], f'{key}.max_vertical_speed')
                      if drone else 0.0)
    vertical_decel = (reader.positive(entry['max_vertical_deceleration'],
                                      f'{key}.max_vertical_deceleration') if drone else math.inf)
    min_height = (reader.non_negative(entry['min_height_above_ground'],
                                      f'{key}.min_height_above_ground') if drone else None)
    separation = reader.mapping(entry['separation'], f'{key}.separation',
                                ('horizontal', 'vertical'))
    zone_kinds = reader.names(entry['zone_kinds'], f'{key}.zone_kinds', allow_empty=False)
    for kind in sorted(zone_kinds):
        if kind not in FENCE_KINDS:
            raise reader.fail(f'{key}.zone_kinds', f'"{kind}" is not one of: '
                                                   f'{", ".join(FENCE_KINDS)}')
    if 'geofence_inclusion' not in zone_kinds:
        raise reader.fail(f'{key}.zone_kinds', 'must include geofence_inclusion: without it the '
                                               'vehicles have no outer bound')
    allow_terminate = reader.boolean(entry['allow_terminate'], f'{key}.allow_terminate')
    categories = {c.value: c for c in EstopCategory
                  if (drone or c in (EstopCategory.HOLD, EstopCategory.TERMINATE))
                  and (allow_terminate or c is not EstopCategory.TERMINATE)}
    estop_category = reader.choice(entry['estop_category'], f'{key}.estop_category', categories)
    allowed = _allowed_actions(vehicle_type, allow_terminate)
    ladder_raw = reader.mapping(entry['ladder'], f'{key}.ladder', VIOLATIONS)
    ladder = {name: _rung(reader, ladder_raw[name], f'{key}.ladder.{name}', allowed)
              for name in VIOLATIONS}
    link_loss = reader.positive(entry['link_loss_timeout'], f'{key}.link_loss_timeout')
    return TypeLimits(
        vehicle_type=vehicle_type,
        max_horizontal_speed=max_speed,
        max_vertical_speed=vertical_speed,
        max_horizontal_deceleration=reader.positive(entry['max_horizontal_deceleration'],
                                                    f'{key}.max_horizontal_deceleration'),
        max_vertical_deceleration=vertical_decel,
        reaction_time=reader.non_negative(entry['reaction_time'], f'{key}.reaction_time'),
        position_uncertainty=reader.non_negative(entry['position_uncertainty'],
                                                 f'{key}.position_uncertainty'),
        vertical_uncertainty=reader.non_negative(entry['vertical_uncertainty'],
                                                 f'{key}.vertical_uncertainty'),
        min_height_above_ground=min_height,
        min_gps_fix=reader.choice(entry['min_gps_fix'], f'{key}.min_gps_fix', GPS_FIX_NAMES),
        separation_horizontal=reader.positive(separation['horizontal'],
                                              f'{key}.separation.horizontal'),
        separation_vertical=reader.positive(separation['vertical'], f'{key}.separation.vertical'),
        battery=_battery(reader, entry['battery'], f'{key}.battery', vertical_speed, max_speed),
        stale_state_timeout=reader.positive(entry['stale_state_timeout'],
                                            f'{key}.stale_state_timeout'),
        link_loss_timeout=link_loss,
        zone_kinds=zone_kinds,
        allow_terminate=allow_terminate,
        estop_category=estop_category,
        ladder=ladder,
    )


def _monitoring(reader: _Reader, raw: Any, types: Mapping[VehicleType, TypeLimits]
                ) -> MonitoringConfig:
    entry = reader.mapping(raw, 'monitoring', ('period', 'startup_grace', 'zone_actions'))
    sites_raw = entry['zone_actions']
    if sites_raw is None:
        sites_raw = {}
    if not isinstance(sites_raw, dict):
        raise reader.fail('monitoring.zone_actions', f'expected a mapping of site names, got '
                                                     f'{_what(sites_raw)}')
    # A zone rung applies to every vehicle type, so it must be valid for all of them.
    allowed = dict(ACTION_NAMES)
    for limits in types.values():
        allowed = {name: action for name, action in allowed.items()
                   if name in _allowed_actions(limits.vehicle_type, limits.allow_terminate)}
    zone_actions: dict[str, dict[str, dict[str, Rung]]] = {}
    for site_name, zones_raw in sites_raw.items():
        skey = f'monitoring.zone_actions.{site_name}'
        if not isinstance(zones_raw, dict):
            raise reader.fail(skey, f'expected a mapping of zone names, got {_what(zones_raw)}')
        zone_actions[str(site_name)] = {}
        for zone_name, rungs_raw in zones_raw.items():
            zkey = f'{skey}.{zone_name}'
            rungs = reader.mapping(rungs_raw, zkey, (), ZONE_VIOLATIONS)
            if not rungs:
                raise reader.fail(zkey, f'give a rung for at least one of: '
                                        f'{", ".join(ZONE_VIOLATIONS)}')
            zone_actions[str(site_name)][str(zone_name)] = {
                name: _rung(reader, rungs[name], f'{zkey}.{name}', allowed) for name in rungs}
    return MonitoringConfig(
        period=reader.positive(entry['period'], 'monitoring.period'),
        startup_grace=reader.non_negative(entry['startup_grace'], 'monitoring.startup_grace'),
        zone_actions=zone_actions)


def _heartbeats(reader: _Reader, raw: Any) -> HeartbeatConfig:
    entry = reader.mapping(raw, 'heartbeats', ('own_period', 'startup_grace', 'nodes', 'policy'))
    nodes: list[NodeSpec] = []
    for index, node_raw in enumerate(reader.sequence(entry['nodes'], 'heartbeats.nodes', True)):
        key = f'heartbeats.nodes[{index}]'
        node = reader.mapping(node_raw, key, ('name', 'role', 'lease', 'main_loop'))
        name = reader.text(node['name'], f'{key}.name')
        if not name.startswith('/'):
            raise reader.fail(f'{key}.name', f'"{name}" must be a fully qualified node name '
                                             '(starting with /)')
        if any(spec.name == name for spec in nodes):
            raise reader.fail(f'{key}.name', f'node "{name}" is listed twice')
        lease = reader.positive(node['lease'], f'{key}.lease')
        if lease < MAX_HEARTBEAT_PERIOD:
            raise reader.fail(f'{key}.lease', f'{lease:g} s is shorter than the heartbeat period '
                                              f'every node keeps ({MAX_HEARTBEAT_PERIOD:g} s)')
        nodes.append(NodeSpec(name, reader.enum(node['role'], f'{key}.role', NodeRole), lease,
                              reader.boolean(node['main_loop'], f'{key}.main_loop')))
    policy_raw = reader.mapping(entry['policy'], 'heartbeats.policy',
                                tuple(role.value for role in NodeRole))
    effects = {effect.value: effect for effect in DegradedEffect}
    policy = {role: frozenset(reader.choice(item, f'heartbeats.policy.{role.value}[{i}]', effects)
                              for i, item in enumerate(reader.sequence(
                                  policy_raw[role.value], f'heartbeats.policy.{role.value}', True)))
              for role in NodeRole}
    return HeartbeatConfig(
        own_period=reader.positive(entry['own_period'], 'heartbeats.own_period',
                                   MAX_HEARTBEAT_PERIOD),
        startup_grace=reader.non_negative(entry['startup_grace'], 'heartbeats.startup_grace'),
        nodes=tuple(nodes), policy=policy)


def _authorization(reader: _Reader, raw: Any) -> AuthorizationConfig:
    keys = ('estop_engage', 'estop_release', 'override', 'terminate')
    entry = reader.mapping(raw, 'authorization', keys)
    lists = {name: reader.names(entry[name], f'authorization.{name}',
                                allow_empty=name in ('override', 'terminate'))
             for name in keys}
    if len(lists['estop_release']) < 2:
        raise reader.fail('authorization.estop_release', 'needs at least two principals: a '
                                                         'release takes two distinct approvers')
    return AuthorizationConfig(**lists)


def _estop(reader: _Reader, raw: Any, base: Path) -> EstopConfig:
    entry = reader.mapping(raw, 'estop', ('state_file', 'status_period'))
    text = reader.text(entry['state_file'], 'estop.state_file')
    path = Path(os.path.expandvars(os.path.expanduser(text)))
    if '$' in str(path):
        raise reader.fail('estop.state_file', f'"{text}" names an unset environment variable')
    if not path.is_absolute():
        path = base / path
    if path.is_dir():
        raise reader.fail('estop.state_file', f'{path} is a directory, not a file')
    return EstopConfig(path, reader.positive(entry['status_period'], 'estop.status_period',
                                             MAX_STATUS_PERIOD))


def _mavlink(reader: _Reader, raw: Any) -> MavlinkConfig:
    entry = reader.mapping(raw, 'mavlink', ('source_system', 'source_component',
                                            'heartbeat_period', 'resend_interval',
                                            'command_timeout'))
    resend = reader.positive(entry['resend_interval'], 'mavlink.resend_interval')
    timeout = reader.positive(entry['command_timeout'], 'mavlink.command_timeout')
    if timeout <= resend:
        raise reader.fail('mavlink.command_timeout', f'{timeout:g} s leaves no time to resend '
                                                     f'(resend_interval is {resend:g} s)')
    return MavlinkConfig(
        source_system=reader.integer(entry['source_system'], 'mavlink.source_system', 1, 255),
        source_component=reader.integer(entry['source_component'], 'mavlink.source_component',
                                        1, 255),
        heartbeat_period=reader.positive(entry['heartbeat_period'], 'mavlink.heartbeat_period',
                                         MAX_GCS_HEARTBEAT_PERIOD),
        resend_interval=resend, command_timeout=timeout)


def parse_safety_config(text: str, file: str, base: Path) -> SafetyConfig:
    """Read the configuration from YAML text; ``base`` resolves a relative state file."""
    reader = _Reader(file)
    try:
        document = yaml.load(text, Loader=_NoDuplicatesLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        where = f'line {mark.line + 1}' if mark is not None else 'YAML'
        raise SafetyConfigError(file, where, f'invalid YAML: '
                                f'{getattr(error, "problem", None) or error}') from None
    top = reader.mapping(document, '', ('version', 'vehicle_types', 'monitoring', 'heartbeats',
                                        'authorization', 'estop', 'mavlink'))
    version = reader.integer(top['version'], 'version', 1, 1_000_000)
    if version != FORMAT_VERSION:
        raise reader.fail('version', f'this watchdog reads version {FORMAT_VERSION}, the file is '
                                     f'version {version}')
    types_raw = reader.mapping(top['vehicle_types'], 'vehicle_types', (),
                               tuple(t.value for t in VehicleType))
    if not types_raw:
        raise reader.fail('vehicle_types', 'configure at least one vehicle type')
    types = {vt: _vehicle_type(reader, types_raw[vt.value], f'vehicle_types.{vt.value}', vt)
             for vt in VehicleType if vt.value in types_raw}
    heartbeats = _heartbeats(reader, top['heartbeats'])
    monitoring = _monitoring(reader, top['monitoring'], types)
    if heartbeats.nodes:
        shortest = min(node.lease for node in heartbeats.nodes)
        if monitoring.period > DETECTION_SLACK * shortest:
            raise reader.fail('monitoring.period', f'{monitoring.period:g} s is longer than '
                              f'{DETECTION_SLACK:g} x the shortest lease ({shortest:g} s): a dead '
                              f'node would not be detected within {1 + DETECTION_SLACK:g} x lease')
    return SafetyConfig(file=file, vehicle_types=types, monitoring=monitoring,
                        heartbeats=heartbeats,
                        authorization=_authorization(reader, top['authorization']),
                        estop=_estop(reader, top['estop'], base), mavlink=_mavlink(reader,
                                                                                   top['mavlink']))


def load_safety_config(path: str | Path) -> SafetyConfig:
    """Read and validate a safety configuration file."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as error:
        raise SafetyConfigError(file, 'file', f'cannot read: {error}') from None
    return parse_safety_config(text, file, Path(path).resolve().parent)
