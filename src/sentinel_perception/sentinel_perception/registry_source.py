"""Model versions from the model registry (``sentinel_models.registry``, SQLAlchemy).

Why a module of its own: the registry pulls in SQLAlchemy, alembic and a
database connection, which a detector running a fixed ``model_file`` never
needs; and every way the registry can fail (database unreachable, no such
version, a row whose file is gone or was changed after registration) must
become a LoadModel error code, never an exception in the service callback.

An empty version means the registry's active one; on a fresh database the
shipped models (``models/<version>/``) are registered and the newest is
activated first (``registry.bootstrap_active``), so a new deployment detects
from its first start. Any registered version may be loaded by name (a
candidate for a trial, a retired one to compare); only the registry decides
which one is *active*. No rclpy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentinel_perception.models import ModelError, ModelSpec, UnknownVersionError

# ModelInfo.STATUS_* of the registry's status names.
_STATUS_CODES = {'candidate': 0, 'active': 1, 'retired': 2}


def _spec(row: Any, status: str) -> ModelSpec:
    """A registry row (ModelVersion or ActiveModel) as the detector's ModelSpec."""
    created = getattr(row, 'created_at', None)
    return ModelSpec(
        version=row.version, file=Path(row.file_path), class_names=tuple(row.class_names),
        input_size=int(row.input_size_px), parent_version=row.parent_version or '',
        status=_STATUS_CODES.get(status, 0), dataset_hash=row.dataset_hash or '',
        map50=float(row.map50), map50_95=float(row.map50_95),
        created=created.timestamp() if created is not None else None)


@dataclass
class RegistryModelSource:
    """Resolves versions against the registry database at ``db_url`` ('' = its default)."""

    db_url: str = ''
    models_dir: str = ''            # shipped models; '' = the registry's default (models/)
    _database: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _open(self) -> Any:
        """The registry database, connected (and migrated) on first use."""
        from sentinel_models.paths import default_db_url
        from sentinel_models.registry_db import RegistryDatabase

        if self._database is None:
            self._database = RegistryDatabase(self.db_url or default_db_url())
        return self._database

    def resolve(self, version: str) -> ModelSpec:
        try:
            from alembic.util.exc import CommandError
            from sentinel_models import registry
            from sentinel_models.paths import default_models_dir
            from sqlalchemy.exc import SQLAlchemyError
        except ImportError as error:
            raise ModelError(f'the model registry is not available ({error}); configure '
                             'model_file instead') from error
        models = Path(self.models_dir).expanduser() if self.models_dir else default_models_dir()
        with self._lock:
            try:
                with self._open().transaction() as session:
                    if not version:
                        active = registry.bootstrap_active(session, models)
                        if active is None:
                            raise ModelError(f'the registry has no active model and {models} '
                                             'ships none')
                        return _spec(active, 'active')
                    try:
                        row = registry.get(session, version)
                    except registry.RegistryError as error:
                        raise UnknownVersionError(str(error)) from None
                    registry.verify_file(row)
                    return _spec(row, row.status)
            except registry.RegistryError as error:
                raise ModelError(str(error)) from None
            except (SQLAlchemyError, CommandError, ValueError, OSError) as error:
                self._database = None  # reconnect next time
                raise ModelError(f'model registry {self.describe()}: '
                                 f'{type(error).__name__}: {error}') from None

    def describe(self) -> str:
        return f'the model registry at {self.db_url or "its default database"}'
