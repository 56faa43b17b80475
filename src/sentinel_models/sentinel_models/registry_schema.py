"""The model registry's table, ``model_versions`` (SQLAlchemy 2 ORM).

Why a table of its own with its own alembic history: the registry lives in
the operations database next to the operator API's tables but is owned by
the model lifecycle; its migrations are recorded in
``alembic_version_models``, so both histories upgrade independently.
At most one row is ``active``: a partial unique index enforces it in the
database (SQLite and PostgreSQL), whatever the code above does.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Float, Index, Integer, MetaData, String, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Statuses, as sentinel_msgs/ModelInfo names them (STATUS_CANDIDATE, _ACTIVE, _RETIRED).
STATUS_CANDIDATE = 'candidate'
STATUS_ACTIVE = 'active'
STATUS_RETIRED = 'retired'
STATUSES = (STATUS_CANDIDATE, STATUS_ACTIVE, STATUS_RETIRED)
# ModelInfo.status codes of the statuses above.
STATUS_CODES = {STATUS_CANDIDATE: 0, STATUS_ACTIVE: 1, STATUS_RETIRED: 2}
# Longest version string.
VERSION_LENGTH = 128
# Length of a hex SHA-256 digest.
SHA256_LENGTH = 64
# Table and alembic version table names.
TABLE = 'model_versions'
VERSION_TABLE = 'alembic_version_models'

NAMING_CONVENTION = {
    'ix': 'ix_%(column_0_label)s',
    'uq': 'uq_%(table_name)s_%(column_0_name)s',
    'ck': 'ck_%(table_name)s_%(constraint_name)s',
    'pk': 'pk_%(table_name)s',
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out (SQLite stores no zone and returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError('timestamps must be timezone-aware')
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ModelVersion(Base):
    """One trained model version and where its file is."""

    __tablename__ = TABLE
    __table_args__ = (
        CheckConstraint("status IN ('candidate', 'active', 'retired')", name='status_valid'),
        CheckConstraint('input_size_px > 0', name='input_size_positive'),
        # At most one active version, enforced by the database itself.
        Index('uq_model_versions_one_active', 'status', unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )

    version: Mapped[str] = mapped_column(String(VERSION_LENGTH), primary_key=True)
    parent_version: Mapped[str] = mapped_column(String(VERSION_LENGTH), default='')
    status: Mapped[str] = mapped_column(String(16), index=True)
    class_names_json: Mapped[str] = mapped_column(Text)
    input_size_px: Mapped[int] = mapped_column(Integer)
    dataset_hash: Mapped[str] = mapped_column(String(128), default='')
    map50: Mapped[float] = mapped_column(Float, default=0.0)
    map50_95: Mapped[float] = mapped_column(Float, default=0.0)
    metrics_json: Mapped[str] = mapped_column(Text, default='{}')
    file_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(SHA256_LENGTH))
    card_path: Mapped[str] = mapped_column(Text, default='')
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The version that was active when this one was promoted: where rollback returns.
    previous_active: Mapped[str] = mapped_column(String(VERSION_LENGTH), default='')

    @property
    def class_names(self) -> list[str]:
        names = json.loads(self.class_names_json)
        return [str(n) for n in names]

    @property
    def metrics(self) -> dict[str, Any]:
        value = json.loads(self.metrics_json or '{}')
        return value if isinstance(value, dict) else {}
