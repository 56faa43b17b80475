"""The site as the watchdog sees it: fence zones, the vehicle roster, and their check.

The site configuration (``config/sites/<site>.yaml``) is read with
``sentinel_sim.site_config.load_site_config``: it is the project's one strict
reader of that file (unknown keys, bad polygons and duplicate ids are errors),
so the watchdog cannot accept a zone that the rest of the system reads
differently. Only its data classes are used; nothing of the simulator runs.

``bind`` then checks the safety configuration against the site (a vehicle
type without limits, a zone action for a zone that does not exist) and
raises ``SafetyConfigError`` naming the safety file and key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sentinel_sim.site_config import SiteConfig, SiteConfigError, Zone, ZoneKind, load_site_config

from sentinel_safety.config import SafetyConfig, SafetyConfigError
from sentinel_safety.domain import Vec3, VehicleType
from sentinel_safety.geofence import FenceKind, FenceZone

# Site zone kinds that bound our vehicles, and whether they keep them in or out.
_FENCE_KIND: dict[ZoneKind, FenceKind] = {
    ZoneKind.GEOFENCE_INCLUSION: FenceKind.INCLUSION,
    ZoneKind.GEOFENCE_EXCLUSION: FenceKind.EXCLUSION,
    ZoneKind.KEEP_OUT: FenceKind.EXCLUSION,
}


@dataclass(frozen=True)
class VehicleInfo:
    """One roster entry: how to reach the vehicle and what it is."""

    vehicle_id: str
    vehicle_type: VehicleType
    mavlink_url: str
    system_id: int
    home: Vec3
    battery_capacity_wh: float


@dataclass(frozen=True)
class SiteModel:
    """Zones and vehicles of one site, ready for the logic modules."""

    file: str
    name: str
    timezone: str
    zones: tuple[Zone, ...]          # every zone, for /zones
    vehicles: Mapping[str, VehicleInfo]

    def fence_zones(self, kinds: frozenset[str], when: datetime | None) -> tuple[
            list[FenceZone], list[FenceZone]]:
        """(inclusions, exclusions) of the given site kinds that apply at ``when``.

        ``when`` None applies every zone whatever its schedule (the
        conservative reading, used where no wall-clock time is known).
        """
        inclusions: list[FenceZone] = []
        exclusions: list[FenceZone] = []
        for zone in self.zones:
            fence_kind = _FENCE_KIND.get(zone.kind)
            if fence_kind is None or zone.kind.value not in kinds:
                continue
            if when is not None and not zone.active_at(when, self.timezone):
                continue
            fence = FenceZone(zone.name, fence_kind, zone.kind.value, zone.polygon,
                              -math.inf if zone.floor is None else zone.floor,
                              math.inf if zone.ceiling is None else zone.ceiling)
            (inclusions if fence_kind is FenceKind.INCLUSION else exclusions).append(fence)
        return inclusions, exclusions


def load_site(path: str | Path) -> SiteModel:
    """Read a site configuration; raises SiteConfigError naming file, key and reason."""
    return site_model(load_site_config(path))


def site_model(config: SiteConfig) -> SiteModel:
    vehicles = {
        v.id: VehicleInfo(v.id, VehicleType(v.kind.value), v.mavlink_url, v.system_id,
                          Vec3(*v.home), v.battery_capacity_wh)
        for v in config.vehicles}
    return SiteModel(config.file, config.name, config.timezone, config.zones, vehicles)


def bind(config: SafetyConfig, site: SiteModel) -> None:
    """Check that the safety configuration covers this site; raises SafetyConfigError."""
    for vehicle in site.vehicles.values():
        if vehicle.vehicle_type not in config.vehicle_types:
            raise SafetyConfigError(config.file, f'vehicle_types.{vehicle.vehicle_type.value}',
                                    f'missing, but site {site.name} ({site.file}) has '
                                    f'{vehicle.vehicle_type.value} vehicle {vehicle.vehicle_id}')
    names = {zone.name for zone in site.zones}
    for zone_name in config.monitoring.zone_actions_for(site.name):
        if zone_name not in names:
            raise SafetyConfigError(config.file,
                                    f'monitoring.zone_actions.{site.name}.{zone_name}',
                                    f'site {site.name} ({site.file}) has no zone "{zone_name}"')
    for vehicle in site.vehicles.values():
        if vehicle.system_id == config.mavlink.source_system:
            raise SafetyConfigError(config.file, 'mavlink.source_system',
                                    f'{config.mavlink.source_system} is the system id of vehicle '
                                    f'{vehicle.vehicle_id} in {site.file}')
    used = {vehicle.vehicle_type for vehicle in site.vehicles.values()}
    inclusions = [zone for zone in site.zones if zone.kind is ZoneKind.GEOFENCE_INCLUSION]
    for vehicle_type in sorted(used, key=lambda t: t.value):
        if not inclusions:
            raise SafetyConfigError(config.file, f'vehicle_types.{vehicle_type.value}.zone_kinds',
                                    f'site {site.name} ({site.file}) has no geofence_inclusion '
                                    'zone: its vehicles would have no outer bound')


__all__ = ['SiteConfigError', 'SiteModel', 'VehicleInfo', 'bind', 'load_site', 'site_model']
