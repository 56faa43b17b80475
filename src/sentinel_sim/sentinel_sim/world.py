"""Load the SDF worlds that the embedded simulator runs.

Sentinel describes each site once, as an SDFormat world that Gazebo can load
as it is; the embedded simulator reads the same file so that both simulators
see the same fence, cameras, vehicles and scripted actors. This module reads
the subset of SDFormat those worlds use into frozen dataclasses, with no ROS
and no Gazebo needed.

What is read:
  * ``<spherical_coordinates>``: the site origin (WGS84, ENU, heading 0).
  * models and nested models, their links and box / cylinder / sphere / plane
    collision and visual shapes, with SDF pose semantics (``relative_to``
    links, frames, joints and nested models; default: the parent frame);
  * camera sensors; vehicles (models carrying ``<sentinel:vehicle>``);
  * actors with scripted trajectories and a ``<sentinel:actor>`` element;
  * lights, gravity, the physics step and the world plugins' names.

What is deliberately left to Gazebo (read without warning): plugins,
inertials, joint dynamics, contact surfaces, GUI and scene settings, and the
autopilot sensors (IMU, magnetometer, barometer, GNSS) whose readings the
embedded simulator's emulated autopilots produce themselves. Everything else
the loader does not understand -- another geometry or sensor type, a mesh, an
``<include>`` -- is reported in :attr:`World.warnings` with its file, line
and element path, never dropped in silence. A malformed file, a missing or
invalid required value raises :class:`WorldError` naming the file, the
element and the reason.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import numpy as np

from sentinel_sim.vehicle_types import VehicleKind

# XML namespace of the Sentinel custom elements (declared on the <sdf> root
# as xmlns:sentinel=...); SDFormat copies namespaced elements through.
SENTINEL_NS = 'https://sentinel-robotics.org/sdf'

# SDF versions whose pose semantics (relative_to, frames) the loader follows.
SUPPORTED_SDF_VERSIONS = ('1.7', '1.8', '1.9', '1.10', '1.11')

# Sensor types that feed a vehicle's autopilot. The embedded simulator's
# emulated autopilots compute these readings from ground truth, so the
# elements are for Gazebo only and are skipped without a warning.
AUTOPILOT_SENSOR_TYPES = frozenset(
    {'imu', 'magnetometer', 'air_pressure', 'altimeter', 'navsat', 'gps'})

# Image formats the embedded simulator renders (8-bit RGB only).
SUPPORTED_IMAGE_FORMATS = frozenset({'R8G8B8', 'RGB_INT8'})


class WorldError(ValueError):
    """A world file that cannot be used: malformed, or missing a required value."""

    def __init__(self, file: str, element: str, reason: str, line: int | None = None) -> None:
        self.file = file
        self.element = element
        self.reason = reason
        self.line = line
        where = f'{file}:{line}' if line is not None else file
        super().__init__(f'{where}: {element}: {reason}')


@dataclass(frozen=True)
class WorldWarning:
    """Something in the world that the loader read past without using."""

    file: str
    line: int
    element: str
    reason: str

    def __str__(self) -> str:
        return f'{self.file}:{self.line}: {self.element}: {self.reason}'


# --------------------------------------------------------------------------
# Poses
# --------------------------------------------------------------------------

def _rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """SDF's fixed-axis roll-pitch-yaw: R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return np.array([
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ])


def _matrix_to_rpy(rot: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`_rpy_to_matrix`; yaw absorbs roll at gimbal lock."""
    sin_pitch = -float(rot[2, 0])
    if abs(sin_pitch) >= 1.0 - 1e-12:
        pitch = math.copysign(math.pi / 2, sin_pitch)
        roll = 0.0
        yaw = math.atan2(-float(rot[0, 1]), float(rot[1, 1]))
        return roll, pitch, yaw
    pitch = math.asin(sin_pitch)
    roll = math.atan2(float(rot[2, 1]), float(rot[2, 2]))
    yaw = math.atan2(float(rot[1, 0]), float(rot[0, 0]))
    return roll, pitch, yaw


@dataclass(frozen=True)
class Pose:
    """A rigid transform: position in metres, SDF roll-pitch-yaw in radians.

    ``a @ b`` composes like SDF: if ``a`` is frame P in frame O and ``b`` is
    frame Q in frame P, ``a @ b`` is frame Q in frame O.
    """

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0

    @property
    def position(self) -> tuple[float, float, float]:
        return (self.x, self.y, self.z)

    def rotation(self) -> np.ndarray:
        """3x3 rotation matrix (columns: the frame's axes in the parent frame)."""
        return _rpy_to_matrix(self.roll, self.pitch, self.yaw)

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous transform."""
        mat = np.eye(4)
        mat[:3, :3] = self.rotation()
        mat[:3, 3] = self.position
        return mat

    @staticmethod
    def from_matrix(mat: np.ndarray) -> Pose:
        roll, pitch, yaw = _matrix_to_rpy(mat[:3, :3])
        return Pose(float(mat[0, 3]), float(mat[1, 3]), float(mat[2, 3]), roll, pitch, yaw)

    def __matmul__(self, other: Pose) -> Pose:
        return Pose.from_matrix(self.matrix() @ other.matrix())

    def inverse(self) -> Pose:
        return Pose.from_matrix(np.linalg.inv(self.matrix()))


# --------------------------------------------------------------------------
# What a world holds
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Origin:
    """Where the site frame's origin is on Earth (x east, y north, z up)."""

    latitude_deg: float
    longitude_deg: float
    elevation: float  # m above the WGS84 ellipsoid


@dataclass(frozen=True)
class Box:
    size: tuple[float, float, float]  # m, full edge lengths along x, y, z


@dataclass(frozen=True)
class Cylinder:
    radius: float  # m
    length: float  # m, along the shape's z axis


@dataclass(frozen=True)
class Sphere:
    radius: float  # m


@dataclass(frozen=True)
class Plane:
    normal: tuple[float, float, float]  # unit vector in the shape frame
    size: tuple[float, float] | None    # m; None: infinite (a collision plane)


Geometry = Box | Cylinder | Sphere | Plane


class ShapeRole(enum.Enum):
    """Whether a shape collides or only shows (SDF collision vs visual)."""

    COLLISION = 'collision'
    VISUAL = 'visual'


@dataclass(frozen=True)
class Shape:
    """One collision or visual geometry, posed in its link's frame."""

    name: str
    role: ShapeRole
    geometry: Geometry
    pose: Pose
    rgba: tuple[float, float, float, float] | None = None  # diffuse colour, visuals only


@dataclass(frozen=True)
class Link:
    """A rigid body. ``name`` is scoped within its top-level model (``nested::link``)."""

    name: str
    pose: Pose  # in the top-level model's frame
    shapes: tuple[Shape, ...]


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics as Gazebo publishes them in camera_info (pixels)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int


@dataclass(frozen=True)
class Camera:
    """A camera sensor. Its frame is SDF's: x forward, y left, z up."""

    name: str
    model: str            # top-level model carrying it (the vehicle id for vehicle cameras)
    parent: str           # scoped link: ``model::[nested::]link``
    pose: Pose            # in the world frame, as loaded
    mount: Pose           # in the top-level model's frame
    horizontal_fov: float  # rad
    width: int            # px
    height: int           # px
    update_rate: float    # Hz
    near: float           # m
    far: float            # m
    topic: str

    @property
    def intrinsics(self) -> Intrinsics:
        """Square pixels, principal point at the image centre (Gazebo's convention)."""
        focal = self.width / (2.0 * math.tan(self.horizontal_fov / 2.0))
        return Intrinsics(focal, focal, self.width / 2.0, self.height / 2.0,
                          self.width, self.height)


@dataclass(frozen=True)
class Plugin:
    """A Gazebo system named in the world (kept so tests can check the set)."""

    filename: str
    name: str


@dataclass(frozen=True)
class Model:
    """A model: static scenery, a pole camera, or the body of a vehicle."""

    name: str
    pose: Pose  # in the world frame
    static: bool
    links: tuple[Link, ...]
    plugins: tuple[Plugin, ...] = ()

    def world_shapes(self) -> Iterator[tuple[Shape, Pose]]:
        """Every shape with its pose in the world frame (for static scenery)."""
        for link in self.links:
            base = self.pose @ link.pose
            for shape in link.shapes:
                yield shape, base @ shape.pose


@dataclass(frozen=True)
class Vehicle:
    """A drone or ground vehicle, identified by its ``<sentinel:vehicle>`` element."""

    model: Model
    kind: VehicleKind
    mavlink_port: int   # UDP port its emulated autopilot listens on
    system_id: int      # MAVLink system id
    camera: Camera | None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def pose(self) -> Pose:
        return self.model.pose


class ActorKind(enum.Enum):
    """What a scripted actor represents (the ground-truth class)."""

    PERSON = 'person'
    VEHICLE = 'vehicle'
    DRONE = 'drone'


@dataclass(frozen=True)
class Waypoint:
    time: float  # s from the start of the script cycle
    pose: Pose   # in the world frame


@dataclass(frozen=True)
class Actor:
    """A scripted person, vehicle or drone that follows waypoints."""

    name: str
    kind: ActorKind
    authorized: bool      # an expected presence (a guard), not a threat
    waypoints: tuple[Waypoint, ...]
    loop: bool
    delay_start: float    # s, waited before each cycle
    auto_start: bool
    links: tuple[Link, ...]  # in the actor's frame, which follows the trajectory

    @property
    def duration(self) -> float:
        """Length of one cycle of the script, without the start delay (s)."""
        return self.waypoints[-1].time

    def pose_at(self, time: float) -> Pose:
        """Pose at simulation time ``time`` (s), interpolated linearly.

        Follows Gazebo's script semantics: the delay is waited before each
        cycle, a looping script restarts, a finished one holds its last pose.
        """
        first, last = self.waypoints[0], self.waypoints[-1]
        if not self.auto_start:
            return first.pose
        elapsed = time - self.delay_start
        if self.loop:
            cycle = self.delay_start + self.duration
            if cycle > 0.0:
                elapsed = math.fmod(max(time, 0.0), cycle) - self.delay_start
        if elapsed <= first.time:
            return first.pose
        if elapsed >= last.time:
            return last.pose
        for before, after in zip(self.waypoints, self.waypoints[1:], strict=False):
            if before.time <= elapsed <= after.time:
                return _interpolate(before, after, elapsed)
        return last.pose  # unreachable: times are strictly increasing


def _interpolate(a: Waypoint, b: Waypoint, time: float) -> Pose:
    """Linear in position, shortest way round in each angle."""
    if b.time <= a.time:
        return b.pose  # two trajectories meeting at one instant
    s = (time - a.time) / (b.time - a.time)

    def lerp(u: float, v: float) -> float:
        return u + s * (v - u)

    def lerp_angle(u: float, v: float) -> float:
        return u + s * math.remainder(v - u, math.tau)

    p, q = a.pose, b.pose
    return Pose(lerp(p.x, q.x), lerp(p.y, q.y), lerp(p.z, q.z), lerp_angle(p.roll, q.roll),
                lerp_angle(p.pitch, q.pitch), lerp_angle(p.yaw, q.yaw))


class LightKind(enum.Enum):
    DIRECTIONAL = 'directional'
    POINT = 'point'
    SPOT = 'spot'


@dataclass(frozen=True)
class Light:
    name: str
    kind: LightKind
    pose: Pose                               # in the world frame
    direction: tuple[float, float, float]    # unit vector in the world frame
    diffuse: tuple[float, float, float, float]
    specular: tuple[float, float, float, float]
    cast_shadows: bool
    intensity: float
    attenuation_range: float | None          # m; None for directional lights
    spot_inner_angle: float | None = None    # rad, spot lights only
    spot_outer_angle: float | None = None    # rad, spot lights only
    spot_falloff: float | None = None        # spot lights only


@dataclass(frozen=True)
class World:
    """Everything the embedded simulator needs from one SDF world."""

    name: str
    source: str
    sdf_version: str
    origin: Origin
    gravity: tuple[float, float, float]  # m/s^2
    step_size: float | None              # s, Gazebo's physics step if given
    models: tuple[Model, ...]            # every model that is not a vehicle
    vehicles: tuple[Vehicle, ...]
    cameras: tuple[Camera, ...]          # fixed and vehicle cameras
    actors: tuple[Actor, ...]
    lights: tuple[Light, ...]
    plugins: tuple[Plugin, ...]
    warnings: tuple[WorldWarning, ...]

    @property
    def fixed_cameras(self) -> tuple[Camera, ...]:
        """Cameras on scenery (poles, buildings), not on vehicles."""
        vehicles = {v.name for v in self.vehicles}
        return tuple(c for c in self.cameras if c.model not in vehicles)

    def camera(self, name: str) -> Camera:
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise KeyError(f'world {self.name!r} has no camera {name!r}')

    def vehicle(self, name: str) -> Vehicle:
        for vehicle in self.vehicles:
            if vehicle.name == name:
                return vehicle
        raise KeyError(f'world {self.name!r} has no vehicle {name!r}')

    def actor(self, name: str) -> Actor:
        for actor in self.actors:
            if actor.name == name:
                return actor
        raise KeyError(f'world {self.name!r} has no actor {name!r}')


# --------------------------------------------------------------------------
# XML with line numbers
# --------------------------------------------------------------------------

@dataclass
class _Node:
    """An XML element with the line it starts on and its SDF-style path."""

    tag: str
    attrib: dict[str, str]
    line: int
    path: str
    children: list[_Node] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return ''.join(self.text_parts).strip()

    def first(self, tag: str) -> _Node | None:
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def all(self, tag: str) -> list[_Node]:
        return [child for child in self.children if child.tag == tag]


def _qualified(name: str) -> str:
    """Expat's 'URI local' names: Sentinel's become 'sentinel:local'."""
    uri, sep, local = name.rpartition(' ')
    if not sep:
        return name
    return f'sentinel:{local}' if uri == SENTINEL_NS else f'{{{uri}}}{local}'


def _parse_xml(data: bytes, file: str) -> _Node:
    """Parse with expat (stdlib) to keep line numbers; refuse DTDs and entities."""
    parser = expat.ParserCreate(namespace_separator=' ')
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        tag = _qualified(tag)
        attrib = {_qualified(k): v for k, v in attrs.items()}
        name = attrib.get('name')
        step = f'{tag}[@name="{name}"]' if name is not None else tag
        parent_path = stack[-1].path if stack else ''
        node = _Node(tag, attrib, parser.CurrentLineNumber, f'{parent_path}/{step}')
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].text_parts.append(data)

    def doctype(*_args: object) -> None:
        raise WorldError(file, '<!DOCTYPE>', 'document type declarations are not allowed',
                         parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise WorldError(file, 'XML', f'malformed XML: {expat.errors.messages[exc.code]}',
                         exc.lineno) from None
    return roots[0]


# --------------------------------------------------------------------------
# Reading values
# --------------------------------------------------------------------------

class _Reader:
    """Per-file state: the file name for messages and the warnings so far."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.warnings: list[WorldWarning] = []

    def error(self, node: _Node, reason: str) -> WorldError:
        return WorldError(self.file, node.path, reason, node.line)

    def warn(self, node: _Node, reason: str) -> None:
        self.warnings.append(WorldWarning(self.file, node.line, node.path, reason))

    def check_children(self, node: _Node, used: frozenset[str],
                       gazebo_only: frozenset[str] = frozenset()) -> None:
        """Warn about every child that is neither read nor known to be Gazebo's alone."""
        for child in node.children:
            if child.tag in used or child.tag in gazebo_only:
                continue
            self.warn(child, f'<{child.tag}> inside <{node.tag}> is not supported by the '
                             'embedded simulator; ignored')

    def required(self, node: _Node, tag: str) -> _Node:
        child = node.first(tag)
        if child is None:
            raise self.error(node, f'missing required <{tag}>')
        return child

    def attribute(self, node: _Node, name: str) -> str:
        value = node.attrib.get(name, '').strip()
        if not value:
            raise self.error(node, f'missing required attribute "{name}"')
        return value

    def floats(self, node: _Node, count: int | tuple[int, ...]) -> tuple[float, ...]:
        counts = (count,) if isinstance(count, int) else count
        parts = node.text.split()
        if len(parts) not in counts:
            expected = ' or '.join(str(c) for c in counts)
            raise self.error(node, f'expected {expected} numbers, got {len(parts)}: "{node.text}"')
        try:
            values = tuple(float(p) for p in parts)
        except ValueError:
            raise self.error(node, f'not a number in "{node.text}"') from None
        if not all(math.isfinite(v) for v in values):
            raise self.error(node, f'values must be finite: "{node.text}"')
        return values

    def number(self, node: _Node) -> float:
        return self.floats(node, 1)[0]

    def positive(self, node: _Node) -> float:
        value = self.number(node)
        if value <= 0.0:
            raise self.error(node, f'must be positive, got {value:g}')
        return value

    def integer(self, node: _Node, text: str | None = None, low: int | None = None,
                high: int | None = None) -> int:
        raw = (node.text if text is None else text).strip()
        try:
            value = int(raw)
        except ValueError:
            raise self.error(node, f'expected an integer, got "{raw}"') from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(node, f'{value} is out of range [{low}, {high}]')
        return value

    def boolean(self, node: _Node, text: str | None = None) -> bool:
        raw = (node.text if text is None else text).strip().lower()
        if raw in ('true', '1'):
            return True
        if raw in ('false', '0'):
            return False
        raise self.error(node, f'expected true or false, got "{raw}"')

    def colour(self, node: _Node) -> tuple[float, float, float, float]:
        values = self.floats(node, (3, 4))
        return (values[0], values[1], values[2], values[3] if len(values) == 4 else 1.0)

    def pose(self, owner: _Node) -> tuple[np.ndarray, str]:
        """The owner's <pose> as a 4x4 matrix, and its relative_to ('' = default)."""
        node = owner.first('pose')
        if node is None:
            return np.eye(4), ''
        form = node.attrib.get('rotation_format', 'euler_rpy')
        if form == 'euler_rpy':
            x, y, z, roll, pitch, yaw = self.floats(node, 6)
            if self.boolean(node, node.attrib.get('degrees', 'false')):
                roll, pitch, yaw = (math.radians(a) for a in (roll, pitch, yaw))
            mat = Pose(x, y, z, roll, pitch, yaw).matrix()
        elif form == 'quat_xyzw':
            x, y, z, qx, qy, qz, qw = self.floats(node, 7)
            norm = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
            if norm < 1e-9:
                raise self.error(node, 'quaternion has zero length')
            qx, qy, qz, qw = (q / norm for q in (qx, qy, qz, qw))
            mat = np.eye(4)
            mat[:3, :3] = np.array([
                [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
                [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
                [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)],
            ])
            mat[:3, 3] = (x, y, z)
        else:
            raise self.error(node, f'unknown rotation_format "{form}" (euler_rpy or quat_xyzw)')
        return mat, node.attrib.get('relative_to', '').strip()


# --------------------------------------------------------------------------
# Frames: SDF pose semantics
# --------------------------------------------------------------------------

@dataclass
class _FrameDef:
    node: _Node
    pose: np.ndarray     # raw pose from the element
    relative_to: str     # explicit relative_to, '' if none
    default_parent: str  # what an empty relative_to means for this element


class _FrameGraph:
    """The named frames of one scope (the world or a model), resolved on demand.

    ``resolve(name)`` gives the frame's transform in the scope's own frame
    ('world' or '__model__'). Names may be scoped into nested models
    (``nested::link``); cycles and unknown names are errors, as in SDFormat.
    """

    def __init__(self, reader: _Reader, root: str) -> None:
        self._reader = reader
        self.root = root
        self.frames: dict[str, _FrameDef] = {}
        self.nested: dict[str, _FrameGraph] = {}
        self._resolved: dict[str, np.ndarray] = {}
        self._resolving: set[str] = set()

    def add(self, node: _Node, default_parent: str) -> str:
        name = self._reader.attribute(node, 'name')
        if name in self.frames:
            raise self._reader.error(node, f'duplicate name "{name}" (links, frames, joints '
                                           'and models in one scope share a namespace)')
        pose, relative_to = self._reader.pose(node)
        self.frames[name] = _FrameDef(node, pose, relative_to, default_parent)
        return name

    def resolve(self, name: str, asker: _Node) -> np.ndarray:
        if name == self.root:
            return np.eye(4)
        head, sep, rest = name.partition('::')
        if sep and head in self.nested:
            nested: np.ndarray = self.resolve(head, asker) @ self.nested[head].resolve(rest, asker)
            return nested
        if name in self._resolved:
            return self._resolved[name]
        frame = self.frames.get(name)
        if frame is None:
            raise self._reader.error(asker, f'relative_to names unknown frame "{name}"')
        if name in self._resolving:
            raise self._reader.error(frame.node, f'pose of "{name}" is relative to itself '
                                                 '(a relative_to cycle)')
        self._resolving.add(name)
        parent = frame.relative_to or frame.default_parent
        result: np.ndarray = self.resolve(parent, frame.node) @ frame.pose
        self._resolving.discard(name)
        self._resolved[name] = result
        return result

    def pose_of(self, node: _Node, default_parent: str) -> np.ndarray:
        """Pose of an element that is not itself a frame (a shape, a sensor)."""
        pose, relative_to = self._reader.pose(node)
        composed: np.ndarray = self.resolve(relative_to or default_parent, node) @ pose
        return composed


def _model_graph(reader: _Reader, node: _Node) -> _FrameGraph:
    """Frame graph of a model (or actor) and, recursively, its nested models."""
    if node.attrib.get('placement_frame'):
        reader.warn(node, 'placement_frame is not supported: the pose places the model frame')
    graph = _FrameGraph(reader, '__model__')
    for link in node.all('link'):
        graph.add(link, '__model__')
    for frame in node.all('frame'):
        graph.add(frame, frame.attrib.get('attached_to', '').strip() or '__model__')
    for joint in node.all('joint'):
        graph.add(joint, reader.required(joint, 'child').text)
    for nested in node.all('model'):
        name = graph.add(nested, '__model__')
        graph.nested[name] = _model_graph(reader, nested)
    return graph


# --------------------------------------------------------------------------
# Elements
# --------------------------------------------------------------------------

_MODEL_USED = frozenset({'pose', 'static', 'link', 'model', 'frame', 'joint', 'plugin',
                         'sentinel:vehicle'})
_MODEL_GAZEBO_ONLY = frozenset({'self_collide', 'allow_auto_disable', 'enable_wind'})
_LINK_USED = frozenset({'pose', 'collision', 'visual', 'sensor'})
_LINK_GAZEBO_ONLY = frozenset({'inertial', 'gravity', 'enable_wind', 'self_collide', 'kinematic',
                               'must_be_base_link', 'velocity_decay'})
_COLLISION_GAZEBO_ONLY = frozenset({'surface', 'laser_retro', 'max_contacts'})
_VISUAL_GAZEBO_ONLY = frozenset({'cast_shadows', 'transparency', 'laser_retro', 'meta',
                                 'visibility_flags', 'plugin'})
_MATERIAL_GAZEBO_ONLY = frozenset({'ambient', 'specular', 'emissive', 'lighting', 'double_sided',
                                   'shininess', 'render_order'})
_SENSOR_USED = frozenset({'pose', 'camera', 'update_rate', 'topic'})
_SENSOR_GAZEBO_ONLY = frozenset({'always_on', 'visualize', 'enable_metrics', 'plugin'})
_CAMERA_GAZEBO_ONLY = frozenset({'save', 'visibility_mask', 'optical_frame_id'})
_UNSUPPORTED_GEOMETRY = frozenset({'mesh', 'heightmap', 'capsule', 'ellipsoid', 'polyline',
                                   'image'})
_WORLD_USED = frozenset({'spherical_coordinates', 'model', 'actor', 'light', 'physics',
                         'gravity', 'plugin', 'frame'})
_WORLD_GAZEBO_ONLY = frozenset({'gui', 'scene', 'atmosphere', 'magnetic_field', 'wind', 'audio'})


def _geometry(reader: _Reader, owner: _Node) -> Geometry | None:
    """The shape's geometry, or None (with a warning) when it is not supported."""
    node = reader.required(owner, 'geometry')
    if len(node.children) != 1:
        raise reader.error(node, f'<geometry> needs exactly one shape, found {len(node.children)}')
    shape = node.children[0]
    if shape.tag == 'box':
        size = reader.floats(reader.required(shape, 'size'), 3)
        if min(size) <= 0.0:
            raise reader.error(shape, f'box size must be positive, got {size}')
        reader.check_children(shape, frozenset({'size'}))
        return Box((size[0], size[1], size[2]))
    if shape.tag == 'cylinder':
        reader.check_children(shape, frozenset({'radius', 'length'}))
        return Cylinder(reader.positive(reader.required(shape, 'radius')),
                        reader.positive(reader.required(shape, 'length')))
    if shape.tag == 'sphere':
        reader.check_children(shape, frozenset({'radius'}))
        return Sphere(reader.positive(reader.required(shape, 'radius')))
    if shape.tag == 'plane':
        reader.check_children(shape, frozenset({'normal', 'size'}))
        normal = np.array(reader.floats(reader.required(shape, 'normal'), 3))
        length = float(np.linalg.norm(normal))
        if length < 1e-9:
            raise reader.error(shape, 'plane normal has zero length')
        unit = normal / length
        size_node = shape.first('size')
        extent: tuple[float, float] | None = None
        if size_node is not None:
            width, depth = reader.floats(size_node, 2)
            if width <= 0.0 or depth <= 0.0:
                raise reader.error(size_node, 'plane size must be positive')
            extent = (width, depth)
        return Plane((float(unit[0]), float(unit[1]), float(unit[2])), extent)
    if shape.tag == 'empty':
        return None
    if shape.tag in _UNSUPPORTED_GEOMETRY:
        reader.warn(shape, f'{shape.tag} geometry is not supported by the embedded simulator '
                           '(box, cylinder, sphere, plane); shape dropped')
    else:
        reader.warn(shape, f'unknown geometry <{shape.tag}>; shape dropped')
    return None


def _material(reader: _Reader, visual: _Node) -> tuple[float, float, float, float] | None:
    node = visual.first('material')
    if node is None:
        return None
    reader.check_children(node, frozenset({'diffuse'}), _MATERIAL_GAZEBO_ONLY)
    diffuse = node.first('diffuse')
    return reader.colour(diffuse) if diffuse is not None else None


def _camera(reader: _Reader, sensor: _Node, name: str, model: str, parent: str,
            mount: np.ndarray) -> Camera:
    reader.check_children(sensor, _SENSOR_USED, _SENSOR_GAZEBO_ONLY)
    cam = reader.required(sensor, 'camera')
    reader.check_children(cam, frozenset({'horizontal_fov', 'image', 'clip'}), _CAMERA_GAZEBO_ONLY)
    hfov_node = reader.required(cam, 'horizontal_fov')
    hfov = reader.number(hfov_node)
    if not 0.0 < hfov < math.pi:
        raise reader.error(hfov_node, f'horizontal_fov must be in (0, pi) rad, got {hfov:g}')
    image = reader.required(cam, 'image')
    reader.check_children(image, frozenset({'width', 'height', 'format'}),
                          frozenset({'anti_aliasing'}))
    width = reader.integer(reader.required(image, 'width'), low=1, high=16384)
    height = reader.integer(reader.required(image, 'height'), low=1, high=16384)
    fmt = image.first('format')
    if fmt is not None and fmt.text not in SUPPORTED_IMAGE_FORMATS:
        reader.warn(fmt, f'image format {fmt.text} is rendered as R8G8B8 by the embedded simulator')
    clip = reader.required(cam, 'clip')
    reader.check_children(clip, frozenset({'near', 'far'}))
    near = reader.positive(reader.required(clip, 'near'))
    far = reader.positive(reader.required(clip, 'far'))
    if far <= near:
        raise reader.error(clip, f'clip far ({far:g}) must exceed near ({near:g})')
    rate = reader.positive(reader.required(sensor, 'update_rate'))
    topic_node = reader.required(sensor, 'topic')
    expected = f'/cameras/{name}/image_raw'
    if topic_node.text != expected:
        raise reader.error(topic_node, f'camera topic must be {expected} (the name both '
                                       f'simulators publish), got "{topic_node.text}"')
    mount_pose = Pose.from_matrix(mount)
    # The world pose needs the top-level model's pose; _model places it.
    return Camera(name=name, model=model, parent=parent, pose=mount_pose, mount=mount_pose,
                  horizontal_fov=hfov, width=width, height=height, update_rate=rate,
                  near=near, far=far, topic=expected)


@dataclass
class _Collected:
    """Links and cameras gathered from a model tree (poses in the top model frame)."""

    links: list[Link] = field(default_factory=list)
    cameras: list[Camera] = field(default_factory=list)


def _collect(reader: _Reader, node: _Node, graph: _FrameGraph, in_top: np.ndarray,
             prefix: str, top: str, out: _Collected, allow_sensors: bool = True) -> None:
    """Walk a model (or actor) and its nested models, composing poses."""
    for link_node in node.all('link'):
        reader.check_children(link_node, _LINK_USED, _LINK_GAZEBO_ONLY)
        link_name = link_node.attrib['name']
        link_in_scope = graph.resolve(link_name, link_node)
        to_link = np.linalg.inv(link_in_scope)
        shapes: list[Shape] = []
        for role in ShapeRole:
            for shape_node in link_node.all(role.value):
                name = reader.attribute(shape_node, 'name')
                if role is ShapeRole.COLLISION:
                    reader.check_children(shape_node, frozenset({'pose', 'geometry'}),
                                          _COLLISION_GAZEBO_ONLY)
                else:
                    reader.check_children(shape_node, frozenset({'pose', 'geometry', 'material'}),
                                          _VISUAL_GAZEBO_ONLY)
                geometry = _geometry(reader, shape_node)
                if geometry is None:
                    continue
                pose = Pose.from_matrix(to_link @ graph.pose_of(shape_node, link_name))
                rgba = _material(reader, shape_node) if role is ShapeRole.VISUAL else None
                shapes.append(Shape(name, role, geometry, pose, rgba))
        for sensor in link_node.all('sensor'):
            name = reader.attribute(sensor, 'name')
            kind = reader.attribute(sensor, 'type')
            if kind in AUTOPILOT_SENSOR_TYPES:
                continue
            if kind != 'camera' or not allow_sensors:
                where = 'on an actor' if not allow_sensors else f'of type "{kind}"'
                reader.warn(sensor, f'sensor {where} is not supported by the embedded simulator; '
                                    'ignored')
                continue
            mount = in_top @ graph.pose_of(sensor, link_name)
            out.cameras.append(_camera(reader, sensor, name, top, f'{top}::{prefix}{link_name}',
                                       mount))
        out.links.append(Link(prefix + link_name, Pose.from_matrix(in_top @ link_in_scope),
                              tuple(shapes)))
    for nested in node.all('model'):
        reader.check_children(nested, _MODEL_USED - {'sentinel:vehicle'}, _MODEL_GAZEBO_ONLY)
        name = nested.attrib['name']
        _collect(reader, nested, graph.nested[name], in_top @ graph.resolve(name, nested),
                 f'{prefix}{name}::', top, out, allow_sensors)


def _plugins(reader: _Reader, node: _Node) -> tuple[Plugin, ...]:
    return tuple(Plugin(reader.attribute(p, 'filename'), p.attrib.get('name', ''))
                 for p in node.all('plugin'))


def _vehicle_identity(reader: _Reader, node: _Node) -> tuple[VehicleKind, int, int]:
    known = {'kind', 'mavlink_port', 'system_id'}
    for extra in sorted(set(node.attrib) - known):
        reader.warn(node, f'unknown attribute "{extra}" on <sentinel:vehicle>; ignored')
    raw_kind = reader.attribute(node, 'kind')
    try:
        kind = VehicleKind(raw_kind)
    except ValueError:
        allowed = ', '.join(k.value for k in VehicleKind)
        raise reader.error(node, f'vehicle kind "{raw_kind}" is not one of {allowed}') from None
    port = reader.integer(node, reader.attribute(node, 'mavlink_port'), 1, 65535)
    system_id = reader.integer(node, reader.attribute(node, 'system_id'), 1, 255)
    return kind, port, system_id


def _model(reader: _Reader, node: _Node, world_pose: np.ndarray) -> tuple[Model, Vehicle | None,
                                                                           list[Camera]]:
    reader.check_children(node, _MODEL_USED, _MODEL_GAZEBO_ONLY)
    name = node.attrib['name']
    static_node = node.first('static')
    static = reader.boolean(static_node) if static_node is not None else False
    graph = _model_graph(reader, node)
    collected = _Collected()
    _collect(reader, node, graph, np.eye(4), '', name, collected)
    pose = Pose.from_matrix(world_pose)
    cameras = [_place_camera(c, pose) for c in collected.cameras]
    model = Model(name, pose, static, tuple(collected.links), _plugins(reader, node))
    identity = node.first('sentinel:vehicle')
    if identity is None:
        return model, None, cameras
    kind, port, system_id = _vehicle_identity(reader, identity)
    if len(cameras) > 1:
        raise reader.error(node, f'a vehicle carries at most one camera, found {len(cameras)}')
    camera = cameras[0] if cameras else None
    if camera is not None and camera.name != f'{name}_camera':
        raise reader.error(node, f'the camera of vehicle {name} must be named {name}_camera, '
                                 f'got {camera.name}')
    return model, Vehicle(model, kind, port, system_id, camera), cameras


def _place_camera(camera: Camera, model_pose: Pose) -> Camera:
    return dataclasses.replace(camera, pose=model_pose @ camera.mount)


def _actor(reader: _Reader, node: _Node, world_pose: np.ndarray) -> Actor:
    reader.check_children(node, frozenset({'pose', 'link', 'script', 'sentinel:actor', 'plugin'}))
    name = node.attrib['name']
    identity = node.first('sentinel:actor')
    if identity is None:
        raise reader.error(node, 'actor needs a <sentinel:actor kind="person|vehicle|drone"/> '
                                 'element (what it is, for ground truth)')
    for extra in sorted(set(identity.attrib) - {'kind', 'authorized'}):
        reader.warn(identity, f'unknown attribute "{extra}" on <sentinel:actor>; ignored')
    raw_kind = reader.attribute(identity, 'kind')
    try:
        kind = ActorKind(raw_kind)
    except ValueError:
        allowed = ', '.join(k.value for k in ActorKind)
        raise reader.error(identity, f'actor kind "{raw_kind}" is not one of {allowed}') from None
    authorized = reader.boolean(identity, identity.attrib.get('authorized', 'false'))

    script = reader.required(node, 'script')
    reader.check_children(script, frozenset({'loop', 'delay_start', 'auto_start', 'trajectory'}))
    loop_node, delay_node, auto_node = (script.first(t) for t in ('loop', 'delay_start',
                                                                  'auto_start'))
    loop = reader.boolean(loop_node) if loop_node is not None else True
    delay = reader.number(delay_node) if delay_node is not None else 0.0
    if delay < 0.0:
        raise reader.error(script, 'delay_start must not be negative')
    auto_start = reader.boolean(auto_node) if auto_node is not None else True
    waypoints = _trajectories(reader, script, Pose.from_matrix(world_pose))

    graph = _model_graph(reader, node)
    collected = _Collected()
    _collect(reader, node, graph, np.eye(4), '', name, collected, allow_sensors=False)
    return Actor(name, kind, authorized, waypoints, loop, delay, auto_start,
                 tuple(collected.links))


def _trajectories(reader: _Reader, script: _Node, origin: Pose) -> tuple[Waypoint, ...]:
    """Waypoints of all trajectories, played in id order as Gazebo does."""
    trajectories = script.all('trajectory')
    if not trajectories:
        raise reader.error(script, 'script needs at least one <trajectory>')
    by_id: dict[int, _Node] = {}
    for trajectory in trajectories:
        ident = reader.integer(trajectory, reader.attribute(trajectory, 'id'))
        if ident in by_id:
            raise reader.error(trajectory, f'duplicate trajectory id {ident}')
        by_id[ident] = trajectory
    waypoints: list[Waypoint] = []
    offset = 0.0
    for ident in sorted(by_id):
        trajectory = by_id[ident]
        reader.check_children(trajectory, frozenset({'waypoint'}))
        points = trajectory.all('waypoint')
        if not points:
            raise reader.error(trajectory, 'trajectory has no <waypoint>')
        last = -math.inf
        for point in points:
            reader.check_children(point, frozenset({'time', 'pose'}))
            time_node = reader.required(point, 'time')
            time = reader.number(time_node)
            if time < 0.0 or time <= last:
                raise reader.error(time_node, f'waypoint times must be >= 0 and strictly '
                                              f'increasing, got {time:g} after {last:g}')
            last = time
            pose_node = reader.required(point, 'pose')
            if pose_node.attrib.get('relative_to'):
                reader.warn(pose_node, 'relative_to on a waypoint is ignored: waypoints are '
                                       'relative to the actor pose')
            mat, _ = reader.pose(point)
            waypoints.append(Waypoint(offset + time, origin @ Pose.from_matrix(mat)))
        offset = waypoints[-1].time
    return tuple(waypoints)


def _light(reader: _Reader, node: _Node, world_pose: np.ndarray) -> Light:
    used = frozenset({'pose', 'cast_shadows', 'diffuse', 'specular', 'attenuation', 'direction',
                      'spot', 'intensity'})
    reader.check_children(node, used, frozenset({'visualize', 'light_on'}))
    name = node.attrib['name']
    raw_kind = reader.attribute(node, 'type')
    try:
        kind = LightKind(raw_kind)
    except ValueError:
        raise reader.error(node, f'light type "{raw_kind}" is not one of directional, point, '
                                 'spot') from None
    pose = Pose.from_matrix(world_pose)
    direction = (0.0, 0.0, -1.0)
    direction_node = node.first('direction')
    if direction_node is not None:
        local = np.array(reader.floats(direction_node, 3))
        if np.linalg.norm(local) < 1e-9:
            raise reader.error(direction_node, 'light direction has zero length')
        world = pose.rotation() @ (local / np.linalg.norm(local))
        direction = (float(world[0]), float(world[1]), float(world[2]))
    elif kind is not LightKind.POINT:
        raise reader.error(node, f'a {kind.value} light needs a <direction>')

    def optional(tag: str, default: float) -> float:
        child = node.first(tag)
        return reader.number(child) if child is not None else default

    shadows = node.first('cast_shadows')
    diffuse, specular = node.first('diffuse'), node.first('specular')
    attenuation_range = None
    attenuation = node.first('attenuation')
    if attenuation is not None:
        reader.check_children(attenuation, frozenset({'range'}),
                              frozenset({'constant', 'linear', 'quadratic'}))
        attenuation_range = reader.positive(reader.required(attenuation, 'range'))
    elif kind is not LightKind.DIRECTIONAL:
        raise reader.error(node, f'a {kind.value} light needs <attenuation><range>')
    inner = outer = falloff = None
    spot = node.first('spot')
    if kind is LightKind.SPOT:
        if spot is None:
            raise reader.error(node, 'a spot light needs <spot>')
        reader.check_children(spot, frozenset({'inner_angle', 'outer_angle', 'falloff'}))
        inner = reader.number(reader.required(spot, 'inner_angle'))
        outer = reader.number(reader.required(spot, 'outer_angle'))
        falloff = reader.number(reader.required(spot, 'falloff'))
    elif spot is not None:
        reader.warn(spot, f'<spot> on a {kind.value} light is ignored')
    return Light(name=name, kind=kind, pose=pose, direction=direction,
                 diffuse=reader.colour(diffuse) if diffuse is not None else (1.0, 1.0, 1.0, 1.0),
                 specular=(reader.colour(specular) if specular is not None
                           else (0.1, 0.1, 0.1, 1.0)),
                 cast_shadows=reader.boolean(shadows) if shadows is not None else False,
                 intensity=optional('intensity', 1.0), attenuation_range=attenuation_range,
                 spot_inner_angle=inner, spot_outer_angle=outer, spot_falloff=falloff)


def _origin(reader: _Reader, world: _Node) -> Origin:
    node = world.first('spherical_coordinates')
    if node is None:
        raise reader.error(world, 'missing required <spherical_coordinates> (Sentinel worlds '
                                  'are georeferenced)')
    reader.check_children(node, frozenset({'surface_model', 'world_frame_orientation',
                                           'latitude_deg', 'longitude_deg', 'elevation',
                                           'heading_deg'}))
    surface = reader.required(node, 'surface_model')
    if surface.text != 'EARTH_WGS84':
        raise reader.error(surface, f'surface_model must be EARTH_WGS84, got "{surface.text}"')
    orientation = node.first('world_frame_orientation')
    if orientation is not None and orientation.text != 'ENU':
        raise reader.error(orientation, 'world_frame_orientation must be ENU, got '
                                        f'"{orientation.text}"')
    heading = node.first('heading_deg')
    if heading is not None and reader.number(heading) != 0.0:
        raise reader.error(heading, 'heading_deg must be 0: rotated site frames are not '
                                    'supported')
    lat_node = reader.required(node, 'latitude_deg')
    lon_node = reader.required(node, 'longitude_deg')
    latitude, longitude = reader.number(lat_node), reader.number(lon_node)
    if not -90.0 <= latitude <= 90.0:
        raise reader.error(lat_node, f'latitude {latitude:g} is outside [-90, 90]')
    if not -180.0 <= longitude <= 180.0:
        raise reader.error(lon_node, f'longitude {longitude:g} is outside [-180, 180]')
    return Origin(latitude, longitude, reader.number(reader.required(node, 'elevation')))


def _physics(reader: _Reader, world: _Node) -> float | None:
    nodes = world.all('physics')
    if not nodes:
        return None
    chosen = next((n for n in nodes if n.attrib.get('default', '').lower() in ('true', '1')),
                  nodes[0])
    for node in nodes:
        reader.check_children(node, frozenset({'max_step_size'}),
                              frozenset({'real_time_factor', 'real_time_update_rate',
                                         'max_contacts', 'ode', 'bullet', 'dart', 'simbody'}))
    step = chosen.first('max_step_size')
    return reader.positive(step) if step is not None else None


def _world(reader: _Reader, root: _Node) -> World:
    if root.tag != 'sdf':
        raise reader.error(root, f'root element must be <sdf>, got <{root.tag}>')
    version = reader.attribute(root, 'version')
    if version not in SUPPORTED_SDF_VERSIONS:
        raise reader.error(root, f'SDF version {version} is not supported '
                                 f'({", ".join(SUPPORTED_SDF_VERSIONS)})')
    worlds = root.all('world')
    if len(worlds) != 1:
        raise reader.error(root, f'expected exactly one <world>, found {len(worlds)}')
    reader.check_children(root, frozenset({'world'}))
    node = worlds[0]
    name = reader.attribute(node, 'name')
    reader.check_children(node, _WORLD_USED, _WORLD_GAZEBO_ONLY)
    origin = _origin(reader, node)
    gravity_node = node.first('gravity')
    gravity = reader.floats(gravity_node, 3) if gravity_node is not None else (0.0, 0.0, -9.8)

    graph = _FrameGraph(reader, 'world')
    for child in node.all('model'):
        graph.add(child, 'world')
    for frame in node.all('frame'):
        graph.add(frame, frame.attrib.get('attached_to', '').strip() or 'world')
    names = set(graph.frames)
    for child in node.all('actor') + node.all('light'):
        child_name = reader.attribute(child, 'name')
        if child_name in names:
            raise reader.error(child, f'duplicate name "{child_name}" in the world')
        names.add(child_name)

    models: list[Model] = []
    vehicles: list[Vehicle] = []
    cameras: list[Camera] = []
    for child in node.all('model'):
        model, vehicle, found = _model(reader, child, graph.resolve(child.attrib['name'], child))
        cameras.extend(found)
        if vehicle is None:
            models.append(model)
        else:
            vehicles.append(vehicle)
    actors = [_actor(reader, child, graph.pose_of(child, 'world')) for child in node.all('actor')]
    lights = [_light(reader, child, graph.pose_of(child, 'world')) for child in node.all('light')]
    _check_unique(reader, node, 'camera', [c.name for c in cameras])
    _check_unique(reader, node, 'MAVLink port', [v.mavlink_port for v in vehicles])
    _check_unique(reader, node, 'MAVLink system id', [v.system_id for v in vehicles])
    return World(name=name, source=reader.file, sdf_version=version, origin=origin,
                 gravity=(gravity[0], gravity[1], gravity[2]), step_size=_physics(reader, node),
                 models=tuple(models), vehicles=tuple(vehicles), cameras=tuple(cameras),
                 actors=tuple(actors), lights=tuple(lights), plugins=_plugins(reader, node),
                 warnings=tuple(reader.warnings))


def _check_unique(reader: _Reader, world: _Node, what: str, values: list[object]) -> None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise reader.error(world, f'{what} {value} is used twice')
        seen.add(value)


def parse_world(data: str | bytes, source: str = '<string>') -> World:
    """Read a world from SDF text; ``source`` names it in messages."""
    raw = data.encode('utf-8') if isinstance(data, str) else data
    reader = _Reader(source)
    return _world(reader, _parse_xml(raw, source))


def load_world(path: str | Path) -> World:
    """Read a world file. Raises :class:`WorldError` if it cannot be used."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise WorldError(file, 'file', f'cannot read: {exc.strerror}') from None
    return parse_world(raw, file)
