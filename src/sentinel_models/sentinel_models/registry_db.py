"""Engine and migrations of the database the model registry lives in.

Why not the operator API's database module: the registry is used by the CLI,
the trainer and the perception node, none of which should import the bridge;
what they share is the database URL and the conventions (SQLite with WAL and
a busy timeout, PostgreSQL through psycopg 3), repeated here in a few lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

# Seconds SQLite waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 5.0
# Seconds to wait for a PostgreSQL connection.
CONNECT_TIMEOUT_S = 3
# Directory of this registry's alembic migrations.
MIGRATIONS_DIR = Path(__file__).resolve().parent / 'migrations'
# URL schemes accepted (as the rest of the system).
SUPPORTED_DRIVERS = ('sqlite', 'sqlite+pysqlite', 'postgresql+psycopg')


def parse_db_url(url: str) -> URL:
    """A validated database URL, or ValueError naming the problem."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ValueError(f'db url is not a database URL: {error}') from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ValueError(f'db url driver {parsed.drivername!r} is not supported; '
                         f'use one of {", ".join(SUPPORTED_DRIVERS)}')
    if parsed.drivername.startswith('sqlite') and parsed.database in (None, '', ':memory:'):
        raise ValueError('db url for SQLite must name a file (the registry must outlive the process)')
    return parsed


def _configure_sqlite(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute('PRAGMA journal_mode=WAL')  # readers (perception) never block the CLI
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (the SQLite file's directory is created)."""
    parsed = parse_db_url(url)
    if parsed.drivername.startswith('sqlite'):
        assert parsed.database is not None
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={'timeout': SQLITE_BUSY_TIMEOUT_S},
                               poolclass=NullPool)
        event.listen(engine, 'connect', _configure_sqlite)
        return engine
    return create_engine(parsed, pool_pre_ping=True,
                         connect_args={'connect_timeout': CONNECT_TIMEOUT_S})


def migrate(engine: Engine) -> None:
    """Bring the registry's table to the newest revision (idempotent)."""
    config = Config()
    config.set_main_option('script_location', str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes['connection'] = connection
        command.upgrade(config, 'head')


class RegistryDatabase:
    """Sessions on a migrated registry database."""

    def __init__(self, url: str, run_migrations: bool = True) -> None:
        self.engine = make_engine(url)
        if run_migrations:
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> RegistryDatabase:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
