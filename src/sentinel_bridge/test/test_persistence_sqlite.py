"""The operations database on SQLite: schema, idempotent ingest, audit chain, retry queue."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from sentinel_bridge import accounts, codec, downsample
from sentinel_bridge.auth import Role
from sentinel_bridge.domain import (AlertRecord, AlertSeverity, AlertState, AuditRecord,
                                    CommandKind, CommandRecord, Decision, EstopEvent, GeoPoint,
                                    Point, TaskRecord, TaskState, TaskType, Verdict,
                                    VehicleSnapshot)
from sentinel_bridge.ingest import EstopTransitionDetector, TelemetryThinner
from sentinel_bridge.passwords import verify_password
from sentinel_bridge.persistence import schema, store
from sentinel_bridge.persistence.database import Database, make_engine, migrate, parse_db_url
from sentinel_bridge.persistence.outbox import Outbox
from sentinel_bridge.users_cli import run as users_cli

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def database(tmp_path: Path, sqlite_template: Path):
    import shutil
    shutil.copyfile(sqlite_template, tmp_path / 'db.sqlite')
    db = Database.open(f'sqlite:///{tmp_path}/db.sqlite')
    yield db
    db.close()


def snapshot(vehicle_id: str = 'drone_1', at: datetime = T0, x: float = 1.0) -> VehicleSnapshot:
    return VehicleSnapshot(vehicle_id, at, 0, True, 'GUIDED', Point(x, 2, 3), GeoPoint(51, 4, 80),
                           Point(), 90.0, 15.0, None, 0, 1.0, 3, False, '')


def audit(index: int) -> AuditRecord:
    return AuditRecord(f'key-{index}', T0 + timedelta(seconds=index), 'alice', 'command_vehicle',
                       'drone_1', 'approved', {'n': index, 'note': 'ünïcode'})


# ----------------------------------------------------------------------------- schema

def test_migrations_build_exactly_the_orm_schema(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={'compare_type': True})
        assert compare_metadata(context, schema.Base.metadata) == []
        assert context.get_current_revision() == '0002_alert_location_optional'


def test_location_migration_keeps_existing_alerts_and_lets_new_ones_have_no_location(tmp_path):
    engine = make_engine(f'sqlite:///{tmp_path}/old.sqlite')
    migrate(engine, '0001_initial')
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO alerts VALUES ('old', 1, 'intrusion', 0, '', '', '', '', 1, 2, 3, 51, 4, "
            "80, '', '', '', '', '2026-03-01 12:00:00', '2026-03-01 12:00:00')"))
        connection.execute(text(   # a row referring to the alerts table that gets rebuilt
            "INSERT INTO alert_state_history (alert_id, state, changed_at, changed_by, note, "
            "source) VALUES ('old', 0, '2026-03-01 12:00:00', '', '', 'ros')"))
    migrate(engine)
    columns = {c['name']: c['nullable'] for c in inspect(engine).get_columns('alerts')}
    assert all(columns[name] for name in ('x', 'y', 'z', 'latitude_deg', 'longitude_deg',
                                          'altitude'))
    database = Database(engine)
    with database.write() as session:
        store.ingest_alert(session, AlertRecord('drift', AlertSeverity.WARNING, 'drift',
                                                AlertState.NEW, T0, T0))
    with database.read() as session:
        old, drift = store.get_alert(session, 'old'), store.get_alert(session, 'drift')
        assert old is not None and (old.x, old.y, old.z, old.altitude) == (1, 2, 3, 80)
        assert drift is not None and (drift.x, drift.latitude_deg) == (None, None)
        assert session.execute(text('PRAGMA foreign_keys')).scalar() == 1
        assert session.execute(text('PRAGMA foreign_key_check')).all() == []
        assert [h.alert_id for h in store.alert_history(session, 'old')] == ['old']
    database.close()


def test_db_url_is_checked(tmp_path):
    with pytest.raises(ValueError, match='not supported'):
        parse_db_url('mysql://localhost/x')
    with pytest.raises(ValueError, match='must name a file'):
        parse_db_url('sqlite://')
    with pytest.raises(ValueError, match='not a database URL'):
        parse_db_url('nonsense')


# ----------------------------------------------------------------------------- ingest

def test_ros_events_are_idempotent(database, helpers):
    alert = helpers.make_alert('a1', at=T0)
    acked = replace(alert, state=AlertState.ACKNOWLEDGED, acknowledged_by='bob',
                    updated_at=T0 + timedelta(seconds=5))
    verdict_cmd = CommandRecord('c1', 'drone_1', CommandKind.GOTO, 'mission_control', T0,
                                verdict=Verdict(Decision.APPROVED_WITH_CHANGES, ('speed clamped',)))
    event = EstopEvent('estop-engaged:x', 'engaged', T0, actor='alice')
    task = TaskRecord('t1', TaskType.PATROL, TaskState.ACTIVE, T0, route=(Point(1, 1), Point(2, 2)))
    samples = [snapshot(at=T0 + timedelta(seconds=i)) for i in range(3)]
    records = [alert, samples[0], samples[1], acked, samples[2], samples[0], verdict_cmd, event,
               task, audit(1)]
    for replay in range(3):   # replayed twice after the first write
        with database.write() as session:
            if replay % 2:
                store.ingest_many(session, records)   # the writer's batches
            else:
                for record in records:
                    store.ingest(session, record)
    with database.read() as session:
        history = store.alert_history(session, 'a1')
        assert [(h.state, h.changed_by) for h in history] == [(0, ''), (1, 'bob')]
        assert store.count_telemetry(session, 'drone_1') == 3
        assert session.scalar(select(func.count()).select_from(schema.Command)) == 1
        assert len(store.list_estop_events(session)) == 1
        assert store.get_task(session, 't1').route_json == '[[1, 1, 0.0], [2, 2, 0.0]]'
        assert [e.key for e in store.iter_audit(session)] == ['key-1']


def test_a_stale_alert_update_does_not_roll_the_state_back(database, helpers):
    new = helpers.make_alert('a1', at=T0)
    acked = replace(new, state=AlertState.ACKNOWLEDGED, updated_at=T0 + timedelta(seconds=5))
    with database.write() as session:
        store.ingest(session, acked)
        store.ingest(session, new)   # delivered late
    with database.read() as session:
        assert store.get_alert(session, 'a1').state == AlertState.ACKNOWLEDGED


def test_operator_command_and_its_verdict_echo_merge_into_one_row(database):
    operator = CommandRecord('c9', 'drone_1', CommandKind.HOLD, 'alice', T0, source='api',
                             verdict=Verdict(Decision.REFUSED, ('estop engaged',), ('estop',)))
    echo = replace(operator, source='ros')
    for first, second in ((operator, echo), (echo, operator)):
        with database.write() as session:
            session.execute(text('DELETE FROM commands'))
            store.ingest(session, first)
            store.ingest(session, second)
        with database.read() as session:
            (row,) = store.list_commands(session, 'drone_1')
            assert row.source == 'api' and row.decision == Decision.REFUSED
            assert json.loads(row.checks_failed_json) == ['estop']


# ----------------------------------------------------------------------------- audit chain

def test_audit_chain_verifies_and_names_the_first_modified_entry(database):
    with database.write() as session:
        for index in range(1, 6):
            store.append_audit(session, audit(index))
    with database.read() as session:
        report = store.verify_audit(session)
    assert report.ok and report.checked == 5
    with database.write() as session:
        with pytest.raises(DBAPIError, match='append-only'):
            session.execute(text("UPDATE audit_entries SET outcome = 'refused' WHERE seq = 3"))
    # Someone with direct database access drops the guard and edits a row.
    with database.engine.begin() as connection:
        connection.exec_driver_sql('DROP TRIGGER audit_entries_no_update')
        connection.exec_driver_sql("UPDATE audit_entries SET outcome = 'refused' WHERE seq = 3")
    with database.read() as session:
        report = store.verify_audit(session)
    assert not report.ok and report.first_broken_seq == 3 and report.checked == 2
    assert 'modified' in report.reason


def test_audit_chain_detects_a_deleted_entry(database):
    with database.write() as session:
        for index in range(1, 5):
            store.append_audit(session, audit(index))
    with database.engine.begin() as connection:
        connection.exec_driver_sql('DROP TRIGGER audit_entries_no_delete')
        connection.exec_driver_sql('DELETE FROM audit_entries WHERE seq = 2')
    with database.read() as session:
        report = store.verify_audit(session)
    assert (report.ok, report.first_broken_seq) == (False, 3)
    assert 'missing' in report.reason


# Appends to the chain from another process, as the Foxglove bridge and the user CLI do.
_APPENDER = """
import sys
from datetime import datetime, timezone
from sentinel_bridge.domain import AuditRecord
from sentinel_bridge.persistence import store
from sentinel_bridge.persistence.database import Database
database = Database.open(sys.argv[1], run_migrations=False)
for index in range(int(sys.argv[3])):
    with database.write() as session:
        store.append_audit(session, AuditRecord.new(datetime.now(timezone.utc), sys.argv[2],
                                                    'engage_estop', 'fleet', 'engaged'))
"""


def test_processes_appending_at_once_keep_one_unbroken_chain(database):
    """Each append reads the chain head under the write lock: no lost or forked links."""
    import subprocess
    import sys
    url = str(database.engine.url)
    with database.read() as session:
        before = store.verify_audit(session).checked
    writers = [subprocess.Popen([sys.executable, '-c', _APPENDER, url, f'writer{n}', '40'])
               for n in range(3)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    with database.read() as session:
        report = store.verify_audit(session)
        actors = [e.actor for e in store.iter_audit(session) if e.actor.startswith('writer')]
    assert report.ok, report.reason
    assert report.checked == before + 120 and len(actors) == 120


def test_audit_spool_keeps_entries_through_an_outage_and_appends_them_once(database, tmp_path):
    """The bridge's door: journal first; entries wait while the database is down."""
    import logging
    from sentinel_bridge.audit_spool import AuditSpool, open_database
    log = logging.getLogger('test.audit_spool')
    journal = tmp_path / 'audit_queue.jsonl'
    # Nothing listens on port 1: PostgreSQL is "down" for this spool's whole life.
    down = open_database('postgresql+psycopg://sentinel@127.0.0.1:1/sentinel', log)
    spool = AuditSpool(down, journal, log)
    assert spool.record('olga', 'engage_estop', 'fleet', 'engaged', {'via': 'foxglove'})
    assert not spool.wait_idle(1.0) and not spool.database_available
    spool.close()
    assert 'engage_estop' in journal.read_text()

    # Respawned against a reachable database: the journal is replayed into the chain.
    spool = AuditSpool(database, journal, log)
    assert spool.wait_idle(30.0)
    with database.read() as session:
        entries = [e for e in store.iter_audit(session) if e.actor == 'olga']
        assert store.verify_audit(session).ok
    assert [(e.action, e.target, json.loads(e.detail_json)) for e in entries] == [
        ('engage_estop', 'fleet', {'via': 'foxglove'})]
    spool.close()
    assert journal.read_text() == ''


def test_audit_api_queries_verifies_and_exports(api):
    headers = api.headers(Role.ADMIN)
    for _ in range(3):
        api.client.post('/estop', headers=api.headers(Role.OPERATOR), json={'reason': 'drill'})
    entries = api.client.get('/audit', params={'action': 'engage_estop'}, headers=headers).json()
    assert len(entries) == 3 and entries[1]['prev_hash'] == entries[0]['entry_hash']
    page = api.client.get('/audit', params={'after_seq': entries[0]['seq'], 'limit': 1,
                                            'action': 'engage_estop'}, headers=headers).json()
    assert page[0]['seq'] == entries[1]['seq']
    verify = api.client.get('/audit/verify', headers=headers).json()
    assert verify['ok'] and verify['first_broken_seq'] is None
    export = api.client.get('/audit/export', headers=headers)
    assert export.headers['content-type'].startswith('application/x-ndjson')
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [e['seq'] for e in lines] == list(range(1, len(lines) + 1))
    assert [e['action'] for e in lines[-2:]] == ['verify_audit', 'export_audit']


# ----------------------------------------------------------------------------- downsampling

def _sample(at: datetime, x: float) -> downsample.Sample:
    return downsample.Sample(at, x, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15.0, None, 'AUTO', True, False, 0, 3)


@settings(max_examples=60, deadline=None)
@given(offsets=st.lists(st.integers(min_value=-100, max_value=4000), max_size=300),
       max_points=st.integers(min_value=1, max_value=50))
def test_downsampling_keeps_every_sample_once_within_the_point_budget(offsets, max_points):
    start, end = T0, T0 + timedelta(seconds=3600)
    samples = [_sample(T0 + timedelta(seconds=o), float(o)) for o in sorted(offsets)]
    points = downsample.downsample(samples, start, end, max_points)
    inside = [s for s in samples if start <= s.stamp < end]
    assert len(points) <= max_points
    assert sum(p.count for p in points) == len(inside)
    for point in points:
        assert start <= point.start < point.end <= end
    assert [p.start for p in points] == sorted({p.start for p in points})
    if inside:
        assert min(p.values['x'] for p in points) >= inside[0].x
        assert max(p.values['x'] for p in points) <= inside[-1].x


def test_downsampling_rejects_unsorted_input_and_bad_ranges():
    with pytest.raises(ValueError, match='sorted'):
        downsample.downsample([_sample(T0 + timedelta(seconds=50), 0), _sample(T0, 0)],
                              T0, T0 + timedelta(seconds=100), 10)
    with pytest.raises(ValueError, match='after start'):
        downsample.downsample([], T0, T0, 10)


# ----------------------------------------------------------------------------- retry queue

def test_queue_evicts_superseded_samples_first_and_never_drops_alerts(tmp_path, helpers):
    outbox = Outbox(tmp_path / 'q.jsonl', max_records=10)
    for index in range(6):
        assert outbox.put(snapshot(at=T0 + timedelta(seconds=index)))
    for index in range(4):
        assert outbox.put(helpers.make_alert(f'a{index}'))
    assert outbox.put(helpers.make_alert('a4'))   # full: a telemetry sample makes room
    assert outbox.stats().evicted == 1
    for index in range(5, 10):
        assert outbox.put(helpers.make_alert(f'a{index}'))
    assert not outbox.put(helpers.make_alert('a10'))   # full of alerts: refused, counted
    kept = [r for _seq, r in outbox.peek(100)]
    assert sum(isinstance(r, VehicleSnapshot) for r in kept) == 0
    assert [r.alert_id for r in kept] == [f'a{i}' for i in range(10)]
    assert outbox.stats().refused == 1


def test_queue_survives_a_restart_through_its_journal(tmp_path, helpers):
    journal = tmp_path / 'q.jsonl'
    outbox = Outbox(journal, max_records=100)
    records = [helpers.make_alert('a1'), snapshot(), audit(1),
               CommandRecord('c1', 'drone_1', CommandKind.GOTO, 'x', T0, route=(Point(1, 2),),
                             verdict=Verdict(Decision.REFUSED, ('r',), ('c',)))]
    for record in records:
        outbox.put(record)
    seq, _record = outbox.peek(1)[0]
    outbox.ack(seq)
    with journal.open('a') as handle:
        handle.write('{"kind": "alert", "record": {"torn')   # a crash mid-write
    errors: list[str] = []
    reopened = Outbox(journal, max_records=100, on_error=errors.append)
    # The acknowledged record is replayed too (the journal is compacted lazily);
    # writes are idempotent, so it is stored once.
    assert [r for _s, r in reopened.peek(10)] == records
    assert reopened.recovered == 4 and len(errors) == 1 and 'q.jsonl:5' in errors[0]
    reopened.ack(reopened.peek(10)[-1][0])
    assert journal.read_text() == ''


@settings(max_examples=30, deadline=None)
@given(st.builds(lambda x, b, t: replace(snapshot(x=x), battery_remaining=b,
                                         stamp=T0 + timedelta(microseconds=t)),
                 st.floats(-1e5, 1e5), st.none() | st.floats(0, 1), st.integers(0, 10**12)))
def test_codec_round_trips_records_exactly(record):
    assert codec.decode(VehicleSnapshot, json.loads(json.dumps(codec.encode(record)))) == record


@pytest.mark.parametrize('located', [True, False])
def test_codec_round_trips_alerts_with_and_without_a_location(helpers, located):
    alert = helpers.make_alert()
    if not located:
        alert = replace(alert, position=None, geo_position=None)
    line = json.dumps(codec.encode(alert), allow_nan=False)
    assert codec.decode(AlertRecord, json.loads(line)) == alert


# ----------------------------------------------------------------------------- ROS-side decisions

def test_thinner_keeps_one_sample_per_vehicle_per_period():
    thinner = TelemetryThinner(1.0)
    kept = [thinner.accept(v, T0 + timedelta(seconds=t))
            for v, t in [('a', 0), ('a', 0.5), ('b', 0.5), ('a', 1.0), ('a', 1.9), ('a', 2.1)]]
    assert kept == [True, False, True, True, False, True]


def test_estop_transitions_become_events_with_stable_keys(helpers):
    engaged = replace(helpers.safety(True, ['drone_1']), estop_engaged_at=T0)
    detector = EstopTransitionDetector()
    first = detector.update(engaged)
    assert [e.kind for e in first] == ['engaged']
    assert detector.update(engaged) == []
    assert [e.kind for e in detector.update(helpers.safety(False))] == ['released']
    # After a restart the latched status is delivered again: same key, stored once.
    assert EstopTransitionDetector().update(engaged)[0].key == first[0].key


# ----------------------------------------------------------------------------- accounts

def test_first_start_creates_one_admin_with_a_printable_password(tmp_path):
    database = Database.open(f'sqlite:///{tmp_path}/fresh.db')
    password = accounts.ensure_first_admin(database)
    assert password and accounts.ensure_first_admin(database) is None
    (user,) = accounts.list_users(database)
    assert (user.name, user.role) == ('operator', Role.ADMIN)
    with database.read() as session:
        assert verify_password(store.find_user(session, 'operator').password_hash, password)
    database.close()


def test_users_cli_adds_lists_disables_and_changes_passwords(tmp_path):
    url = f'sqlite:///{tmp_path}/cli.db'

    def cli(*argv: str, stdin: str = '') -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = users_cli(['--db-url', url, *argv], io.StringIO(stdin), out, err, prompt=False)
        return code, out.getvalue(), err.getvalue()

    assert cli('add', 'carol', '--role', 'supervisor', stdin='a very good password\n')[0] == 0
    code, _out, err = cli('add', 'carol', '--role', 'viewer', stdin='a very good password\n')
    assert code == 2 and 'already exists' in err
    code, _out, err = cli('add', 'dave', '--role', 'root', stdin='a very good password\n')
    assert code == 2 and 'unknown role' in err
    code, _out, err = cli('add', 'dave', '--role', 'viewer', stdin='short\n')
    assert code == 2 and 'at least 12' in err
    assert cli('disable', 'carol')[0] == 0
    assert cli('set-password', 'carol', stdin='another good password\n')[0] == 0
    code, _out, err = cli('disable', 'nobody')
    assert code == 2 and 'no user' in err
    code, out, _err = cli('list')
    assert out.startswith('carol\tsupervisor\tdisabled')
    database = Database.open(url)
    with database.read() as session:
        assert verify_password(store.find_user(session, 'carol').password_hash,
                               'another good password')
        actions = [e.action for e in store.iter_audit(session)]
    assert actions == ['create_user', 'disable_user', 'set_password']
    database.close()
