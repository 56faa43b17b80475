"""The operations database schema (SQLAlchemy 2 ORM), shared by SQLite and PostgreSQL.

The alembic migrations under `migrations/versions` create exactly these tables
(a test compares them). Every timestamp is stored as timezone-aware UTC; SQLite
has no time zones, so `UtcDateTime` normalises on the way in and out.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index,
                        Integer, MetaData, SmallInteger, String, Text, UniqueConstraint)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Longest identifier stored (user names, vehicle, alert, task and command ids).
ID_LENGTH = 128
# Length of a hex SHA-256 digest.
HASH_LENGTH = 64
# Model statuses the model lifecycle writes (ModelInfo.STATUS_* by name).
MODEL_STATUSES = ('candidate', 'active', 'retired')

# Deterministic constraint names, so migrations can refer to them on both dialects.
NAMING_CONVENTION = {
    'ix': 'ix_%(column_0_label)s',
    'uq': 'uq_%(table_name)s_%(column_0_name)s',
    'ck': 'ck_%(table_name)s_%(constraint_name)s',
    'fk': 'fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s',
    'pk': 'pk_%(table_name)s',
}


class UtcDateTime(TypeDecorator[datetime]):
    """A DateTime that only accepts aware datetimes and always returns UTC-aware ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError('naive datetime given to a UTC column')
        value = value.astimezone(timezone.utc)
        # SQLite stores text; dropping tzinfo keeps the stored form sortable.
        return value.replace(tzinfo=None) if dialect.name == 'sqlite' else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """An operator account; the password is stored only as an argon2id hash."""

    __tablename__ = 'users'
    __table_args__ = (CheckConstraint("role IN ('viewer', 'operator', 'supervisor', 'admin')",
                                      name='role_valid'),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Alert(Base):
    """An alert as last known; its life is in alert_state_history."""

    __tablename__ = 'alerts'

    alert_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    severity: Mapped[int] = mapped_column(SmallInteger, index=True)
    category: Mapped[str] = mapped_column(String(64))
    state: Mapped[int] = mapped_column(SmallInteger, index=True)
    rule_id: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    zone_id: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    track_id: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    class_name: Mapped[str] = mapped_column(String(64), default='')
    # NULL for an alert that concerns no place (a drift alert).
    x: Mapped[float | None] = mapped_column(Float, nullable=True)
    y: Mapped[float | None] = mapped_column(Float, nullable=True)
    z: Mapped[float | None] = mapped_column(Float, nullable=True)
    latitude_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    altitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    description: Mapped[str] = mapped_column(Text, default='')
    evidence_uri: Mapped[str] = mapped_column(Text, default='')
    acknowledged_by: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    resolution_note: Mapped[str] = mapped_column(Text, default='')
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlertStateHistory(Base):
    """One state an alert entered, who put it there and why."""

    __tablename__ = 'alert_state_history'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey('alerts.alert_id'), index=True)
    state: Mapped[int] = mapped_column(SmallInteger)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    changed_by: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    note: Mapped[str] = mapped_column(Text, default='')
    source: Mapped[str] = mapped_column(String(8))
    # Set for operator actions, so a replayed action is recorded once.
    event_key: Mapped[str | None] = mapped_column(String(ID_LENGTH), unique=True, nullable=True)


class Task(Base):
    """A task as mission control last described it."""

    __tablename__ = 'tasks'

    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    task_type: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[int] = mapped_column(SmallInteger, index=True)
    vehicle_id: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    target_x: Mapped[float] = mapped_column(Float, default=0.0)
    target_y: Mapped[float] = mapped_column(Float, default=0.0)
    target_z: Mapped[float] = mapped_column(Float, default=0.0)
    target_track_id: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    route_json: Mapped[str] = mapped_column(Text, default='[]')
    priority: Mapped[int] = mapped_column(SmallInteger, default=0)
    origin_alert_id: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    status_msg: Mapped[str] = mapped_column(Text, default='')
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Command(Base):
    """A motion command (operator's or mission control's) and the safety verdict on it."""

    __tablename__ = 'commands'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    command_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    vehicle_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    command: Mapped[int] = mapped_column(SmallInteger)
    target_x: Mapped[float] = mapped_column(Float, default=0.0)
    target_y: Mapped[float] = mapped_column(Float, default=0.0)
    target_z: Mapped[float] = mapped_column(Float, default=0.0)
    route_json: Mapped[str] = mapped_column(Text, default='[]')
    speed_limit: Mapped[float] = mapped_column(Float, default=0.0)
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    issued_by: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    source: Mapped[str] = mapped_column(String(8))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    decision: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    reasons_json: Mapped[str] = mapped_column(Text, default='[]')
    checks_failed_json: Mapped[str] = mapped_column(Text, default='[]')
    error_code: Mapped[int] = mapped_column(SmallInteger, default=0)
    error_msg: Mapped[str] = mapped_column(Text, default='')


class EstopEvent(Base):
    """Something that happened to the emergency stop."""

    __tablename__ = 'estop_events'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    second_actor: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    scope: Mapped[str] = mapped_column(String(16), default='')
    vehicle_ids_json: Mapped[str] = mapped_column(Text, default='[]')
    reason: Mapped[str] = mapped_column(Text, default='')
    outcome: Mapped[str] = mapped_column(Text, default='')


class TelemetrySample(Base):
    """One stored vehicle state sample (thinned at ingest)."""

    __tablename__ = 'telemetry_samples'
    __table_args__ = (UniqueConstraint('vehicle_id', 'stamp', name='uq_telemetry_vehicle_stamp'),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, 'sqlite'),
                                    primary_key=True, autoincrement=True)
    vehicle_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    stamp: Mapped[datetime] = mapped_column(UtcDateTime)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    z: Mapped[float] = mapped_column(Float)
    latitude_deg: Mapped[float] = mapped_column(Float)
    longitude_deg: Mapped[float] = mapped_column(Float)
    altitude: Mapped[float] = mapped_column(Float)
    vx: Mapped[float] = mapped_column(Float)
    vy: Mapped[float] = mapped_column(Float)
    vz: Mapped[float] = mapped_column(Float)
    heading_deg: Mapped[float] = mapped_column(Float)
    battery_voltage: Mapped[float] = mapped_column(Float)
    battery_remaining: Mapped[float | None] = mapped_column(Float, nullable=True)
    mode: Mapped[str] = mapped_column(String(32))
    armed: Mapped[bool] = mapped_column(Boolean)
    landed: Mapped[bool] = mapped_column(Boolean)
    link_state: Mapped[int] = mapped_column(SmallInteger)
    gps_fix: Mapped[int] = mapped_column(SmallInteger)


class AuditEntry(Base):
    """One link of the append-only, hash-chained audit log (see audit_chain.py)."""

    __tablename__ = 'audit_entries'

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_key: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255), default='')
    outcome: Mapped[str] = mapped_column(String(255))
    detail_json: Mapped[str] = mapped_column(Text, default='{}')
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    entry_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))


class Model(Base):
    """A detection model version. Owned by the model lifecycle; the operator API only reads it."""

    __tablename__ = 'models'
    __table_args__ = (CheckConstraint("status IN ('candidate', 'active', 'retired')",
                                      name='status_valid'),)

    version: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    parent_version: Mapped[str] = mapped_column(String(ID_LENGTH), default='')
    status: Mapped[str] = mapped_column(String(16), index=True)
    class_names_json: Mapped[str] = mapped_column(Text, default='[]')
    input_size_px: Mapped[int] = mapped_column(Integer)
    dataset_hash: Mapped[str] = mapped_column(String(128), default='')
    map50: Mapped[float] = mapped_column(Float)
    map50_95: Mapped[float] = mapped_column(Float)
    file_uri: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


# Query paths that the API uses often and that the constraints above do not index.
Index('ix_commands_vehicle_requested', Command.vehicle_id, Command.requested_at)
