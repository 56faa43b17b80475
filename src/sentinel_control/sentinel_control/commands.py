"""Commands the vehicle interface executes and the result each one gets.

Domain objects shared by the vehicle interface (which executes approved
commands) and mission control (which proposes them and waits for results);
the node wrappers convert VehicleCommand messages to and from these.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

Point = tuple[float, float, float]   # site ENU, metres


class CommandKind(enum.IntEnum):
    """Mirror of VehicleCommand.COMMAND_*."""

    GOTO = 0
    HOLD = 1
    RTL = 2
    LAND = 3
    TAKEOFF = 4
    ARM = 5
    DISARM = 6
    FOLLOW_ROUTE = 7
    TERMINATE = 8


class Outcome(enum.Enum):
    """How a command ended; every command gets exactly one."""

    ACCEPTED = 'accepted'     # every step acknowledged (or sent, for unacknowledged setpoints)
    REJECTED = 'rejected'     # refused by the vehicle (MAV_RESULT / MAV_MISSION_RESULT) or here
    TIMED_OUT = 'timed_out'   # no answer after every retry, or a wait that never came true
    CANCELLED = 'cancelled'   # replaced by a newer command for the same vehicle before it ended


@dataclass(frozen=True)
class Command:
    """An approved motion command for one vehicle.

    ``look_at``: a point the vehicle (and its camera) should face at the GOTO
    target; taken from the first point of a GOTO's ``route`` (see docs/control.md).
    """

    command_id: str
    vehicle_id: str
    kind: CommandKind
    target: Point = (0.0, 0.0, 0.0)
    route: tuple[Point, ...] = ()
    speed_limit: float = 0.0      # m/s; 0 keeps the vehicle's default
    task_id: str = ''
    issued_by: str = ''
    look_at: Point | None = None

    def invalid_reason(self) -> str | None:
        """Why the command cannot be executed as given, or None."""
        if not self.command_id:
            return 'command_id is empty'
        if not all(math.isfinite(v) for v in self.target):
            return 'target is not finite'
        if not math.isfinite(self.speed_limit) or self.speed_limit < 0.0:
            return f'speed_limit {self.speed_limit} is not a speed (m/s, 0 = vehicle default)'
        if any(not all(math.isfinite(v) for v in p) for p in self.route):
            return 'route has a non-finite point'
        if self.look_at is not None and not all(math.isfinite(v) for v in self.look_at):
            return 'look-at point is not finite'
        if self.kind is CommandKind.FOLLOW_ROUTE and not self.route:
            return 'FOLLOW_ROUTE needs at least one route point'
        return None


@dataclass(frozen=True)
class CommandResult:
    """The one result of one command."""

    command_id: str
    vehicle_id: str
    task_id: str
    kind: CommandKind
    outcome: Outcome
    mav_result: str = ''      # e.g. MAV_RESULT_DENIED, MAV_MISSION_NO_SPACE; empty when not from the vehicle
    reason: str = ''          # human-readable; which step failed and why
    elapsed: float = 0.0      # seconds from start to result
