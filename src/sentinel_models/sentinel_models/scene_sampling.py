"""Drawing one dataset sample: camera, camera pose, what is placed where, how it looks.

Why pure and separate from rendering: every random choice of a sample is made
here from one seeded generator and written into a frozen :class:`SampleSpec`,
so a sample is reproducible from (seed, world, index), testable without a GL
context, and recorded in the dataset's index.

Placement puts objects where the chosen camera sees them, at distances drawn
so that their image height is log-uniform over a useful range (a uniform
position would make almost every object a few pixels tall on a pole camera
that overlooks a 300 m site). Ground objects stand on z = 0; drones fly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sentinel_sim.ground_truth import CameraView
from sentinel_sim.world import Camera, Pose, World

from sentinel_models.image_effects import ImageEffects
from sentinel_models.scene_assets import Cast, Slot

# Camera kinds and how often each is drawn (pole cameras, drone cameras, rover cameras).
CAMERA_KIND_WEIGHTS = {'fixed': 0.4, 'drone': 0.4, 'rover': 0.2}
# Pole cameras: jitter of the mount (m, rad).
FIXED_JITTER_XY = 2.0
FIXED_JITTER_Z = (-3.0, 4.0)
FIXED_JITTER_YAW = 0.45
FIXED_JITTER_PITCH = (-0.12, 0.25)
FIXED_JITTER_ROLL = 0.03
# Drone cameras: altitude (m, drawn log-uniform) and camera pitch below the horizon (rad).
DRONE_ALTITUDE = (3.0, 60.0)
DRONE_PITCH = (0.3, 1.5)
# Rover cameras: pitch jitter around the mount's (rad).
ROVER_JITTER_PITCH = (-0.1, 0.15)
# Objects per image: probability of none (a negative image), else uniform in 1..MAX_OBJECTS.
P_EMPTY = 0.06
MAX_OBJECTS = 8
# Class mix of placed objects.
CLASS_WEIGHTS = {'person': 0.4, 'vehicle': 0.3, 'drone': 0.3}
# Image height (px in the saved image) drawn log-uniform per class; drones by their span.
TARGET_HEIGHT_PX = {'person': (7.0, 120.0), 'vehicle': (8.0, 110.0), 'drone': (9.0, 90.0)}
# Closest placement (m): a camera inside an object sees nothing useful.
MIN_DISTANCE = {'person': 2.5, 'vehicle': 6.0, 'drone': 1.5, 'clutter': 3.0}
# Clutter per image (uniform 0..MAX_CLUTTER) and its distance range (m).
MAX_CLUTTER = 6
CLUTTER_DISTANCE = (3.0, 60.0)
# Drones fly between these heights above the ground (m).
DRONE_HEIGHT = (0.8, 120.0)
# Drones tilt this much (rad, each of roll and pitch) when flying.
DRONE_TILT = 0.25
# Pixel margin (share of the image size) where object centres may fall outside: truncated objects.
VIEW_MARGIN = 0.08
# Attempts to find a free spot for one object before giving up on it.
PLACEMENT_TRIES = 25
# Weather and faults: probability and level range.
P_FOG, FOG_LEVEL = 0.12, (0.05, 0.5)
P_NIGHT, NIGHT_LEVEL = 0.12, (0.2, 0.75)
P_BLACKOUT = 0.01
# Sun: elevation range (rad), diffuse intensity range, headlight (ambient fill) range.
SUN_ELEVATION = (math.radians(12.0), math.radians(85.0))
SUN_INTENSITY = (0.45, 1.0)
AMBIENT_LEVEL = (0.18, 0.5)
# Elevation (rad) below which sunlight turns warm, and the span over which it does.
WARM_SUN_BELOW, WARM_SUN_SPAN = math.radians(30.0), math.radians(20.0)
# Image effects: probability and ranges.
GAIN, BIAS, GAMMA, CAST = (0.8, 1.2), (-12.0, 12.0), (0.8, 1.25), (0.93, 1.07)
P_BLUR, BLUR_SIGMA = 0.25, (0.3, 1.2)
P_NOISE, NOISE_SIGMA = 0.7, (0.5, 4.0)


@dataclass(frozen=True)
class CameraPlan:
    """The camera of one sample and where it is."""

    camera: str
    kind: str                  # 'fixed', 'drone' or 'rover'
    carrier: str | None        # vehicle carrying it (moved into place), None for pole cameras
    carrier_pose: Pose | None  # drone: x, y, z, yaw; rover: x, y, yaw (z from the world)
    local_pose: Pose           # camera in its body's frame (pole cameras: in the world)
    world_pose: Pose           # camera in the world (SDF frame: x forward, y left, z up)
    width: int                 # px, native (the ground truth's pixel frame)
    height: int
    horizontal_fov: float      # rad
    near: float                # m
    far: float                 # m

    def view(self) -> CameraView:
        return CameraView(self.camera, np.asarray(self.world_pose.position, dtype=float),
                          self.world_pose.rotation(), self.width, self.height,
                          self.horizontal_fov, self.near, self.far)


@dataclass(frozen=True)
class Placement:
    """A slot moved into view: ``pose`` is its body frame in the world."""

    slot: str
    cls: str
    pose: Pose


@dataclass(frozen=True)
class Appearance:
    """Lighting, colours, weather and camera effects of one sample."""

    sun_direction: tuple[float, float, float]  # unit vector the light travels along
    sun_diffuse: tuple[float, float, float]
    ambient: tuple[float, float, float]        # headlight ambient fill
    ground_rgb: tuple[float, float, float]
    colour_seed: int                           # seeds the per-geom colours
    fog: float
    night: float
    blackout: bool
    effects: ImageEffects = field(default_factory=ImageEffects)
    noise_seed: int = 0


@dataclass(frozen=True)
class SampleSpec:
    """Everything random about one dataset image."""

    world: str
    index: int                 # sample number within its world
    camera: CameraPlan
    placements: tuple[Placement, ...]
    appearance: Appearance


# Ground colours (r, g, b): grass, lush grass, dry grass, dirt, concrete, sand, asphalt, snow.
GROUND_PALETTE = ((0.42, 0.48, 0.33), (0.33, 0.45, 0.24), (0.56, 0.52, 0.38), (0.45, 0.38, 0.3),
                  (0.52, 0.52, 0.5), (0.64, 0.6, 0.5), (0.3, 0.31, 0.3), (0.84, 0.86, 0.88))
# Jitter of each ground colour channel.
GROUND_JITTER = 0.05


def site_bounds(world: World) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) spanned by the pole cameras (the guarded area)."""
    fixed = world.fixed_cameras or world.cameras
    xs = [c.pose.x for c in fixed]
    ys = [c.pose.y for c in fixed]
    return min(xs), min(ys), max(xs), max(ys)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


def plan_camera(world: World, rng: np.random.Generator, kinds: dict[str, float] | None = None
                ) -> CameraPlan:
    """A camera of ``world`` and a jittered pose for it."""
    weights = kinds or CAMERA_KIND_WEIGHTS
    vehicles = {v.name: v for v in world.vehicles}
    by_kind: dict[str, list[Camera]] = {'fixed': list(world.fixed_cameras), 'drone': [], 'rover': []}
    for camera in world.cameras:
        carrier = vehicles.get(camera.model)
        if carrier is not None:
            by_kind['drone' if carrier.kind.name == 'DRONE' else 'rover'].append(camera)
    names = [k for k in weights if by_kind.get(k)]
    if not names:
        raise ValueError(f'world {world.name!r} has no camera of the kinds {sorted(weights)}')
    p = np.array([weights[k] for k in names], dtype=float)
    kind = names[int(rng.choice(len(names), p=p / p.sum()))]
    camera = by_kind[kind][int(rng.integers(len(by_kind[kind])))]
    x0, y0, x1, y1 = site_bounds(world)
    if kind == 'fixed':
        base = camera.pose
        pose = Pose(base.x + _uniform(rng, (-FIXED_JITTER_XY, FIXED_JITTER_XY)),
                    base.y + _uniform(rng, (-FIXED_JITTER_XY, FIXED_JITTER_XY)),
                    max(2.0, base.z + _uniform(rng, FIXED_JITTER_Z)),
                    base.roll + _uniform(rng, (-FIXED_JITTER_ROLL, FIXED_JITTER_ROLL)),
                    base.pitch + _uniform(rng, FIXED_JITTER_PITCH),
                    base.yaw + _uniform(rng, (-FIXED_JITTER_YAW, FIXED_JITTER_YAW)))
        return CameraPlan(camera.name, kind, None, None, pose, pose, camera.width, camera.height,
                          camera.horizontal_fov, camera.near, camera.far)
    carrier = vehicles[camera.model]
    mount = camera.mount
    yaw = _uniform(rng, (-math.pi, math.pi))
    x, y = _uniform(rng, (x0, x1)), _uniform(rng, (y0, y1))
    if kind == 'drone':
        carrier_pose = Pose(x, y, _log_uniform(rng, DRONE_ALTITUDE), 0.0, 0.0, yaw)
        pitch = _uniform(rng, DRONE_PITCH)
    else:
        carrier_pose = Pose(x, y, carrier.pose.z, 0.0, 0.0, yaw)
        pitch = mount.pitch + _uniform(rng, ROVER_JITTER_PITCH)
    local = Pose(mount.x, mount.y, mount.z, mount.roll, pitch, mount.yaw)
    return CameraPlan(camera.name, kind, carrier.name, carrier_pose, local, carrier_pose @ local,
                      camera.width, camera.height, camera.horizontal_fov, camera.near, camera.far)


def pixel_ray(view: CameraView, u: float, v: float) -> np.ndarray:
    """Unit world direction through pixel (u, v) of ``view``."""
    focal = view.width / (2.0 * math.tan(view.horizontal_fov / 2.0))
    x = (u - view.width / 2.0) / focal
    y = (v - view.height / 2.0) / focal
    direction: np.ndarray = view.rotation @ np.array([1.0, -x, -y])  # SDF camera: x fwd, y left, z up
    return direction / np.linalg.norm(direction)


def _in_view(view: CameraView, point: np.ndarray) -> bool:
    pixels, depth = view.project(point[None, :])
    if depth[0] <= view.near or not np.all(np.isfinite(pixels)):
        return False
    u, v = pixels[0]
    mu, mv = VIEW_MARGIN * view.width, VIEW_MARGIN * view.height
    return bool(-mu <= u <= view.width + mu and -mv <= v <= view.height + mv)


class _Spacing:
    """Keeps placed things apart (centres at least the sum of footprint radii)."""

    def __init__(self) -> None:
        self.taken: list[tuple[np.ndarray, float]] = []

    def free(self, point: np.ndarray, radius: float) -> bool:
        return all(np.linalg.norm(point - p) >= radius + r for p, r in self.taken)

    def take(self, point: np.ndarray, radius: float) -> None:
        self.taken.append((point, radius))


def _place(slot: Slot, view: CameraView, focal_out: float, rng: np.random.Generator,
           spacing: _Spacing, distance: tuple[float, float] | None = None) -> Pose | None:
    """A pose putting ``slot`` in view at a drawn image size, or None if no spot was found."""
    cam = np.asarray(view.position, dtype=float)
    for _ in range(PLACEMENT_TRIES):
        if distance is None:
            target = _log_uniform(rng, TARGET_HEIGHT_PX[slot.cls])
            dist = max(MIN_DISTANCE[slot.cls], focal_out * slot.apparent_height / target)
        else:
            dist = _uniform(rng, distance)
        dist = min(dist, 0.9 * view.far)
        u = _uniform(rng, (-VIEW_MARGIN * view.width, (1 + VIEW_MARGIN) * view.width))
        v = _uniform(rng, (-VIEW_MARGIN * view.height, (1 + VIEW_MARGIN) * view.height))
        ray = pixel_ray(view, u, v)
        yaw = _uniform(rng, (-math.pi, math.pi))
        if slot.airborne:
            centre = cam + dist * ray
            if not DRONE_HEIGHT[0] <= centre[2] <= DRONE_HEIGHT[1]:
                continue
            body = centre - np.asarray(slot.centre)
            pose = Pose(float(body[0]), float(body[1]), float(body[2]),
                        _uniform(rng, (-DRONE_TILT, DRONE_TILT)),
                        _uniform(rng, (-DRONE_TILT, DRONE_TILT)), yaw)
        else:
            horizontal = np.array([ray[0], ray[1]])
            norm = float(np.linalg.norm(horizontal))
            drop = cam[2] - slot.centre[2]
            if norm < 1e-6 or dist <= abs(drop):
                continue
            reach = math.sqrt(dist * dist - drop * drop)
            ground = cam[:2] + reach * horizontal / norm
            centre = np.array([ground[0], ground[1], slot.centre[2]])
            pose = Pose(float(ground[0]), float(ground[1]), 0.0, 0.0, 0.0, yaw)
        if not _in_view(view, centre) or not spacing.free(centre, slot.radius):
            continue
        spacing.take(centre, slot.radius)
        return pose
    return None


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Lighting, colours, weather and camera effects of one sample."""
    elevation = _uniform(rng, SUN_ELEVATION)
    azimuth = _uniform(rng, (0.0, 2.0 * math.pi))
    direction = (-math.cos(elevation) * math.cos(azimuth), -math.cos(elevation) * math.sin(azimuth),
                 -math.sin(elevation))
    intensity = _uniform(rng, SUN_INTENSITY)
    warmth = min(1.0, max(0.0, (WARM_SUN_BELOW - elevation) / WARM_SUN_SPAN)) * float(rng.random())
    diffuse = (intensity, intensity * (1.0 - 0.25 * warmth), intensity * (1.0 - 0.45 * warmth))
    ambient_level = _uniform(rng, AMBIENT_LEVEL)
    ground = np.asarray(GROUND_PALETTE[int(rng.integers(len(GROUND_PALETTE)))])
    ground = np.clip(ground + rng.uniform(-GROUND_JITTER, GROUND_JITTER, 3), 0.0, 1.0)
    fog = _uniform(rng, FOG_LEVEL) if rng.random() < P_FOG else 0.0
    night = _uniform(rng, NIGHT_LEVEL) if rng.random() < P_NIGHT else 0.0
    blackout = bool(rng.random() < P_BLACKOUT)
    cast = tuple(_uniform(rng, CAST) for _ in range(3))
    effects = ImageEffects(
        gain=_uniform(rng, GAIN), bias=_uniform(rng, BIAS), gamma=_uniform(rng, GAMMA),
        colour_cast=(cast[0], cast[1], cast[2]),
        blur_sigma=_uniform(rng, BLUR_SIGMA) if rng.random() < P_BLUR else 0.0,
        noise_sigma=_uniform(rng, NOISE_SIGMA) if rng.random() < P_NOISE else 0.0)
    return Appearance(direction, diffuse, (ambient_level,) * 3,
                      (float(ground[0]), float(ground[1]), float(ground[2])),
                      int(rng.integers(2**31)), fog, night, blackout, effects,
                      int(rng.integers(2**31)))


def sample_scene(world: World, cast: Cast, index: int, output_width: int,
                 rng: np.random.Generator, kinds: dict[str, float] | None = None) -> SampleSpec:
    """One sample of ``world``: camera, placements of cast slots, appearance."""
    camera = plan_camera(world, rng, kinds)
    view = camera.view()
    focal_out = output_width / (2.0 * math.tan(camera.horizontal_fov / 2.0))
    spacing = _Spacing()
    placements: list[Placement] = []
    available = {cls: [s for s in cast.of_class(cls) if s.name != camera.carrier]
                 for cls in ('person', 'vehicle', 'drone', 'clutter')}
    for cls in available:
        rng.shuffle(available[cls])  # type: ignore[arg-type]
    count = 0 if rng.random() < P_EMPTY else int(rng.integers(1, MAX_OBJECTS + 1))
    classes = list(CLASS_WEIGHTS)
    weights = np.array([CLASS_WEIGHTS[c] for c in classes])
    for _ in range(count):
        cls = classes[int(rng.choice(len(classes), p=weights / weights.sum()))]
        if not available[cls]:
            continue
        slot = available[cls].pop()
        pose = _place(slot, view, focal_out, rng, spacing)
        if pose is not None:
            placements.append(Placement(slot.name, cls, pose))
    for _ in range(int(rng.integers(0, MAX_CLUTTER + 1))):
        if not available['clutter']:
            break
        slot = available['clutter'].pop()
        pose = _place(slot, view, focal_out, rng, spacing, CLUTTER_DISTANCE)
        if pose is not None:
            placements.append(Placement(slot.name, 'clutter', pose))
    return SampleSpec(world.name, index, camera, tuple(placements), sample_appearance(rng))
