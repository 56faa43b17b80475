"""The response policy (``config/response_policy.yaml``): who responds to which alert, and how.

Why a file and not code: which vehicle type answers an intrusion, whether an
operator must approve a dispatch, how long to watch and from how far are site
decisions an operator changes without a release. The file is validated at
start the way the site configuration is (unknown and duplicate keys are
errors naming the file and the key); mission control refuses to start on a
bad one. Format: docs/control.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel_control.config_file import ConfigError, Reader
from sentinel_sim.site_config import CAPABILITIES

FORMAT_VERSION = 1            # the policy file's `version` this module reads
VEHICLE_KINDS = ('drone', 'ground')   # the site roster's vehicle kinds
MAX_PRIORITY = 255            # Task.priority is a uint8


class PolicyError(ConfigError):
    """A response policy that cannot be used, with the file and key at fault."""


class Severity(enum.IntEnum):
    """Mirror of Alert.SEVERITY_*."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True)
class VehicleProfile:
    """How a kind of vehicle moves and spends energy, for ETA and battery planning."""

    cruise_speed: float      # m/s planned transit speed
    climb_rate: float        # m/s vertical, drones; 0 for ground vehicles
    power: float             # W average draw while moving or hovering
    battery_reserve: float   # fraction of capacity that must remain after trip and return
    altitude: float          # m site z for transit and observation; 0 for ground vehicles
    path_factor: float       # route length over straight-line distance (>= 1; roads bend)


@dataclass(frozen=True)
class CategoryPolicy:
    """The response to one alert category."""

    category: str
    respond: bool                       # dispatch at all (false: record only)
    vehicle_kinds: tuple[str, ...]      # allowed kinds, preferred first
    capabilities: frozenset[str]        # every responder must have these
    min_severity: Severity              # lower-severity alerts are not answered
    operator_approval: bool             # wait for an operator before moving
    observe_duration: float             # s on target
    orbit_radius: float                 # m; 0 holds at the standoff distance
    standoff: float                     # m from the target when holding
    priority: int                       # Task.priority of the response (higher preempts lower)


@dataclass(frozen=True)
class ResponsePolicy:
    file: str
    profiles: Mapping[str, VehicleProfile]
    categories: Mapping[str, CategoryPolicy]
    patrol_priority: int                # priority of patrols created without one
    operator_task_priority: int         # priority given to operator GOTO/INVESTIGATE tasks without one

    def for_category(self, category: str) -> CategoryPolicy | None:
        return self.categories.get(category)


# every key of a vehicle profile (all required)
_PROFILE_KEYS = ('cruise_speed', 'climb_rate', 'power', 'battery_reserve', 'altitude', 'path_factor')
# every key of a category's response (all required)
_CATEGORY_KEYS = ('respond', 'vehicle_types', 'capabilities', 'min_severity', 'operator_approval',
                  'observe_duration', 'orbit_radius', 'standoff', 'priority')


def _profile(reader: Reader, raw: Any, key: str) -> VehicleProfile:
    entry = reader.mapping(raw, key, _PROFILE_KEYS)
    return VehicleProfile(
        cruise_speed=reader.number(entry['cruise_speed'], f'{key}.cruise_speed', 0.1, 50.0),
        climb_rate=reader.number(entry['climb_rate'], f'{key}.climb_rate', 0.0, 20.0),
        power=reader.number(entry['power'], f'{key}.power', 1.0, 100_000.0),
        battery_reserve=reader.number(entry['battery_reserve'], f'{key}.battery_reserve', 0.0, 0.9),
        altitude=reader.number(entry['altitude'], f'{key}.altitude', 0.0, 500.0),
        path_factor=reader.number(entry['path_factor'], f'{key}.path_factor', 1.0, 5.0))


def _category(reader: Reader, name: str, raw: Any, key: str) -> CategoryPolicy:
    entry = reader.mapping(raw, key, _CATEGORY_KEYS)
    severity_names = [s.name.lower() for s in Severity]
    severity = entry['min_severity']
    if severity not in severity_names:
        raise reader.error(f'{key}.min_severity', f'{severity!r} is not one of: {", ".join(severity_names)}')
    respond = reader.boolean(entry['respond'], f'{key}.respond')
    return CategoryPolicy(
        category=name, respond=respond,
        vehicle_kinds=reader.names(entry['vehicle_types'], f'{key}.vehicle_types', VEHICLE_KINDS,
                                   allow_empty=not respond),
        capabilities=frozenset(reader.names(entry['capabilities'], f'{key}.capabilities',
                                            sorted(CAPABILITIES), allow_empty=True)),
        min_severity=Severity[str(severity).upper()],
        operator_approval=reader.boolean(entry['operator_approval'], f'{key}.operator_approval'),
        observe_duration=reader.number(entry['observe_duration'], f'{key}.observe_duration', 0.0, 86_400.0),
        orbit_radius=reader.number(entry['orbit_radius'], f'{key}.orbit_radius', 0.0, 500.0),
        standoff=reader.number(entry['standoff'], f'{key}.standoff', 0.0, 500.0),
        priority=reader.integer(entry['priority'], f'{key}.priority', 0, MAX_PRIORITY))


def parse_response_policy(text: str, file: str) -> ResponsePolicy:
    reader = Reader(file, PolicyError)
    return _policy(reader, reader.parse(text))


def load_response_policy(path: str | Path) -> ResponsePolicy:
    reader = Reader(str(path), PolicyError)
    return _policy(reader, reader.read(path))


def _policy(reader: Reader, document: Any) -> ResponsePolicy:
    top = reader.mapping(document, '', ('version', 'vehicle_profiles', 'categories', 'patrol_priority',
                                        'operator_task_priority'))
    version = reader.integer(top['version'], 'version', 1, 1_000_000)
    if version != FORMAT_VERSION:
        raise reader.error('version', f'this Sentinel reads version {FORMAT_VERSION}, the file is {version}')
    raw_profiles = reader.mapping(top['vehicle_profiles'], 'vehicle_profiles', VEHICLE_KINDS)
    profiles = {kind: _profile(reader, raw_profiles[kind], f'vehicle_profiles.{kind}') for kind in VEHICLE_KINDS}
    raw_categories = top['categories']
    if not isinstance(raw_categories, dict) or not raw_categories:
        raise reader.error('categories', 'expected a non-empty mapping of alert category -> response')
    categories = {str(name): _category(reader, str(name), raw, f'categories.{name}')
                  for name, raw in raw_categories.items()}
    return ResponsePolicy(
        file=reader.file, profiles=profiles, categories=categories,
        patrol_priority=reader.integer(top['patrol_priority'], 'patrol_priority', 0, MAX_PRIORITY),
        operator_task_priority=reader.integer(top['operator_task_priority'], 'operator_task_priority', 0,
                                              MAX_PRIORITY))
