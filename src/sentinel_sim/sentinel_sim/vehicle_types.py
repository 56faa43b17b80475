"""Types shared by the simulated airframes and their emulated autopilots.

The physics (MuJoCo) and the autopilot (MAVLink) live in separate modules so
that either can be tested alone; these dataclasses are the only contract
between them. All quantities are SI in the site's ENU frame (x east, y north,
z up, metres, origin at the world's ``spherical_coordinates``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class VehicleKind(enum.Enum):
    """What kind of airframe a simulated vehicle is (decides its dynamics)."""

    DRONE = 'drone'
    GROUND = 'ground'


class SetpointMode(enum.Enum):
    """What the low-level controller is asked to do this step."""

    IDLE = 'idle'            # disarmed or motors off: no thrust, wheels free-roll to a stop
    POSITION = 'position'    # fly/drive to `position` at up to `max_speed`, then hold
    VELOCITY = 'velocity'    # track `velocity` (ENU) for as long as it is commanded
    LAND = 'land'            # descend at `max_speed` above the current x/y and cut motors on touchdown
    KILL = 'kill'            # flight termination: motors stop at once (drones fall)


@dataclass(frozen=True)
class Vector3:
    """A point or vector in the site ENU frame (metres or metres per second)."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


@dataclass(frozen=True)
class Setpoint:
    """One command for a vehicle's cascaded controller, held until replaced."""

    mode: SetpointMode = SetpointMode.IDLE
    position: Vector3 = Vector3()
    velocity: Vector3 = Vector3()
    yaw: float | None = None  # rad, ENU (0 = east, counter-clockwise); None keeps heading
    max_speed: float = 5.0    # m/s, horizontal for drones, forward for ground vehicles


@dataclass(frozen=True)
class BodyState:
    """What the physics knows about one vehicle after a step (ground truth)."""

    position: Vector3
    velocity: Vector3
    roll: float   # rad
    pitch: float  # rad
    yaw: float    # rad, ENU
    on_ground: bool
    motors_on: bool
    crashed: bool = False
