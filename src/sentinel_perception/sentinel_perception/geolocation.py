"""Where a detected object stands: pixels to site ENU metres and WGS84.

Why: fusion, threat rules and dispatch reason about places on the site, not
pixels. A camera with known intrinsics (from ``camera_info``) and pose (the
site configuration for pole cameras, the vehicle's telemetry plus the camera
mount for drone and rover cameras) turns each pixel into a ray; the ray
through the bottom-centre of a box (where a person's feet or a car's wheels
touch the ground) meets the ground plane at the object's position.

The uncertainty is the ray's pixel error carried to the ground: the same
intersection is computed for the pixel moved by one standard deviation in u
and in v, so the error grows with range the way a grazing ray's does (about
range^2 / camera height per radian). The pixel standard deviation combines
the detector's box error with the camera's attitude error expressed in pixels.

Objects that do not stand on the ground (drones) are placed along the ray
through the box centre at the range their apparent size implies, with a
relative range error: crude, but a foreign drone's horizontal position is
what keep-out zones need.

Conventions (as ``sentinel_sim``): camera frames follow SDF (x forward,
y left, z up); the optical frame of ``camera_info`` is x right, y down,
z forward; pixel coordinates are continuous with the image spanning
[0, width] x [0, height].

Invalid inputs (NaN poses, degenerate intrinsics, rays that miss the ground)
give ``None``, never an exception: the caller publishes the detection without
a ground position. Pure numpy; no rclpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sentinel_sim.geo import enu_to_wgs84

# Rays closer to horizontal than this (|direction z|) never meet the ground
# within any useful range.
MIN_DESCENT = 1e-6
# Rotation matrices are accepted as orthonormal within this (max abs error of R^T R - I).
ORTHONORMAL_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels (ideal, undistorted camera)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @staticmethod
    def from_k(k: Sequence[float], width: int, height: int) -> Intrinsics | None:
        """From a row-major 3x3 K (camera_info.k); None when it cannot be a camera."""
        if len(k) != 9 or width <= 0 or height <= 0:
            return None
        values = [float(v) for v in k]
        if not all(math.isfinite(v) for v in values):
            return None
        fx, cx, fy, cy = values[0], values[2], values[4], values[5]
        if fx <= 0.0 or fy <= 0.0:
            return None
        return Intrinsics(fx, fy, cx, cy, int(width), int(height))


@dataclass(frozen=True)
class CameraPose:
    """A camera's SDF frame (x forward, y left, z up) in the site frame."""

    position: tuple[float, float, float]   # m, site ENU
    rotation: tuple[tuple[float, float, float], ...]  # 3x3, columns: camera axes in the site

    @staticmethod
    def from_arrays(position: np.ndarray, rotation: np.ndarray) -> CameraPose | None:
        """Checked construction: None for non-finite values or a non-rotation matrix."""
        pos = np.asarray(position, dtype=float).reshape(-1)
        rot = np.asarray(rotation, dtype=float)
        if pos.shape != (3,) or rot.shape != (3, 3):
            return None
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(rot))):
            return None
        if np.max(np.abs(rot.T @ rot - np.eye(3))) > ORTHONORMAL_TOLERANCE:
            return None
        rows = tuple((float(r[0]), float(r[1]), float(r[2])) for r in rot)
        return CameraPose((float(pos[0]), float(pos[1]), float(pos[2])), rows)

    @property
    def origin(self) -> np.ndarray:
        return np.array(self.position)

    @property
    def matrix(self) -> np.ndarray:
        return np.array(self.rotation)


@dataclass(frozen=True)
class GeoEstimate:
    """An object's estimated position and its 1-sigma horizontal error."""

    position: tuple[float, float, float]  # m, site ENU
    sigma: float                          # m, 1-sigma horizontal
    range: float                          # m, camera to object


@dataclass(frozen=True)
class LocatorSettings:
    """How pixels become positions; every value in SI units or pixels."""

    ground_height: float = 0.0     # m, z of the ground plane in the site frame
    pixel_sigma: float = 2.0       # px, 1-sigma error of a box edge from the detector
    attitude_sigma: float = 0.003  # rad, 1-sigma error of the camera's pointing
    min_sigma: float = 0.3         # m, floor: an object's footprint is not a point
    max_range: float = 500.0       # m, farther intersections are not trusted
    truncated_sigma_scale: float = 3.0  # pixel error multiplier when the box is cut by the image bottom
    aerial_size: float = 0.6       # m, assumed span of an aerial object (a small drone)
    aerial_size_rel_sigma: float = 0.35  # relative 1-sigma error of that span (and so of the range)


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """SDF's fixed-axis roll-pitch-yaw: R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return np.array([
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ])


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray | None:
    """Rotation matrix of a (not necessarily unit) quaternion; None when degenerate."""
    q = np.array([w, x, y, z], dtype=float)
    norm = float(np.linalg.norm(q))
    if not math.isfinite(norm) or norm < 1e-9:
        return None
    w, x, y, z = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def fixed_camera_pose(x: float, y: float, z: float, roll: float, pitch: float,
                      yaw: float) -> CameraPose | None:
    """A pole camera's pose as the site configuration gives it."""
    return CameraPose.from_arrays(np.array([x, y, z]), rpy_matrix(roll, pitch, yaw))


def mounted_camera_pose(body_position: Sequence[float] | np.ndarray, body_rotation: np.ndarray | None,
                        mount_position: Sequence[float], mount_rotation: np.ndarray,
                        gimballed: bool) -> CameraPose | None:
    """A vehicle camera's pose from the vehicle's pose and the camera mount.

    A gimballed camera (the drones') follows the vehicle's position and yaw and
    keeps its mount's pitch and roll to the horizon, as the simulator's gimbal
    does; a rigid one (the rovers') turns with the body.
    """
    if body_rotation is None:
        return None
    body = np.asarray(body_rotation, dtype=float)
    position = np.asarray(body_position, dtype=float) + body @ np.asarray(mount_position, dtype=float)
    if gimballed:
        yaw = math.atan2(float(body[1, 0]), float(body[0, 0]))
        rotation = rpy_matrix(0.0, 0.0, yaw) @ mount_rotation
    else:
        rotation = body @ mount_rotation
    return CameraPose.from_arrays(position, rotation)


def pixel_ray(intrinsics: Intrinsics, pose: CameraPose, u: float, v: float) -> np.ndarray:
    """Unit direction (site frame) of the ray through pixel (u, v)."""
    x = (u - intrinsics.cx) / intrinsics.fx   # optical right
    y = (v - intrinsics.cy) / intrinsics.fy   # optical down
    camera = np.array([1.0, -x, -y])          # SDF: forward, left, up
    direction: np.ndarray = pose.matrix @ camera
    unit: np.ndarray = direction / np.linalg.norm(direction)
    return unit


def project_point(intrinsics: Intrinsics, pose: CameraPose,
                  point: Sequence[float]) -> tuple[float, float] | None:
    """Pixel of a site point, or None when it is behind the camera."""
    local = pose.matrix.T @ (np.asarray(point, dtype=float) - pose.origin)
    forward, left, up = (float(c) for c in local)
    if forward <= 0.0:
        return None
    return (intrinsics.fx * (-left) / forward + intrinsics.cx,
            intrinsics.fy * (-up) / forward + intrinsics.cy)


def intersect_ground(origin: np.ndarray, direction: np.ndarray, ground_height: float,
                     max_range: float) -> np.ndarray | None:
    """Where a ray meets the plane z = ground_height, within max_range; else None."""
    if direction[2] > -MIN_DESCENT or origin[2] <= ground_height:
        return None
    distance = (ground_height - origin[2]) / direction[2]
    if not math.isfinite(distance) or distance <= 0.0 or distance > max_range:
        return None
    hit: np.ndarray = origin + distance * direction
    return hit


def _ground_at(intrinsics: Intrinsics, pose: CameraPose, u: float, v: float,
               settings: LocatorSettings) -> np.ndarray | None:
    return intersect_ground(pose.origin, pixel_ray(intrinsics, pose, u, v),
                            settings.ground_height, settings.max_range)


def locate_on_ground(intrinsics: Intrinsics, pose: CameraPose,
                     box: tuple[float, float, float, float],
                     settings: LocatorSettings | None = None) -> GeoEstimate | None:
    """Ground position of an object standing on the ground, from its box (x1, y1, x2, y2 px)."""
    cfg = settings or LocatorSettings()
    x_min, _, x_max, y_max = box
    if not all(math.isfinite(c) for c in box):
        return None
    u, v = (x_min + x_max) / 2.0, y_max
    hit = _ground_at(intrinsics, pose, u, v, cfg)
    if hit is None:
        return None
    sigma_px = math.hypot(cfg.pixel_sigma, cfg.attitude_sigma * max(intrinsics.fx, intrinsics.fy))
    if y_max >= intrinsics.height - 1.0:
        sigma_px *= cfg.truncated_sigma_scale  # feet cut off: the bottom edge is not the ground
    spread = 0.0
    for du, dv in ((sigma_px, 0.0), (0.0, sigma_px), (0.0, -sigma_px)):
        moved = _ground_at(intrinsics, pose, u + du, v + dv, cfg)
        if moved is None:
            # One sigma up the image the ray no longer meets the ground: the
            # position is only bounded by the trusted range.
            spread = max(spread, cfg.max_range)
            continue
        spread = max(spread, float(np.linalg.norm(moved[:2] - hit[:2])))
    distance = float(np.linalg.norm(hit - pose.origin))
    sigma = max(cfg.min_sigma, spread)
    return GeoEstimate((float(hit[0]), float(hit[1]), float(hit[2])), sigma, distance)


def locate_by_size(intrinsics: Intrinsics, pose: CameraPose,
                   box: tuple[float, float, float, float],
                   settings: LocatorSettings | None = None) -> GeoEstimate | None:
    """3D position of an airborne object from its apparent size (range = f * span / pixels)."""
    cfg = settings or LocatorSettings()
    if not all(math.isfinite(c) for c in box):
        return None
    x_min, y_min, x_max, y_max = box
    span_px = max(x_max - x_min, y_max - y_min)
    if span_px <= 0.0:
        return None
    distance = max(intrinsics.fx, intrinsics.fy) * cfg.aerial_size / span_px
    if distance > cfg.max_range:
        return None
    direction = pixel_ray(intrinsics, pose, (x_min + x_max) / 2.0, (y_min + y_max) / 2.0)
    point = pose.origin + distance * direction
    if point[2] < cfg.ground_height:
        point[2] = cfg.ground_height  # cannot be under ground; keep the horizontal estimate
    sigma = max(cfg.min_sigma, distance * cfg.aerial_size_rel_sigma)
    return GeoEstimate((float(point[0]), float(point[1]), float(point[2])), sigma, distance)


class Georeference:
    """Site ENU to WGS84 around the world's origin (the same conversion every package uses)."""

    def __init__(self, latitude_deg: float, longitude_deg: float, altitude: float) -> None:
        self.origin = (latitude_deg, longitude_deg, altitude)

    def to_wgs84(self, east: float, north: float, up: float) -> tuple[float, float, float] | None:
        """(latitude deg, longitude deg, altitude m); None for non-finite input."""
        try:
            lat, lon, alt = enu_to_wgs84(east, north, up, *self.origin)
        except ValueError:
            return None
        return float(lat), float(lon), float(alt)
