"""Shared helpers for the safety tests (loaded by path: pytest runs in importlib mode).

Builders for configurations, sites, vehicle states and commands, so each test
states only what matters to it.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from sentinel_sim.site_config import Zone, ZoneKind

from sentinel_safety.config import SafetyConfig, parse_safety_config
from sentinel_safety.domain import (Command, CommandKind, GpsFix, LinkState, Vec3,
                                    VehicleSnapshot, VehicleType)
from sentinel_safety.site import SiteModel, VehicleInfo, load_site

ROOT = Path(__file__).resolve().parents[3]   # the repository
SAFETY_YAML = ROOT / 'config' / 'safety.yaml'
SITE_YAML = ROOT / 'config' / 'sites' / 'substation.yaml'
SOLAR_YAML = ROOT / 'config' / 'sites' / 'solar_farm.yaml'
WORLD_SDF = ROOT / 'worlds' / 'substation.sdf'


def domain_id() -> int:
    """A DDS domain for this test process, so suites running side by side do not cross-talk.

    Linux-safe domain ids are 0..101; 0 is everyone's default, so 20..99 by process id.
    """
    return 20 + os.getpid() % 80


def load_by_path(name: str, file: str) -> ModuleType:
    """Import a module that sits next to the tests (no test folder is on sys.path)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def dump(data: dict[str, Any]) -> str:
    """YAML text of plain data (libyaml's emitter when available: it is much faster)."""
    return yaml.dump(data, Dumper=getattr(yaml, 'CSafeDumper', yaml.SafeDumper))


def safety_dict() -> dict[str, Any]:
    """The repository's config/safety.yaml as plain data, a fresh copy each call."""
    return copy.deepcopy(_SAFETY)


# The shipped config/safety.yaml, parsed once.
_SAFETY: dict[str, Any] = yaml.load(SAFETY_YAML.read_text(encoding='utf-8'),
                                    Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))


def config(mutate: Callable[[dict[str, Any]], None] | None = None,
           state_file: str = '/tmp/sentinel-safety-test-unused.json') -> SafetyConfig:
    """The repository's config, optionally edited, parsed without touching the disk."""
    data = safety_dict()
    data['estop']['state_file'] = state_file
    if mutate is not None:
        mutate(data)
    return parse_safety_config(dump(data), 'test-safety.yaml', Path('/tmp'))


def write_config(directory: Path, mutate: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """The repository's config with its state file in ``directory``, written there."""
    data = safety_dict()
    data['estop']['state_file'] = str(directory / 'estop.json')
    if mutate is not None:
        mutate(data)
    path = directory / 'safety.yaml'
    path.write_text(dump(data), encoding='utf-8')
    return path


def substation() -> SiteModel:
    return load_site(SITE_YAML)


def zone(name: str, kind: str, polygon: Sequence[tuple[float, float]],
         floor: float | None = None, ceiling: float | None = None) -> Zone:
    return Zone(name, ZoneKind(kind), tuple(polygon), floor, ceiling)


def box(x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[float, float], ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def vehicle(vehicle_id: str, kind: VehicleType = VehicleType.DRONE,
            home: Vec3 = Vec3(0.0, 0.0, 0.0), system_id: int = 1,
            capacity_wh: float = 100.0) -> VehicleInfo:
    return VehicleInfo(vehicle_id, kind, f'udpout:127.0.0.1:{14000 + system_id}', system_id,
                       home, capacity_wh)


def site(zones: Sequence[Zone], vehicles: Sequence[VehicleInfo]) -> SiteModel:
    return SiteModel('test-site.yaml', 'test_site', 'UTC', tuple(zones),
                     {v.vehicle_id: v for v in vehicles})


def snapshot(vehicle_id: str = 'drone_1', position: Vec3 = Vec3(0.0, 0.0, 10.0),
             velocity: Vec3 = Vec3(0.0, 0.0, 0.0), kind: VehicleType = VehicleType.DRONE,
             armed: bool = True, battery: float = 1.0, link: LinkState = LinkState.OK,
             gps: GpsFix = GpsFix.FIX_3D, landed: bool = False, at: float = 0.0,
             mode: str = 'GUIDED') -> VehicleSnapshot:
    return VehicleSnapshot(vehicle_id, kind, armed, mode, position, velocity, battery, link, gps,
                           landed, at)


def command(kind: CommandKind = CommandKind.GOTO, vehicle_id: str = 'drone_1',
            target: Vec3 = Vec3(0.0, 0.0, 10.0), speed: float = 5.0,
            issued_by: str = 'mission_control', route: Sequence[Vec3] = (),
            command_id: str = 'c1') -> Command:
    return Command(command_id, vehicle_id, kind, target, tuple(route), speed, '', issued_by)


def inside_box(p: Vec3, polygon: Sequence[tuple[float, float]], slack: float = 0.0) -> bool:
    """Independent oracle for axis-aligned boxes: inside, grown by ``slack`` metres."""
    xs = [x for x, _ in polygon]
    ys = [y for _, y in polygon]
    return (min(xs) - slack <= p.x <= max(xs) + slack
            and min(ys) - slack <= p.y <= max(ys) + slack)


def box_distance(p: Vec3, polygon: Sequence[tuple[float, float]]) -> float:
    """Independent oracle: horizontal distance from a point to a filled axis-aligned box."""
    xs = [x for x, _ in polygon]
    ys = [y for _, y in polygon]
    dx = max(min(xs) - p.x, 0.0, p.x - max(xs))
    dy = max(min(ys) - p.y, 0.0, p.y - max(ys))
    return math.hypot(dx, dy)


def box_depth(p: Vec3, polygon: Sequence[tuple[float, float]]) -> float:
    """Independent oracle: distance from a point inside a box to its edges (negative outside)."""
    xs = [x for x, _ in polygon]
    ys = [y for _, y in polygon]
    if not inside_box(p, polygon):
        return -box_distance(p, polygon)
    return min(p.x - min(xs), max(xs) - p.x, p.y - min(ys), max(ys) - p.y)
