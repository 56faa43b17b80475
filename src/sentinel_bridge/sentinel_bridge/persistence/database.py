"""Engine, migrations and transactions for the operations database.

SQLite is the default (a file under the user's data directory); PostgreSQL is
reached through psycopg 3 (`postgresql+psycopg://`). Every driver error that
means "the database cannot be reached right now" becomes DatabaseUnavailable,
which the HTTP layer answers with 503 and the ingest worker with a retry.
Writes are serialised within the process (the audit chain needs a single
writer, and SQLite allows only one anyway) and, on SQLite, across processes:
a write transaction starts with BEGIN IMMEDIATE, so the operator API, the
Foxglove bridge and the user CLI appending to the audit chain each read the
chain's head only once they hold the write lock (PostgreSQL uses an advisory
lock for the same purpose, see store.append_audit).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

# Seconds to wait for a PostgreSQL connection before calling the database unavailable.
CONNECT_TIMEOUT_S = 3
# Seconds SQLite waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 5.0
# Directory of the alembic migration scripts.
MIGRATIONS_DIR = Path(__file__).resolve().parent / 'migrations'
# URL schemes accepted for db_url.
SUPPORTED_DRIVERS = ('sqlite', 'sqlite+pysqlite', 'postgresql+psycopg')
# Execution option marking a transaction that will write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = 'sentinel_write'


class DatabaseUnavailable(Exception):
    """The database could not be reached or refused to work; try again later."""


def parse_db_url(url: str) -> URL:
    """Validate a db_url and return it parsed, or raise ValueError naming the problem."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ValueError(f'db_url is not a database URL: {error}') from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ValueError(f'db_url driver {parsed.drivername!r} is not supported; '
                         f'use one of {", ".join(SUPPORTED_DRIVERS)}')
    if parsed.drivername.startswith('sqlite') and parsed.database in (None, '', ':memory:'):
        raise ValueError('db_url for SQLite must name a file (an in-memory database '
                         'would lose every record at exit)')
    return parsed


def describe_url(url: URL) -> str:
    """The URL with its password masked, for logs."""
    return url.render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """An engine for db_url: SQLite with WAL and foreign keys, or PostgreSQL with timeouts."""
    parsed = parse_db_url(url)
    if parsed.drivername.startswith('sqlite'):
        assert parsed.database is not None
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={'timeout': SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, 'connect', _configure_sqlite)
        event.listen(engine, 'begin', _begin_sqlite)
        with engine.connect():
            pass  # the first connection switches the file to WAL (_configure_sqlite)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         connect_args={'connect_timeout': CONNECT_TIMEOUT_S})


def _configure_sqlite(dbapi_connection: object, _record: object) -> None:
    """Per connection: WAL (a property of the file, so a no-op once set: readers never
    block the writer), foreign keys on (SQLite defaults them off), NORMAL sync (in WAL
    mode durable against process crashes and much cheaper than FULL), and transactions
    begun by SQLAlchemy rather than by the driver (see _begin_sqlite)."""
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    """BEGIN IMMEDIATE for writes, so a transaction reads (the audit chain's head, say)
    under the write lock it will need; the driver's own implicit BEGIN comes only at the
    first INSERT, after such a read, and another process could append in between."""
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql('BEGIN IMMEDIATE' if immediate else 'BEGIN')


def migrate(engine: Engine, revision: str = 'head') -> None:
    """Bring the schema to `revision`, the newest by default (idempotent; runs at every start)."""
    config = Config()
    config.set_main_option('script_location', str(MIGRATIONS_DIR))
    with _unavailable_as_exception():
        with engine.connect() as connection, _sqlite_foreign_keys_off(connection), \
                connection.execution_options(**{WRITE_OPTION: True}).begin():
            config.attributes['connection'] = connection
            command.upgrade(config, revision)
            _check_sqlite_foreign_keys(connection)


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: foreign keys unenforced while migrating, as SQLite's procedure for altering a
    table requires. A batch migration rebuilds a table by copying it, and dropping the
    original would otherwise trip every row that refers to it, although the copy takes its
    place before the commit. The pragma is ignored inside a transaction, so it is set on the
    driver's connection before SQLAlchemy begins one, and restored after."""
    if connection.dialect.name != 'sqlite':
        yield
        return
    driver = connection.connection.driver_connection
    driver.execute('PRAGMA foreign_keys=OFF')
    try:
        yield
    finally:
        driver.execute('PRAGMA foreign_keys=ON')


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    """SQLite: refuse to commit a migration that left a row referring to nothing (the check
    that _sqlite_foreign_keys_off suspended)."""
    if connection.dialect.name != 'sqlite':
        return
    broken = connection.exec_driver_sql('PRAGMA foreign_key_check').all()
    if broken:
        raise RuntimeError(f'migration left rows with broken foreign keys: {broken[:5]}')


UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, DisconnectionError)


def is_unavailable(error: BaseException) -> bool:
    """True for driver errors that mean the database is down or locked, not that a query is wrong."""
    if isinstance(error, UNAVAILABLE_ERRORS):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


@contextmanager
def _unavailable_as_exception() -> Iterator[None]:
    try:
        yield
    except DBAPIError as error:
        if is_unavailable(error):
            raise DatabaseUnavailable(_short(error)) from error
        raise
    except DisconnectionError as error:
        raise DatabaseUnavailable(_short(error)) from error


def _short(error: BaseException) -> str:
    """First line of a driver error: enough for a log, without the SQL and parameters."""
    original = getattr(error, 'orig', None) or error
    return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__


class Database:
    """Session factory with a process-wide write lock and unavailable-error mapping."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(engine, expire_on_commit=False,
                                            execution_options={WRITE_OPTION: True})
        self._write_lock = threading.Lock()

    @classmethod
    def open(cls, url: str, run_migrations: bool = True) -> Database:
        """Engine for url, migrated to the newest schema."""
        engine = make_engine(url)
        if run_migrations:
            migrate(engine)
        return cls(engine)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that commits on success and rolls back on any error."""
        with self._write_lock, _unavailable_as_exception():
            with self._write_sessions() as session, session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (rolled back at the end)."""
        with _unavailable_as_exception():
            with self._sessions() as session:
                yield session
                session.rollback()

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query succeeds now."""
        with self.read() as session:
            session.execute(text('SELECT 1'))

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()
