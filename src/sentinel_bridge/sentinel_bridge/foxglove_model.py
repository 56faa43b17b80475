"""Plain dataclasses for the Foxglove schemas the bridge emits.

The foxglove-sdk message classes are opaque (no field getters), so logic that
built them directly could only be tested by decoding protobuf. The scene,
annotation and map logic therefore builds these frozen dataclasses, which
mirror the subset of Foxglove's schemas (foxglove.SceneUpdate,
ImageAnnotations, LocationFix, FrameTransform, Log, GeoJSON) that Sentinel
uses, field for field; ``foxglove_encode`` turns them into SDK messages at the
edge. Units are Foxglove's: metres, radians, pixels, nanoseconds since the
epoch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sentinel_bridge.foxglove_geometry import IDENTITY, Quaternion

# Frame id of the site's ENU frame (x east, y north, z up), as VehicleState headers name it.
SITE_FRAME = 'site'


@dataclass(frozen=True)
class Rgba:
    """A colour, each channel 0..1."""

    r: float
    g: float
    b: float
    a: float = 1.0

    def with_alpha(self, a: float) -> Rgba:
        return Rgba(self.r, self.g, self.b, a)

    def hex(self) -> str:
        """``#rrggbb`` for GeoJSON styles and layouts."""
        return '#' + ''.join(f'{round(max(0.0, min(1.0, c)) * 255):02x}'
                             for c in (self.r, self.g, self.b))


@dataclass(frozen=True)
class Vec3:
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


@dataclass(frozen=True)
class Pose3:
    """Position (m) and orientation (unit quaternion x, y, z, w) in the entity's frame."""

    position: Vec3 = Vec3()
    orientation: Quaternion = IDENTITY


class LineKind(enum.IntEnum):
    """foxglove.LinePrimitive.LineType."""

    STRIP = 0   # consecutive points joined
    LOOP = 1    # strip closed back to the first point
    LIST = 2    # independent segments, points taken in pairs


@dataclass(frozen=True)
class Cube:
    pose: Pose3
    size: Vec3
    color: Rgba


@dataclass(frozen=True)
class Cylinder:
    """Axis along the pose's z; ``size`` x/y are diameters, z the height."""

    pose: Pose3
    size: Vec3
    color: Rgba


@dataclass(frozen=True)
class Sphere:
    pose: Pose3
    size: Vec3
    color: Rgba


@dataclass(frozen=True)
class Arrow:
    """Points along the pose's +x axis from the pose's origin."""

    pose: Pose3
    shaft_length: float
    shaft_diameter: float
    head_length: float
    head_diameter: float
    color: Rgba


@dataclass(frozen=True)
class Line:
    kind: LineKind
    points: tuple[Vec3, ...]
    color: Rgba
    thickness: float = 2.0          # pixels when scale_invariant, else metres
    scale_invariant: bool = True
    pose: Pose3 = Pose3()


@dataclass(frozen=True)
class Triangles:
    """A triangle list: points taken in threes."""

    points: tuple[Vec3, ...]
    color: Rgba
    pose: Pose3 = Pose3()


@dataclass(frozen=True)
class Text:
    pose: Pose3
    text: str
    color: Rgba
    font_size: float = 14.0         # pixels (scale invariant)
    billboard: bool = True
    scale_invariant: bool = True


@dataclass(frozen=True)
class SceneEntity:
    """One object of the 3D scene; replaced as a whole when re-sent with the same id."""

    id: str
    frame_id: str
    timestamp_ns: int
    lifetime_ns: int = 0            # 0: until replaced or deleted
    frame_locked: bool = False
    metadata: tuple[tuple[str, str], ...] = ()
    cubes: tuple[Cube, ...] = ()
    cylinders: tuple[Cylinder, ...] = ()
    spheres: tuple[Sphere, ...] = ()
    arrows: tuple[Arrow, ...] = ()
    lines: tuple[Line, ...] = ()
    triangles: tuple[Triangles, ...] = ()
    texts: tuple[Text, ...] = ()


@dataclass(frozen=True)
class SceneUpdate:
    """Entities to add or replace, and ids to delete first."""

    entities: tuple[SceneEntity, ...] = ()
    deletions: tuple[str, ...] = ()
    timestamp_ns: int = 0


@dataclass(frozen=True)
class FrameTransform:
    """Pose of ``child`` in ``parent`` at ``timestamp_ns``."""

    timestamp_ns: int
    parent: str
    child: str
    translation: Vec3
    rotation: Quaternion


class PointsKind(enum.IntEnum):
    """foxglove.PointsAnnotation.Type."""

    POINTS = 1
    LINE_LOOP = 2
    LINE_STRIP = 3
    LINE_LIST = 4


@dataclass(frozen=True)
class Point2:
    """Image coordinates in pixels (origin top-left, x right, y down)."""

    x: float
    y: float


@dataclass(frozen=True)
class PointsAnnotation:
    kind: PointsKind
    points: tuple[Point2, ...]
    outline_color: Rgba
    thickness: float = 2.0          # pixels
    fill_color: Rgba | None = None


@dataclass(frozen=True)
class TextAnnotation:
    position: Point2                # bottom-left of the text, pixels
    text: str
    text_color: Rgba
    background_color: Rgba
    font_size: float = 12.0         # pixels


@dataclass(frozen=True)
class ImageAnnotations:
    timestamp_ns: int
    points: tuple[PointsAnnotation, ...] = ()
    texts: tuple[TextAnnotation, ...] = ()


@dataclass(frozen=True)
class LocationFix:
    """A WGS84 position for the Map panel; ``frame_id`` names what it locates."""

    timestamp_ns: int
    frame_id: str
    latitude_deg: float
    longitude_deg: float
    altitude: float                 # m above the WGS84 ellipsoid
    horizontal_variance: float | None = None   # m^2 (1-sigma squared); None: unknown
    color: Rgba | None = None


class LogLevel(enum.IntEnum):
    """foxglove.Log.Level."""

    UNKNOWN = 0
    DEBUG = 1
    INFO = 2
    WARNING = 3
    ERROR = 4
    FATAL = 5


@dataclass(frozen=True)
class LogLine:
    timestamp_ns: int
    level: LogLevel
    name: str
    message: str
    file: str = ''
    line: int = 0


@dataclass(frozen=True)
class CameraCalibration:
    """Pinhole calibration (no distortion) of one camera, for image projection in 3D."""

    timestamp_ns: int
    frame_id: str
    width: int
    height: int
    k: tuple[float, ...]            # 3x3 row-major intrinsic matrix, pixels
    p: tuple[float, ...]            # 3x4 row-major projection matrix, pixels
    distortion_model: str = 'plumb_bob'
    d: tuple[float, ...] = field(default=(0.0, 0.0, 0.0, 0.0, 0.0))
