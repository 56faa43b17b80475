"""Reads and writes of the operations database, one function per question or fact.

Every function takes an open Session and leaves committing to the caller, so
an operator action, its consequences and its audit entry land in one
transaction. Writes of ROS-side events are idempotent (keyed inserts, upserts,
state-change detection) because the retry queue may replay a record whose
first write did commit before the connection dropped.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sentinel_bridge import audit_chain
from sentinel_bridge.auth import Role
from sentinel_bridge.domain import (AlertAction, AlertRecord, AlertSeverity, AlertState,
                                    AuditRecord, CommandRecord, EstopEvent, GeoPoint, Point,
                                    TaskRecord, TaskState, VehicleSnapshot)
from sentinel_bridge.downsample import Sample
from sentinel_bridge.persistence import schema

# Key of the PostgreSQL advisory lock that serialises audit appends across
# processes (the node and the user CLI); an arbitrary constant ('SNTL').
AUDIT_LOCK_KEY = 0x534E544C
# Rows fetched per round trip when streaming long results.
STREAM_CHUNK_ROWS = 2000
# Three coordinate columns, all NULL for an alert that concerns no place.
OptionalTriple = tuple[float | None, float | None, float | None]


# ----------------------------------------------------------------------------- users

@dataclass(frozen=True)
class UserInfo:
    """An account as listed (never the hash)."""

    name: str
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime


def _user_info(row: schema.User) -> UserInfo:
    return UserInfo(row.name, Role(row.role), row.disabled, row.created_at, row.updated_at)


def count_users(session: Session) -> int:
    """How many accounts exist (enabled or not)."""
    return session.scalar(select(func.count()).select_from(schema.User)) or 0


def find_user(session: Session, name: str) -> schema.User | None:
    """The account row for a user name, or None."""
    return session.scalar(select(schema.User).where(schema.User.name == name))


def find_users(session: Session, names: Collection[str]) -> dict[str, schema.User]:
    """The account rows of several user names in one query, by name (unknown names absent)."""
    rows = session.scalars(select(schema.User).where(schema.User.name.in_(names)))
    return {row.name: row for row in rows}


def add_user(session: Session, name: str, role: Role, password_hash: str, now: datetime) -> UserInfo:
    """Create an account; ValueError when the name is taken."""
    if find_user(session, name) is not None:
        raise ValueError(f'user {name!r} already exists')
    row = schema.User(name=name, role=Role(role).value, password_hash=password_hash,
                      disabled=False, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return _user_info(row)


def list_users(session: Session) -> list[UserInfo]:
    """Every account, by name."""
    return [_user_info(r) for r in session.scalars(select(schema.User).order_by(schema.User.name))]


def _require_user(session: Session, name: str) -> schema.User:
    row = find_user(session, name)
    if row is None:
        raise LookupError(f'no user {name!r}')
    return row


def set_user_disabled(session: Session, name: str, disabled: bool, now: datetime) -> UserInfo:
    """Disable (or re-enable) an account; its tokens stop working at once."""
    row = _require_user(session, name)
    row.disabled = disabled
    row.updated_at = now
    return _user_info(row)


def set_user_password(session: Session, name: str, password_hash: str, now: datetime) -> UserInfo:
    """Replace an account's password hash."""
    row = _require_user(session, name)
    row.password_hash = password_hash
    row.updated_at = now
    return _user_info(row)


# ----------------------------------------------------------------------------- inserts

def _insert_ignoring_duplicates(session: Session, table: type[schema.Base],
                                values: dict[str, object], conflict: Sequence[str]) -> bool:
    """INSERT unless a row with the same unique key exists; True when a row was added."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == 'postgresql' else sqlite
    statement = module.insert(table).values(**values).on_conflict_do_nothing(
        index_elements=list(conflict))
    return bool(session.execute(statement).rowcount)


def _points_json(points: Sequence[Point]) -> str:
    return json.dumps([[p.x, p.y, p.z] for p in points])


# ----------------------------------------------------------------------------- alerts

def _point_columns(point: Point | None) -> OptionalTriple:
    """x, y, z of an alert's position; all NULL when the alert concerns no place."""
    return (None, None, None) if point is None else (point.x, point.y, point.z)


def _geo_columns(geo: GeoPoint | None) -> OptionalTriple:
    """Latitude, longitude, altitude of an alert; all NULL when it concerns no place."""
    return (None, None, None) if geo is None else (geo.latitude_deg, geo.longitude_deg,
                                                   geo.altitude)


def _apply_alert(row: schema.Alert, record: AlertRecord) -> None:
    row.severity = int(record.severity)
    row.category = record.category
    row.state = int(record.state)
    row.rule_id = record.rule_id
    row.zone_id = record.zone_id
    row.track_id = record.track_id
    row.class_name = record.class_name
    row.x, row.y, row.z = _point_columns(record.position)
    row.latitude_deg, row.longitude_deg, row.altitude = _geo_columns(record.geo_position)
    row.description = record.description
    row.evidence_uri = record.evidence_uri
    row.acknowledged_by = record.acknowledged_by
    row.resolution_note = record.resolution_note
    row.raised_at = record.raised_at
    row.updated_at = record.updated_at


def _upsert_alert(session: Session, record: AlertRecord,
                  force: bool = False) -> tuple[schema.Alert, int | None]:
    """Store the alert unless a newer version is stored (or force); returns (row, previous state)."""
    row = session.get(schema.Alert, record.alert_id)
    if row is None:
        row = schema.Alert(alert_id=record.alert_id)
        _apply_alert(row, record)
        session.add(row)
        session.flush()
        return row, None
    previous = row.state
    if force or record.updated_at >= row.updated_at:
        _apply_alert(row, record)
    return row, previous


def ingest_alert(session: Session, record: AlertRecord) -> None:
    """An alert as its owner published it; a history row when its state changed."""
    row, previous = _upsert_alert(session, record)
    if previous is None or (previous != row.state and row.state == int(record.state)):
        session.add(schema.AlertStateHistory(
            alert_id=record.alert_id, state=int(record.state), changed_at=record.updated_at,
            changed_by=record.acknowledged_by, note=record.resolution_note, source='ros'))


def record_alert_action(session: Session, action: AlertAction) -> bool:
    """An operator's acknowledge/resolve; False when this action was recorded already."""
    exists = session.scalar(select(schema.AlertStateHistory.id).where(
        schema.AlertStateHistory.event_key == action.key))
    if exists is not None:
        return False
    # The owner's answer to this very action is authoritative, whatever its stamp.
    _upsert_alert(session, action.alert, force=True)
    change = action.change
    session.add(schema.AlertStateHistory(
        alert_id=change.alert_id, state=int(change.state), changed_at=change.changed_at,
        changed_by=change.changed_by, note=change.note, source=change.source,
        event_key=action.key))
    return True


@dataclass(frozen=True)
class AlertFilter:
    """What GET /alerts may filter on."""

    states: tuple[AlertState, ...] = ()
    severities: tuple[AlertSeverity, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def query_alerts(session: Session, criteria: AlertFilter) -> list[schema.Alert]:
    """Alerts matching the filter, newest raised first."""
    query = select(schema.Alert)
    if criteria.states:
        query = query.where(schema.Alert.state.in_([int(s) for s in criteria.states]))
    if criteria.severities:
        query = query.where(schema.Alert.severity.in_([int(s) for s in criteria.severities]))
    if criteria.since is not None:
        query = query.where(schema.Alert.raised_at >= criteria.since)
    if criteria.until is not None:
        query = query.where(schema.Alert.raised_at < criteria.until)
    query = query.order_by(schema.Alert.raised_at.desc(), schema.Alert.alert_id)
    return list(session.scalars(query.limit(criteria.limit).offset(criteria.offset)))


def get_alert(session: Session, alert_id: str) -> schema.Alert | None:
    """One alert by id."""
    return session.get(schema.Alert, alert_id)


def alert_history(session: Session, alert_id: str) -> list[schema.AlertStateHistory]:
    """Every recorded state change of an alert, oldest first."""
    return list(session.scalars(
        select(schema.AlertStateHistory).where(schema.AlertStateHistory.alert_id == alert_id)
        .order_by(schema.AlertStateHistory.changed_at, schema.AlertStateHistory.id)))


# ----------------------------------------------------------------------------- tasks

def upsert_task(session: Session, record: TaskRecord) -> None:
    """Store a task as mission control describes it, unless a newer version is stored."""
    row = session.get(schema.Task, record.task_id)
    if row is None:
        row = schema.Task(task_id=record.task_id)
        session.add(row)
    elif record.updated_at < row.updated_at:
        return
    row.task_type = int(record.task_type)
    row.state = int(record.state)
    row.vehicle_id = record.vehicle_id
    row.target_x, row.target_y, row.target_z = record.target.x, record.target.y, record.target.z
    row.target_track_id = record.target_track_id
    row.route_json = _points_json(record.route)
    row.priority = record.priority
    row.origin_alert_id = record.origin_alert_id
    row.created_by = record.created_by
    row.status_msg = record.status_msg
    row.updated_at = record.updated_at


def list_tasks(session: Session, state: TaskState | None = None, vehicle_id: str | None = None,
               limit: int = 200) -> list[schema.Task]:
    """Tasks, most recently updated first."""
    query = select(schema.Task)
    if state is not None:
        query = query.where(schema.Task.state == int(state))
    if vehicle_id:
        query = query.where(schema.Task.vehicle_id == vehicle_id)
    return list(session.scalars(query.order_by(schema.Task.updated_at.desc()).limit(limit)))


def get_task(session: Session, task_id: str) -> schema.Task | None:
    """One task by id."""
    return session.get(schema.Task, task_id)


# ----------------------------------------------------------------------------- commands

def upsert_command(session: Session, record: CommandRecord) -> None:
    """Store a command; a later record of the same command_id adds the verdict.

    An operator command is stored with its verdict by the API, and the same
    command comes back on /safety/verdicts; either order ends in one row.
    """
    row = session.scalar(select(schema.Command).where(
        schema.Command.command_id == record.command_id))
    if row is None:
        row = schema.Command(
            command_id=record.command_id, vehicle_id=record.vehicle_id,
            command=int(record.command), target_x=record.target.x, target_y=record.target.y,
            target_z=record.target.z, route_json=_points_json(record.route),
            speed_limit=record.speed_limit, task_id=record.task_id, issued_by=record.issued_by,
            source=record.source, requested_at=record.requested_at,
            error_code=record.error_code, error_msg=record.error_msg)
        session.add(row)
    elif record.source == 'api':
        row.source = 'api'
        row.error_code = record.error_code
        row.error_msg = record.error_msg
    if record.verdict is not None:
        row.decision = int(record.verdict.decision)
        row.reasons_json = json.dumps(list(record.verdict.reasons))
        row.checks_failed_json = json.dumps(list(record.verdict.checks_failed))
    session.flush()


def list_commands(session: Session, vehicle_id: str, limit: int = 100) -> list[schema.Command]:
    """A vehicle's most recent commands, newest first."""
    return list(session.scalars(
        select(schema.Command).where(schema.Command.vehicle_id == vehicle_id)
        .order_by(schema.Command.requested_at.desc()).limit(limit)))


# ----------------------------------------------------------------------------- e-stop

def add_estop_event(session: Session, event: EstopEvent) -> bool:
    """Store an e-stop event once (by key); True when it was new."""
    return _insert_ignoring_duplicates(session, schema.EstopEvent, {
        'event_key': event.key, 'kind': event.kind, 'occurred_at': event.occurred_at,
        'actor': event.actor, 'second_actor': event.second_actor, 'scope': event.scope,
        'vehicle_ids_json': json.dumps(list(event.vehicle_ids)), 'reason': event.reason,
        'outcome': event.outcome}, ['event_key'])


def list_estop_events(session: Session, limit: int = 100) -> list[schema.EstopEvent]:
    """Most recent e-stop events first."""
    return list(session.scalars(select(schema.EstopEvent)
                                .order_by(schema.EstopEvent.occurred_at.desc(),
                                          schema.EstopEvent.id.desc()).limit(limit)))


# ----------------------------------------------------------------------------- telemetry

def _telemetry_row(snapshot: VehicleSnapshot) -> dict[str, object]:
    return {
        'vehicle_id': snapshot.vehicle_id, 'stamp': snapshot.stamp,
        'x': snapshot.position.x, 'y': snapshot.position.y, 'z': snapshot.position.z,
        'latitude_deg': snapshot.geo_position.latitude_deg,
        'longitude_deg': snapshot.geo_position.longitude_deg,
        'altitude': snapshot.geo_position.altitude,
        'vx': snapshot.velocity.x, 'vy': snapshot.velocity.y, 'vz': snapshot.velocity.z,
        'heading_deg': snapshot.heading_deg, 'battery_voltage': snapshot.battery_voltage,
        'battery_remaining': snapshot.battery_remaining, 'mode': snapshot.mode,
        'armed': snapshot.armed, 'landed': snapshot.landed,
        'link_state': snapshot.link_state, 'gps_fix': snapshot.gps_fix}


def add_telemetry(session: Session, snapshot: VehicleSnapshot) -> bool:
    """Store one vehicle state sample once (by vehicle and stamp)."""
    return _insert_ignoring_duplicates(session, schema.TelemetrySample, _telemetry_row(snapshot),
                                       ['vehicle_id', 'stamp'])


def add_telemetry_many(session: Session, snapshots: Sequence[VehicleSnapshot]) -> None:
    """Store many samples in one statement execution (the driver's executemany), each once.

    Telemetry is most of what the retry queue carries; one round of statement
    compilation and execution per batch instead of per row keeps the writer
    close to the raw driver's speed (bench/ingest.py).
    """
    if not snapshots:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == 'postgresql' else sqlite
    # Core on the table, not the ORM entity: the ORM's bulk insert would build
    # per-row state the driver's executemany does not need.
    statement = module.insert(schema.TelemetrySample.__table__).on_conflict_do_nothing(
        index_elements=['vehicle_id', 'stamp'])
    session.connection().execute(statement, [_telemetry_row(s) for s in snapshots])


_SAMPLE_COLUMNS = [getattr(schema.TelemetrySample, name) for name in Sample.__dataclass_fields__]


def iter_telemetry(session: Session, vehicle_id: str, start: datetime,
                   end: datetime) -> Iterator[Sample]:
    """A vehicle's samples in [start, end), oldest first, streamed in chunks."""
    table = schema.TelemetrySample
    query = (select(*_SAMPLE_COLUMNS)
             .where(table.vehicle_id == vehicle_id, table.stamp >= start, table.stamp < end)
             .order_by(table.stamp).execution_options(yield_per=STREAM_CHUNK_ROWS))
    for row in session.execute(query):
        yield Sample(*row)


def count_telemetry(session: Session, vehicle_id: str) -> int:
    """Stored samples of one vehicle."""
    return session.scalar(select(func.count()).select_from(schema.TelemetrySample)
                          .where(schema.TelemetrySample.vehicle_id == vehicle_id)) or 0


# ----------------------------------------------------------------------------- models

def list_models(session: Session) -> list[schema.Model]:
    """Every registered model version, newest first."""
    return list(session.scalars(select(schema.Model).order_by(schema.Model.created_at.desc(),
                                                               schema.Model.version)))


def get_model(session: Session, version: str) -> schema.Model | None:
    """One model version."""
    return session.get(schema.Model, version)


# ----------------------------------------------------------------------------- audit

def _chained(row: schema.AuditEntry) -> audit_chain.ChainedEntry:
    return audit_chain.ChainedEntry(row.seq, row.event_key, row.at, row.actor, row.action,
                                    row.target, row.outcome, row.detail_json, row.prev_hash,
                                    row.entry_hash)


def append_audit(session: Session, record: AuditRecord) -> audit_chain.ChainedEntry:
    """Append an entry to the chain (once per key; a replay returns the stored entry)."""
    if session.get_bind().dialect.name == 'postgresql':
        session.execute(text('SELECT pg_advisory_xact_lock(:key)'), {'key': AUDIT_LOCK_KEY})
    existing = session.scalar(select(schema.AuditEntry).where(
        schema.AuditEntry.event_key == record.key))
    if existing is not None:
        return _chained(existing)
    last = session.scalar(select(schema.AuditEntry).order_by(schema.AuditEntry.seq.desc()).limit(1))
    entry = audit_chain.seal(record, None if last is None else _chained(last))
    session.add(schema.AuditEntry(
        seq=entry.seq, event_key=entry.key, at=entry.at, actor=entry.actor, action=entry.action,
        target=entry.target, outcome=entry.outcome, detail_json=entry.detail_json,
        prev_hash=entry.prev_hash, entry_hash=entry.entry_hash))
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """What GET /audit may filter on."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100


def _audit_query(criteria: AuditFilter) -> Select[tuple[schema.AuditEntry]]:
    query = select(schema.AuditEntry).where(schema.AuditEntry.seq > criteria.after_seq)
    if criteria.actor:
        query = query.where(schema.AuditEntry.actor == criteria.actor)
    if criteria.action:
        query = query.where(schema.AuditEntry.action == criteria.action)
    if criteria.since is not None:
        query = query.where(schema.AuditEntry.at >= criteria.since)
    if criteria.until is not None:
        query = query.where(schema.AuditEntry.at < criteria.until)
    return query.order_by(schema.AuditEntry.seq)


def query_audit(session: Session, criteria: AuditFilter) -> list[audit_chain.ChainedEntry]:
    """Entries matching the filter, in chain order (page with after_seq)."""
    return [_chained(r) for r in session.scalars(_audit_query(criteria).limit(criteria.limit))]


def iter_audit(session: Session, criteria: AuditFilter | None = None
               ) -> Iterator[audit_chain.ChainedEntry]:
    """Every entry (or those matching), in chain order, streamed."""
    query = _audit_query(criteria or AuditFilter()).execution_options(yield_per=STREAM_CHUNK_ROWS)
    for row in session.scalars(query):
        yield _chained(row)


def verify_audit(session: Session) -> audit_chain.ChainReport:
    """Check the whole chain; reports the first broken link."""
    return audit_chain.verify_chain(iter_audit(session))


# ----------------------------------------------------------------------------- ingest

IngestRecord = (AlertRecord | AlertAction | TaskRecord | CommandRecord | EstopEvent
                | VehicleSnapshot | AuditRecord)


def ingest_many(session: Session, records: Sequence[IngestRecord]) -> None:
    """Store records in order; runs of telemetry samples go in one executemany."""
    run: list[VehicleSnapshot] = []
    for record in records:
        if isinstance(record, VehicleSnapshot):
            run.append(record)
            continue
        add_telemetry_many(session, run)
        run = []
        ingest(session, record)
    add_telemetry_many(session, run)


def ingest(session: Session, record: IngestRecord) -> None:
    """Store one record of any kind the retry queue carries (idempotent)."""
    if isinstance(record, AlertRecord):
        ingest_alert(session, record)
    elif isinstance(record, AlertAction):
        record_alert_action(session, record)
    elif isinstance(record, TaskRecord):
        upsert_task(session, record)
    elif isinstance(record, CommandRecord):
        upsert_command(session, record)
    elif isinstance(record, EstopEvent):
        add_estop_event(session, record)
    elif isinstance(record, VehicleSnapshot):
        add_telemetry(session, record)
    elif isinstance(record, AuditRecord):
        append_audit(session, record)
    else:
        raise TypeError(f'cannot ingest {type(record).__name__}')
