"""Load and check a site configuration (``config/sites/<site>.yaml``).

The SDF world says what physically exists; the site configuration says what
Sentinel makes of it: which areas are restricted or fenced for vehicles, how
each camera is calibrated, how each vehicle is reached over MAVLink and what
it can do. Perception, mission control and safety all read this one file, so
it is validated strictly at load (unknown keys, duplicate keys, bad polygons
are errors naming the file and key) and :func:`cross_check` compares it with
the world it names, so a renamed camera or a moved pad cannot drift apart
silently. The format is documented in ``docs/site_config.md``.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import yaml

from sentinel_sim.vehicle_types import VehicleKind
from sentinel_sim.world import Intrinsics, Pose, World, load_world

# The format version this module reads (the YAML's top-level `version`).
FORMAT_VERSION = 1

# What a vehicle may be fitted with; mission control plans with these names.
CAPABILITIES = frozenset({
    'camera',          # a video camera streamed on /cameras/<id>_camera
    'gimbal',          # the camera can be pointed independently of the vehicle
    'thermal_camera',  # a thermal imager
    'spotlight',       # a light to illuminate and deter
    'loudspeaker',     # a speaker for recorded or live warnings
})

# Cross-check tolerances between the configuration and the world.
POSITION_TOLERANCE = 0.01      # m, camera mount position
ANGLE_TOLERANCE = 1e-3         # rad, camera mount orientation
HOME_TOLERANCE = 0.5           # m, vehicle home against its model pose in the world
FOCAL_TOLERANCE = 0.005        # relative, given focal lengths against the world's fov
PRINCIPAL_TOLERANCE = 1.0      # px, given principal point against the image centre

# Loopback hosts: a vehicle URL on one of these is the embedded simulator.
_LOOPBACK_NAMES = frozenset({'localhost'})

# pymavlink connection strings for network links: scheme:host:port.
_NETWORK_URL = re.compile(r'^(udpin|udpout|udp|udpbcast|tcp|tcpin):(\[[^\]]+\]|[^:\s]+):(\d+)$')
# Serial links: a device path, optionally with a baud rate (pymavlink's "dev,baud").
_SERIAL_URL = re.compile(r'^(/dev/\S+|COM\d+)(,\d+)?$')

_DAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
_CLOCK = re.compile(r'^([01]\d|2[0-4]):([0-5]\d)$')


class SiteConfigError(ValueError):
    """A site configuration that cannot be used, with the file and key at fault."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        super().__init__(f'{file}: {key}: {reason}')


class ZoneKind(enum.Enum):
    """What a zone means to the rest of Sentinel (see docs/site_config.md)."""

    RESTRICTED = 'restricted'                  # unauthorized presence raises an alert
    PERIMETER = 'perimeter'                    # the site boundary; crossing it is an event
    KEEP_OUT = 'keep_out'                      # no Sentinel vehicle may enter
    GATE = 'gate'                              # an access point; loitering is watched
    GEOFENCE_INCLUSION = 'geofence_inclusion'  # vehicles must stay inside
    GEOFENCE_EXCLUSION = 'geofence_exclusion'  # vehicles must stay outside


# Kinds that bound vehicle motion in three dimensions: floor and ceiling required.
_ALTITUDE_REQUIRED = frozenset({ZoneKind.GEOFENCE_INCLUSION, ZoneKind.GEOFENCE_EXCLUSION})


@dataclass(frozen=True)
class ScheduleWindow:
    """A weekly time window, in the site's time zone.

    A window whose end is not after its start runs past midnight and belongs
    to the day it starts on (``fri 22:00-06:00`` covers Saturday morning).
    """

    days: frozenset[int]  # 0 = Monday ... 6 = Sunday
    start_minute: int     # minutes after midnight, 0..1439
    end_minute: int       # minutes after midnight, 1..1440

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start_minute < self.end_minute:
            return day in self.days and self.start_minute <= minute < self.end_minute
        return ((day in self.days and minute >= self.start_minute)
                or ((day - 1) % 7 in self.days and minute < self.end_minute))


@dataclass(frozen=True)
class Zone:
    """A named area of the site, a polygon in site ENU metres (x east, y north)."""

    name: str
    kind: ZoneKind
    polygon: tuple[tuple[float, float], ...]
    floor: float | None = None     # m above the site origin; None: from the ground
    ceiling: float | None = None   # m above the site origin; None: no upper bound
    schedule: tuple[ScheduleWindow, ...] = ()  # empty: always active

    def contains(self, x: float, y: float, z: float | None = None) -> bool:
        """Whether a point is inside (boundary included); z is checked when given."""
        if z is not None:
            if self.floor is not None and z < self.floor:
                return False
            if self.ceiling is not None and z > self.ceiling:
                return False
        return point_in_polygon(x, y, self.polygon)

    def active_at(self, when: datetime, timezone: str) -> bool:
        """Whether the zone applies at an aware datetime, judged in the site's time zone."""
        if not self.schedule:
            return True
        if when.tzinfo is None:
            raise ValueError('active_at needs an aware datetime')
        local = when.astimezone(ZoneInfo(timezone))
        return any(window.contains(local) for window in self.schedule)


@dataclass(frozen=True)
class CameraConfig:
    """A fixed camera as Sentinel uses it; the name matches the SDF sensor."""

    name: str
    pose: Pose                     # SDF sensor frame in site ENU (x forward, z up)
    intrinsics: Intrinsics | None  # None: derived from the world's fov and image size


@dataclass(frozen=True)
class VehicleConfig:
    """How Sentinel reaches and uses one vehicle; the id matches the SDF model."""

    id: str
    kind: VehicleKind
    mavlink_url: str                   # pymavlink connection string
    system_id: int                     # MAVLink system id of the autopilot
    home: tuple[float, float, float]   # pad or garage position, site ENU m
    camera: str | None                 # its camera's name (<id>_camera), if any
    capabilities: frozenset[str]
    battery_capacity_wh: float


@dataclass(frozen=True)
class SiteConfig:
    file: str
    name: str
    world: Path          # the SDF world, resolved against the YAML's directory
    timezone: str        # IANA name, e.g. America/Denver
    zones: tuple[Zone, ...]
    cameras: tuple[CameraConfig, ...]
    vehicles: tuple[VehicleConfig, ...]

    def zones_of(self, kind: ZoneKind) -> tuple[Zone, ...]:
        return tuple(zone for zone in self.zones if zone.kind is kind)

    def vehicle(self, vehicle_id: str) -> VehicleConfig:
        for vehicle in self.vehicles:
            if vehicle.id == vehicle_id:
                return vehicle
        raise KeyError(f'site {self.name!r} has no vehicle {vehicle_id!r}')

    def camera(self, name: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise KeyError(f'site {self.name!r} has no camera {name!r}')


@dataclass(frozen=True)
class Mismatch:
    """One disagreement between a site configuration and its world."""

    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f'{self.file}: {self.key}: {self.reason}'


# --------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------

def point_in_polygon(x: float, y: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Even-odd rule; points on an edge count as inside."""
    inside = False
    count = len(polygon)
    for i in range(count):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % count]
        if _on_segment(x, y, x1, y1, x2, y2):
            return True
        if (y1 > y) != (y2 > y):
            crossing = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if crossing > x:
                inside = not inside
    return inside


def _cross(ox: float, oy: float, ax: float, ay: float, bx: float, by: float) -> float:
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)


def _on_segment(px: float, py: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    scale = max(1.0, abs(x2 - x1), abs(y2 - y1))
    if abs(_cross(x1, y1, x2, y2, px, py)) > 1e-9 * scale * scale:
        return False
    return min(x1, x2) - 1e-9 <= px <= max(x1, x2) + 1e-9 and \
        min(y1, y2) - 1e-9 <= py <= max(y1, y2) + 1e-9


def _segments_intersect(a: tuple[float, float], b: tuple[float, float],
                        c: tuple[float, float], d: tuple[float, float]) -> bool:
    d1, d2 = _cross(*c, *d, *a), _cross(*c, *d, *b)
    d3, d4 = _cross(*a, *b, *c), _cross(*a, *b, *d)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    return (_on_segment(*a, *c, *d) or _on_segment(*b, *c, *d)
            or _on_segment(*c, *a, *b) or _on_segment(*d, *a, *b))


def polygon_area(polygon: Sequence[tuple[float, float]]) -> float:
    """Signed area (m^2), positive when the vertices run counter-clockwise."""
    total = 0.0
    for i, (x1, y1) in enumerate(polygon):
        x2, y2 = polygon[(i + 1) % len(polygon)]
        total += x1 * y2 - x2 * y1
    return total / 2.0


def _self_intersection(polygon: Sequence[tuple[float, float]]) -> tuple[int, int] | None:
    """First pair of non-adjacent edges that touch, as edge indices, or None."""
    count = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % count]) for i in range(count)]
    for i in range(count):
        for j in range(i + 1, count):
            if j == i + 1 or (i == 0 and j == count - 1):
                continue  # neighbours share a vertex
            if _segments_intersect(*edges[i], *edges[j]):
                return i, j
    return None


# --------------------------------------------------------------------------
# YAML reading
# --------------------------------------------------------------------------

class _StrictLoader(yaml.SafeLoader):
    """Safe loader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode,
                       deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f'duplicate key "{key}"', key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    """Typed access to the parsed YAML, raising SiteConfigError with the key path."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, key: str, reason: str) -> SiteConfigError:
        return SiteConfigError(self.file, key or '(top level)', reason)

    def mapping(self, value: Any, key: str, required: Sequence[str],
                optional: Sequence[str] = ()) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f'expected a mapping, got {_kind(value)}')
        unknown = sorted(str(k) for k in value if k not in required and k not in optional)
        if unknown:
            allowed = ', '.join(list(required) + list(optional))
            raise self.error(_join(key, unknown[0]), f'unknown key (expected one of: {allowed})')
        for name in required:
            if name not in value:
                raise self.error(_join(key, name), 'missing required key')
        return value

    def sequence(self, value: Any, key: str, allow_empty: bool = True) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(key, f'expected a list, got {_kind(value)}')
        if not value and not allow_empty:
            raise self.error(key, 'must not be empty')
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f'expected a non-empty string, got {_kind(value)}')
        return value.strip()

    def name(self, value: Any, key: str) -> str:
        text = self.text(value, key)
        if not re.fullmatch(r'[A-Za-z][A-Za-z0-9_]*', text):
            raise self.error(key, f'"{text}" is not a valid name (letters, digits, underscores; '
                                  'starting with a letter)')
        return text

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f'expected a number, got {_kind(value)}')
        if not math.isfinite(value):
            raise self.error(key, f'must be finite, got {value}')
        return float(value)

    def positive(self, value: Any, key: str) -> float:
        number = self.number(value, key)
        if number <= 0.0:
            raise self.error(key, f'must be positive, got {number:g}')
        return number

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f'expected an integer, got {_kind(value)}')
        if not low <= value <= high:
            raise self.error(key, f'{value} is out of range [{low}, {high}]')
        return value

    def choice(self, value: Any, key: str, enum_type: type[enum.Enum]) -> Any:
        text = self.text(value, key)
        try:
            return enum_type(text)
        except ValueError:
            allowed = ', '.join(str(member.value) for member in enum_type)
            raise self.error(key, f'"{text}" is not one of: {allowed}') from None


def _kind(value: Any) -> str:
    return 'nothing' if value is None else type(value).__name__


def _join(key: str, child: str) -> str:
    return f'{key}.{child}' if key else child


def _unique(reader: _Reader, key: str, names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise reader.error(f'{key}[{index}]', f'duplicate {what} "{name}"')
        seen.add(name)


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------

def _polygon(reader: _Reader, value: Any, key: str) -> tuple[tuple[float, float], ...]:
    points: list[tuple[float, float]] = []
    for index, vertex in enumerate(reader.sequence(value, key)):
        vkey = f'{key}[{index}]'
        if not isinstance(vertex, list) or len(vertex) != 2:
            raise reader.error(vkey, f'a vertex is [x, y] in metres, got {vertex!r}')
        points.append((reader.number(vertex[0], vkey), reader.number(vertex[1], vkey)))
    if len(points) > 3 and points[0] == points[-1]:
        points.pop()  # a closed ring: the last vertex repeats the first
    if len(points) < 3:
        raise reader.error(key, f'a polygon needs at least 3 vertices, got {len(points)}')
    for index in range(len(points)):
        if points[index] == points[(index + 1) % len(points)]:
            raise reader.error(f'{key}[{index}]', 'repeats the previous vertex')
    crossing = _self_intersection(points)
    if crossing is not None:
        raise reader.error(key, f'edges {crossing[0]} and {crossing[1]} cross: the polygon '
                                'must not intersect itself')
    if abs(polygon_area(points)) < 1e-6:
        raise reader.error(key, 'the polygon has no area (its vertices are collinear)')
    return tuple(points)


def _minute(reader: _Reader, value: Any, key: str, allow_24: bool) -> int:
    text = reader.text(value, key)
    match = _CLOCK.match(text)
    if match is None:
        raise reader.error(key, f'"{text}" is not a time of day HH:MM')
    minute = int(match.group(1)) * 60 + int(match.group(2))
    if minute > 1440 or (minute == 1440 and not allow_24):
        raise reader.error(key, f'"{text}" is not a valid time here')
    return minute


def _schedule(reader: _Reader, value: Any, key: str) -> tuple[ScheduleWindow, ...]:
    windows: list[ScheduleWindow] = []
    for index, raw in enumerate(reader.sequence(value, key, allow_empty=False)):
        wkey = f'{key}[{index}]'
        entry = reader.mapping(raw, wkey, ('days', 'start', 'end'))
        days: set[int] = set()
        for dindex, day in enumerate(reader.sequence(entry['days'], f'{wkey}.days',
                                                     allow_empty=False)):
            dkey = f'{wkey}.days[{dindex}]'
            text = reader.text(day, dkey).lower()
            if text not in _DAYS:
                raise reader.error(dkey, f'"{text}" is not a day ({", ".join(_DAYS)})')
            days.add(_DAYS.index(text))
        start = _minute(reader, entry['start'], f'{wkey}.start', allow_24=False)
        end = _minute(reader, entry['end'], f'{wkey}.end', allow_24=True)
        if start == end:
            raise reader.error(f'{wkey}.end', 'the window is empty (end equals start); use '
                                              '00:00 to 24:00 for a whole day')
        windows.append(ScheduleWindow(frozenset(days), start, end))
    return tuple(windows)


def _zone(reader: _Reader, raw: Any, key: str) -> Zone:
    entry = reader.mapping(raw, key, ('name', 'kind', 'polygon'), ('floor', 'ceiling', 'schedule'))
    kind = reader.choice(entry['kind'], f'{key}.kind', ZoneKind)
    floor = reader.number(entry['floor'], f'{key}.floor') if 'floor' in entry else None
    ceiling = reader.number(entry['ceiling'], f'{key}.ceiling') if 'ceiling' in entry else None
    if kind in _ALTITUDE_REQUIRED:
        for name, value in (('floor', floor), ('ceiling', ceiling)):
            if value is None:
                raise reader.error(f'{key}.{name}', f'required for a {kind.value} zone')
    if floor is not None and ceiling is not None and ceiling <= floor:
        raise reader.error(f'{key}.ceiling', f'must be above the floor ({ceiling:g} <= '
                                             f'{floor:g})')
    schedule: tuple[ScheduleWindow, ...] = ()
    if 'schedule' in entry:
        if kind is ZoneKind.GEOFENCE_INCLUSION:
            raise reader.error(f'{key}.schedule', 'a geofence_inclusion is always active: '
                                                  'vehicles must never be unbounded')
        schedule = _schedule(reader, entry['schedule'], f'{key}.schedule')
    return Zone(reader.name(entry['name'], f'{key}.name'), kind,
                _polygon(reader, entry['polygon'], f'{key}.polygon'), floor, ceiling, schedule)


def _pose(reader: _Reader, raw: Any, key: str) -> Pose:
    fields = ('x', 'y', 'z', 'roll', 'pitch', 'yaw')
    entry = reader.mapping(raw, key, fields)
    return Pose(*(reader.number(entry[name], f'{key}.{name}') for name in fields))


def _camera(reader: _Reader, raw: Any, key: str) -> CameraConfig:
    entry = reader.mapping(raw, key, ('name', 'pose', 'intrinsics'))
    intrinsics = None
    raw_intrinsics = entry['intrinsics']
    ikey = f'{key}.intrinsics'
    if raw_intrinsics != 'derived':
        if not isinstance(raw_intrinsics, dict):
            raise reader.error(ikey, 'expected "derived" or a mapping of fx, fy, cx, cy, width, '
                                     'height')
        values = reader.mapping(raw_intrinsics, ikey, ('fx', 'fy', 'cx', 'cy', 'width', 'height'))
        intrinsics = Intrinsics(
            fx=reader.positive(values['fx'], f'{ikey}.fx'),
            fy=reader.positive(values['fy'], f'{ikey}.fy'),
            cx=reader.number(values['cx'], f'{ikey}.cx'),
            cy=reader.number(values['cy'], f'{ikey}.cy'),
            width=reader.integer(values['width'], f'{ikey}.width', 1, 16384),
            height=reader.integer(values['height'], f'{ikey}.height', 1, 16384))
    return CameraConfig(reader.name(entry['name'], f'{key}.name'),
                        _pose(reader, entry['pose'], f'{key}.pose'), intrinsics)


def _mavlink_url(reader: _Reader, value: Any, key: str) -> str:
    url = reader.text(value, key)
    network = _NETWORK_URL.match(url)
    if network is not None:
        reader.integer(int(network.group(3)), key, 1, 65535)
        return url
    if _SERIAL_URL.match(url):
        return url
    raise reader.error(key, f'"{url}" is not a MAVLink connection string (e.g. '
                            'udpout:127.0.0.1:14551, tcp:10.0.0.5:5760, /dev/ttyUSB0,57600)')


def _vehicle(reader: _Reader, raw: Any, key: str) -> VehicleConfig:
    entry = reader.mapping(raw, key, ('id', 'kind', 'mavlink', 'home', 'capabilities',
                                      'battery_capacity_wh'), ('camera',))
    mkey = f'{key}.mavlink'
    mavlink = reader.mapping(entry['mavlink'], mkey, ('url', 'system_id'))
    hkey = f'{key}.home'
    home = reader.mapping(entry['home'], hkey, ('x', 'y', 'z'))
    capabilities: set[str] = set()
    ckey = f'{key}.capabilities'
    for index, raw_capability in enumerate(reader.sequence(entry['capabilities'], ckey)):
        capability = reader.text(raw_capability, f'{ckey}[{index}]')
        if capability not in CAPABILITIES:
            raise reader.error(f'{ckey}[{index}]', f'unknown capability "{capability}" (known: '
                                                   f'{", ".join(sorted(CAPABILITIES))})')
        if capability in capabilities:
            raise reader.error(f'{ckey}[{index}]', f'capability "{capability}" listed twice')
        capabilities.add(capability)
    camera = reader.name(entry['camera'], f'{key}.camera') if 'camera' in entry else None
    if ('camera' in capabilities) != (camera is not None):
        raise reader.error(f'{key}.camera', 'a vehicle lists its camera exactly when it has the '
                                            '"camera" capability')
    return VehicleConfig(
        id=reader.name(entry['id'], f'{key}.id'),
        kind=reader.choice(entry['kind'], f'{key}.kind', VehicleKind),
        mavlink_url=_mavlink_url(reader, mavlink['url'], f'{mkey}.url'),
        system_id=reader.integer(mavlink['system_id'], f'{mkey}.system_id', 1, 255),
        home=(reader.number(home['x'], f'{hkey}.x'), reader.number(home['y'], f'{hkey}.y'),
              reader.number(home['z'], f'{hkey}.z')),
        camera=camera, capabilities=frozenset(capabilities),
        battery_capacity_wh=reader.positive(entry['battery_capacity_wh'],
                                            f'{key}.battery_capacity_wh'))


def _site_config(reader: _Reader, document: Any, base: Path) -> SiteConfig:
    top = reader.mapping(document, '', ('version', 'site', 'zones', 'cameras', 'vehicles'))
    version = reader.integer(top['version'], 'version', 1, 1_000_000)
    if version != FORMAT_VERSION:
        raise reader.error('version', f'this Sentinel reads format version {FORMAT_VERSION}, '
                                      f'the file is version {version}')
    site = reader.mapping(top['site'], 'site', ('name', 'world', 'timezone'))
    world_path = (base / reader.text(site['world'], 'site.world')).resolve()
    if not world_path.is_file():
        raise reader.error('site.world', f'world file not found: {world_path}')
    timezone = reader.text(site['timezone'], 'site.timezone')
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise reader.error('site.timezone', f'"{timezone}" is not an IANA time zone '
                                            '(e.g. Europe/Paris)') from None
    zones = tuple(_zone(reader, raw, f'zones[{i}]')
                  for i, raw in enumerate(reader.sequence(top['zones'], 'zones')))
    cameras = tuple(_camera(reader, raw, f'cameras[{i}]')
                    for i, raw in enumerate(reader.sequence(top['cameras'], 'cameras')))
    vehicles = tuple(_vehicle(reader, raw, f'vehicles[{i}]')
                     for i, raw in enumerate(reader.sequence(top['vehicles'], 'vehicles')))
    _unique(reader, 'zones', [z.name for z in zones], 'zone name')
    _unique(reader, 'cameras', [c.name for c in cameras], 'camera name')
    _unique(reader, 'vehicles', [v.id for v in vehicles], 'vehicle id')
    _unique(reader, 'vehicles', [str(v.system_id) for v in vehicles], 'MAVLink system id')
    return SiteConfig(file=reader.file, name=reader.name(site['name'], 'site.name'),
                      world=world_path, timezone=timezone, zones=zones, cameras=cameras,
                      vehicles=vehicles)


def parse_site_config(text: str, file: str, base: Path) -> SiteConfig:
    """Read a site configuration from YAML text; ``base`` resolves ``site.world``."""
    reader = _Reader(file)
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = f'line {mark.line + 1}' if mark is not None else 'YAML'
        problem = getattr(exc, 'problem', None) or str(exc)
        raise SiteConfigError(file, where, f'invalid YAML: {problem}') from None
    return _site_config(reader, document, base)


def load_site_config(path: str | Path) -> SiteConfig:
    """Read and validate a site configuration file."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteConfigError(file, 'file', f'cannot read: {exc}') from None
    return parse_site_config(text, file, Path(path).resolve().parent)


# --------------------------------------------------------------------------
# Against the world
# --------------------------------------------------------------------------

def _angle_between(a: Pose, b: Pose) -> float:
    """Rotation angle (rad) taking one orientation to the other."""
    relative = a.rotation().T @ b.rotation()
    cosine = (float(np.trace(relative)) - 1.0) / 2.0
    return math.acos(max(-1.0, min(1.0, cosine)))


def _loopback_port(url: str) -> tuple[str, int] | None:
    """(scheme, port) of a network URL on this machine, else None."""
    match = _NETWORK_URL.match(url)
    if match is None:
        return None
    host = match.group(2).strip('[]')
    if host not in _LOOPBACK_NAMES:
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            return None
    return match.group(1), int(match.group(3))


def _check_cameras(config: SiteConfig, world: World, out: list[Mismatch]) -> None:
    fixed = {camera.name: camera for camera in world.fixed_cameras}
    on_vehicles = {v.camera.name for v in world.vehicles if v.camera is not None}
    for index, camera in enumerate(config.cameras):
        key = f'cameras[{index}]'
        actual = fixed.get(camera.name)
        if actual is None:
            reason = (f'camera "{camera.name}" is a vehicle camera: list it as the vehicle\'s '
                      '"camera"' if camera.name in on_vehicles else
                      f'no fixed camera "{camera.name}" in world {world.name} ({world.source})')
            out.append(Mismatch(config.file, f'{key}.name', reason))
            continue
        distance = math.dist(camera.pose.position, actual.pose.position)
        if distance > POSITION_TOLERANCE:
            out.append(Mismatch(config.file, f'{key}.pose', f'position is {distance:.3f} m from '
                                f'the world\'s {actual.pose.position}'))
        angle = _angle_between(camera.pose, actual.pose)
        if angle > ANGLE_TOLERANCE:
            out.append(Mismatch(config.file, f'{key}.pose', f'orientation differs from the '
                                f'world\'s by {angle:.4f} rad (world roll/pitch/yaw '
                                f'{actual.pose.roll:.4f} {actual.pose.pitch:.4f} '
                                f'{actual.pose.yaw:.4f})'))
        if camera.intrinsics is not None:
            _check_intrinsics(config.file, f'{key}.intrinsics', camera.intrinsics,
                              actual.intrinsics, out)
    listed = {camera.name for camera in config.cameras}
    for name in fixed:
        if name not in listed:
            out.append(Mismatch(config.file, 'cameras', f'world camera "{name}" is missing'))


def _check_intrinsics(file: str, key: str, given: Intrinsics, derived: Intrinsics,
                      out: list[Mismatch]) -> None:
    if (given.width, given.height) != (derived.width, derived.height):
        out.append(Mismatch(file, key, f'image size {given.width}x{given.height} differs from '
                                       f'the world\'s {derived.width}x{derived.height}'))
        return
    for name in ('fx', 'fy'):
        value, expected = getattr(given, name), getattr(derived, name)
        if abs(value - expected) > FOCAL_TOLERANCE * expected:
            out.append(Mismatch(file, f'{key}.{name}', f'{value:g} px disagrees with the '
                                f'world\'s horizontal_fov ({expected:.2f} px)'))
    for name in ('cx', 'cy'):
        value, expected = getattr(given, name), getattr(derived, name)
        if abs(value - expected) > PRINCIPAL_TOLERANCE:
            out.append(Mismatch(file, f'{key}.{name}', f'{value:g} px is not the image centre '
                                f'({expected:g} px) that the simulators render'))


def _check_vehicles(config: SiteConfig, world: World, out: list[Mismatch]) -> None:
    simulated = {vehicle.name: vehicle for vehicle in world.vehicles}
    for index, vehicle in enumerate(config.vehicles):
        key = f'vehicles[{index}]'
        actual = simulated.get(vehicle.id)
        if actual is None:
            out.append(Mismatch(config.file, f'{key}.id', f'no vehicle "{vehicle.id}" in world '
                                                          f'{world.name} ({world.source})'))
            continue
        if vehicle.kind is not actual.kind:
            out.append(Mismatch(config.file, f'{key}.kind', f'{vehicle.kind.value} here, '
                                                            f'{actual.kind.value} in the world'))
        if vehicle.system_id != actual.system_id:
            out.append(Mismatch(config.file, f'{key}.mavlink.system_id',
                                f'{vehicle.system_id} here, {actual.system_id} in the world'))
        local = _loopback_port(vehicle.mavlink_url)
        if local is not None and local != ('udpout', actual.mavlink_port):
            out.append(Mismatch(config.file, f'{key}.mavlink.url', 'the embedded simulator\'s '
                                f'autopilot listens on UDP port {actual.mavlink_port}: use '
                                f'udpout:127.0.0.1:{actual.mavlink_port}'))
        dx, dy = vehicle.home[0] - actual.pose.x, vehicle.home[1] - actual.pose.y
        dz = vehicle.home[2] - actual.pose.z
        if math.hypot(dx, dy) > HOME_TOLERANCE or abs(dz) > HOME_TOLERANCE:
            out.append(Mismatch(config.file, f'{key}.home', f'{vehicle.home} is not where the '
                                f'world places {vehicle.id} {actual.pose.position}'))
        world_camera = actual.camera.name if actual.camera is not None else None
        if vehicle.camera != world_camera:
            out.append(Mismatch(config.file, f'{key}.camera', f'{vehicle.camera!r} here, '
                                                              f'{world_camera!r} in the world'))
    listed = {vehicle.id for vehicle in config.vehicles}
    for name in simulated:
        if name not in listed:
            out.append(Mismatch(config.file, 'vehicles', f'world vehicle "{name}" is missing'))


def _check_homes(config: SiteConfig, out: list[Mismatch]) -> None:
    """A vehicle must start where it is allowed to be, or safety grounds it at once."""
    inclusions = config.zones_of(ZoneKind.GEOFENCE_INCLUSION)
    barred = config.zones_of(ZoneKind.GEOFENCE_EXCLUSION) + config.zones_of(ZoneKind.KEEP_OUT)
    for index, vehicle in enumerate(config.vehicles):
        x, y, z = vehicle.home
        if inclusions and not any(zone.contains(x, y, z) for zone in inclusions):
            out.append(Mismatch(config.file, f'vehicles[{index}].home',
                                'outside every geofence_inclusion zone'))
        for zone in barred:
            if zone.contains(x, y, z) and not zone.schedule:
                out.append(Mismatch(config.file, f'vehicles[{index}].home',
                                    f'inside {zone.kind.value} zone "{zone.name}"'))


def cross_check(config: SiteConfig, world: World) -> tuple[Mismatch, ...]:
    """Every disagreement between a site configuration and its world (empty: consistent)."""
    out: list[Mismatch] = []
    if config.name != world.name:
        out.append(Mismatch(config.file, 'site.name', f'"{config.name}" but the world is '
                                                      f'named "{world.name}"'))
    _check_cameras(config, world, out)
    _check_vehicles(config, world, out)
    _check_homes(config, out)
    return tuple(out)


def load_site(path: str | Path) -> tuple[SiteConfig, World]:
    """Load a site configuration and its world, and require that they agree.

    Raises :class:`SiteConfigError` (naming every mismatch) or, for a broken
    world file, :class:`sentinel_sim.world.WorldError`.
    """
    config = load_site_config(path)
    world = load_world(config.world)
    mismatches = cross_check(config, world)
    if mismatches:
        first = mismatches[0]
        details = '; '.join(f'{m.key}: {m.reason}' for m in mismatches[1:])
        reason = first.reason + (f' (and {len(mismatches) - 1} more: {details})'
                                 if details else '')
        raise SiteConfigError(config.file, first.key, reason)
    return config, world


