"""The parts of the site configuration and world that perception uses.

Why: the detector, fusion and drift nodes all need the same few facts (which
cameras exist and where, which vehicle carries which camera and how, where
the site origin is on Earth), read once from ``config/sites/<site>.yaml`` and
the SDF world it names, through ``sentinel_sim``'s loaders. A configuration
that disagrees with its world is reported (as warnings) rather than fatal:
perception can still run on the configuration's numbers. No rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sentinel_sim.site_config import SiteConfig, SiteConfigError, cross_check, load_site_config
from sentinel_sim.vehicle_types import VehicleKind
from sentinel_sim.world import World, WorldError, load_world

from sentinel_perception.camera_geometry import Mount, fixed_pose
from sentinel_perception.geolocation import CameraPose, Georeference


class SiteError(ValueError):
    """The site configuration or its world cannot be used; the message says where and why."""


@dataclass(frozen=True)
class PerceptionSite:
    config: SiteConfig
    world: World
    georef: Georeference
    fixed_poses: dict[str, CameraPose | None]   # fixed camera -> pose (None: invalid)
    mounts: dict[str, Mount]                    # vehicle camera -> mount
    platforms: dict[str, str]                   # vehicle camera -> vehicle id
    mismatches: tuple[str, ...]                 # disagreements with the world, for the log

    @property
    def cameras(self) -> list[str]:
        """Every camera Sentinel knows: fixed ones, then vehicle ones."""
        return [*self.fixed_poses, *self.mounts]


def load_perception_site(path: str | Path) -> PerceptionSite:
    try:
        config = load_site_config(path)
        world = load_world(config.world)
    except (SiteConfigError, WorldError) as error:
        raise SiteError(str(error)) from None
    fixed = {c.name: fixed_pose(c.pose.x, c.pose.y, c.pose.z, c.pose.roll, c.pose.pitch,
                                c.pose.yaw) for c in config.cameras}
    world_cameras = {c.name: c for c in world.cameras}
    mounts: dict[str, Mount] = {}
    platforms: dict[str, str] = {}
    for vehicle in config.vehicles:
        if vehicle.camera is None:
            continue
        platforms[vehicle.camera] = vehicle.id
        camera = world_cameras.get(vehicle.camera)
        if camera is None:
            continue  # reported by cross_check; without a mount no positions from it
        mount = camera.mount
        mounts[vehicle.camera] = Mount(vehicle.id, mount.position,
                                       (mount.roll, mount.pitch, mount.yaw),
                                       gimballed=vehicle.kind is VehicleKind.DRONE)
    origin = world.origin
    return PerceptionSite(config, world,
                          Georeference(origin.latitude_deg, origin.longitude_deg, origin.elevation),
                          fixed, mounts, platforms,
                          tuple(str(m) for m in cross_check(config, world)))


def default_threat_rules(site_config: str | Path) -> Path:
    """``config/threat_rules.yaml`` beside ``config/sites/`` (the repository layout)."""
    return Path(site_config).resolve().parent.parent / 'threat_rules.yaml'
