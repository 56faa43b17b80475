"""Fixtures of the operator API and persistence tests.

- `api`: the FastAPI app on a fresh SQLite database with a stub ROS gateway,
  a user per role, and helpers to get their bearer headers.
- `postgres_server` / `postgres_url`: a real PostgreSQL server started from
  the Debian server binaries in a temporary directory on a free port (one per
  session; a fresh database per test), stopped and removed afterwards.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from types import SimpleNamespace
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from sentinel_bridge import passwords
from sentinel_bridge.auth import DEFAULT_AUDIENCE, Role, TokenService
from sentinel_bridge.domain import (AlertRecord, AlertSeverity, AlertState, CommandRecord,
                                    Decision, EstopScope, GeoPoint, Point, SafetySnapshot,
                                    TaskRecord, TaskState, TaskType, Verdict)
from sentinel_bridge.estop_release import ReleaseBook
from sentinel_bridge.operator_api.app import create_app
from sentinel_bridge.operator_api.context import ApiContext
from sentinel_bridge.operator_api.gateway import GatewayTimeout, Reply
from sentinel_bridge.operator_api.live import LiveHub, LiveState
from sentinel_bridge.persistence import store
from sentinel_bridge.persistence.database import Database
from sentinel_bridge.persistence.outbox import Outbox
from sentinel_bridge.persistence.worker import PersistenceWorker

# Password of every test user.
TEST_PASSWORD = 'correct horse battery staple'
# A test signing secret (64 bytes).
TEST_SECRET = b'k' * 64
# Where the Debian packages put the PostgreSQL server binaries.
PG_BIN_GLOB = '/usr/lib/postgresql/*/bin'
# Debian package that provides them (installed by `make setup`).
PG_PACKAGE = 'postgresql-15'
# Seconds to wait for PostgreSQL to start or stop.
PG_WAIT_S = 30

LOG = logging.getLogger('sentinel_bridge.test')


def utc(*args: int) -> datetime:
    """A UTC datetime from year, month, day, ..."""
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


def make_alert(alert_id: str = 'alert-1', state: AlertState = AlertState.NEW,
               severity: AlertSeverity = AlertSeverity.WARNING,
               at: datetime | None = None) -> AlertRecord:
    """A plausible alert record."""
    at = at or datetime.now(timezone.utc)
    return AlertRecord(alert_id=alert_id, severity=severity, category='intrusion', state=state,
                       raised_at=at, updated_at=at, zone_id='substation_yard',
                       class_name='person', position=Point(12.5, -4.0, 0.0),
                       geo_position=GeoPoint(51.5, 4.25, 12.0),
                       description='person inside the fence')


def safety(engaged: bool = False, vehicles: Sequence[str] = ()) -> SafetySnapshot:
    """A safety status snapshot."""
    return SafetySnapshot(stamp=datetime.now(timezone.utc), estop_engaged=engaged,
                          estop_scope=2 if engaged else 0, estopped_vehicle_ids=tuple(vehicles),
                          estop_engaged_by='', estop_reason='', degraded_nodes=())


@dataclass
class FakeGateway:
    """Stands in for ROS: records calls, answers with configurable replies."""

    calls: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)
    decision: Decision = Decision.APPROVED
    command_error: int = 0
    ack_error: int = 0
    task_error: int = 0
    estop_error: int = 0
    release_error: int = 0
    timeout: bool = False

    def _record(self, name: str, *args: object) -> None:
        self.calls.append((name, args))
        if self.timeout:
            raise GatewayTimeout(f'/{name} did not answer within 0.1 s')

    def names(self) -> list[str]:
        """Names of the services called, in order."""
        return [name for name, _args in self.calls]

    async def command_vehicle(self, command: CommandRecord) -> Reply[CommandRecord]:
        self._record('command_vehicle', command)
        reasons = ('geofence: target outside the inclusion zone',) \
            if self.decision == Decision.REFUSED else ()
        verdict = Verdict(self.decision, reasons, ('geofence',) if reasons else ())
        error = self.command_error or (1 if self.decision == Decision.REFUSED else 0)
        return Reply(error, 'refused' if error else '', replace(command, verdict=verdict))

    async def trigger_estop(self, scope: EstopScope, vehicle_ids: Sequence[str],
                            requested_by: str, reason: str) -> Reply[SafetySnapshot]:
        self._record('trigger_estop', scope, tuple(vehicle_ids), requested_by, reason)
        return Reply(self.estop_error, '', safety(True, vehicle_ids))

    async def release_estop(self, vehicle_ids: Sequence[str], first_approver: str,
                            second_approver: str, reason: str) -> Reply[SafetySnapshot]:
        self._record('release_estop', tuple(vehicle_ids), first_approver, second_approver, reason)
        return Reply(self.release_error, 'nothing to release' if self.release_error else '',
                     safety(False))

    async def assign_task(self, task: TaskRecord) -> Reply[TaskRecord]:
        self._record('assign_task', task)
        created = replace(task, task_id=f'task-{len(self.calls)}', state=TaskState.ASSIGNED,
                          vehicle_id=task.vehicle_id or 'drone_1')
        return Reply(self.task_error, 'no vehicle' if self.task_error else '',
                     None if self.task_error else created)

    def _task(self, task_id: str, state: TaskState) -> TaskRecord:
        return TaskRecord(task_id=task_id, task_type=TaskType.GOTO, state=state,
                          updated_at=datetime.now(timezone.utc), vehicle_id='drone_1')

    async def cancel_task(self, task_id: str, requested_by: str) -> Reply[TaskRecord]:
        self._record('cancel_task', task_id, requested_by)
        return Reply(self.task_error, 'no such task' if self.task_error else '',
                     self._task(task_id, TaskState.CANCELLED))

    async def set_task_paused(self, task_id: str, paused: bool,
                              requested_by: str) -> Reply[TaskRecord]:
        self._record('set_task_paused', task_id, paused, requested_by)
        return Reply(self.task_error, 'no such task' if self.task_error else '',
                     self._task(task_id, TaskState.PAUSED if paused else TaskState.ACTIVE))

    async def acknowledge_alert(self, alert_id: str, operator_id: str, resolve: bool,
                                note: str) -> Reply[AlertRecord]:
        self._record('acknowledge_alert', alert_id, operator_id, resolve, note)
        state = AlertState.RESOLVED if resolve else AlertState.ACKNOWLEDGED
        alert = replace(make_alert(alert_id, state), acknowledged_by=operator_id,
                        resolution_note=note if resolve else '')
        return Reply(self.ack_error, 'no such alert' if self.ack_error else '', alert)


@pytest.fixture(scope='session')
def password_hash() -> str:
    """One argon2 hash of TEST_PASSWORD, shared (hashing is deliberately slow)."""
    return passwords.hash_password(TEST_PASSWORD)


@dataclass
class ApiEnv:
    """An application under test and the handles to poke at it."""

    client: TestClient
    context: ApiContext
    gateway: FakeGateway
    database: Database
    tokens: TokenService
    users: dict[Role, str]

    def headers(self, role: Role = Role.ADMIN, user: str | None = None,
                expires_in_s: float | None = None) -> dict[str, str]:
        """Authorization header of the test user with `role` (or a named user).

        `expires_in_s` mints a token that expires that soon (at most a second
        early: expiry is stored in whole seconds).
        """
        name = user or self.users[role]
        tokens = self.tokens
        if expires_in_s is not None:
            tokens = TokenService(TEST_SECRET, DEFAULT_AUDIENCE, tokens.ttl_s,
                                  clock=lambda: time.time() - tokens.ttl_s + expires_in_s)
        return {'Authorization': f'Bearer {tokens.issue(name, role)}'}

    def add_user(self, name: str, role: Role, password_hash: str) -> None:
        """Another account."""
        with self.database.write() as session:
            store.add_user(session, name, role, password_hash, datetime.now(timezone.utc))


def build_context(database: Database, gateway: object, journal: Path | None) -> ApiContext:
    """An ApiContext over `database` with `gateway` standing in for ROS."""
    log = LOG
    worker = PersistenceWorker(database, Outbox(journal), log)
    return ApiContext(database=database,
                      tokens=TokenService(TEST_SECRET, DEFAULT_AUDIENCE, 300.0),
                      gateway=gateway, worker=worker, live=LiveState(),  # type: ignore[arg-type]
                      hub=LiveHub(), release_book=ReleaseBook(60.0), log=log)


# The test user of each role.
USERS = {role: f'{role.value}_user' for role in Role}


def add_test_users(database: Database, password_hash: str) -> None:
    """One account per role, all with TEST_PASSWORD."""
    with database.write() as session:
        for role, name in USERS.items():
            store.add_user(session, name, role, password_hash, datetime.now(timezone.utc))


def open_api(database: Database, password_hash: str, journal: Path | None,
             add_users: bool = True) -> Iterator[ApiEnv]:
    """A test client of a fresh application on `database` (with the test users)."""
    gateway = FakeGateway()
    ctx = build_context(database, gateway, journal)
    users = dict(USERS)
    if add_users:
        add_test_users(database, password_hash)
    ctx.worker.start()
    try:
        with TestClient(create_app(ctx)) as client:
            yield ApiEnv(client, ctx, gateway, database, ctx.tokens, users)
    finally:
        ctx.worker.stop()


@pytest.fixture(scope='session')
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, password_hash: str) -> Path:
    """A migrated SQLite database with the test users, copied for each test (migrating
    a fresh file takes most of a second on a slow machine)."""
    path = tmp_path_factory.mktemp('template') / 'template.db'
    database = Database.open(f'sqlite:///{path}')
    add_test_users(database, password_hash)
    database.close()
    return path


@pytest.fixture
def api(tmp_path: Path, password_hash: str, sqlite_template: Path) -> Iterator[ApiEnv]:
    """The application on a fresh SQLite database."""
    path = tmp_path / 'api.db'
    shutil.copyfile(sqlite_template, path)
    database = Database.open(f'sqlite:///{path}')
    try:
        yield from open_api(database, password_hash, tmp_path / 'queue.jsonl', add_users=False)
    finally:
        database.close()


# ----------------------------------------------------------------------------- PostgreSQL

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def _pg_bin() -> Path:
    override = os.environ.get('SENTINEL_PG_BIN')
    candidates = [Path(override)] if override else sorted(Path('/').glob(PG_BIN_GLOB.lstrip('/')),
                                                          reverse=True)
    for candidate in candidates:
        if (candidate / 'initdb').exists() and (candidate / 'pg_ctl').exists():
            return candidate
    pytest.fail(f'PostgreSQL server binaries (initdb, pg_ctl) not found under {PG_BIN_GLOB}: '
                f'run `make setup` (it installs the Debian package {PG_PACKAGE}), or set '
                'SENTINEL_PG_BIN to their directory')


class PostgresServer:
    """A throwaway PostgreSQL cluster: initdb in a temp dir, pg_ctl start/stop on a free port."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = _free_port()
        # PostgreSQL refuses to run as root: as root, run it as the postgres user
        # in a directory that user owns (pytest's tmp dirs are private to root).
        self.as_user = 'postgres' if os.geteuid() == 0 else None
        self.base = Path(tempfile.mkdtemp(prefix='sentinel-pg-'))
        self.data = self.base / 'data'
        self.log = self.base / 'server.log'
        if self.as_user:
            shutil.chown(self.base, self.as_user)
        self._run('initdb', '-D', str(self.data), '-U', 'sentinel', '--auth=trust', '-E', 'UTF8',
                  '--no-sync', '--no-instructions')
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.as_user:
            command = ['runuser', '-u', self.as_user, '--', *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=PG_WAIT_S,
                                check=False)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ''
            raise RuntimeError(f'{tool} failed ({result.returncode}): {result.stderr}\n{log}')

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (f'-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 '
                   '-c fsync=off -c synchronous_commit=off -c full_page_writes=off')
        self._run('pg_ctl', '-D', str(self.data), '-l', str(self.log), '-o', options, '-w',
                  '-t', str(PG_WAIT_S), 'start')

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open connections are cut)."""
        self._run('pg_ctl', '-D', str(self.data), '-m', 'fast', '-w', '-t', str(PG_WAIT_S),
                  'stop')

    def url(self, database: str = 'postgres') -> str:
        """SQLAlchemy URL of a database on this server."""
        return f'postgresql+psycopg://sentinel@127.0.0.1:{self.port}/{database}'

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = f'test_{uuid.uuid4().hex[:12]}'
        engine = create_engine(self.url(), isolation_level='AUTOCOMMIT')
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE {name}'))
        finally:
            engine.dispose()
        return self.url(name)

    def destroy(self) -> None:
        """Stop (if running) and delete the cluster."""
        try:
            self.stop()
        except RuntimeError as error:
            LOG.warning('stopping the test PostgreSQL server: %s', error)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope='session')
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (starting one costs seconds)."""
    server = PostgresServer(_pg_bin())
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of a fresh database on the session's server."""
    return postgres_server.create_database()


@pytest.fixture
def helpers() -> SimpleNamespace:
    """The helper functions and classes above, for test modules (conftest is not importable)."""
    return SimpleNamespace(utc=utc, make_alert=make_alert, safety=safety,
                           FakeGateway=FakeGateway, build_context=build_context,
                           open_api=open_api, password=TEST_PASSWORD)
