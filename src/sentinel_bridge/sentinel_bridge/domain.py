"""What the operator API and its database talk about, free of ROS and SQL.

The ROS adapter converts messages into these records, the persistence layer
stores them, the HTTP layer serialises them. Keeping one plain vocabulary in the
middle means neither rclpy nor SQLAlchemy leaks into the other's tests.
Enumerations mirror the sentinel_msgs constants (a test checks the values).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime


class AlertSeverity(enum.IntEnum):
    """Mirror of Alert.SEVERITY_*."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


class AlertState(enum.IntEnum):
    """Mirror of Alert.STATE_*."""

    NEW = 0
    ACKNOWLEDGED = 1
    RESOLVED = 2


class TaskType(enum.IntEnum):
    """Mirror of Task.TYPE_*."""

    PATROL = 0
    INVESTIGATE = 1
    GOTO = 2
    HOLD = 3
    RTL = 4
    LAND = 5


class TaskState(enum.IntEnum):
    """Mirror of Task.STATE_*."""

    PENDING = 0
    ASSIGNED = 1
    ACTIVE = 2
    PAUSED = 3
    COMPLETED = 4
    FAILED = 5
    CANCELLED = 6


class CommandKind(enum.IntEnum):
    """Mirror of VehicleCommand.COMMAND_* (operators may send only a few of them)."""

    GOTO = 0
    HOLD = 1
    RTL = 2
    LAND = 3
    TAKEOFF = 4
    ARM = 5
    DISARM = 6
    FOLLOW_ROUTE = 7
    TERMINATE = 8


class Decision(enum.IntEnum):
    """Mirror of SafetyVerdict decisions."""

    APPROVED = 0
    APPROVED_WITH_CHANGES = 1
    REFUSED = 2


class EstopScope(enum.IntEnum):
    """Mirror of TriggerEstop.SCOPE_* (the request's numbering, not SafetyStatus's)."""

    FLEET = 0
    VEHICLE = 1


@dataclass(frozen=True)
class Point:
    """Site ENU position, metres."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


@dataclass(frozen=True)
class GeoPoint:
    """WGS84 position (degrees, metres above the ellipsoid)."""

    latitude_deg: float = 0.0
    longitude_deg: float = 0.0
    altitude: float = 0.0


@dataclass(frozen=True)
class AlertRecord:
    """One alert as last reported (by its owner over ROS, or after an operator action).

    `position` and `geo_position` are None for an alert that concerns no place (a drift
    alert is about every camera at once): its owner publishes NaN there, which no
    database column and no JSON document can carry.
    """

    alert_id: str
    severity: AlertSeverity
    category: str
    state: AlertState
    raised_at: datetime
    updated_at: datetime
    rule_id: str = ''
    zone_id: str = ''
    track_id: str = ''
    class_name: str = ''
    position: Point | None = None
    geo_position: GeoPoint | None = None
    description: str = ''
    evidence_uri: str = ''
    acknowledged_by: str = ''
    resolution_note: str = ''


@dataclass(frozen=True)
class AlertStateChange:
    """One step in an alert's life, as kept in its state history."""

    alert_id: str
    state: AlertState
    changed_at: datetime
    changed_by: str
    note: str
    source: str                 # 'ros' (the owner published it) or 'api' (an operator did it)


@dataclass(frozen=True)
class VehicleSnapshot:
    """The latest known state of one vehicle (the subset operators and history need)."""

    vehicle_id: str
    stamp: datetime
    vehicle_type: int
    armed: bool
    mode: str
    position: Point
    geo_position: GeoPoint
    velocity: Point
    heading_deg: float
    battery_voltage: float
    battery_remaining: float | None      # None when the autopilot does not know
    link_state: int
    link_quality: float
    gps_fix: int
    landed: bool
    current_task_id: str


@dataclass(frozen=True)
class TaskRecord:
    """A task as mission control last described it."""

    task_id: str
    task_type: TaskType
    state: TaskState
    updated_at: datetime
    vehicle_id: str = ''
    target: Point = Point()
    target_track_id: str = ''
    route: tuple[Point, ...] = ()
    priority: int = 0
    origin_alert_id: str = ''
    created_by: str = ''
    status_msg: str = ''


@dataclass(frozen=True)
class Verdict:
    """The safety gate's decision on one command."""

    decision: Decision
    reasons: tuple[str, ...] = ()
    checks_failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandRecord:
    """A motion command and, once known, the safety gate's verdict on it."""

    command_id: str
    vehicle_id: str
    command: CommandKind
    issued_by: str
    requested_at: datetime
    target: Point = Point()
    route: tuple[Point, ...] = ()
    speed_limit: float = 0.0
    task_id: str = ''
    source: str = 'ros'          # 'api' for operator commands
    verdict: Verdict | None = None
    error_code: int = 0
    error_msg: str = ''


@dataclass(frozen=True)
class EstopEvent:
    """Something that happened to the emergency stop (engaged, released, a release step)."""

    key: str                     # idempotency key: the same event stored twice is stored once
    kind: str                    # engaged, released, release_requested, release_confirmed, ...
    occurred_at: datetime
    actor: str = ''
    second_actor: str = ''
    scope: str = ''              # fleet, vehicle, or empty
    vehicle_ids: tuple[str, ...] = ()
    reason: str = ''
    outcome: str = ''


@dataclass(frozen=True)
class SafetySnapshot:
    """The safety watchdog's latest status, reduced to what operators read."""

    stamp: datetime
    estop_engaged: bool
    estop_scope: int             # SafetyStatus.SCOPE_*: 0 none, 1 vehicle, 2 fleet
    estopped_vehicle_ids: tuple[str, ...]
    estop_engaged_by: str
    estop_reason: str
    degraded_nodes: tuple[str, ...]
    vehicles: tuple[dict[str, object], ...] = field(default=())
    estop_engaged_at: datetime | None = None   # when the current e-stop was engaged


@dataclass(frozen=True)
class AuditRecord:
    """An operator action to be appended to the audit log (the chain fields come later)."""

    key: str                     # idempotency key: a replayed record is appended once
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: dict[str, object] = field(default_factory=dict)

    @classmethod
    def new(cls, at: datetime, actor: str, action: str, target: str, outcome: str,
            detail: dict[str, object] | None = None) -> AuditRecord:
        """A record of an action just taken, with a fresh idempotency key."""
        return cls(uuid.uuid4().hex, at, actor, action, target, outcome, detail or {})


@dataclass(frozen=True)
class AlertAction:
    """An operator's acknowledge/resolve: the alert as its owner returned it, and the step."""

    key: str                     # idempotency key of the action
    alert: AlertRecord
    change: AlertStateChange
