"""What the dataset generator adds to a world: extra actors, clutter, and their schedule.

Why extra actors: the worlds script only a handful of intruders, on paths far
from most cameras, so their frames hold few and mostly tiny objects. The
generator adds a cast of persons, vehicles and drones of several shapes and
moves every actor (the world's own too) along a schedule it writes itself:
waypoint ``k`` holds the pose wanted in sample ``k`` at time ``k *
SCHEDULE_PERIOD``. The simulator then places them exactly as its scripted
actors, so rendering and ground truth agree by construction.

Clutter: static models (crates, cabinets, barrels, walls, bushes, poles)
that the generator moves between samples; they occlude objects and act as
hard negatives. Pure: this module builds :class:`~sentinel_sim.world.World`
values, no MuJoCo here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sentinel_sim.mjcf_builder import actor_box, actor_shapes, entity_box, vehicle_box
from sentinel_sim.vehicle_types import VehicleKind
from sentinel_sim.world import (
    Actor,
    ActorKind,
    Box,
    Cylinder,
    Geometry,
    Link,
    Model,
    Pose,
    Shape,
    ShapeRole,
    Sphere,
    Waypoint,
    World,
)

# s between the poses of consecutive samples in an actor schedule. Long enough
# that the one physics step taken before a render moves an actor by well under
# a millimetre (interpolation fraction step / period).
SCHEDULE_PERIOD = 10_000.0
# m: where unused actors, vehicles and clutter wait, far beyond every camera's far plane.
PARK_DISTANCE = 100_000.0
# m: spacing of parked things, so none overlap.
PARK_SPACING = 50.0
# Prefixes of the names the generator adds (no world uses them).
EXTRA_ACTOR_PREFIX = 'dr_actor_'
CLUTTER_PREFIX = 'dr_clutter_'

# Colours are (r, g, b, a) in 0..1.
Rgba = tuple[float, float, float, float]
_SKIN = (0.8, 0.62, 0.5, 1.0)
_CLOTH = (0.2, 0.2, 0.25, 1.0)
_DARK = (0.08, 0.08, 0.08, 1.0)
_PAINT = (0.5, 0.05, 0.05, 1.0)
_GLASS = (0.2, 0.25, 0.3, 1.0)
_FRAME = (0.15, 0.15, 0.17, 1.0)
_ROTOR = (0.3, 0.3, 0.3, 1.0)

# Shape variants per class: (geometry, pose in the actor frame, colour, role) where
# role says how the colour is randomised: 'skin', 'cloth', 'paint', 'keep'.
ShapeSpec = tuple[Geometry, Pose, Rgba, str]

PERSON_VARIANTS: tuple[tuple[ShapeSpec, ...], ...] = (
    (  # the simulator's default person: body cylinder and head
        (Cylinder(0.22, 1.5), Pose(z=0.8), _CLOTH, 'cloth'),
        (Sphere(0.12), Pose(z=1.66), _SKIN, 'skin'),
    ),
    (  # torso, legs and arms
        (Box((0.26, 0.42, 0.62)), Pose(z=1.17), _CLOTH, 'cloth'),
        (Box((0.16, 0.15, 0.86)), Pose(y=0.11, z=0.43), _CLOTH, 'cloth'),
        (Box((0.16, 0.15, 0.86)), Pose(y=-0.11, z=0.43), _CLOTH, 'cloth'),
        (Box((0.1, 0.1, 0.62)), Pose(y=0.27, z=1.12), _CLOTH, 'cloth'),
        (Box((0.1, 0.1, 0.62)), Pose(y=-0.27, z=1.12), _CLOTH, 'cloth'),
        (Sphere(0.11), Pose(z=1.6), _SKIN, 'skin'),
    ),
    (  # crouching
        (Box((0.5, 0.4, 0.3)), Pose(z=0.15), _CLOTH, 'cloth'),
        (Box((0.3, 0.42, 0.5)), Pose(x=-0.05, z=0.55, pitch=0.3), _CLOTH, 'cloth'),
        (Sphere(0.11), Pose(x=0.05, z=0.92), _SKIN, 'skin'),
    ),
    (  # with a backpack
        (Cylinder(0.2, 1.45), Pose(z=0.78), _CLOTH, 'cloth'),
        (Box((0.2, 0.34, 0.45)), Pose(x=-0.28, z=1.15), _DARK, 'cloth'),
        (Sphere(0.12), Pose(z=1.62), _SKIN, 'skin'),
    ),
)

VEHICLE_VARIANTS: tuple[tuple[ShapeSpec, ...], ...] = (
    (  # the simulator's default car
        (Box((4.5, 1.8, 0.8)), Pose(z=0.6), _PAINT, 'paint'),
        (Box((2.4, 1.6, 0.6)), Pose(x=-0.3, z=1.25), _GLASS, 'keep'),
    ),
    (  # van
        (Box((5.0, 2.0, 1.8)), Pose(z=1.25), _PAINT, 'paint'),
        (Box((0.1, 1.8, 0.7)), Pose(x=2.5, z=1.6), _GLASS, 'keep'),
        *((Cylinder(0.36, 0.25), Pose(x=x, y=y, z=0.36, roll=math.pi / 2), _DARK, 'keep')
          for x in (-1.6, 1.6) for y in (-0.9, 0.9)),
    ),
    (  # pickup
        (Box((4.9, 1.9, 0.6)), Pose(z=0.7), _PAINT, 'paint'),
        (Box((1.9, 1.8, 0.8)), Pose(x=0.6, z=1.4), _PAINT, 'paint'),
        (Box((0.1, 1.7, 0.55)), Pose(x=1.56, z=1.45), _GLASS, 'keep'),
        *((Cylinder(0.38, 0.28), Pose(x=x, y=y, z=0.38, roll=math.pi / 2), _DARK, 'keep')
          for x in (-1.5, 1.5) for y in (-0.85, 0.85)),
    ),
    (  # box truck
        (Box((2.0, 2.2, 2.0)), Pose(x=2.5, z=1.4), _PAINT, 'paint'),
        (Box((5.0, 2.4, 2.6)), Pose(x=-1.2, z=1.9), _PAINT, 'paint'),
        *((Cylinder(0.45, 0.3), Pose(x=x, y=y, z=0.45, roll=math.pi / 2), _DARK, 'keep')
          for x in (-2.8, 2.6) for y in (-1.0, 1.0)),
    ),
)

_ROTOR_POSITIONS = tuple((0.2 * sx, 0.2 * sy) for sx in (-1, 1) for sy in (-1, 1))
DRONE_VARIANTS: tuple[tuple[ShapeSpec, ...], ...] = (
    (  # the simulator's default intruder drone
        (Box((0.35, 0.35, 0.12)), Pose(), (0.9, 0.9, 0.9, 1.0), 'paint'),
        *((Cylinder(0.12, 0.01), Pose(x=x, y=y, z=0.07), _ROTOR, 'keep')
          for x, y in _ROTOR_POSITIONS),
    ),
    (  # X-frame quadcopter like the own drones
        (Box((0.36, 0.2, 0.1)), Pose(), _FRAME, 'paint'),
        (Box((0.5, 0.03, 0.02)), Pose(yaw=math.pi / 4), _FRAME, 'keep'),
        (Box((0.5, 0.03, 0.02)), Pose(yaw=-math.pi / 4), _FRAME, 'keep'),
        *((Cylinder(0.1, 0.005), Pose(x=x * 0.9, y=y * 0.9, z=0.03), (0.7, 0.7, 0.72, 1.0), 'keep')
          for x, y in _ROTOR_POSITIONS),
    ),
    (  # hexacopter
        (Cylinder(0.14, 0.12), Pose(), (0.9, 0.9, 0.9, 1.0), 'paint'),
        *((Cylinder(0.13, 0.01), Pose(x=0.38 * math.cos(a), y=0.38 * math.sin(a), z=0.08), _ROTOR,
           'keep')
          for a in np.linspace(0.0, 2 * math.pi, 6, endpoint=False).tolist()),
    ),
    (  # small fixed wing
        (Box((1.1, 0.14, 0.14)), Pose(), (0.9, 0.9, 0.9, 1.0), 'paint'),
        (Box((0.25, 1.6, 0.03)), Pose(x=0.1, z=0.05), (0.9, 0.9, 0.9, 1.0), 'paint'),
        (Box((0.15, 0.5, 0.03)), Pose(x=-0.5, z=0.05), _FRAME, 'keep'),
        (Box((0.15, 0.03, 0.22)), Pose(x=-0.5, z=0.14), _FRAME, 'keep'),
    ),
)

VARIANTS = {'person': PERSON_VARIANTS, 'vehicle': VEHICLE_VARIANTS, 'drone': DRONE_VARIANTS}
_ACTOR_KIND = {'person': ActorKind.PERSON, 'vehicle': ActorKind.VEHICLE, 'drone': ActorKind.DRONE}

# Clutter shapes: (geometry, pose in the clutter frame, colour); the frame sits on the ground.
CLUTTER_VARIANTS: tuple[tuple[tuple[Geometry, Pose, Rgba], ...], ...] = (
    ((Box((1.2, 1.0, 1.0)), Pose(z=0.5), (0.55, 0.42, 0.25, 1.0)),),            # crate
    ((Box((0.8, 0.6, 1.8)), Pose(z=0.9), (0.6, 0.62, 0.6, 1.0)),),              # cabinet
    ((Cylinder(0.3, 0.9), Pose(z=0.45), (0.2, 0.35, 0.6, 1.0)),),               # barrel
    ((Box((5.0, 0.25, 2.0)), Pose(z=1.0), (0.7, 0.7, 0.68, 1.0)),),             # wall
    ((Sphere(0.9), Pose(z=0.6), (0.25, 0.4, 0.2, 1.0)),),                       # bush
    ((Cylinder(0.12, 4.5), Pose(z=2.25), (0.4, 0.4, 0.42, 1.0)),),              # pole
    ((Box((6.0, 2.4, 2.6)), Pose(z=1.3), (0.2, 0.4, 0.55, 1.0)),),              # container
    ((Cylinder(0.18, 0.55), Pose(z=0.275), (0.95, 0.45, 0.1, 1.0)),),           # traffic cone
    ((Cylinder(0.22, 1.6), Pose(z=0.8), (0.3, 0.3, 0.3, 1.0)),),                # bollard (person-sized)
    ((Box((2.0, 1.0, 0.08)), Pose(z=0.04), (0.3, 0.3, 0.3, 1.0)),),             # plate on the ground
    ((Box((1.5, 1.5, 0.6)), Pose(z=0.3), (0.5, 0.5, 0.45, 1.0)),
     (Box((0.6, 0.6, 0.6)), Pose(x=0.3, z=0.9), (0.5, 0.45, 0.35, 1.0))),     # stacked boxes
    ((Box((3.0, 0.1, 1.2)), Pose(z=1.5), (0.3, 0.5, 0.3, 1.0)),
     (Cylinder(0.05, 2.1), Pose(x=-1.4, z=1.05), (0.4, 0.4, 0.4, 1.0)),
     (Cylinder(0.05, 2.1), Pose(x=1.4, z=1.05), (0.4, 0.4, 0.4, 1.0))),        # sign board
)


@dataclass(frozen=True)
class Slot:
    """One thing the generator can place: an actor, an own vehicle or a clutter model."""

    name: str            # body name in the MuJoCo model
    cls: str             # 'person', 'vehicle', 'drone' or 'clutter'
    source: str          # 'actor', 'own_drone', 'own_rover' or 'clutter'
    size: tuple[float, float, float]    # m, ground-truth box extents
    centre: tuple[float, float, float]  # m, box centre in the body frame
    airborne: bool       # placed in the air (drones) rather than on the ground

    @property
    def radius(self) -> float:
        """Footprint radius (m) used to keep placed things apart."""
        return 0.5 * math.hypot(self.size[0], self.size[1])

    @property
    def apparent_height(self) -> float:
        """The extent (m) that sets how tall the object looks: height, or span for drones."""
        return max(self.size) if self.airborne else self.size[2]


@dataclass(frozen=True)
class Cast:
    """The extra actors and clutter of one build, and every placeable slot."""

    extra_actors: tuple[Actor, ...]
    clutter: tuple[Model, ...]
    slots: tuple[Slot, ...]

    def of_class(self, cls: str) -> list[Slot]:
        return [s for s in self.slots if s.cls == cls]


def _links(name: str, shapes: Sequence[tuple[Geometry, Pose, Rgba]]) -> tuple[Link, ...]:
    return (Link(f'{name}::link', Pose(), tuple(
        Shape(f'shape_{i}', ShapeRole.VISUAL, geometry, pose, rgba)
        for i, (geometry, pose, rgba) in enumerate(shapes))),)


def shape_roles(cls: str, variant: int) -> tuple[str, ...]:
    """How each shape of an actor variant is recoloured (see ShapeSpec)."""
    return tuple(role for _, _, _, role in VARIANTS[cls][variant])


def make_cast(world: World, counts: dict[str, int], clutter_count: int,
              rng: np.random.Generator) -> tuple[Cast, dict[str, tuple[str, ...]]]:
    """Extra actors (``counts`` per class), clutter models, and every slot of ``world``.

    Returns the cast and, per actor body name, the recolouring role of each of
    its shapes (the world's own actors: 'cloth'/'paint' for the first shape).
    """
    extra: list[Actor] = []
    roles: dict[str, tuple[str, ...]] = {}
    for cls in ('person', 'vehicle', 'drone'):
        for i in range(counts.get(cls, 0)):
            variant = int(rng.integers(len(VARIANTS[cls])))
            name = f'{EXTRA_ACTOR_PREFIX}{cls}_{i}'
            specs = VARIANTS[cls][variant]
            extra.append(Actor(name, _ACTOR_KIND[cls], False,
                               (Waypoint(0.0, park_pose(len(extra))),), False, 0.0, True,
                               _links(name, [(g, p, c) for g, p, c, _ in specs])))
            roles[name] = shape_roles(cls, variant)
    for actor in world.actors:  # recolour the main shape, keep heads, wheels and rotors
        main = 'cloth' if actor.kind is ActorKind.PERSON else 'paint'
        roles[actor.name] = (main,) + ('keep',) * (len(actor_shapes(actor)) - 1)
    clutter = []
    for i in range(clutter_count):
        variant = CLUTTER_VARIANTS[int(rng.integers(len(CLUTTER_VARIANTS)))]
        name = f'{CLUTTER_PREFIX}{i}'
        clutter.append(Model(name, Pose(), True, _links(name, variant)))

    slots: list[Slot] = []
    for actor in (*world.actors, *extra):
        centre, size = actor_box(actor)
        cls = actor.kind.value
        slots.append(Slot(actor.name, cls, 'actor', _triple(size), _triple(centre), cls == 'drone'))
    for vehicle in world.vehicles:
        centre, size = vehicle_box(vehicle)
        drone = vehicle.kind is VehicleKind.DRONE
        slots.append(Slot(vehicle.name, 'drone' if drone else 'vehicle',
                          'own_drone' if drone else 'own_rover', _triple(size), _triple(centre),
                          drone))
    for model in clutter:
        shapes = [(s.geometry, s.pose) for link in model.links for s in link.shapes]
        centre, size = entity_box(shapes)
        slots.append(Slot(model.name, 'clutter', 'clutter', _triple(size), _triple(centre), False))
    return Cast(tuple(extra), tuple(clutter), tuple(slots)), roles


def park_pose(index: int, height: float = 0.0) -> Pose:
    """Where unused thing number ``index`` waits (far beyond every far plane)."""
    return Pose(PARK_DISTANCE + PARK_SPACING * index, PARK_DISTANCE, height)


def scheduled_world(world: World, cast: Cast, schedule: dict[str, list[Pose]]) -> World:
    """``world`` with the cast added and every actor following ``schedule``.

    ``schedule[name][k]`` is actor ``name``'s pose in sample ``k``; every actor
    of the result holds it at time ``k * SCHEDULE_PERIOD`` and moves linearly
    between samples (never observed: samples are rendered at those instants).
    """
    actors = []
    for actor in (*world.actors, *cast.extra_actors):
        poses = schedule.get(actor.name)
        if not poses:
            raise ValueError(f'no schedule for actor {actor.name!r}')
        waypoints = tuple(Waypoint(k * SCHEDULE_PERIOD, pose) for k, pose in enumerate(poses))
        actors.append(dataclasses.replace(actor, waypoints=waypoints, loop=False,
                                          delay_start=0.0, auto_start=True))
    return dataclasses.replace(world, actors=tuple(actors), models=world.models + cast.clutter)


def _triple(values: np.ndarray) -> tuple[float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]))
