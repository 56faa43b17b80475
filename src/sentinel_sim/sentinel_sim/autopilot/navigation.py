"""What each navigation behaviour is in the middle of: the RTL stage, the GUIDED target, the AUTO item.

Why a module of its own: these records are written by the mode state machine
(entering a mode resets them) and read by the setpoint code and the telemetry
(is the vehicle taking off? landing?). Keeping them as plain data apart from
both lets each side import them without importing the other.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from sentinel_sim.autopilot.mission import MissionItem
from sentinel_sim.vehicle_types import Vector3


class RtlStage(enum.Enum):
    """Return-to-launch progress: drones climb, return, loiter, descend; ground vehicles return."""

    CLIMB = 'climb'
    RETURN = 'return'
    LOITER = 'loiter'
    DESCEND = 'descend'
    DONE = 'done'


@dataclass
class Rtl:
    """An RTL in progress (RTL mode, or a mission's RETURN_TO_LAUNCH item)."""

    stage: RtlStage
    altitude: float          # ENU z of the return leg
    loiter_until: float = 0.0


class GuidedKind(enum.Enum):
    """What the last GUIDED request asked for."""

    HOLD = 'hold'
    TAKEOFF = 'takeoff'
    POSITION = 'position'
    VELOCITY = 'velocity'


@dataclass
class Guided:
    """The GUIDED target; a velocity target lapses at ``expires`` unless refreshed."""

    kind: GuidedKind
    position: Vector3 = Vector3()
    velocity: Vector3 = Vector3()
    yaw: float | None = None
    speed: float | None = None
    expires: float = math.inf


class NavStage(enum.Enum):
    """Progress through one AUTO navigation item."""

    START = 'start'
    MOVING = 'moving'
    WAITING = 'waiting'
    LANDING = 'landing'


@dataclass
class Nav:
    """The mission item AUTO is executing."""

    item: MissionItem
    stage: NavStage = NavStage.START
    target: Vector3 = Vector3()
    wait_until: float = 0.0
    rtl: Rtl | None = None
