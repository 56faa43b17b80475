"""Ground truth for cameras: where each entity appears in each image, and how much of it.

Why: perception is scored (and trained) against what the simulator knows.
For every camera and every entity (own vehicles, scripted intruders, guards)
this module projects the entity's 3D box into the image and says how much of
it a detector could see:

* the box's 8 corners go through the camera's pinhole model; a box crossing
  the near plane is clipped against it (its edges are cut there), so an
  entity beside the camera still gets a correct partial box; boxes wholly
  behind the camera, beyond its far plane or wholly outside the image are
  omitted;
* ``truncation``: the share of the projected box's area inside the image;
* ``unoccluded``: the share of sample points of the entity (a 3x3x3 grid over
  its box, at +-70 % of the half extents, the ones that fall inside the image)
  that a ray from the camera reaches before anything else. The rays are cast
  by the caller (the physics uses ``mujoco.mj_multiRay`` against the visible
  geoms): ray casts were chosen over a segmentation render because they need
  no GL context, cost microseconds for a few dozen rays, and work for
  cameras that are not being rendered this frame;
* ``visible_fraction = truncation * unoccluded``. Fully occluded entities in
  the image are kept with a fraction near 0, so the consumer chooses its
  threshold.

Pixel coordinates are continuous: the image spans [0, width] x [0, height],
the principal point is the image centre (Gazebo's convention, as in
``camera_info``), pixel (i, j) covers [i, i+1) x [j, j+1).

Camera frames follow SDF: x forward, y left, z up; the optical frame of
``camera_info`` is x right, y down, z forward.

Pure numpy: no MuJoCo here; the caller hands in a visibility function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from sentinel_sim.vehicle_types import Vector3
from sentinel_sim.world import Pose

# Entity classes and roles, as ground truth and the perception stack name them.
CLASS_PERSON = 'person'
CLASS_VEHICLE = 'vehicle'
CLASS_DRONE = 'drone'
ROLE_OWN = 'own_vehicle'
ROLE_INTRUDER = 'intruder'
ROLE_AUTHORIZED = 'authorized'

SAMPLE_SPREAD = 0.7       # sample grid at +-70 % of the half extents (inside the box)
SAMPLE_STEPS = 3          # grid points per axis (27 rays per entity)
DISTORTION_MODEL = 'plumb_bob'  # ROS name of the (zero) distortion model

# The 12 edges of a box whose corners are ordered as _CORNER_SIGNS.
_CORNER_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)],
                         dtype=float)
_EDGES = np.array([(a, b) for a in range(8) for b in range(a + 1, 8)
                   if np.sum(_CORNER_SIGNS[a] != _CORNER_SIGNS[b]) == 1])
_SAMPLE_OFFSETS = np.array([[x, y, z] for x in np.linspace(-1, 1, SAMPLE_STEPS)
                            for y in np.linspace(-1, 1, SAMPLE_STEPS)
                            for z in np.linspace(-1, 1, SAMPLE_STEPS)]) * SAMPLE_SPREAD

# (camera origin (3,), world points (k, 3), entity id) -> (k,) True where the point is seen.
VisibilityFn = Callable[[np.ndarray, np.ndarray, str], np.ndarray]


@dataclass(frozen=True)
class CameraInfo:
    """Pinhole calibration in ``sensor_msgs/CameraInfo`` layout (row-major tuples)."""

    width: int
    height: int
    k: tuple[float, ...]   # 3x3 intrinsic matrix
    p: tuple[float, ...]   # 3x4 projection matrix (monocular: [K | 0])
    r: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # rectification
    d: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)  # distortion: none (ideal pinhole)
    distortion_model: str = DISTORTION_MODEL

    @property
    def k_matrix(self) -> np.ndarray:
        return np.array(self.k).reshape(3, 3)

    @property
    def p_matrix(self) -> np.ndarray:
        return np.array(self.p).reshape(3, 4)


def camera_info(width: int, height: int, horizontal_fov: float) -> CameraInfo:
    """Square pixels, principal point at the image centre (as Gazebo publishes)."""
    if width <= 0 or height <= 0:
        raise ValueError(f'image size must be positive, got {width}x{height}')
    if not 0.0 < horizontal_fov < math.pi:
        raise ValueError(f'horizontal_fov must be in (0, pi) rad, got {horizontal_fov!r}')
    focal = width / (2.0 * math.tan(horizontal_fov / 2.0))
    cx, cy = width / 2.0, height / 2.0
    k = (focal, 0.0, cx, 0.0, focal, cy, 0.0, 0.0, 1.0)
    p = (focal, 0.0, cx, 0.0, 0.0, focal, cy, 0.0, 0.0, 0.0, 1.0, 0.0)
    return CameraInfo(width, height, k, p)


@dataclass(frozen=True)
class CameraView:
    """A camera at one instant: where it is and what it sees."""

    name: str
    position: np.ndarray   # (3,) m, world
    rotation: np.ndarray   # (3, 3) columns: camera x forward, y left, z up, in world
    width: int             # px
    height: int            # px
    horizontal_fov: float  # rad
    near: float            # m
    far: float             # m

    @property
    def info(self) -> CameraInfo:
        return camera_info(self.width, self.height, self.horizontal_fov)

    def to_optical(self, points: np.ndarray) -> np.ndarray:
        """World points (n, 3) in the optical frame (x right, y down, z forward)."""
        local = (np.asarray(points, dtype=float) - self.position) @ self.rotation
        optical: np.ndarray = np.column_stack((-local[:, 1], -local[:, 2], local[:, 0]))
        return optical

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (n, 2) and depths (n,) of world points; pixels are NaN behind the camera."""
        optical = self.to_optical(points)
        depth = optical[:, 2]
        pixels = _pixels(optical, self.info)
        pixels[depth <= 0.0] = np.nan
        return pixels, depth


def _pixels(optical: np.ndarray, info: CameraInfo) -> np.ndarray:
    fx, cx, fy, cy = info.k[0], info.k[2], info.k[4], info.k[5]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = fx * optical[:, 0] / optical[:, 2] + cx
        v = fy * optical[:, 1] / optical[:, 2] + cy
    return np.column_stack((u, v))


@dataclass(frozen=True)
class EntityState:
    """Ground truth of one entity: what it is and where its box is."""

    entity_id: str
    entity_class: str                     # CLASS_PERSON, CLASS_VEHICLE or CLASS_DRONE
    role: str                             # ROLE_OWN, ROLE_INTRUDER or ROLE_AUTHORIZED
    pose: Pose                            # entity frame in the world
    velocity: Vector3                     # m/s, world
    size: tuple[float, float, float]      # m, full box extents in the entity frame
    box_center: tuple[float, float, float] = (0.0, 0.0, 0.0)  # m, box centre in entity frame

    def _box_points(self, unit_offsets: np.ndarray) -> np.ndarray:
        local = np.asarray(self.box_center) + unit_offsets * (np.asarray(self.size) / 2.0)
        world: np.ndarray = local @ self.pose.rotation().T + np.asarray(self.pose.position)
        return world

    def corners(self) -> np.ndarray:
        """The box's 8 corners in the world (8, 3)."""
        return self._box_points(_CORNER_SIGNS)

    def sample_points(self) -> np.ndarray:
        """Points inside the box used to probe occlusion (27, 3)."""
        return self._box_points(_SAMPLE_OFFSETS)

    @property
    def center(self) -> np.ndarray:
        """The box centre in the world (3,)."""
        centre: np.ndarray = self._box_points(np.zeros((1, 3)))[0]
        return centre


@dataclass(frozen=True)
class ImageBox:
    """One entity as a camera sees it."""

    entity_id: str
    entity_class: str
    role: str
    x_min: float            # px, continuous, clipped to [0, width]
    y_min: float            # px, continuous, clipped to [0, height]
    x_max: float
    y_max: float
    truncation: float       # share of the projected box inside the image, 0..1
    unoccluded: float       # share of in-image sample points the camera sees, 0..1
    visible_fraction: float  # truncation * unoccluded
    distance: float         # m, camera to box centre


def _clip_near(optical: np.ndarray, near: float) -> np.ndarray:
    """Corners in front of the near plane plus box edges cut at it."""
    front = optical[:, 2] >= near
    points = [optical[front]]
    a, b = optical[_EDGES[:, 0]], optical[_EDGES[:, 1]]
    crossing = (a[:, 2] >= near) != (b[:, 2] >= near)
    if np.any(crossing):
        a, b = a[crossing], b[crossing]
        s = (near - a[:, 2]) / (b[:, 2] - a[:, 2])
        points.append(a + s[:, None] * (b - a))
    return np.vstack(points)


def project_entity(view: CameraView, entity: EntityState,
                   visibility: VisibilityFn | None = None) -> ImageBox | None:
    """The entity's image box, or None when the camera cannot see it at all."""
    optical = view.to_optical(entity.corners())
    if np.all(optical[:, 2] < view.near) or np.all(optical[:, 2] > view.far):
        return None
    info = view.info
    pixels = _pixels(_clip_near(optical, view.near), info)
    low, high = pixels.min(axis=0), pixels.max(axis=0)
    clipped_low = np.clip(low, 0.0, (view.width, view.height))
    clipped_high = np.clip(high, 0.0, (view.width, view.height))
    clipped_size = clipped_high - clipped_low
    if np.any(clipped_size <= 0.0):
        return None
    raw_area = float(np.prod(high - low))
    truncation = float(np.prod(clipped_size)) / raw_area if raw_area > 0.0 else 1.0

    unoccluded = 1.0
    if visibility is not None:
        samples = entity.sample_points()
        sample_pixels, sample_depth = view.project(samples)
        inside = (sample_depth >= view.near) & np.all(
            (sample_pixels >= 0.0) & (sample_pixels <= (view.width, view.height)), axis=1)
        probe = samples[inside] if np.any(inside) else samples[sample_depth >= view.near]
        if probe.shape[0] > 0:
            seen = np.asarray(visibility(view.position, probe, entity.entity_id), dtype=bool)
            unoccluded = float(np.count_nonzero(seen)) / probe.shape[0]
    distance = float(np.linalg.norm(entity.center - view.position))
    return ImageBox(entity.entity_id, entity.entity_class, entity.role,
                    float(clipped_low[0]), float(clipped_low[1]),
                    float(clipped_high[0]), float(clipped_high[1]),
                    min(1.0, truncation), unoccluded, min(1.0, truncation) * unoccluded,
                    distance)


def project_entities(view: CameraView, entities: Iterable[EntityState],
                     visibility: VisibilityFn | None = None) -> list[ImageBox]:
    """Image boxes of every entity the camera can see, in the order given."""
    boxes = (project_entity(view, entity, visibility) for entity in entities)
    return [box for box in boxes if box is not None]
