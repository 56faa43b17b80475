"""The watchdog's vocabulary: plain, immutable values with no rclpy or message types.

Why a module of its own: the gate, the monitor, the e-stop and the MAVLink
path all speak about the same vehicles, commands and actions. Keeping these
types free of ROS lets every logic module be tested with plain pytest and
hypothesis, and lets the node convert messages in exactly one place
(``convert.py``). Enum values mirror the message constants so conversion is
a cast, and a test checks they stay in step.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class VehicleType(enum.Enum):
    """Airframe family, as the site configuration names it (``kind``)."""

    DRONE = 'drone'
    GROUND = 'ground'


class Action(enum.IntEnum):
    """Graded safety responses, least to most severe (VehicleSafety.FAILSAFE_*).

    The order is the point: when several causes ask for different actions the
    most severe wins, and an automatic response never steps down.
    """

    NONE = 0
    WARN = 1
    HOLD = 2
    RETURN = 3
    LAND = 4
    TERMINATE = 5


class CommandKind(enum.IntEnum):
    """What a VehicleCommand asks for (VehicleCommand.COMMAND_*)."""

    GOTO = 0
    HOLD = 1
    RTL = 2
    LAND = 3
    TAKEOFF = 4
    ARM = 5
    DISARM = 6
    FOLLOW_ROUTE = 7
    TERMINATE = 8


# Commands that make a vehicle move somewhere new; they get the full gate.
MOTION_COMMANDS = frozenset({CommandKind.GOTO, CommandKind.TAKEOFF, CommandKind.FOLLOW_ROUTE,
                             CommandKind.ARM})

# How far towards safety each command goes, on the Action scale. Motion
# commands rank NONE; DISARM is only ever approved on the ground, where it is
# the end state of every stop.
COMMAND_RANK: dict[CommandKind, Action] = {
    CommandKind.GOTO: Action.NONE,
    CommandKind.TAKEOFF: Action.NONE,
    CommandKind.FOLLOW_ROUTE: Action.NONE,
    CommandKind.ARM: Action.NONE,
    CommandKind.HOLD: Action.HOLD,
    CommandKind.RTL: Action.RETURN,
    CommandKind.LAND: Action.LAND,
    CommandKind.TERMINATE: Action.TERMINATE,
    CommandKind.DISARM: Action.TERMINATE,
}

# The VehicleCommand that carries each stopping action to the vehicle interface.
ACTION_COMMAND: dict[Action, CommandKind] = {
    Action.HOLD: CommandKind.HOLD,
    Action.RETURN: CommandKind.RTL,
    Action.LAND: CommandKind.LAND,
    Action.TERMINATE: CommandKind.TERMINATE,
}


class Decision(enum.IntEnum):
    """The gate's answer (SafetyVerdict.*)."""

    APPROVED = 0
    APPROVED_WITH_CHANGES = 1
    REFUSED = 2


class LinkState(enum.IntEnum):
    """VehicleState.LINK_*."""

    OK = 0
    DEGRADED = 1
    LOST = 2


class GpsFix(enum.IntEnum):
    """VehicleState.GPS_*; ordered, so ``fix >= GpsFix.FIX_3D`` reads naturally."""

    NO_FIX = 0
    FIX_2D = 1
    FIX_3D = 2
    RTK = 3


class EstopCategory(enum.Enum):
    """How an emergency stop stops a vehicle; chosen per vehicle type in the config."""

    HOLD = 'hold'            # hold position (ArduCopter LOITER, ArduRover HOLD)
    BRAKE = 'brake'          # stop as hard as allowed, then hold (ArduCopter BRAKE)
    LAND = 'land'            # descend and disarm where it is (drones only)
    TERMINATE = 'terminate'  # motors off at once; only where the config allows it


# The Action rank of each e-stop category: commands less severe than this are
# refused while a vehicle is e-stopped.
ESTOP_RANK: dict[EstopCategory, Action] = {
    EstopCategory.HOLD: Action.HOLD,
    EstopCategory.BRAKE: Action.HOLD,
    EstopCategory.LAND: Action.LAND,
    EstopCategory.TERMINATE: Action.TERMINATE,
}


@dataclass(frozen=True)
class Vec3:
    """A point or vector in the site ENU frame (metres, or metres per second)."""

    x: float
    y: float
    z: float

    def __sub__(self, other: Vec3) -> Vec3:
        return Vec3(self.x - other.x, self.y - other.y, self.z - other.z)

    def __add__(self, other: Vec3) -> Vec3:
        return Vec3(self.x + other.x, self.y + other.y, self.z + other.z)

    def scaled(self, factor: float) -> Vec3:
        return Vec3(self.x * factor, self.y * factor, self.z * factor)

    @property
    def xy(self) -> tuple[float, float]:
        return (self.x, self.y)

    def horizontal_norm(self) -> float:
        return math.hypot(self.x, self.y)

    def is_finite(self) -> bool:
        return math.isfinite(self.x) and math.isfinite(self.y) and math.isfinite(self.z)

    def lerp(self, other: Vec3, t: float) -> Vec3:
        """The point a fraction ``t`` of the way to ``other``."""
        return Vec3(self.x + (other.x - self.x) * t, self.y + (other.y - self.y) * t,
                    self.z + (other.z - self.z) * t)


@dataclass(frozen=True)
class VehicleSnapshot:
    """One VehicleState as the watchdog needs it, stamped with its arrival time.

    ``received_at`` is the watchdog's monotonic clock, not the message stamp:
    staleness is judged by when data reached the watchdog, which does not
    depend on another host's clock being right.
    """

    vehicle_id: str
    vehicle_type: VehicleType
    armed: bool
    mode: str
    position: Vec3
    velocity: Vec3
    battery_remaining: float   # fraction 0..1; NaN when unknown
    link: LinkState
    gps_fix: GpsFix
    landed: bool
    received_at: float         # s, monotonic


@dataclass(frozen=True)
class Command:
    """A proposed VehicleCommand, as the gate sees it."""

    command_id: str
    vehicle_id: str
    kind: CommandKind
    target: Vec3
    route: tuple[Vec3, ...]
    speed_limit: float         # m/s; 0 means "vehicle default"
    task_id: str
    issued_by: str


@dataclass(frozen=True)
class Verdict:
    """The gate's decision with one human reason and one check id per finding."""

    decision: Decision
    reasons: tuple[str, ...] = ()
    checks_failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopOrder:
    """An action the watchdog itself sends to a vehicle (no gate needed).

    ``via_topic`` publishes it on /safety/approved_commands for the vehicle
    interface; ``via_mavlink`` sends it over the watchdog's own MAVLink path.
    ``latched`` keeps the MAVLink path re-asserting it (e-stop) until released.
    """

    vehicle_id: str
    action: Action
    reason: str
    via_topic: bool
    via_mavlink: bool
    category: EstopCategory | None = None   # set for e-stops: which stop to use
    latched: bool = False


@dataclass(frozen=True)
class LinkHeard:
    """What the watchdog's own MAVLink path last heard from a vehicle (monotonic s)."""

    last_heartbeat: float | None    # None: never heard
    armed: bool | None              # from that heartbeat
