"""Turn a loaded SDF :class:`~sentinel_sim.world.World` into an MJCF model for MuJoCo.

Why a builder and not a converter of the SDF text: the SDF loader already
resolved every pose (``relative_to``, nested models, frames), so this module
only decides how each thing should *behave* in MuJoCo and writes that down:

* static scenery: one joint-less body per model (so a camera's own pole can
  be excluded from its occlusion rays), collision shapes as invisible
  colliding geoms, visual shapes as coloured non-colliding geoms;
* drones: one free body per drone (all SDF links welded together, the rotors
  are only visuals), a quadrotor's mass and inertia, the SDF camera as an
  MJCF camera on the body; the physics applies thrust and torques;
* ground vehicles: a planar body (slide x, slide y, hinge z). Rolling on
  wheels over a contact plane would cost contacts, friction tuning and time
  for nothing the autopilot can observe; planar joints are exact, stable and
  cheap. One box hull (raised by :attr:`MjcfOptions.ground_clearance` so it
  clears curbs and gravel beds) collides with obstacles and other vehicles,
  never with the ground plane;
* actors: mocap bodies moved kinematically along their script, shaped by the
  SDF's visuals or, when it has none, by their kind; they do not collide
  (as Gazebo actors do not);
* fixed cameras: MJCF cameras at their world pose. SDF cameras look along +x
  with z up; MuJoCo cameras look along -z with y up, so the MJCF camera axes
  are (x, y, z)_mj = (-y, z, -x)_sdf. ``fovy`` is the vertical field of view
  that the SDF horizontal field of view and the image aspect ratio imply;
* lights, a gradient sky, a headlight for ambient fill (the rendering may
  dim both for night), an offscreen buffer as large as the largest camera,
  and clip planes covering every camera's near/far.

The returned XML has a keyframe ``initial`` that puts every vehicle at its
SDF pose; :class:`~sentinel_sim.physics.PhysicsWorld` resets to it.

Pure: no MuJoCo import, so the XML can be inspected and tested alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET

import numpy as np

from sentinel_sim.vehicle_types import VehicleKind
from sentinel_sim.world import (
    Actor,
    ActorKind,
    Box,
    Camera,
    Cylinder,
    Geometry,
    Light,
    LightKind,
    Link,
    Plane,
    Pose,
    Shape,
    ShapeRole,
    Sphere,
    Vehicle,
    World,
)

_LOG = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# Names shared with the physics
# --------------------------------------------------------------------------

INITIAL_KEYFRAME = 'initial'  # keyframe holding every vehicle's SDF pose


def root_joint_name(vehicle: str) -> str:
    """Free joint of a drone."""
    return f'{vehicle}:root'


def planar_joint_names(vehicle: str) -> tuple[str, str, str]:
    """Slide x, slide y and hinge z joints of a ground vehicle (qpos = world x, y, yaw)."""
    return f'{vehicle}:x', f'{vehicle}:y', f'{vehicle}:yaw'


# Bodies carry the SDF names as they are: SDF keeps models, actors and lights
# of one world in a single namespace, so they cannot clash.

# --------------------------------------------------------------------------
# Collision filtering (MuJoCo: collide if contype_a & conaffinity_b or vice versa)
# --------------------------------------------------------------------------

COLLIDE_GROUND = 1      # bit of the ground plane(s)
COLLIDE_OBSTACLE = 2    # bit of every other static collision shape
COLLIDE_DRONE = 4       # bit of drone hulls
COLLIDE_ROVER = 8       # bit of ground-vehicle hulls
# Drones hit everything; ground vehicles hit everything but the ground plane
# (their planar joints already hold them on it).
DRONE_AFFINITY = COLLIDE_GROUND | COLLIDE_OBSTACLE | COLLIDE_DRONE | COLLIDE_ROVER
ROVER_AFFINITY = COLLIDE_OBSTACLE | COLLIDE_DRONE | COLLIDE_ROVER

# Geom groups: MuJoCo renders groups 0-2 by default and hides 3-5; the
# occlusion rays test the same groups the cameras see.
GROUP_STATIC_VISUAL = 0   # scenery visuals
GROUP_VEHICLE_VISUAL = 1  # drone and ground-vehicle visuals
GROUP_ACTOR_VISUAL = 2    # actor visuals
GROUP_COLLISION = 3       # every colliding hull (invisible)
VISIBLE_GROUPS = (GROUP_STATIC_VISUAL, GROUP_VEHICLE_VISUAL, GROUP_ACTOR_VISUAL)

# --------------------------------------------------------------------------
# Appearance defaults
# --------------------------------------------------------------------------

DEFAULT_RGBA = (0.7, 0.7, 0.7, 1.0)              # visual without a material: light grey
SKY_TOP_RGB = (0.45, 0.62, 0.85)                  # zenith colour of the gradient sky
SKY_BOTTOM_RGB = (0.85, 0.88, 0.92)               # horizon colour of the gradient sky
SKY_TEXTURE_SIZE = (32, 192)                      # px; a gradient needs little resolution
HEADLIGHT_AMBIENT = (0.35, 0.35, 0.35)            # ambient fill so shaded faces are not black
HEADLIGHT_DIFFUSE = (0.15, 0.15, 0.15)            # weak camera-aligned light
HEADLIGHT_SPECULAR = (0.0, 0.0, 0.0)              # no camera glare
DEFAULT_SUN_DIRECTION = (-0.4, 0.3, -0.87)        # used when the world has no light
DEFAULT_SUN_DIFFUSE = (0.8, 0.8, 0.78)            # used when the world has no light
PLANE_GRID_SPACING = 10.0                         # m, MJCF plane size[2]: rendering grid only
MIN_EXTENT = 10.0                                 # m, smallest model extent (scales clip planes)
MIN_OFFSCREEN = (640, 480)                        # px, smallest offscreen buffer


@dataclass(frozen=True)
class MjcfOptions:
    """What the SDF does not say (or the loader leaves to Gazebo) about the dynamics."""

    timestep: float | None = None        # s; None: the world's physics step, else DEFAULT_TIMESTEP
    drone_mass: float = 1.5              # kg, a 450 mm-class quadrotor with battery
    drone_inertia: tuple[float, float, float] = (0.029, 0.029, 0.055)  # kg m^2 about body x, y, z
    ground_vehicle_mass: float = 30.0    # kg, a small patrol rover
    ground_vehicle_yaw_inertia: float = 2.0  # kg m^2 about z
    ground_clearance: float = 0.10       # m, hull bottom above the ground (drives over gravel beds)
    memory_mb_base: int = 16             # MiB of MuJoCo arena for the scenery
    memory_mb_per_vehicle: float = 0.5   # MiB more per vehicle (contacts, constraint rows)


DEFAULT_TIMESTEP = 0.004  # s, physics step when neither options nor world give one (250 Hz)

# Default actor shapes when the SDF actor has no visual, by kind:
# (geometry, pose in the actor frame, rgba).
_DEFAULT_ACTOR_SHAPES: dict[ActorKind, tuple[tuple[Geometry, Pose, tuple[float, ...]], ...]] = {
    ActorKind.PERSON: (
        (Cylinder(0.22, 1.5), Pose(z=0.8), (0.2, 0.2, 0.25, 1.0)),   # torso and legs
        (Sphere(0.12), Pose(z=1.66), (0.8, 0.62, 0.5, 1.0)),          # head
    ),
    ActorKind.VEHICLE: (
        (Box((4.5, 1.8, 0.8)), Pose(z=0.6), (0.5, 0.05, 0.05, 1.0)),   # body
        (Box((2.4, 1.6, 0.6)), Pose(x=-0.3, z=1.25), (0.2, 0.25, 0.3, 1.0)),  # cabin
    ),
    ActorKind.DRONE: (
        (Box((0.35, 0.35, 0.12)), Pose(), (0.9, 0.9, 0.9, 1.0)),       # frame and rotors
    ),
}


# --------------------------------------------------------------------------
# Small geometry helpers (also used by the physics for ground-truth sizes)
# --------------------------------------------------------------------------

def matrix_to_quat(rot: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation matrix to a unit quaternion (w, x, y, z), MuJoCo's order."""
    m = np.asarray(rot, dtype=float)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0.0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = (0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = ((m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s)
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = ((m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = ((m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s)
    norm = math.sqrt(sum(c * c for c in q))
    w, x, y, z = (c / norm for c in q)
    if w < 0.0:  # one canonical sign, so equal rotations print equally
        w, x, y, z = -w, -x, -y, -z
    return (w, x, y, z)


def sdf_to_mujoco_camera(rot: np.ndarray) -> np.ndarray:
    """Columns of a MuJoCo camera frame from the columns of an SDF camera frame.

    SDF: x forward, y left, z up. MuJoCo: looks along -z, x right, y up.
    """
    r = np.asarray(rot, dtype=float)
    return np.column_stack((-r[:, 1], r[:, 2], -r[:, 0]))


def mujoco_to_sdf_camera(rot: np.ndarray) -> np.ndarray:
    """Inverse of :func:`sdf_to_mujoco_camera`."""
    r = np.asarray(rot, dtype=float)
    return np.column_stack((-r[:, 2], -r[:, 0], r[:, 1]))


def vertical_fov(horizontal_fov: float, width: int, height: int) -> float:
    """Vertical field of view (rad) of a pinhole with square pixels."""
    return 2.0 * math.atan(math.tan(horizontal_fov / 2.0) * height / width)


def _plane_rotation(normal: tuple[float, float, float]) -> np.ndarray:
    """The smallest rotation taking +z (MJCF planes face +z) onto ``normal``.

    Smallest, so that an SDF plane's x/y size keeps its axes for the usual
    upward normal.
    """
    z = np.array([0.0, 0.0, 1.0])
    n = np.asarray(normal, dtype=float)
    axis = np.cross(z, n)
    sin_angle, cos_angle = float(np.linalg.norm(axis)), float(np.dot(z, n))
    if sin_angle < 1e-12:
        return np.eye(3) if cos_angle > 0.0 else np.diag([1.0, -1.0, -1.0])
    k = axis / sin_angle
    skew = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    rot: np.ndarray = np.eye(3) + sin_angle * skew + (1.0 - cos_angle) * skew @ skew
    return rot


def _local_corners(geometry: Geometry) -> np.ndarray | None:
    """Corners of the geometry's bounding box in its own frame (8x3), None for planes."""
    if isinstance(geometry, Box):
        half = np.asarray(geometry.size) / 2.0
    elif isinstance(geometry, Cylinder):
        half = np.array([geometry.radius, geometry.radius, geometry.length / 2.0])
    elif isinstance(geometry, Sphere):
        half = np.full(3, geometry.radius)
    else:
        return None
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    corners: np.ndarray = signs * half
    return corners


def bounding_box(placed: Iterable[tuple[Geometry, Pose]]) -> tuple[np.ndarray, np.ndarray] | None:
    """Axis-aligned box (centre, full size) around posed shapes, in their common frame.

    Planes are skipped; None when nothing has a finite extent.
    """
    points: list[np.ndarray] = []
    for geometry, pose in placed:
        corners = _local_corners(geometry)
        if corners is None:
            continue
        points.append(corners @ pose.rotation().T + np.asarray(pose.position))
    if not points:
        return None
    stacked = np.vstack(points)
    low, high = stacked.min(axis=0), stacked.max(axis=0)
    return (low + high) / 2.0, high - low


def _link_shapes(links: Sequence[Link], role: ShapeRole | None) -> list[tuple[Shape, Pose]]:
    """Shapes of links with their pose in the model (or actor) frame."""
    return [(shape, link.pose @ shape.pose) for link in links for shape in link.shapes
            if role is None or shape.role is role]


def actor_shapes(actor: Actor) -> list[tuple[Geometry, Pose, tuple[float, float, float, float]]]:
    """Visual shapes of an actor in its frame: the SDF's, else a default for its kind."""
    placed = _link_shapes(actor.links, ShapeRole.VISUAL)
    if placed:
        return [(shape.geometry, pose, shape.rgba or DEFAULT_RGBA) for shape, pose in placed]
    return [(geometry, pose, (rgba[0], rgba[1], rgba[2], rgba[3]))
            for geometry, pose, rgba in _DEFAULT_ACTOR_SHAPES[actor.kind]]


def entity_box(shapes: Iterable[tuple[Geometry, Pose]]) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth box (centre, size) in the entity frame; a 0.1 m cube if shapeless."""
    box = bounding_box(shapes)
    if box is None:
        return np.zeros(3), np.full(3, 0.1)
    return box


def vehicle_box(vehicle: Vehicle) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth box of a vehicle in its model frame (visuals, else collisions)."""
    placed = _link_shapes(vehicle.model.links, ShapeRole.VISUAL) or \
        _link_shapes(vehicle.model.links, None)
    return entity_box((shape.geometry, pose) for shape, pose in placed)


def actor_box(actor: Actor) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth box of an actor in its own frame."""
    return entity_box((geometry, pose) for geometry, pose, _ in actor_shapes(actor))


# --------------------------------------------------------------------------
# XML writing
# --------------------------------------------------------------------------

def _fmt(values: Iterable[float]) -> str:
    return ' '.join(f'{float(v):.9g}' for v in values)


class _Names:
    """Keeps geom names unique (SDF allows a collision and a visual to share one)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def take(self, wanted: str) -> str:
        name, count = wanted, 1
        while name in self._used:
            count += 1
            name = f'{wanted}#{count}'
        self._used.add(name)
        return name


def _geom(parent: ET.Element, names: _Names, name: str, geometry: Geometry, pose: Pose,
          attrs: dict[str, str]) -> ET.Element | None:
    """One MJCF geom for an SDF shape posed in ``parent``'s frame."""
    rot = pose.rotation()
    if isinstance(geometry, Box):
        kind, size = 'box', [s / 2.0 for s in geometry.size]
    elif isinstance(geometry, Cylinder):
        kind, size = 'cylinder', [geometry.radius, geometry.length / 2.0]
    elif isinstance(geometry, Sphere):
        kind, size = 'sphere', [geometry.radius]
    elif isinstance(geometry, Plane):
        kind = 'plane'
        # MJCF plane size: half extents (0 = infinite) and the rendering grid spacing.
        half = (0.0, 0.0) if geometry.size is None else (geometry.size[0] / 2.0,
                                                         geometry.size[1] / 2.0)
        size = [half[0], half[1], PLANE_GRID_SPACING]
        rot = rot @ _plane_rotation(geometry.normal)
    else:  # the loader only produces the four above
        _LOG.warning('shape %s has unsupported geometry %r; skipped', name, geometry)
        return None
    element = ET.SubElement(parent, 'geom', {
        'name': names.take(name), 'type': kind, 'size': _fmt(size),
        'pos': _fmt(pose.position), 'quat': _fmt(matrix_to_quat(rot)), **attrs})
    return element


def _visual_attrs(rgba: tuple[float, float, float, float] | None, group: int) -> dict[str, str]:
    return {'contype': '0', 'conaffinity': '0', 'group': str(group),
            'rgba': _fmt(rgba or DEFAULT_RGBA)}


def _collision_attrs(contype: int, conaffinity: int) -> dict[str, str]:
    return {'contype': str(contype), 'conaffinity': str(conaffinity),
            'group': str(GROUP_COLLISION), 'rgba': '0.5 0.5 0.5 0'}


def _camera(parent: ET.Element, camera: Camera, pose_in_parent: Pose) -> None:
    fovy = math.degrees(vertical_fov(camera.horizontal_fov, camera.width, camera.height))
    rot = sdf_to_mujoco_camera(pose_in_parent.rotation())
    ET.SubElement(parent, 'camera', {
        'name': camera.name, 'mode': 'fixed', 'pos': _fmt(pose_in_parent.position),
        'quat': _fmt(matrix_to_quat(rot)), 'fovy': f'{fovy:.9g}',
        'resolution': f'{camera.width} {camera.height}'})


def _static_model(worldbody: ET.Element, names: _Names, world: World) -> None:
    vehicles = {v.name for v in world.vehicles}
    cameras_by_model: dict[str, list[Camera]] = {}
    for camera in world.cameras:
        if camera.model not in vehicles:
            cameras_by_model.setdefault(camera.model, []).append(camera)
    for model in world.models:
        if not model.static:
            _LOG.info('model %s is not static in the SDF; the embedded simulator keeps it '
                      'fixed (only vehicles and actors move)', model.name)
        body = ET.SubElement(worldbody, 'body', {'name': model.name})
        for shape, pose in model.world_shapes():
            geom_name = f'{model.name}::{shape.name}'
            if shape.role is ShapeRole.VISUAL:
                _geom(body, names, geom_name, shape.geometry, pose,
                      _visual_attrs(shape.rgba, GROUP_STATIC_VISUAL))
            else:
                bit = COLLIDE_GROUND if isinstance(shape.geometry, Plane) else COLLIDE_OBSTACLE
                _geom(body, names, geom_name, shape.geometry, pose, _collision_attrs(bit, 0))
        for camera in cameras_by_model.get(model.name, []):
            _camera(body, camera, camera.pose)


def _drone(worldbody: ET.Element, names: _Names, vehicle: Vehicle, options: MjcfOptions) -> None:
    pose = vehicle.pose
    body = ET.SubElement(worldbody, 'body', {
        'name': vehicle.name, 'pos': _fmt(pose.position),
        'quat': _fmt(matrix_to_quat(pose.rotation()))})
    ET.SubElement(body, 'freejoint', {'name': root_joint_name(vehicle.name)})
    ET.SubElement(body, 'inertial', {'pos': '0 0 0', 'mass': f'{options.drone_mass:.9g}',
                                     'diaginertia': _fmt(options.drone_inertia)})
    collisions = [(shape.name, shape.geometry, pose) for shape, pose in
                  _link_shapes(vehicle.model.links, ShapeRole.COLLISION)]
    if not collisions:
        centre, size = vehicle_box(vehicle)
        collisions = [('hull', Box((float(size[0]), float(size[1]), float(size[2]))),
                       Pose(float(centre[0]), float(centre[1]), float(centre[2])))]
        _LOG.info('drone %s has no collision shape; using its visual bounding box', vehicle.name)
    for shape_name, geometry, shape_pose in collisions:
        _geom(body, names, f'{vehicle.name}::{shape_name}', geometry, shape_pose,
              _collision_attrs(COLLIDE_DRONE, DRONE_AFFINITY))
    for shape, shape_pose in _link_shapes(vehicle.model.links, ShapeRole.VISUAL):
        _geom(body, names, f'{vehicle.name}::{shape.name}', shape.geometry, shape_pose,
              _visual_attrs(shape.rgba, GROUP_VEHICLE_VISUAL))
    if vehicle.camera is not None:
        _camera(body, vehicle.camera, vehicle.camera.mount)


def _ground_vehicle(worldbody: ET.Element, names: _Names, vehicle: Vehicle,
                    options: MjcfOptions) -> None:
    # The body sits at the world origin (at the vehicle's height): the joints'
    # positions are then world x, y and yaw, set by the keyframe.
    body = ET.SubElement(worldbody, 'body', {'name': vehicle.name,
                                            'pos': _fmt((0.0, 0.0, vehicle.pose.z))})
    x_name, y_name, yaw_name = planar_joint_names(vehicle.name)
    ET.SubElement(body, 'joint', {'name': x_name, 'type': 'slide', 'axis': '1 0 0'})
    ET.SubElement(body, 'joint', {'name': y_name, 'type': 'slide', 'axis': '0 1 0'})
    ET.SubElement(body, 'joint', {'name': yaw_name, 'type': 'hinge', 'axis': '0 0 1'})
    inertia = options.ground_vehicle_yaw_inertia
    ET.SubElement(body, 'inertial', {
        'pos': '0 0 0', 'mass': f'{options.ground_vehicle_mass:.9g}',
        'diaginertia': _fmt((inertia, inertia, inertia))})
    placed = _link_shapes(vehicle.model.links, ShapeRole.COLLISION) or \
        _link_shapes(vehicle.model.links, None)
    hull = bounding_box((shape.geometry, pose) for shape, pose in placed)
    if hull is not None:
        centre, size = hull
        bottom = max(centre[2] - size[2] / 2.0, options.ground_clearance)
        top = max(centre[2] + size[2] / 2.0, bottom + 0.05)  # at least 5 cm tall
        _geom(body, names, f'{vehicle.name}::hull',
              Box((float(size[0]), float(size[1]), top - bottom)),
              Pose(float(centre[0]), float(centre[1]), (top + bottom) / 2.0),
              _collision_attrs(COLLIDE_ROVER, ROVER_AFFINITY))
    else:
        _LOG.warning('ground vehicle %s has no shape; it will not collide', vehicle.name)
    for shape, shape_pose in _link_shapes(vehicle.model.links, ShapeRole.VISUAL):
        _geom(body, names, f'{vehicle.name}::{shape.name}', shape.geometry, shape_pose,
              _visual_attrs(shape.rgba, GROUP_VEHICLE_VISUAL))
    if vehicle.camera is not None:
        _camera(body, vehicle.camera, vehicle.camera.mount)


def _actor(worldbody: ET.Element, names: _Names, actor: Actor) -> None:
    start = actor.pose_at(0.0)
    body = ET.SubElement(worldbody, 'body', {
        'name': actor.name, 'mocap': 'true', 'pos': _fmt(start.position),
        'quat': _fmt(matrix_to_quat(start.rotation()))})
    for index, (geometry, pose, rgba) in enumerate(actor_shapes(actor)):
        _geom(body, names, f'{actor.name}::shape_{index}', geometry, pose,
              _visual_attrs(rgba, GROUP_ACTOR_VISUAL))


def _light(worldbody: ET.Element, light: Light) -> None:
    scale = max(0.0, light.intensity)
    diffuse = [min(1.0, c * scale) for c in light.diffuse[:3]]
    attrs = {'name': light.name, 'pos': _fmt(light.pose.position), 'dir': _fmt(light.direction),
             'diffuse': _fmt(diffuse), 'specular': _fmt(light.specular[:3]),
             'castshadow': 'true' if light.cast_shadows else 'false'}
    if light.kind is LightKind.DIRECTIONAL:
        attrs['type'] = 'directional'
    elif light.kind is LightKind.SPOT:
        attrs['type'] = 'spot'
        if light.spot_outer_angle is not None:
            attrs['cutoff'] = f'{math.degrees(light.spot_outer_angle):.9g}'  # degrees in MJCF
        if light.spot_falloff is not None:
            attrs['exponent'] = f'{light.spot_falloff:.9g}'
    else:
        attrs['type'] = 'spot'  # a point light: a spot with a full-sphere cutoff
        attrs['cutoff'] = '180'
    ET.SubElement(worldbody, 'light', attrs)


def _scene_extent(world: World) -> tuple[np.ndarray, float]:
    """Centre and half-diagonal of everything finite in the world (m)."""
    points: list[np.ndarray] = []
    for model in world.models:
        box = bounding_box((s.geometry, p) for s, p in model.world_shapes())
        if box is not None:
            points.extend((box[0] - box[1] / 2.0, box[0] + box[1] / 2.0))
    points.extend(np.asarray(v.pose.position) for v in world.vehicles)
    points.extend(np.asarray(w.pose.position) for a in world.actors for w in a.waypoints)
    points.extend(np.asarray(c.pose.position) for c in world.cameras)
    if not points:
        return np.zeros(3), MIN_EXTENT
    stacked = np.vstack(points)
    low, high = stacked.min(axis=0), stacked.max(axis=0)
    return (low + high) / 2.0, max(MIN_EXTENT, float(np.linalg.norm(high - low)) / 2.0)


def _initial_qpos(world: World) -> list[float]:
    qpos: list[float] = []
    for vehicle in world.vehicles:
        pose = vehicle.pose
        if vehicle.kind is VehicleKind.DRONE:
            qpos.extend(pose.position)
            qpos.extend(matrix_to_quat(pose.rotation()))
        else:
            qpos.extend((pose.x, pose.y, pose.yaw))
    return qpos


def build_mjcf(world: World, options: MjcfOptions | None = None) -> str:
    """The MJCF XML text of ``world`` (see the module docstring for the choices)."""
    opts = options or MjcfOptions()
    timestep = opts.timestep or world.step_size or DEFAULT_TIMESTEP
    if not (math.isfinite(timestep) and timestep > 0.0):
        raise ValueError(f'physics timestep must be positive and finite, got {timestep!r}')
    centre, extent = _scene_extent(world)
    near = min((c.near for c in world.cameras), default=0.1)
    far = max((c.far for c in world.cameras), default=2.0 * extent)
    width = max([MIN_OFFSCREEN[0], *(c.width for c in world.cameras)])
    height = max([MIN_OFFSCREEN[1], *(c.height for c in world.cameras)])
    memory_mb = int(math.ceil(opts.memory_mb_base + opts.memory_mb_per_vehicle *
                              len(world.vehicles)))

    root = ET.Element('mujoco', {'model': world.name})
    ET.SubElement(root, 'compiler', {'angle': 'radian', 'autolimits': 'true'})
    ET.SubElement(root, 'option', {'timestep': f'{timestep:.9g}', 'gravity': _fmt(world.gravity)})
    ET.SubElement(root, 'size', {'memory': f'{memory_mb}M'})
    ET.SubElement(root, 'statistic', {'extent': f'{extent:.9g}', 'center': _fmt(centre)})
    visual = ET.SubElement(root, 'visual')
    ET.SubElement(visual, 'global', {'offwidth': str(width), 'offheight': str(height)})
    # No multisampling: it multiplies the software renderer's cost for little gain.
    ET.SubElement(visual, 'quality', {'offsamples': '0', 'shadowsize': '2048'})
    ET.SubElement(visual, 'headlight', {'ambient': _fmt(HEADLIGHT_AMBIENT),
                                        'diffuse': _fmt(HEADLIGHT_DIFFUSE),
                                        'specular': _fmt(HEADLIGHT_SPECULAR), 'active': '1'})
    ET.SubElement(visual, 'map', {'znear': f'{near / extent:.9g}', 'zfar': f'{far / extent:.9g}'})
    asset = ET.SubElement(root, 'asset')
    ET.SubElement(asset, 'texture', {
        'name': 'sky', 'type': 'skybox', 'builtin': 'gradient', 'rgb1': _fmt(SKY_TOP_RGB),
        'rgb2': _fmt(SKY_BOTTOM_RGB), 'width': str(SKY_TEXTURE_SIZE[0]),
        'height': str(SKY_TEXTURE_SIZE[1])})

    worldbody = ET.SubElement(root, 'worldbody')
    names = _Names()
    if world.lights:
        for light in world.lights:
            _light(worldbody, light)
    else:
        ET.SubElement(worldbody, 'light', {'name': 'default_sun', 'type': 'directional',
                                           'dir': _fmt(DEFAULT_SUN_DIRECTION),
                                           'diffuse': _fmt(DEFAULT_SUN_DIFFUSE),
                                           'pos': '0 0 100', 'castshadow': 'false'})
    _static_model(worldbody, names, world)
    for vehicle in world.vehicles:
        if vehicle.kind is VehicleKind.DRONE:
            _drone(worldbody, names, vehicle, opts)
        else:
            _ground_vehicle(worldbody, names, vehicle, opts)
    for actor in world.actors:
        _actor(worldbody, names, actor)
    if world.vehicles:
        keyframe = ET.SubElement(root, 'keyframe')
        ET.SubElement(keyframe, 'key', {'name': INITIAL_KEYFRAME,
                                        'qpos': _fmt(_initial_qpos(world))})
    ET.indent(root)
    return ET.tostring(root, encoding='unicode')
