"""Request and response bodies of the operator API (they make the OpenAPI document).

Every input is bounded (lengths, ranges, finite numbers, known enumerations)
and checked as a whole before anything is sent to ROS or written, so bad
input is answered 422 with the field and the reason, and has no effect.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag

from sentinel_bridge import downsample
from sentinel_bridge.domain import (AlertRecord, AlertSeverity, AlertState, CommandKind, Decision,
                                    SafetySnapshot, TaskRecord, TaskState, TaskType,
                                    VehicleSnapshot)
from sentinel_bridge.estop_release import ReleaseRequest
from sentinel_bridge.persistence import schema

# Largest site coordinate accepted, metres: sites span a few kilometres, so a
# bigger number is a unit or sign mistake.
MAX_COORDINATE = 100_000.0
# Highest operator speed limit accepted, metres per second (the safety gate
# clamps further to each vehicle's own limit).
MAX_SPEED_LIMIT = 50.0
# Longest free-text field (reasons, notes), characters.
MAX_TEXT = 1000
# Most route points in one task.
MAX_ROUTE_POINTS = 200
# Most vehicles named in one e-stop request.
MAX_VEHICLE_IDS = 100
# Highest task priority (Task.priority is a uint8).
MAX_PRIORITY = 255
# How an alert's location fields describe their absence.
NO_PLACE = 'null for an alert that concerns no place (a drift alert covers every camera)'

# Identifiers of vehicles, tasks, alerts, models: what the ROS side produces.
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=schema.ID_LENGTH,
                                              pattern=r'^[A-Za-z0-9][A-Za-z0-9_.:\-]*$')]
Coordinate = Annotated[float, Field(ge=-MAX_COORDINATE, le=MAX_COORDINATE, allow_inf_nan=False)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT)]

AlertStateName = Literal['new', 'acknowledged', 'resolved']
SeverityName = Literal['info', 'warning', 'critical']
TaskTypeName = Literal['patrol', 'investigate', 'goto', 'hold', 'rtl', 'land']
TaskStateName = Literal['pending', 'assigned', 'active', 'paused', 'completed', 'failed',
                        'cancelled']
DecisionName = Literal['approved', 'approved_with_changes', 'refused']
OperatorCommandName = Literal['goto', 'hold', 'return', 'land']

# Operator command names and the VehicleCommand constant each one sends.
OPERATOR_COMMANDS: dict[str, CommandKind] = {
    'goto': CommandKind.GOTO, 'hold': CommandKind.HOLD,
    'return': CommandKind.RTL, 'land': CommandKind.LAND,
}


def enum_name(value: int, enum_type: type) -> str:
    """Lower-case name of an IntEnum value, or the number when unknown."""
    try:
        return enum_type(value).name.lower()
    except ValueError:
        return str(value)


class Strict(BaseModel):
    """Requests refuse unknown fields, so a misspelt field is an error, not ignored."""

    model_config = ConfigDict(extra='forbid')


class ErrorOut(BaseModel):
    """What every refused request carries."""

    detail: str = Field(description='why the request was refused')


class ValidationErrorOut(BaseModel):
    """A 422: either pydantic's list of field errors or one sentence."""

    detail: str | list[dict[str, Any]] = Field(
        description='why the input was refused (for field errors: loc, msg, type)')


class TokenOut(BaseModel):
    """OAuth2 token response."""

    access_token: str
    token_type: Literal['bearer'] = 'bearer'
    expires_in: int = Field(description='seconds until the token expires')
    role: str


class MeOut(BaseModel):
    """Who the token belongs to and what they may do."""

    user_id: str
    role: str
    permissions: list[str]
    expires_at: datetime | None


class PointIn(Strict):
    """A site ENU position, metres."""

    x: Coordinate
    y: Coordinate
    z: Coordinate = 0.0


class PointOut(BaseModel):
    """A site ENU position, metres."""

    x: float
    y: float
    z: float


def _optional_point_out(x: float | None, y: float | None, z: float | None) -> PointOut | None:
    """A stored position, or None where the columns are NULL (nothing to locate)."""
    if x is None or y is None or z is None:
        return None
    return PointOut(x=x, y=y, z=z)


# ----------------------------------------------------------------------------- fleet

class VehicleOut(BaseModel):
    """A vehicle's newest state."""

    vehicle_id: str
    stamp: datetime
    vehicle_type: Literal['drone', 'ground', 'unknown']
    armed: bool
    mode: str
    position: PointOut
    latitude_deg: float
    longitude_deg: float
    altitude: float
    velocity: PointOut
    heading_deg: float
    battery_voltage: float
    battery_remaining: float | None
    link_state: Literal['ok', 'degraded', 'lost', 'unknown']
    link_quality: float
    gps_fix: int
    landed: bool
    current_task_id: str

    @classmethod
    def of(cls, v: VehicleSnapshot) -> VehicleOut:
        """From the domain record."""
        return cls(
            vehicle_id=v.vehicle_id, stamp=v.stamp,
            vehicle_type={0: 'drone', 1: 'ground'}.get(v.vehicle_type, 'unknown'),
            armed=v.armed, mode=v.mode, position=PointOut(**vars(v.position)),
            latitude_deg=v.geo_position.latitude_deg, longitude_deg=v.geo_position.longitude_deg,
            altitude=v.geo_position.altitude, velocity=PointOut(**vars(v.velocity)),
            heading_deg=v.heading_deg, battery_voltage=v.battery_voltage,
            battery_remaining=v.battery_remaining,
            link_state={0: 'ok', 1: 'degraded', 2: 'lost'}.get(v.link_state, 'unknown'),
            link_quality=v.link_quality, gps_fix=v.gps_fix, landed=v.landed,
            current_task_id=v.current_task_id)


class FleetOut(BaseModel):
    """Every vehicle in the newest fleet state (empty before the first one arrives)."""

    stamp: datetime | None
    vehicles: list[VehicleOut]


class VehicleSafetyOut(BaseModel):
    """The safety watchdog's view of one vehicle."""

    vehicle_id: str
    violations: list[str]
    active_failsafe: int
    estopped: bool


class SafetyStatusOut(BaseModel):
    """The safety watchdog's newest status."""

    stamp: datetime
    estop_engaged: bool
    estop_scope: Literal['none', 'vehicle', 'fleet']
    estopped_vehicle_ids: list[str]
    estop_engaged_by: str
    estop_engaged_at: datetime | None
    estop_reason: str
    degraded_nodes: list[str]
    vehicles: list[VehicleSafetyOut]

    @classmethod
    def of(cls, s: SafetySnapshot) -> SafetyStatusOut:
        """From the domain record."""
        return cls(stamp=s.stamp, estop_engaged=s.estop_engaged,
                   estop_scope={1: 'vehicle', 2: 'fleet'}.get(s.estop_scope, 'none'),
                   estopped_vehicle_ids=list(s.estopped_vehicle_ids),
                   estop_engaged_by=s.estop_engaged_by, estop_engaged_at=s.estop_engaged_at,
                   estop_reason=s.estop_reason, degraded_nodes=list(s.degraded_nodes),
                   vehicles=[VehicleSafetyOut.model_validate(v) for v in s.vehicles])


# ----------------------------------------------------------------------------- commands

Speed = Annotated[float, Field(ge=0.0, le=MAX_SPEED_LIMIT, allow_inf_nan=False,
                                description='metres per second; 0 = vehicle default')]


class GotoCommandIn(Strict):
    """Fly/drive to a target and hold there."""

    command: Literal['goto']
    target: PointIn
    speed_limit: Speed = 0.0


class StationCommandIn(Strict):
    """Hold position, return to launch, or land where it is (no target)."""

    command: Literal['hold', 'return', 'land']
    speed_limit: Speed = 0.0


# An operator motion command; the `command` field selects which shape applies,
# so the OpenAPI document states exactly what is valid.
VehicleCommandIn = Annotated[GotoCommandIn | StationCommandIn, Field(discriminator='command')]


class VehicleCommandOut(BaseModel):
    """The safety gate's answer to an operator command (a refusal is an answer, not an error)."""

    command_id: str
    vehicle_id: str
    command: str
    accepted: bool = Field(description='approved (possibly with changes) and forwarded')
    decision: DecisionName | None
    reasons: list[str]
    checks_failed: list[str]
    target: PointOut
    speed_limit: float
    error_code: int
    error_msg: str


class CommandHistoryOut(BaseModel):
    """A stored command with its verdict."""

    command_id: str
    vehicle_id: str
    command: str
    source: str
    issued_by: str
    requested_at: datetime
    target: PointOut
    speed_limit: float
    task_id: str
    decision: DecisionName | None
    reasons: list[str]
    checks_failed: list[str]
    error_code: int
    error_msg: str

    @classmethod
    def of(cls, row: schema.Command) -> CommandHistoryOut:
        """From the stored row."""
        return cls(
            command_id=row.command_id, vehicle_id=row.vehicle_id,
            command=enum_name(row.command, CommandKind), source=row.source,
            issued_by=row.issued_by, requested_at=row.requested_at,
            target=PointOut(x=row.target_x, y=row.target_y, z=row.target_z),
            speed_limit=row.speed_limit, task_id=row.task_id,
            decision=None if row.decision is None else enum_name(row.decision, Decision),  # type: ignore[arg-type]
            reasons=json.loads(row.reasons_json), checks_failed=json.loads(row.checks_failed_json),
            error_code=row.error_code, error_msg=row.error_msg)


# ----------------------------------------------------------------------------- alerts

class AlertOut(BaseModel):
    """An alert as last known."""

    alert_id: str
    severity: SeverityName
    category: str
    state: AlertStateName
    rule_id: str
    zone_id: str
    track_id: str
    class_name: str
    position: PointOut | None = Field(description=f'site ENU position; {NO_PLACE}')
    latitude_deg: float | None = Field(description=f'WGS84 latitude; {NO_PLACE}')
    longitude_deg: float | None = Field(description=f'WGS84 longitude; {NO_PLACE}')
    altitude: float | None = Field(description=f'metres above the WGS84 ellipsoid; {NO_PLACE}')
    description: str
    evidence_uri: str
    acknowledged_by: str
    resolution_note: str
    raised_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: schema.Alert) -> AlertOut:
        """From the stored row."""
        return cls(
            alert_id=row.alert_id, severity=enum_name(row.severity, AlertSeverity),  # type: ignore[arg-type]
            category=row.category, state=enum_name(row.state, AlertState),  # type: ignore[arg-type]
            rule_id=row.rule_id, zone_id=row.zone_id, track_id=row.track_id,
            class_name=row.class_name, position=_optional_point_out(row.x, row.y, row.z),
            latitude_deg=row.latitude_deg, longitude_deg=row.longitude_deg,
            altitude=row.altitude, description=row.description,
            evidence_uri=row.evidence_uri, acknowledged_by=row.acknowledged_by,
            resolution_note=row.resolution_note, raised_at=row.raised_at,
            updated_at=row.updated_at)


class AlertHistoryOut(BaseModel):
    """One state an alert entered."""

    state: AlertStateName
    changed_at: datetime
    changed_by: str
    note: str
    source: Literal['ros', 'api']


class AlertDetailOut(AlertOut):
    """An alert with its state history."""

    history: list[AlertHistoryOut]


class AcknowledgeIn(Strict):
    """Optional note for an acknowledgement."""

    note: Note = ''


class ResolveIn(Strict):
    """Resolving needs a note saying what was found or done."""

    note: Reason


def alert_record_out(record: AlertRecord) -> AlertOut:
    """The API view of an alert record as its owner returned it."""
    position, geo = record.position, record.geo_position
    return AlertOut(
        alert_id=record.alert_id, severity=record.severity.name.lower(),  # type: ignore[arg-type]
        category=record.category, state=record.state.name.lower(),  # type: ignore[arg-type]
        rule_id=record.rule_id, zone_id=record.zone_id, track_id=record.track_id,
        class_name=record.class_name,
        position=None if position is None else PointOut(**vars(position)),
        latitude_deg=None if geo is None else geo.latitude_deg,
        longitude_deg=None if geo is None else geo.longitude_deg,
        altitude=None if geo is None else geo.altitude,
        description=record.description, evidence_uri=record.evidence_uri,
        acknowledged_by=record.acknowledged_by, resolution_note=record.resolution_note,
        raised_at=record.raised_at, updated_at=record.updated_at)



# ----------------------------------------------------------------------------- tasks

class _TaskCommon(Strict):
    """Fields every new task may carry (vehicle_id empty: mission control picks one)."""

    vehicle_id: Identifier | None = None
    priority: int = Field(0, ge=0, le=MAX_PRIORITY)
    origin_alert_id: Identifier | None = None


class PatrolTaskIn(_TaskCommon):
    """Patrol a route of at least two points in a loop."""

    task_type: Literal['patrol']
    route: list[PointIn] = Field(min_length=2, max_length=MAX_ROUTE_POINTS)


class GotoTaskIn(_TaskCommon):
    """Go to a point and hold."""

    task_type: Literal['goto']
    target: PointIn


class InvestigateTaskIn(_TaskCommon):
    """Go and look: at a point, or following a track from its last known point (target)."""

    task_type: Literal['investigate']
    target: PointIn
    target_track_id: Identifier | None = None


class StationTaskIn(_TaskCommon):
    """Hold, return to launch or land (no target, no route)."""

    task_type: Literal['hold', 'rtl', 'land']


# A new task; `task_type` selects which fields apply.
TaskIn = Annotated[PatrolTaskIn | GotoTaskIn | InvestigateTaskIn | StationTaskIn,
                   Field(discriminator='task_type')]


class TaskOut(BaseModel):
    """A task as mission control last described it."""

    task_id: str
    task_type: str
    state: str
    vehicle_id: str
    target: PointOut
    target_track_id: str
    route: list[PointOut]
    priority: int
    origin_alert_id: str
    created_by: str
    status_msg: str
    updated_at: datetime

    @classmethod
    def of(cls, row: schema.Task) -> TaskOut:
        """From the stored row."""
        return cls(
            task_id=row.task_id, task_type=enum_name(row.task_type, TaskType),
            state=enum_name(row.state, TaskState), vehicle_id=row.vehicle_id,
            target=PointOut(x=row.target_x, y=row.target_y, z=row.target_z),
            target_track_id=row.target_track_id,
            route=[PointOut(x=x, y=y, z=z) for x, y, z in json.loads(row.route_json)],
            priority=row.priority, origin_alert_id=row.origin_alert_id,
            created_by=row.created_by, status_msg=row.status_msg, updated_at=row.updated_at)


def task_record_out(record: TaskRecord) -> TaskOut:
    """The API view of a task record as mission control returned it."""
    return TaskOut(
        task_id=record.task_id, task_type=record.task_type.name.lower(),
        state=record.state.name.lower(), vehicle_id=record.vehicle_id,
        target=PointOut(**vars(record.target)), target_track_id=record.target_track_id,
        route=[PointOut(**vars(p)) for p in record.route], priority=record.priority,
        origin_alert_id=record.origin_alert_id, created_by=record.created_by,
        status_msg=record.status_msg, updated_at=record.updated_at)



# ----------------------------------------------------------------------------- e-stop

class FleetEstopIn(Strict):
    """Stop every vehicle."""

    scope: Literal['fleet'] = 'fleet'
    reason: Reason


class VehicleEstopIn(Strict):
    """Stop the named vehicles only."""

    scope: Literal['vehicle']
    vehicle_ids: list[Identifier] = Field(min_length=1, max_length=MAX_VEHICLE_IDS)
    reason: Reason


def _estop_scope(value: Any) -> str:
    """Which e-stop shape a body has: its scope, 'fleet' when it names none."""
    if isinstance(value, dict):
        return str(value.get('scope', 'fleet'))
    return str(getattr(value, 'scope', 'fleet'))


# Engage the e-stop for the whole fleet (the default) or for named vehicles.
EstopIn = Annotated[Annotated[FleetEstopIn, Tag('fleet')] | Annotated[VehicleEstopIn, Tag('vehicle')],
                    Discriminator(_estop_scope)]


class EstopOut(BaseModel):
    """The watchdog's answer to an e-stop request."""

    engaged: bool
    error_code: int
    error_msg: str
    status: SafetyStatusOut | None


class ReleaseRequestIn(Strict):
    """First approval of a release (vehicle_ids empty: the whole fleet)."""

    vehicle_ids: list[Identifier] = Field(default_factory=list, max_length=MAX_VEHICLE_IDS)
    reason: Reason


class ReleaseRequestOut(BaseModel):
    """A release waiting for its second approver."""

    request_id: str
    requested_by: str
    vehicle_ids: list[str]
    reason: str
    requested_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, r: ReleaseRequest) -> ReleaseRequestOut:
        """From the pending request."""
        return cls(request_id=r.request_id, requested_by=r.requested_by,
                   vehicle_ids=list(r.vehicle_ids), reason=r.reason,
                   requested_at=datetime.fromtimestamp(r.requested_at, timezone.utc),
                   expires_at=datetime.fromtimestamp(r.expires_at, timezone.utc))


class ReleaseOut(BaseModel):
    """The watchdog's answer to a release with both approvals."""

    released: bool
    first_approver: str
    second_approver: str
    error_code: int
    error_msg: str
    status: SafetyStatusOut | None


class EstopEventOut(BaseModel):
    """A stored e-stop event."""

    kind: str
    occurred_at: datetime
    actor: str
    second_actor: str
    scope: str
    vehicle_ids: list[str]
    reason: str
    outcome: str

    @classmethod
    def of(cls, row: schema.EstopEvent) -> EstopEventOut:
        """From the stored row."""
        return cls(kind=row.kind, occurred_at=row.occurred_at, actor=row.actor,
                   second_actor=row.second_actor, scope=row.scope,
                   vehicle_ids=json.loads(row.vehicle_ids_json), reason=row.reason,
                   outcome=row.outcome)


# ----------------------------------------------------------------------------- telemetry

class TelemetryPointOut(BaseModel):
    """One downsampled point: means of the numeric fields, last of the discrete ones."""

    start: datetime
    end: datetime
    count: int = Field(description='stored samples aggregated into this point')
    x: float | None
    y: float | None
    z: float | None
    latitude_deg: float | None
    longitude_deg: float | None
    altitude: float | None
    vx: float | None
    vy: float | None
    vz: float | None
    battery_voltage: float | None
    battery_remaining: float | None
    heading_deg: float
    mode: str
    armed: bool
    landed: bool
    link_state: int
    gps_fix: int

    @classmethod
    def of(cls, p: downsample.Point) -> TelemetryPointOut:
        """From a downsampled point."""
        return cls(start=p.start, end=p.end, count=p.count, **p.values)  # type: ignore[arg-type]


class TelemetryOut(BaseModel):
    """A vehicle's stored telemetry over a time range, downsampled."""

    vehicle_id: str
    start: datetime
    end: datetime
    bucket_s: float = Field(description='time span of each point, seconds')
    points: list[TelemetryPointOut]


# ----------------------------------------------------------------------------- models, audit, users

class ModelOut(BaseModel):
    """A model version in the registry."""

    version: str
    parent_version: str
    status: str
    class_names: list[str]
    input_size_px: int
    dataset_hash: str
    map50: float
    map50_95: float
    file_uri: str
    created_at: datetime

    @classmethod
    def of(cls, row: schema.Model) -> ModelOut:
        """From the stored row."""
        return cls(version=row.version, parent_version=row.parent_version, status=row.status,
                   class_names=json.loads(row.class_names_json), input_size_px=row.input_size_px,
                   dataset_hash=row.dataset_hash, map50=row.map50, map50_95=row.map50_95,
                   file_uri=row.file_uri, created_at=row.created_at)


class AuditEntryOut(BaseModel):
    """One audit log entry with its place in the hash chain."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: dict[str, object]
    prev_hash: str
    entry_hash: str


class AuditVerifyOut(BaseModel):
    """Result of checking the audit chain."""

    ok: bool
    checked: int = Field(description='entries that verified before the first broken one')
    head_hash: str = Field(description='hash of the last verified entry')
    first_broken_seq: int | None
    reason: str


class UserOut(BaseModel):
    """An operator account (never its password hash)."""

    name: str
    role: str
    disabled: bool
    created_at: datetime
    updated_at: datetime


class QueueOut(BaseModel):
    """The retry queue between ROS events and the database."""

    pending: int
    evicted: int
    refused: int
    max_records: int


class HealthOut(BaseModel):
    """Liveness and the state of the database and the retry queue."""

    status: Literal['ok', 'degraded']
    database: Literal['ok', 'unavailable']
    queue: QueueOut
    live_streams: int
