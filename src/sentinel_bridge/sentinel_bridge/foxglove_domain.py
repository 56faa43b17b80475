"""What the live view knows about the site, as plain frozen dataclasses.

``foxglove_ros`` converts incoming ROS messages into these; the scene,
annotation and status logic read only these. Keeping the logic off message
classes lets it be tested with generated data and no DDS, and means a
message change touches one converter rather than every view.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class ZoneKind(enum.IntEnum):
    """Mirror of sentinel_msgs/Zone.KIND_*."""

    RESTRICTED = 0
    PERIMETER = 1
    KEEP_OUT = 2
    GATE = 3
    GEOFENCE_INCLUSION = 4
    GEOFENCE_EXCLUSION = 5


class VehicleKind(enum.IntEnum):
    """Mirror of sentinel_msgs/VehicleState.TYPE_*."""

    DRONE = 0
    GROUND = 1


class LinkState(enum.IntEnum):
    """Mirror of sentinel_msgs/VehicleState.LINK_*."""

    OK = 0
    DEGRADED = 1
    LOST = 2


class Severity(enum.IntEnum):
    """Mirror of sentinel_msgs/Alert.SEVERITY_*."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


class AlertState(enum.IntEnum):
    """Mirror of sentinel_msgs/Alert.STATE_*."""

    NEW = 0
    ACKNOWLEDGED = 1
    RESOLVED = 2


@dataclass(frozen=True)
class GeoPoint:
    """A WGS84 position (degrees, metres above the ellipsoid)."""

    latitude_deg: float
    longitude_deg: float
    altitude: float

    @property
    def valid(self) -> bool:
        """False for a default-constructed message (0, 0) or values off the globe."""
        if not all(math.isfinite(v) for v in (self.latitude_deg, self.longitude_deg,
                                               self.altitude)):
            return False
        if self.latitude_deg == 0.0 and self.longitude_deg == 0.0:
            return False
        return -90.0 <= self.latitude_deg <= 90.0 and -180.0 <= self.longitude_deg <= 180.0


@dataclass(frozen=True)
class ZoneView:
    zone_id: str
    kind: ZoneKind
    polygon: tuple[tuple[float, float], ...]   # site ENU metres
    floor: float       # m above the site origin; -inf: from the ground
    ceiling: float     # m above the site origin; +inf: unbounded


@dataclass(frozen=True)
class VehicleView:
    vehicle_id: str
    kind: VehicleKind
    stamp_ns: int
    position: tuple[float, float, float]            # site ENU m
    orientation: tuple[float, float, float, float]  # x, y, z, w; all zeros when unknown
    heading_deg: float                              # clockwise from north
    velocity: tuple[float, float, float]            # site ENU m/s
    geo: GeoPoint
    armed: bool
    mode: str
    battery_remaining: float                        # 0..1, NaN unknown
    link: LinkState
    gps_fix: int
    landed: bool
    task_id: str

    @property
    def speed(self) -> float:
        return math.hypot(*self.velocity)


@dataclass(frozen=True)
class TrackView:
    track_id: str
    class_name: str
    confidence: float
    stamp_ns: int
    position: tuple[float, float, float]     # site ENU m
    velocity: tuple[float, float, float]     # site ENU m/s
    geo: GeoPoint
    position_uncertainty: float              # 1-sigma horizontal m
    authorized: bool
    sensor_ids: tuple[str, ...]


@dataclass(frozen=True)
class DetectionView:
    class_name: str
    confidence: float
    box: tuple[float, float, float, float]   # x_min, y_min, x_max, y_max in pixels
    track_id: int                            # per-camera tracker id; -1 untracked


@dataclass(frozen=True)
class DetectionFrame:
    """All detections of one camera frame."""

    camera_id: str
    stamp_ns: int                 # capture time of the image
    image_width: int              # pixels of the image the boxes refer to
    image_height: int
    model_version: str
    detections: tuple[DetectionView, ...]


@dataclass(frozen=True)
class AlertView:
    alert_id: str
    stamp_ns: int
    severity: Severity
    category: str
    rule_id: str
    zone_id: str
    track_id: str
    class_name: str
    position: tuple[float, float, float]
    geo: GeoPoint
    state: AlertState
    description: str
    first_raised_ns: int
    acknowledged_by: str


@dataclass(frozen=True)
class VehicleSafetyView:
    vehicle_id: str
    violations: tuple[str, ...]
    active_failsafe: int
    estopped: bool


@dataclass(frozen=True)
class SafetyView:
    stamp_ns: int
    estop_engaged: bool
    estop_scope: int
    estopped_vehicle_ids: tuple[str, ...]
    estop_engaged_by: str
    estop_reason: str
    vehicles: tuple[VehicleSafetyView, ...]
    degraded_nodes: tuple[str, ...]


@dataclass(frozen=True)
class HeartbeatView:
    node_name: str
    pid: int
    sequence: int
    progress_counter: int
    health: int                   # NodeHeartbeat.HEALTH_*
    status_msg: str


@dataclass(frozen=True)
class CameraMount:
    """Where a camera sits: its SDF sensor frame (x forward, z up) in a parent frame."""

    camera_id: str
    parent_frame: str                                # 'site' for poles, the vehicle id on vehicles
    translation: tuple[float, float, float]          # m
    rotation: tuple[float, float, float, float]      # x, y, z, w
    horizontal_fov: float                            # rad
    width: int                                       # px
    height: int                                      # px


@dataclass(frozen=True)
class StaticShape:
    """A piece of fixed scenery (fence panel, building, pole) in the site frame."""

    name: str
    shape: str                                       # 'box' or 'cylinder'
    translation: tuple[float, float, float]          # m, centre
    rotation: tuple[float, float, float, float]      # x, y, z, w
    size: tuple[float, float, float]                 # m: box edges, or cylinder (d, d, length)
    rgba: tuple[float, float, float, float]
