"""Rendering planned samples with the embedded simulator, and their ground truth.

Why through :class:`~sentinel_sim.physics.PhysicsWorld` and
:class:`~sentinel_sim.rendering.CameraRenderer` rather than ``Simulation``:
a dataset needs neither autopilots nor MAVLink (which would bind UDP ports
that a running system or a parallel test may hold), only the world, its
cameras and its ground truth.

How a chunk of samples is shown: the cast's actors follow the schedule of
:mod:`scene_assets` (sample ``k`` at ``k * SCHEDULE_PERIOD``); own vehicles
are moved through their joints, clutter through its bodies' model positions,
cameras through their model poses (drone cameras without the gimbal, so a
drawn pitch sticks), colours through ``geom_rgba``, the sun through the
model's light. Then one physics step brings every derived pose up to date,
and the same state is rendered and projected, so images and labels agree.
"""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')  # before the first mujoco import (see sentinel_sim.rendering)

import logging  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from sentinel_sim.ground_truth import ImageBox  # noqa: E402
from sentinel_sim.mjcf_builder import (  # noqa: E402
    GROUP_COLLISION,
    GROUP_STATIC_VISUAL,
    matrix_to_quat,
    planar_joint_names,
    root_joint_name,
    sdf_to_mujoco_camera,
)
from sentinel_sim.physics import PhysicsConfig, PhysicsWorld, rpy_to_quat  # noqa: E402
from sentinel_sim.rendering import CameraEffects, CameraRenderer, RenderConfig  # noqa: E402
from sentinel_sim.world import Pose, World  # noqa: E402

from sentinel_models.image_effects import apply_effects  # noqa: E402
from sentinel_models.scene_assets import (  # noqa: E402
    SCHEDULE_PERIOD,
    Cast,
    park_pose,
    scheduled_world,
)
from sentinel_models.scene_sampling import SampleSpec  # noqa: E402

_LOG = logging.getLogger(__name__)

# Brightness and per-channel jitter of scenery colours.
SCENERY_BRIGHTNESS = (0.75, 1.25)
SCENERY_CHANNEL_JITTER = (0.9, 1.1)
# Brightness jitter of own vehicles' colours.
VEHICLE_BRIGHTNESS = (0.8, 1.2)
# Skin tones are drawn between these two colours.
SKIN_DARK, SKIN_LIGHT = np.array([0.3, 0.2, 0.14]), np.array([0.95, 0.8, 0.68])
# Car paints (white, black, silver, red, blue, grey, green, yellow, orange) and their jitter.
PAINTS = np.array([(0.92, 0.92, 0.92), (0.06, 0.06, 0.07), (0.65, 0.66, 0.68), (0.6, 0.06, 0.06),
                   (0.1, 0.2, 0.55), (0.35, 0.36, 0.38), (0.12, 0.35, 0.15), (0.9, 0.75, 0.1),
                   (0.9, 0.4, 0.08)])
PAINT_JITTER = 0.06
# Share of clothing drawn from high-visibility colours (guards, workers).
P_HIGH_VIS = 0.15
HIGH_VIS = np.array([(0.95, 0.85, 0.1), (0.98, 0.5, 0.05)])
# Park slot offsets (see scene_assets.park_pose) of own drones, own rovers and clutter,
# after the extra actors' slots, so nothing parks on top of anything else.
PARK_OWN_DRONES, PARK_OWN_ROVERS, PARK_CLUTTER = 1000, 2000, 3000
# m: parked own drones wait in the air, clear of the ground plane.
PARK_DRONE_HEIGHT = 100.0


@dataclass(frozen=True)
class RenderedSample:
    """One rendered image with its ground truth, in the saved image's size."""

    spec: SampleSpec
    image: np.ndarray                 # (height, width, 3) uint8 RGB, effects applied
    boxes: tuple[ImageBox, ...]       # ground truth in the camera's native pixels
    scale: float                      # saved pixels per native pixel


def build_schedule(world: World, cast: Cast, specs: list[SampleSpec],
                   rng: np.random.Generator) -> dict[str, list[Pose]]:
    """Every actor's pose in every sample: placed ones where planned, the world's own
    actors elsewhere at a random point of their script, extra ones parked."""
    extra_index = {a.name: i for i, a in enumerate(cast.extra_actors)}
    schedule: dict[str, list[Pose]] = {}
    for actor in world.actors:
        cycle = actor.delay_start + actor.duration
        schedule[actor.name] = [actor.pose_at(float(rng.uniform(0.0, max(cycle, 1e-3))))
                                for _ in specs]
    for actor in cast.extra_actors:
        schedule[actor.name] = [park_pose(extra_index[actor.name]) for _ in specs]
    for k, spec in enumerate(specs):
        for placement in spec.placements:
            if placement.slot in schedule:
                schedule[placement.slot][k] = placement.pose
    return schedule


class ChunkRenderer:
    """Renders the samples of one chunk (one MuJoCo model with the chunk's cast)."""

    def __init__(self, world: World, cast: Cast, roles: dict[str, tuple[str, ...]],
                 specs: list[SampleSpec], output_width: int, seed: int, shadows: bool) -> None:
        rng = np.random.default_rng(seed)
        self.specs = specs
        self.cast = cast
        self.output_width = output_width
        schedule = build_schedule(world, cast, specs, rng)
        self.world = scheduled_world(world, cast, schedule)
        # No gimbal: the sample's drawn camera pitch is set on the camera itself.
        self.physics = PhysicsWorld(self.world, PhysicsConfig(gimbal=False), seed=seed)
        self.renderer = CameraRenderer(self.physics, RenderConfig(shadows=shadows, seed=seed))
        self._index_model(roles)

    def close(self) -> None:
        self.renderer.close()

    def __enter__(self) -> ChunkRenderer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _body(self, name: str) -> int:
        index = int(mujoco.mj_name2id(self.physics.model, mujoco.mjtObj.mjOBJ_BODY, name))
        if index < 0:
            raise RuntimeError(f'the built model has no body {name!r}')
        return index

    def _geoms(self, body: int) -> range:
        m = self.physics.model
        start = int(m.body_geomadr[body])
        return range(start, start + int(m.body_geomnum[body])) if start >= 0 else range(0)

    def _index_model(self, roles: dict[str, tuple[str, ...]]) -> None:
        m = self.physics.model
        self._base_rgba = m.geom_rgba.copy()
        # Every collection below is in a fixed order (lists, or sorted): the colours are drawn
        # geom after geom, and a set's order changes from process to process.
        clutter = [s.name for s in self.cast.slots if s.source == 'clutter']
        self._clutter_body = {name: self._body(name) for name in clutter}
        vehicles = [v.name for v in self.world.vehicles]
        static_names = [model.name for model in self.world.models if model.name not in clutter]
        self._scenery_geoms: list[int] = []  # visual geoms of scenery (not the ground)
        self._ground_geoms: list[int] = []
        for model_name in static_names:
            for g in self._geoms(self._body(model_name)):
                if m.geom_group[g] != GROUP_STATIC_VISUAL:
                    continue
                (self._ground_geoms if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_PLANE
                 else self._scenery_geoms).append(g)
        self._clutter_geoms = [g for b in self._clutter_body.values() for g in self._geoms(b)]
        self._vehicle_geoms = [g for name in vehicles for g in self._geoms(self._body(name))
                               if m.geom_group[g] != GROUP_COLLISION]
        self._actor_geoms: list[tuple[int, str]] = []
        for actor in self.world.actors:
            geoms = list(self._geoms(self._body(actor.name)))
            actor_roles = roles.get(actor.name, ())
            for g, role in zip(geoms, actor_roles, strict=False):
                self._actor_geoms.append((g, role))
        self._drone_qpos = {v.name: int(m.jnt_qposadr[mujoco.mj_name2id(
            m, mujoco.mjtObj.mjOBJ_JOINT, root_joint_name(v.name))])
            for v in self.world.vehicles if v.kind.name == 'DRONE'}
        self._rover_qpos = {v.name: [int(m.jnt_qposadr[mujoco.mj_name2id(
            m, mujoco.mjtObj.mjOBJ_JOINT, j)]) for j in planar_joint_names(v.name)]
            for v in self.world.vehicles if v.kind.name == 'GROUND'}
        # The sun: directional lights (point and spot lights keep their place and direction).
        self._lights = [i for i in range(m.nlight)
                        if int(m.light_type[i]) == int(mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)]

    # ------------------------------------------------------------------ per sample

    def render(self, k: int) -> RenderedSample:
        """Sample ``k`` of the chunk, rendered with its effects, and its ground truth."""
        spec = self.specs[k]
        physics = self.physics
        d = physics.data
        self._place_vehicles(spec)
        self._place_clutter(spec)
        self._set_camera(spec)
        self._set_appearance(spec)
        d.qvel[:] = 0.0
        d.time = k * SCHEDULE_PERIOD - physics.timestep
        physics.step(physics.timestep)  # refreshes every derived pose for rendering and rays
        cam = spec.camera
        scale = self.output_width / cam.width
        height = round(cam.height * scale)
        a = spec.appearance
        effects = CameraEffects(fog=a.fog, night=a.night, blackout=a.blackout)
        image = self.renderer.render(cam.camera, effects, width=self.output_width, height=height)
        boxes = tuple(physics.ground_truth(cam.camera))
        if not a.blackout:
            image = apply_effects(image, a.effects, np.random.default_rng(a.noise_seed))
        return RenderedSample(spec, image, boxes, scale)

    def _place_vehicles(self, spec: SampleSpec) -> None:
        d = self.physics.data
        poses: dict[str, Pose] = {p.slot: p.pose for p in spec.placements}
        if spec.camera.carrier is not None and spec.camera.carrier_pose is not None:
            poses[spec.camera.carrier] = spec.camera.carrier_pose
        for i, (name, adr) in enumerate(self._drone_qpos.items()):
            # Parked drones hover (motors off for one step) rather than rest in the ground plane.
            pose = poses.get(name) or park_pose(PARK_OWN_DRONES + i, height=PARK_DRONE_HEIGHT)
            d.qpos[adr:adr + 3] = pose.position
            d.qpos[adr + 3:adr + 7] = rpy_to_quat(pose.roll, pose.pitch, pose.yaw)
        for i, (name, adrs) in enumerate(self._rover_qpos.items()):
            pose = poses.get(name) or park_pose(PARK_OWN_ROVERS + i)
            d.qpos[adrs[0]], d.qpos[adrs[1]], d.qpos[adrs[2]] = pose.x, pose.y, pose.yaw

    def _place_clutter(self, spec: SampleSpec) -> None:
        m = self.physics.model
        poses = {p.slot: p.pose for p in spec.placements if p.cls == 'clutter'}
        for i, (name, body) in enumerate(self._clutter_body.items()):
            pose = poses.get(name) or park_pose(PARK_CLUTTER + i)
            m.body_pos[body] = pose.position
            m.body_quat[body] = rpy_to_quat(pose.roll, pose.pitch, pose.yaw)

    def _set_camera(self, spec: SampleSpec) -> None:
        m = self.physics.model
        cam_id = self.physics.camera_id(spec.camera.camera)
        local = spec.camera.local_pose
        m.cam_pos[cam_id] = local.position
        m.cam_quat[cam_id] = matrix_to_quat(sdf_to_mujoco_camera(local.rotation()))

    def _set_appearance(self, spec: SampleSpec) -> None:
        m = self.physics.model
        a = spec.appearance
        rng = np.random.default_rng(a.colour_seed)
        rgba = self._base_rgba.copy()  # absolute values each sample: nothing accumulates
        rgba[self._ground_geoms, :3] = a.ground_rgb
        scenery = self._scenery_geoms
        rgba[scenery, :3] = np.clip(
            self._base_rgba[scenery, :3] * rng.uniform(*SCENERY_BRIGHTNESS, (len(scenery), 1)) *
            rng.uniform(*SCENERY_CHANNEL_JITTER, (len(scenery), 3)), 0.0, 1.0)
        rgba[self._clutter_geoms, :3] = rng.uniform(0.08, 0.92, (len(self._clutter_geoms), 3))
        vehicles = self._vehicle_geoms
        rgba[vehicles, :3] = np.clip(self._base_rgba[vehicles, :3] *
                                     rng.uniform(*VEHICLE_BRIGHTNESS, (len(vehicles), 1)), 0.0, 1.0)
        for g, role in self._actor_geoms:
            rgba[g, :3] = self._actor_colour(role, self._base_rgba[g, :3], rng)
        m.geom_rgba[:] = rgba
        for light in self._lights:
            m.light_dir[light] = a.sun_direction
            m.light_diffuse[light] = a.sun_diffuse
        m.vis.headlight.ambient[:] = a.ambient

    @staticmethod
    def _actor_colour(role: str, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if role == 'skin':
            colour: np.ndarray = SKIN_DARK + rng.random() * (SKIN_LIGHT - SKIN_DARK)
            return colour
        if role == 'cloth':
            if rng.random() < P_HIGH_VIS:
                return HIGH_VIS[int(rng.integers(len(HIGH_VIS)))]
            return rng.uniform(0.03, 0.85, 3)
        if role == 'paint':
            paint = PAINTS[int(rng.integers(len(PAINTS)))]
            return np.clip(paint + rng.uniform(-PAINT_JITTER, PAINT_JITTER, 3), 0.0, 1.0)
        return base
