"""The 3D scene of the site, as Foxglove scene entities and transforms.

Two scene topics keep the bandwidth where it belongs. The *static* scene
(zones, fences and buildings, camera frusta) changes only when the zones do,
and is re-sent to each client that subscribes. The *live* scene (vehicles
with heading and task, tracks with id and class) is rebuilt at a fixed rate.
Frusta are drawn once in each camera's optical frame; the transform tree
(site -> vehicle -> camera -> optical) moves them with their vehicle, so they
need no re-sending. Everything here is pure: data in, dataclasses out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sentinel_bridge.foxglove_domain import (CameraMount, LinkState, StaticShape, TrackView,
                                             VehicleKind, VehicleView, ZoneKind, ZoneView)
from sentinel_bridge.foxglove_geometry import (IDENTITY, OPTICAL_IN_SENSOR, centroid,
                                               clean_polygon, frustum_segments, is_set, normalize,
                                               quat_from_yaw, rotate, triangulate,
                                               yaw_from_heading_deg)
from sentinel_bridge.foxglove_model import (SITE_FRAME, Arrow, Cube, Cylinder, FrameTransform,
                                            Line, LineKind, Pose3, Rgba, SceneEntity, SceneUpdate,
                                            Sphere, Text, Triangles, Vec3)

# Colour of each zone kind (outline; fills and walls use the same hue, translucent).
ZONE_COLORS: dict[ZoneKind, Rgba] = {
    ZoneKind.RESTRICTED: Rgba(0.90, 0.20, 0.20),          # red: people must not be here
    ZoneKind.PERIMETER: Rgba(1.00, 0.80, 0.10),           # yellow: the fence line
    ZoneKind.KEEP_OUT: Rgba(0.80, 0.25, 0.85),            # magenta: no vehicle
    ZoneKind.GATE: Rgba(0.10, 0.80, 0.90),                # cyan: access points
    ZoneKind.GEOFENCE_INCLUSION: Rgba(0.25, 0.85, 0.35),  # green: where vehicles may fly
    ZoneKind.GEOFENCE_EXCLUSION: Rgba(1.00, 0.50, 0.10),  # orange: airspace vehicles avoid
}

# Kinds painted with a translucent fill; perimeter and inclusion zones cover the
# whole site and would tint everything, so they get outlines only.
_FILLED_KINDS = frozenset({ZoneKind.RESTRICTED, ZoneKind.KEEP_OUT, ZoneKind.GATE,
                           ZoneKind.GEOFENCE_EXCLUSION})
ZONE_FILL_ALPHA = 0.22        # opacity of a zone's ground fill
ZONE_WALL_ALPHA = 0.08        # opacity of the walls of an extruded (floor..ceiling) zone
ZONE_GROUND_Z = 0.05          # m; outlines of ground zones float this high to avoid z-fighting
ZONE_LABEL_HEIGHT = 3.0       # m above a zone's floor where its name is written
ZONE_OUTLINE_PX = 3.0         # outline thickness, pixels

VEHICLE_COLORS: dict[LinkState, Rgba] = {
    LinkState.OK: Rgba(0.20, 0.55, 1.00),         # blue: our vehicle, link healthy
    LinkState.DEGRADED: Rgba(1.00, 0.60, 0.10),   # orange: telemetry late or lossy
    LinkState.LOST: Rgba(0.55, 0.55, 0.55),       # grey: no heartbeat
}
STALE_COLOR = Rgba(0.55, 0.55, 0.55)              # grey: no state received lately
DRONE_BODY = Vec3(1.0, 1.0, 0.3)                  # m, cylinder: rotor span and height
ROVER_BODY = Vec3(1.4, 0.9, 0.7)                  # m, box: length, width, height
HEADING_ARROW_LENGTH = 2.5                        # m, shaft of the heading arrow
VEHICLE_LABEL_HEIGHT = 1.8                        # m above the vehicle where its label sits

AUTHORIZED_COLOR = Rgba(0.20, 0.80, 0.30)         # green: expected presence (a guard)
INTRUDER_COLOR = Rgba(0.95, 0.15, 0.15)           # red: unauthorized track
# Display size of a track by class: (shape, size in m). Unknown classes get a sphere.
TRACK_SHAPES: dict[str, tuple[str, Vec3]] = {
    'person': ('cylinder', Vec3(0.6, 0.6, 1.8)),
    'vehicle': ('cube', Vec3(4.5, 1.9, 1.6)),
    'drone': ('sphere', Vec3(0.8, 0.8, 0.4)),
}
DEFAULT_TRACK_SHAPE = ('sphere', Vec3(1.0, 1.0, 1.0))
# A track not refreshed for this long (ns) vanishes, even if its deletion was lost.
TRACK_LIFETIME_NS = 2_000_000_000
MIN_ARROW_SPEED = 0.3                # m/s; slower tracks get no velocity arrow
VELOCITY_ARROW_HORIZON = 2.0         # s; the arrow shows where the track will be this much later
MAX_VELOCITY_ARROW = 10.0            # m, longest velocity arrow drawn

FRUSTUM_DEPTH = 6.0                  # m, how far each camera frustum is drawn
FRUSTUM_COLOR = Rgba(1.0, 1.0, 1.0, 0.8)
SCENERY_DEFAULT_RGBA = (0.6, 0.6, 0.6, 1.0)   # for SDF visuals without a material


def _optical_frame(camera_id: str) -> str:
    return f'{camera_id}_optical'


# --------------------------------------------------------------------------
# Static scene
# --------------------------------------------------------------------------

def zone_entity(zone: ZoneView, stamp_ns: int) -> SceneEntity:
    """A zone as an outline, a translucent fill, walls when it has a ceiling, and a label."""
    points = clean_polygon(zone.polygon)
    color = ZONE_COLORS.get(zone.kind, Rgba(1.0, 1.0, 1.0))
    bottom = zone.floor if math.isfinite(zone.floor) and zone.floor > 0.0 else ZONE_GROUND_Z
    lines = [Line(LineKind.LOOP, tuple(Vec3(x, y, bottom) for x, y in points), color,
                  ZONE_OUTLINE_PX)]
    triangles: list[Triangles] = []
    if zone.kind in _FILLED_KINDS:
        fill = tuple(Vec3(points[i][0], points[i][1], bottom)
                     for triangle in triangulate(points) for i in triangle)
        triangles.append(Triangles(fill, color.with_alpha(ZONE_FILL_ALPHA)))
    if math.isfinite(zone.ceiling) and zone.ceiling > bottom:
        top = zone.ceiling
        lines.append(Line(LineKind.LOOP, tuple(Vec3(x, y, top) for x, y in points), color,
                          ZONE_OUTLINE_PX / 2))
        lines.append(Line(LineKind.LIST, tuple(v for x, y in points
                                               for v in (Vec3(x, y, bottom), Vec3(x, y, top))),
                          color, ZONE_OUTLINE_PX / 2))
        walls: list[Vec3] = []
        for i, (x1, y1) in enumerate(points):
            x2, y2 = points[(i + 1) % len(points)]
            a, b = Vec3(x1, y1, bottom), Vec3(x2, y2, bottom)
            c, d = Vec3(x2, y2, top), Vec3(x1, y1, top)
            walls += [a, b, c, a, c, d]
        triangles.append(Triangles(tuple(walls), color.with_alpha(ZONE_WALL_ALPHA)))
    cx, cy = centroid(points)
    label = Text(Pose3(Vec3(cx, cy, bottom + ZONE_LABEL_HEIGHT)),
                 f'{zone.zone_id} ({zone.kind.name.lower()})', color)
    return SceneEntity(id=f'zone/{zone.zone_id}', frame_id=SITE_FRAME, timestamp_ns=stamp_ns,
                       metadata=(('kind', zone.kind.name.lower()),),
                       lines=tuple(lines), triangles=tuple(triangles), texts=(label,))


def scenery_entity(shapes: Sequence[StaticShape], stamp_ns: int) -> SceneEntity:
    """Fences, buildings and poles of the world as one entity of boxes and cylinders."""
    cubes: list[Cube] = []
    cylinders: list[Cylinder] = []
    for shape in shapes:
        pose = Pose3(Vec3(*shape.translation), normalize(shape.rotation))
        color = Rgba(*shape.rgba)
        if shape.shape == 'box':
            cubes.append(Cube(pose, Vec3(*shape.size), color))
        elif shape.shape == 'cylinder':
            cylinders.append(Cylinder(pose, Vec3(*shape.size), color))
        else:
            raise ValueError(f'scenery shape {shape.name!r}: unknown kind {shape.shape!r}')
    return SceneEntity(id='scenery', frame_id=SITE_FRAME, timestamp_ns=stamp_ns,
                       cubes=tuple(cubes), cylinders=tuple(cylinders))


def frustum_entity(mount: CameraMount, stamp_ns: int,
                   depth: float = FRUSTUM_DEPTH) -> SceneEntity:
    """A camera's frustum in its optical frame, frame-locked so it follows its vehicle."""
    points = frustum_segments(mount.horizontal_fov, mount.width, mount.height, depth)
    frame = _optical_frame(mount.camera_id)
    return SceneEntity(id=f'frustum/{mount.camera_id}', frame_id=frame, timestamp_ns=stamp_ns,
                       frame_locked=True,
                       lines=(Line(LineKind.LIST, tuple(Vec3(*p) for p in points),
                                   FRUSTUM_COLOR, 1.5),),
                       texts=(Text(Pose3(Vec3(0.0, 0.0, depth)), mount.camera_id,
                                   FRUSTUM_COLOR, 11.0),))


def static_entities(zones: Iterable[ZoneView], shapes: Sequence[StaticShape],
                    mounts: Iterable[CameraMount], stamp_ns: int,
                    problems: list[str] | None = None) -> tuple[SceneEntity, ...]:
    """Every entity of the static scene.

    A zone or mount that cannot be drawn (a degenerate polygon from /zones, a
    bad field of view) is left out and described in ``problems``; the rest of
    the scene is still drawn.
    """
    entities: list[SceneEntity] = []
    for zone in zones:
        try:
            entities.append(zone_entity(zone, stamp_ns))
        except ValueError as error:
            if problems is not None:
                problems.append(f'zone {zone.zone_id}: {error}')
    if shapes:
        entities.append(scenery_entity(shapes, stamp_ns))
    for mount in mounts:
        try:
            entities.append(frustum_entity(mount, stamp_ns))
        except ValueError as error:
            if problems is not None:
                problems.append(f'camera {mount.camera_id}: {error}')
    return tuple(entities)


def mount_transforms(mounts: Iterable[CameraMount], stamp_ns: int) -> tuple[FrameTransform, ...]:
    """Camera mounts (parent -> camera) and each camera's optical frame (camera -> optical)."""
    out: list[FrameTransform] = []
    for mount in mounts:
        out.append(FrameTransform(stamp_ns, mount.parent_frame, mount.camera_id,
                                  Vec3(*mount.translation), normalize(mount.rotation)))
        out.append(FrameTransform(stamp_ns, mount.camera_id, _optical_frame(mount.camera_id),
                                  Vec3(), OPTICAL_IN_SENSOR))
    return tuple(out)


# --------------------------------------------------------------------------
# Live scene
# --------------------------------------------------------------------------

def vehicle_orientation(vehicle: VehicleView) -> tuple[float, float, float, float]:
    """Body attitude when the autopilot reports one, else a yaw from the compass heading."""
    if is_set(vehicle.orientation):
        return normalize(vehicle.orientation)
    if math.isfinite(vehicle.heading_deg):
        return quat_from_yaw(yaw_from_heading_deg(vehicle.heading_deg))
    return IDENTITY


def _heading_quaternion(vehicle: VehicleView) -> tuple[float, float, float, float]:
    """Yaw-only rotation: the heading arrow stays level even when the drone pitches."""
    forward = rotate(vehicle_orientation(vehicle), (1.0, 0.0, 0.0))
    if math.hypot(forward[0], forward[1]) < 1e-6:
        return IDENTITY
    return quat_from_yaw(math.atan2(forward[1], forward[0]))


def vehicle_label(vehicle: VehicleView, age_s: float | None) -> str:
    """``drone_1 | GUIDED | 78% | task_7`` plus ``STALE 3.2 s`` when no recent state."""
    parts = [vehicle.vehicle_id, vehicle.mode or '?']
    if math.isfinite(vehicle.battery_remaining):
        parts.append(f'{round(vehicle.battery_remaining * 100)}%')
    parts.append(vehicle.task_id or 'idle')
    if not vehicle.armed:
        parts.append('disarmed')
    if age_s is not None:
        parts.append(f'STALE {age_s:.1f} s')
    return ' | '.join(parts)


def vehicle_entity(vehicle: VehicleView, now_ns: int, stale_after_ns: int) -> SceneEntity:
    """A vehicle body, a heading arrow and a label; grey when its state is stale."""
    age_ns = now_ns - vehicle.stamp_ns
    stale = age_ns > stale_after_ns
    color = STALE_COLOR if stale else VEHICLE_COLORS.get(vehicle.link, STALE_COLOR)
    position = Vec3(*vehicle.position)
    body_pose = Pose3(position, vehicle_orientation(vehicle))
    cubes: tuple[Cube, ...] = ()
    cylinders: tuple[Cylinder, ...] = ()
    if vehicle.kind is VehicleKind.DRONE:
        cylinders = (Cylinder(body_pose, DRONE_BODY, color),)
    else:
        lifted = Pose3(Vec3(position.x, position.y, position.z + ROVER_BODY.z / 2),
                       body_pose.orientation)
        cubes = (Cube(lifted, ROVER_BODY, color),)
    arrow = Arrow(Pose3(position, _heading_quaternion(vehicle)), HEADING_ARROW_LENGTH, 0.15,
                  0.8, 0.45, color)
    label = Text(Pose3(Vec3(position.x, position.y, position.z + VEHICLE_LABEL_HEIGHT)),
                 vehicle_label(vehicle, age_ns / 1e9 if stale else None), color)
    return SceneEntity(id=f'vehicle/{vehicle.vehicle_id}', frame_id=SITE_FRAME,
                       timestamp_ns=vehicle.stamp_ns,
                       metadata=(('vehicle_id', vehicle.vehicle_id), ('mode', vehicle.mode),
                                 ('task_id', vehicle.task_id)),
                       cubes=cubes, cylinders=cylinders, arrows=(arrow,), texts=(label,))


def track_label(track: TrackView) -> str:
    """``T12 person 87%`` plus ``authorized`` for expected presences."""
    text = f'{track.track_id} {track.class_name} {round(track.confidence * 100)}%'
    return text + ' authorized' if track.authorized else text


def track_entity(track: TrackView) -> SceneEntity:
    """A track's body by class, its 1-sigma uncertainty disc, velocity arrow and label."""
    color = AUTHORIZED_COLOR if track.authorized else INTRUDER_COLOR
    kind, size = TRACK_SHAPES.get(track.class_name, DEFAULT_TRACK_SHAPE)
    x, y, z = track.position
    centre = Pose3(Vec3(x, y, z + size.z / 2))
    cubes: tuple[Cube, ...] = ()
    cylinders: list[Cylinder] = []
    spheres: tuple[Sphere, ...] = ()
    if kind == 'cube':
        heading = math.atan2(track.velocity[1], track.velocity[0])
        cubes = (Cube(Pose3(centre.position, quat_from_yaw(heading)), size, color),)
    elif kind == 'cylinder':
        cylinders.append(Cylinder(centre, size, color))
    else:
        spheres = (Sphere(centre, size, color),)
    sigma = track.position_uncertainty
    if math.isfinite(sigma) and sigma > 0.0:
        cylinders.append(Cylinder(Pose3(Vec3(x, y, z + 0.02)), Vec3(2 * sigma, 2 * sigma, 0.04),
                                  color.with_alpha(0.25)))
    arrows: tuple[Arrow, ...] = ()
    speed = math.hypot(track.velocity[0], track.velocity[1])
    if speed >= MIN_ARROW_SPEED:
        length = min(speed * VELOCITY_ARROW_HORIZON, MAX_VELOCITY_ARROW)
        yaw = math.atan2(track.velocity[1], track.velocity[0])
        arrows = (Arrow(Pose3(Vec3(x, y, z + 0.1), quat_from_yaw(yaw)), length * 0.8, 0.1,
                        length * 0.2, 0.35, color),)
    label = Text(Pose3(Vec3(x, y, z + size.z + 1.0)), track_label(track), color)
    return SceneEntity(id=f'track/{track.track_id}', frame_id=SITE_FRAME,
                       timestamp_ns=track.stamp_ns, lifetime_ns=TRACK_LIFETIME_NS,
                       metadata=(('track_id', track.track_id), ('class', track.class_name)),
                       cubes=cubes, cylinders=tuple(cylinders), spheres=spheres, arrows=arrows,
                       texts=(label,))


def vehicle_transform(vehicle: VehicleView) -> FrameTransform:
    """site -> vehicle body frame, so vehicle cameras and frusta follow it."""
    return FrameTransform(vehicle.stamp_ns, SITE_FRAME, vehicle.vehicle_id,
                          Vec3(*vehicle.position), vehicle_orientation(vehicle))


class EntityTracker:
    """Remembers which entity ids a scene topic showed, to delete the ones that went away."""

    def __init__(self) -> None:
        self._shown: set[str] = set()

    def update(self, entities: Sequence[SceneEntity], stamp_ns: int) -> SceneUpdate:
        ids = {entity.id for entity in entities}
        gone = tuple(sorted(self._shown - ids))
        self._shown = ids
        return SceneUpdate(entities=tuple(entities), deletions=gone, timestamp_ns=stamp_ns)


def live_entities(vehicles: Iterable[VehicleView], tracks: Iterable[TrackView], now_ns: int,
                  stale_after_ns: int) -> tuple[SceneEntity, ...]:
    """Every entity of the live scene, vehicles first."""
    out = [vehicle_entity(vehicle, now_ns, stale_after_ns)
           for vehicle in sorted(vehicles, key=lambda v: v.vehicle_id)]
    out += [track_entity(track) for track in sorted(tracks, key=lambda t: t.track_id)]
    return tuple(out)
