"""Where each camera is and how it projects, at the time of a frame.

Why: geolocation needs, for every frame, the camera's intrinsics (from its
``camera_info``) and its pose (fixed cameras: the site configuration; vehicle
cameras: the vehicle's latest telemetry composed with the camera mount from
the world). These arrive on different topics at different rates and can be
missing, stale or corrupt; this module keeps the latest of each and answers
"what is the geometry of camera C at time t", or says precisely why it
cannot. No rclpy.
"""

from __future__ import annotations

import enum
import math
import threading
from dataclasses import dataclass

import numpy as np

from sentinel_perception.geolocation import (CameraPose, Intrinsics, fixed_camera_pose,
                                             mounted_camera_pose, quaternion_matrix, rpy_matrix)


class GeometryProblem(enum.Enum):
    """Why a frame has no usable geometry; decides whether the frame is dropped."""

    NO_CAMERA_INFO = 'no camera_info received yet'                # frame dropped
    BAD_CAMERA_INFO = 'camera_info is not a usable pinhole model'  # frame dropped
    SIZE_MISMATCH = 'camera_info size differs from the image'      # frame dropped
    INVALID_POSE = 'camera pose is not finite or not a rotation'   # frame dropped
    NO_POSE = 'no pose for the vehicle carrying the camera yet'    # published without positions
    STALE_POSE = 'the vehicle pose is too old for this frame'      # published without positions
    UNKNOWN_CAMERA = 'camera is neither fixed nor on a known vehicle'  # published without positions

    @property
    def drops_frame(self) -> bool:
        return self in (GeometryProblem.NO_CAMERA_INFO, GeometryProblem.BAD_CAMERA_INFO,
                        GeometryProblem.SIZE_MISMATCH, GeometryProblem.INVALID_POSE)


@dataclass(frozen=True)
class Mount:
    """A camera fixed to a vehicle, in the vehicle's model frame."""

    vehicle_id: str
    position: tuple[float, float, float]   # m
    rpy: tuple[float, float, float]        # rad, SDF roll, pitch, yaw
    gimballed: bool                        # drones: levelled in roll and pitch


@dataclass(frozen=True)
class VehiclePose:
    position: tuple[float, float, float]          # m, site ENU
    orientation: tuple[float, float, float, float]  # quaternion x, y, z, w
    velocity: tuple[float, float, float]          # m/s, site ENU
    stamp: float                                  # s


@dataclass(frozen=True)
class Geometry:
    """What geolocation needs for one frame; ``pose`` None when it is unknown."""

    intrinsics: Intrinsics
    pose: CameraPose | None
    problem: GeometryProblem | None = None   # why pose is None


class GeometryError(ValueError):
    def __init__(self, problem: GeometryProblem, detail: str) -> None:
        self.problem = problem
        super().__init__(f'{problem.value}: {detail}' if detail else problem.value)


class CameraRig:
    """Latest calibration and poses of every camera (thread-safe)."""

    def __init__(self, fixed: dict[str, CameraPose | None], mounts: dict[str, Mount],
                 max_pose_age: float = 1.0) -> None:
        self._fixed = dict(fixed)
        self._mounts = dict(mounts)
        self.max_pose_age = max_pose_age   # s between a vehicle pose and a frame
        self._info: dict[str, tuple[Intrinsics | None, int, int]] = {}
        self._vehicles: dict[str, VehiclePose] = {}
        self._lock = threading.Lock()

    @property
    def cameras(self) -> list[str]:
        return sorted({*self._fixed, *self._mounts})

    def update_info(self, camera_id: str, k: list[float], width: int, height: int) -> bool:
        """Store a camera_info; False when it is not a usable pinhole model."""
        intrinsics = Intrinsics.from_k(k, width, height)
        with self._lock:
            self._info[camera_id] = (intrinsics, width, height)
        return intrinsics is not None

    def update_vehicle(self, vehicle_id: str, pose: VehiclePose) -> None:
        with self._lock:
            self._vehicles[vehicle_id] = pose

    def geometry(self, camera_id: str, stamp: float, width: int, height: int) -> Geometry:
        """Geometry for a ``width`` x ``height`` frame of ``camera_id`` captured at ``stamp``.

        Raises :class:`GeometryError` for problems that drop the frame; returns
        a Geometry without pose (and with the problem) for those that only cost
        the ground positions.
        """
        with self._lock:
            info = self._info.get(camera_id)
            vehicle = None
            mount = self._mounts.get(camera_id)
            if mount is not None:
                vehicle = self._vehicles.get(mount.vehicle_id)
        if info is None:
            raise GeometryError(GeometryProblem.NO_CAMERA_INFO, '')
        intrinsics, info_width, info_height = info
        if intrinsics is None:
            raise GeometryError(GeometryProblem.BAD_CAMERA_INFO, 'K has non-finite or '
                                'non-positive focal lengths')
        if (info_width, info_height) != (width, height):
            raise GeometryError(GeometryProblem.SIZE_MISMATCH,
                                f'camera_info {info_width}x{info_height} px, image '
                                f'{width}x{height} px')
        if camera_id in self._fixed:
            pose = self._fixed[camera_id]
            if pose is None:
                raise GeometryError(GeometryProblem.INVALID_POSE, 'configured pose')
            return Geometry(intrinsics, pose)
        if mount is None:
            return Geometry(intrinsics, None, GeometryProblem.UNKNOWN_CAMERA)
        if vehicle is None:
            return Geometry(intrinsics, None, GeometryProblem.NO_POSE)
        values = (*vehicle.position, *vehicle.orientation, *vehicle.velocity, vehicle.stamp)
        if not all(math.isfinite(v) for v in values):
            raise GeometryError(GeometryProblem.INVALID_POSE, f'vehicle {mount.vehicle_id}')
        age = stamp - vehicle.stamp
        if abs(age) > self.max_pose_age:
            return Geometry(intrinsics, None, GeometryProblem.STALE_POSE)
        # The vehicle moved between its telemetry and the frame: extrapolate linearly.
        position = np.asarray(vehicle.position) + np.asarray(vehicle.velocity) * age
        rotation = quaternion_matrix(*vehicle.orientation)
        pose = mounted_camera_pose(position, rotation, mount.position, rpy_matrix(*mount.rpy),
                                   mount.gimballed)
        if pose is None:
            raise GeometryError(GeometryProblem.INVALID_POSE, f'vehicle {mount.vehicle_id}')
        return Geometry(intrinsics, pose)


def fixed_pose(x: float, y: float, z: float, roll: float, pitch: float,
               yaw: float) -> CameraPose | None:
    return fixed_camera_pose(x, y, z, roll, pitch, yaw)
