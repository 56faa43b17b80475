"""What the live view takes from the site configuration and its SDF world.

The bridge works without a site configuration (zones then come only from the
``/zones`` topic); given one, it adds what no topic carries: the fixed
scenery (fence, buildings, poles), where every camera is mounted (for frusta
and image projection), and the site's geodetic origin (for zones on the map).
The configuration is loaded with ``sentinel_sim.site_config``, the one loader
every package shares, so the bridge can never read a site differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sentinel_sim.site_config import SiteConfig, ZoneKind as ConfigZoneKind, load_site
from sentinel_sim.world import Box, Cylinder, Pose, ShapeRole, World

from sentinel_bridge.foxglove_domain import CameraMount, StaticShape, ZoneKind, ZoneView
from sentinel_bridge.foxglove_geometry import quat_from_rpy
from sentinel_bridge.foxglove_model import SITE_FRAME
from sentinel_bridge.foxglove_scene import SCENERY_DEFAULT_RGBA

# Site-config zone kinds (strings) to the message enumeration the live view uses.
_ZONE_KINDS: dict[ConfigZoneKind, ZoneKind] = {
    ConfigZoneKind.RESTRICTED: ZoneKind.RESTRICTED,
    ConfigZoneKind.PERIMETER: ZoneKind.PERIMETER,
    ConfigZoneKind.KEEP_OUT: ZoneKind.KEEP_OUT,
    ConfigZoneKind.GATE: ZoneKind.GATE,
    ConfigZoneKind.GEOFENCE_INCLUSION: ZoneKind.GEOFENCE_INCLUSION,
    ConfigZoneKind.GEOFENCE_EXCLUSION: ZoneKind.GEOFENCE_EXCLUSION,
}


@dataclass(frozen=True)
class GeoOrigin:
    """The site frame's origin on Earth (x east, y north, z up)."""

    latitude_deg: float
    longitude_deg: float
    elevation: float  # m above the WGS84 ellipsoid


@dataclass(frozen=True)
class SiteView:
    name: str
    origin: GeoOrigin
    zones: tuple[ZoneView, ...]
    scenery: tuple[StaticShape, ...]
    mounts: tuple[CameraMount, ...]


def _rotation(pose: Pose) -> tuple[float, float, float, float]:
    return quat_from_rpy(pose.roll, pose.pitch, pose.yaw)


def scenery_from_world(world: World) -> tuple[StaticShape, ...]:
    """Visual boxes and cylinders of the world's static models (the ground plane is left out)."""
    shapes: list[StaticShape] = []
    for model in world.models:
        if not model.static:
            continue
        for shape, pose in model.world_shapes():
            if shape.role is not ShapeRole.VISUAL:
                continue
            geometry = shape.geometry
            rgba = shape.rgba or SCENERY_DEFAULT_RGBA
            name = f'{model.name}/{shape.name}'
            if isinstance(geometry, Box):
                shapes.append(StaticShape(name, 'box', pose.position, _rotation(pose),
                                          geometry.size, rgba))
            elif isinstance(geometry, Cylinder):
                diameter = 2.0 * geometry.radius
                shapes.append(StaticShape(name, 'cylinder', pose.position, _rotation(pose),
                                          (diameter, diameter, geometry.length), rgba))
    return tuple(shapes)


def mounts_from_site(config: SiteConfig, world: World) -> tuple[CameraMount, ...]:
    """Pole cameras in the site frame and vehicle cameras in their vehicle's body frame."""
    mounts: list[CameraMount] = []
    for camera in config.cameras:
        sensor = world.camera(camera.name)
        mounts.append(CameraMount(camera.name, SITE_FRAME, camera.pose.position,
                                  _rotation(camera.pose), sensor.horizontal_fov, sensor.width,
                                  sensor.height))
    for vehicle in world.vehicles:
        sensor = vehicle.camera
        if sensor is None:
            continue
        mounts.append(CameraMount(sensor.name, vehicle.name, sensor.mount.position,
                                  _rotation(sensor.mount), sensor.horizontal_fov, sensor.width,
                                  sensor.height))
    return tuple(mounts)


def zones_from_config(config: SiteConfig) -> tuple[ZoneView, ...]:
    """Zones as the watchdog publishes them on /zones (used until that topic is heard)."""
    return tuple(ZoneView(zone.name, _ZONE_KINDS[zone.kind], zone.polygon,
                          zone.floor if zone.floor is not None else float('-inf'),
                          zone.ceiling if zone.ceiling is not None else float('inf'))
                 for zone in config.zones)


def load_site_view(path: str | Path) -> SiteView:
    """Load and cross-check a site configuration and its world (errors name file and key)."""
    config, world = load_site(path)
    origin = GeoOrigin(world.origin.latitude_deg, world.origin.longitude_deg,
                       world.origin.elevation)
    return SiteView(config.name, origin, zones_from_config(config), scenery_from_world(world),
                    mounts_from_site(config, world))
