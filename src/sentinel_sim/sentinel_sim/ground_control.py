"""Differential-drive controller for ground vehicles, vectorised over every vehicle.

Why this shape: a skid-steer rover cannot move sideways, so reaching a point
is "turn toward it, then drive", slowing near the goal and stopping inside a
tolerance (ArduPilot Rover's WP_RADIUS behaviour). The output is a forward
speed and a yaw rate that both fit the wheels' speed limit: the two wheel
speeds ``v -/+ w * track / 2`` are scaled down together, so the path's
curvature is kept when a wheel saturates.

Modes (``SetpointMode``):

* POSITION: drive to ``position`` (x, y; z ignored) at up to ``max_speed``,
  stop within :attr:`GroundParams.arrive_radius`, then turn to ``yaw`` if
  one is given.
* VELOCITY: follow the ENU ``velocity`` (x, y): turn to its heading, drive at
  its magnitude (at most ``max_speed``); a zero velocity stops (and turns to
  ``yaw`` if given).
* IDLE: drive off, the vehicle coasts to a stop (the physics applies only
  rolling resistance). KILL: drive off and brakes on (stops at once).
* LAND: meaningless for a ground vehicle; treated as a stop with brakes.

Pure numpy; the physics turns (speed, yaw rate) into forces on the planar
joints, within traction limits, so obstacles stop the vehicle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sentinel_sim.flight_control import KILL, LAND, POSITION, VELOCITY, SetpointBatch

MIN_COMMAND_SPEED = 0.05  # m/s, a velocity setpoint slower than this means "stop"


@dataclass(frozen=True)
class GroundParams:
    """Geometry, gains and limits of the differential drive (SI units)."""

    track_width: float = 0.8          # m, distance between left and right wheels
    max_wheel_speed: float = 3.0      # m/s, each wheel's ground speed limit
    max_yaw_rate: float = 1.5         # rad/s
    heading_gain: float = 2.5         # 1/s, heading error -> yaw rate
    distance_gain: float = 0.8        # 1/s, distance -> speed near the goal (slows down)
    arrive_radius: float = 0.3        # m, stop within this distance of a position target
    turn_in_place_angle: float = math.radians(35.0)  # rad, larger heading errors: turn first
    yaw_tolerance: float = math.radians(2.0)         # rad, final-yaw deadband

    def __post_init__(self) -> None:
        for name in ('track_width', 'max_wheel_speed', 'max_yaw_rate', 'heading_gain',
                     'distance_gain', 'arrive_radius', 'turn_in_place_angle'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f'GroundParams.{name} must be positive, got {value!r}')


@dataclass
class GroundStates:
    """What the controller needs to know about n ground vehicles."""

    position: np.ndarray  # (n, 2) m, ENU x/y
    yaw: np.ndarray       # (n,) rad, ENU


@dataclass
class GroundCommands:
    """Forward speed and yaw rate for each vehicle, and how the drive behaves."""

    speed: np.ndarray        # (n,) m/s along the body x axis
    yaw_rate: np.ndarray     # (n,) rad/s
    wheel_speeds: np.ndarray  # (n, 2) m/s, left and right
    drive_on: np.ndarray     # (n,) bool: motors hold the commanded speeds
    brake: np.ndarray        # (n,) bool: drive off, brakes on (KILL, LAND)


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped into [-pi, pi)."""
    wrapped: np.ndarray = (angle + np.pi) % (2.0 * np.pi) - np.pi
    return wrapped


@dataclass
class GroundController:
    """Differential drive for n vehicles (stateless apart from its parameters)."""

    count: int
    params: GroundParams = field(default_factory=GroundParams)

    def update(self, state: GroundStates, setpoints: SetpointBatch) -> GroundCommands:
        p = self.params
        mode = setpoints.mode
        speed_cap = np.clip(setpoints.max_speed, 0.0, p.max_wheel_speed)
        has_yaw = np.isfinite(setpoints.yaw)
        final_yaw = np.where(has_yaw, setpoints.yaw, state.yaw)

        # Where to go: a direction and how fast.
        to_goal = setpoints.position[:, :2] - state.position
        distance = np.hypot(to_goal[:, 0], to_goal[:, 1])
        wanted = setpoints.velocity[:, :2]
        wanted_speed = np.hypot(wanted[:, 0], wanted[:, 1])
        positional = mode == POSITION
        moving = np.where(positional, distance > p.arrive_radius,
                          (mode == VELOCITY) & (wanted_speed > MIN_COMMAND_SPEED))
        direction = np.where(positional[:, None], to_goal, wanted)
        bearing = np.arctan2(direction[:, 1], direction[:, 0])
        speed = np.where(positional, np.minimum(speed_cap, p.distance_gain * distance),
                         np.minimum(speed_cap, wanted_speed))

        # Heading error: toward the goal while moving, else toward the final yaw.
        heading_error = wrap_angle(np.where(moving, bearing, final_yaw) - state.yaw)
        stopped_error = np.where(np.abs(heading_error) > p.yaw_tolerance, heading_error, 0.0)
        heading_error = np.where(moving, heading_error, stopped_error)
        yaw_rate = np.clip(p.heading_gain * heading_error, -p.max_yaw_rate, p.max_yaw_rate)
        aligned = np.abs(heading_error) < p.turn_in_place_angle
        forward = np.where(moving & aligned, speed * np.cos(heading_error), 0.0)

        # Wheel limits: scale both wheels together to keep the curvature.
        half_track = p.track_width / 2.0
        left, right = forward - yaw_rate * half_track, forward + yaw_rate * half_track
        scale = np.maximum(1.0, np.maximum(np.abs(left), np.abs(right)) / p.max_wheel_speed)
        forward, yaw_rate = forward / scale, yaw_rate / scale

        # IDLE: neither drive nor brake, so the vehicle coasts.
        drive_on = (mode == POSITION) | (mode == VELOCITY)
        brake = (mode == KILL) | (mode == LAND)
        forward = np.where(drive_on, forward, 0.0)
        yaw_rate = np.where(drive_on, yaw_rate, 0.0)
        wheels = np.column_stack((forward - yaw_rate * half_track,
                                  forward + yaw_rate * half_track))
        return GroundCommands(forward, yaw_rate, wheels, drive_on, brake)
