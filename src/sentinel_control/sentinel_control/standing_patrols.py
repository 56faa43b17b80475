"""Standing patrols (``config/patrols.yaml``): routes flown on their own from the moment mission control starts.

Why a file of their own: a patrol is a standing order of the site's security
plan (which fence line, how often, by what), changed by the people who own
that plan, not by whoever edits the site's geometry or the alert response. One
file holds the patrols of every site, under the site's name, so the same
``config/`` folder serves whichever world is launched; mission control takes
the section of the site it runs.

The running site's section is checked against its configuration at start:
the vehicle named exists (or some vehicle of the allowed types has the
capabilities), and every waypoint is inside the flight area, outside keep-out
zones and outside geofence exclusions at the patrol's altitude. The safety
gate still checks every leg of every lap; this check only turns a patrol that
could never be flown into a start-up error naming the file and the key
instead of a task that fails at run time. Format: docs/control.md.

Pure logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel_control.config_file import ConfigError, Reader
from sentinel_control.mission import MIN_DRONE_Z, TaskRequest
from sentinel_control.response_policy import MAX_PRIORITY, VEHICLE_KINDS
from sentinel_control.tasks import TaskType
from sentinel_sim.site_config import CAPABILITIES, SiteConfig, ZoneKind, point_in_polygon

FORMAT_VERSION = 1          # the patrols file's `version` this module reads
MAX_WAYPOINTS = 100         # a lap is uploaded as one mission; longer routes are a planning error
MAX_ALTITUDE = 500.0        # m, the response policy's bound on drone heights
MAX_SPEED = 50.0            # m/s, the response policy's bound on cruise speeds
PATROL_KEYS_REQUIRED = ('name', 'route', 'speed')   # every patrol gives these
# exactly one of vehicle_id / vehicle_types; altitude when a drone may fly it (checked below)
PATROL_KEYS_OPTIONAL = ('vehicle_id', 'vehicle_types', 'capabilities', 'altitude', 'priority')

Point = tuple[float, float, float]


class PatrolConfigError(ConfigError):
    """A patrols file that cannot be used, with the file and key at fault."""


@dataclass(frozen=True)
class StandingPatrol:
    """One patrol of the running site, as configured."""

    name: str
    route: tuple[Point, ...]            # site ENU, m; z is the altitude (0 for ground vehicles)
    vehicle_id: str                     # '' when any vehicle of ``vehicle_kinds`` may fly it
    vehicle_kinds: tuple[str, ...]      # allowed kinds, preferred first
    capabilities: frozenset[str]
    speed: float                        # m/s along the route
    priority: int | None                # None: the response policy's patrol_priority

    def request(self) -> TaskRequest:
        """The task mission control creates for this patrol."""
        return TaskRequest(TaskType.PATROL, vehicle_id=self.vehicle_id, route=self.route,
                           priority=self.priority, created_by=f'standing patrol {self.name}',
                           vehicle_kinds=self.vehicle_kinds, capabilities=self.capabilities, speed=self.speed)


def parse_patrols(text: str, file: str, site: SiteConfig) -> tuple[StandingPatrol, ...]:
    reader = Reader(file, PatrolConfigError)
    return _patrols(reader, reader.parse(text), site)


def load_patrols(path: str | Path, site: SiteConfig) -> tuple[StandingPatrol, ...]:
    """The running site's patrols; PatrolConfigError naming file, key and reason when unusable."""
    reader = Reader(str(path), PatrolConfigError)
    return _patrols(reader, reader.read(path), site)


def _patrols(reader: Reader, document: Any, site: SiteConfig) -> tuple[StandingPatrol, ...]:
    top = reader.mapping(document, '', ('version', 'sites'))
    version = reader.integer(top['version'], 'version', 1, 1_000_000)
    if version != FORMAT_VERSION:
        raise reader.error('version', f'this Sentinel reads version {FORMAT_VERSION}, the file is {version}')
    sites = top['sites']
    if not isinstance(sites, dict):
        raise reader.error('sites', 'expected a mapping of site name -> list of patrols')
    parsed = {str(name): _site_patrols(reader, raw, f'sites.{name}') for name, raw in sites.items()}
    ours = parsed.get(site.name, ())
    for index, patrol in enumerate(ours):
        _check_against_site(reader, patrol, f'sites.{site.name}[{index}]', site)
    return ours


def _site_patrols(reader: Reader, raw: Any, key: str) -> tuple[StandingPatrol, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise reader.error(key, 'expected a list of patrols')
    patrols = tuple(_patrol(reader, entry, f'{key}[{index}]') for index, entry in enumerate(raw))
    names = [p.name for p in patrols]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise reader.error(f'{key}[{index}].name', f'patrol {name!r} is defined twice')
    return patrols


def _patrol(reader: Reader, raw: Any, key: str) -> StandingPatrol:
    entry = reader.mapping(raw, key, PATROL_KEYS_REQUIRED, PATROL_KEYS_OPTIONAL)
    name = reader.text(entry['name'], f'{key}.name')
    if ('vehicle_id' in entry) == ('vehicle_types' in entry):
        raise reader.error(key, 'give exactly one of vehicle_id (this vehicle flies it) or vehicle_types '
                                '(any available vehicle of these kinds)')
    vehicle_id = reader.text(entry['vehicle_id'], f'{key}.vehicle_id') if 'vehicle_id' in entry else ''
    kinds = reader.names(entry['vehicle_types'], f'{key}.vehicle_types', VEHICLE_KINDS, allow_empty=False) \
        if 'vehicle_types' in entry else VEHICLE_KINDS
    capabilities = frozenset(reader.names(entry.get('capabilities', []), f'{key}.capabilities',
                                          sorted(CAPABILITIES), allow_empty=True))
    altitude = 0.0
    if 'altitude' in entry:
        altitude = reader.number(entry['altitude'], f'{key}.altitude', MIN_DRONE_Z, MAX_ALTITUDE)
    elif 'drone' in kinds and not vehicle_id:
        raise reader.error(f'{key}.altitude', 'missing required key (drones may fly this patrol)')
    route = _route(reader, entry['route'], f'{key}.route', altitude)
    priority = reader.integer(entry['priority'], f'{key}.priority', 0, MAX_PRIORITY) if 'priority' in entry \
        else None
    return StandingPatrol(name, route, vehicle_id, kinds, capabilities,
                          reader.number(entry['speed'], f'{key}.speed', 0.1, MAX_SPEED), priority)


def _route(reader: Reader, raw: Any, key: str, altitude: float) -> tuple[Point, ...]:
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_WAYPOINTS:
        raise reader.error(key, f'expected a list of 2 to {MAX_WAYPOINTS} waypoints [x, y] (site ENU metres)')
    route = []
    for index, point in enumerate(raw):
        if not isinstance(point, list) or len(point) != 2:
            raise reader.error(f'{key}[{index}]', f'expected [x, y] in site ENU metres, got {point!r}')
        x = reader.number(point[0], f'{key}[{index}][0]', -1e6, 1e6)
        y = reader.number(point[1], f'{key}[{index}][1]', -1e6, 1e6)
        route.append((x, y, altitude))
    return tuple(route)


def _check_against_site(reader: Reader, patrol: StandingPatrol, key: str, site: SiteConfig) -> None:
    roster = {v.id: v for v in site.vehicles}
    if patrol.vehicle_id:
        vehicle = roster.get(patrol.vehicle_id)
        if vehicle is None:
            raise reader.error(f'{key}.vehicle_id', f'no vehicle {patrol.vehicle_id!r} in {site.file} '
                                                    f'(vehicles: {", ".join(sorted(roster)) or "none"})')
        missing = patrol.capabilities - vehicle.capabilities
        if missing:
            raise reader.error(f'{key}.capabilities', f'{vehicle.id} lacks {", ".join(sorted(missing))}')
        drone = vehicle.kind.value == 'drone'
        if drone and patrol.route[0][2] < MIN_DRONE_Z:
            raise reader.error(f'{key}.altitude', f'missing required key ({vehicle.id} is a drone)')
        if not drone and patrol.route[0][2] != 0.0:
            raise reader.error(f'{key}.altitude', f'{vehicle.id} is a ground vehicle; remove the altitude')
        kinds: Sequence[str] = (vehicle.kind.value,)
    else:
        able = [v.id for v in site.vehicles if v.kind.value in patrol.vehicle_kinds
                and patrol.capabilities <= v.capabilities]
        if not able:
            raise reader.error(f'{key}.vehicle_types', f'no vehicle in {site.file} is of these types with '
                                                       f'capabilities {sorted(patrol.capabilities)}')
        if patrol.vehicle_kinds == ('ground',) and patrol.route[0][2] != 0.0:
            raise reader.error(f'{key}.altitude', 'only ground vehicles may fly this patrol; remove the altitude')
        kinds = patrol.vehicle_kinds
    for index, point in enumerate(patrol.route):
        for kind in kinds:
            z = point[2] if kind == 'drone' else 0.0
            problem = _waypoint_problem(site, point[0], point[1], z)
            if problem is not None:
                raise reader.error(f'{key}.route[{index}]', f'({point[0]:g}, {point[1]:g}) at {z:g} m: {problem}')


def _waypoint_problem(site: SiteConfig, x: float, y: float, z: float) -> str | None:
    """Why a vehicle may not be at this point, by the site's geofence zones, or None."""
    inclusions = [zone for zone in site.zones if zone.kind is ZoneKind.GEOFENCE_INCLUSION]
    if inclusions and not any(point_in_polygon(x, y, zone.polygon) and _within(zone.floor, zone.ceiling, z)
                              for zone in inclusions):
        return f'outside the flight area ({", ".join(zone.name for zone in inclusions)})'
    for zone in site.zones:
        if zone.kind is ZoneKind.KEEP_OUT and point_in_polygon(x, y, zone.polygon):
            return f'inside keep-out zone {zone.name}'
        if zone.kind is ZoneKind.GEOFENCE_EXCLUSION and point_in_polygon(x, y, zone.polygon) \
                and _within(zone.floor, zone.ceiling, z):
            return f'inside geofence exclusion {zone.name} (floor {zone.floor}, ceiling {zone.ceiling} m)'
    return None


def _within(floor: float | None, ceiling: float | None, z: float) -> bool:
    return (floor is None or z >= floor) and (ceiling is None or z <= ceiling)

