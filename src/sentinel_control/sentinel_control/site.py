"""The site configuration as the control nodes need it: roster, zones and the frame origin.

Why the world is loaded too: MAVLink speaks latitude/longitude, Sentinel the
site ENU frame, and the origin that links them is the SDF world's
``<spherical_coordinates>``. Disagreements between configuration and world
are reported, not fatal: a real vehicle or a SITL on another port is a valid
roster entry that the embedded simulator's world does not know about.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sentinel_control.telemetry import Origin, VehicleType
from sentinel_sim.site_config import SiteConfig, VehicleConfig, cross_check, load_site_config
from sentinel_sim.vehicle_types import VehicleKind
from sentinel_sim.world import WorldError, load_world


class SiteError(ValueError):
    """The site configuration or its world cannot be used; names the file, key and reason."""


@dataclass(frozen=True)
class Site:
    config: SiteConfig
    origin: Origin
    mismatches: tuple[str, ...]   # disagreements with the world, for the log


def load_site(path: str | Path) -> Site:
    """Load and validate; SiteError (from SiteConfigError or WorldError) when unusable."""
    try:
        config = load_site_config(path)
    except ValueError as error:   # SiteConfigError names file, key and reason
        raise SiteError(str(error)) from None
    try:
        world = load_world(config.world)
    except (WorldError, OSError) as error:
        raise SiteError(f'{config.file}: site.world: {error}') from None
    origin = Origin(world.origin.latitude_deg, world.origin.longitude_deg, world.origin.elevation)
    mismatches = tuple(str(m) for m in cross_check(config, world))
    return Site(config, origin, mismatches)


def vehicle_type(vehicle: VehicleConfig) -> VehicleType:
    """The published VehicleState type of a roster entry."""
    return VehicleType.DRONE if vehicle.kind is VehicleKind.DRONE else VehicleType.GROUND
