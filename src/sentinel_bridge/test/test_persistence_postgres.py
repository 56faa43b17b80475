"""The operations database on a real PostgreSQL server, including an outage.

The server is started by the `postgres_server` fixture (initdb + pg_ctl from
the Debian server package, in a temporary directory on a free port). These
tests fail rather than skip when the binaries are missing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from sentinel_bridge.auth import Role
from sentinel_bridge.domain import AlertState, AuditRecord, GeoPoint, Point, VehicleSnapshot
from sentinel_bridge.persistence import schema, store
from sentinel_bridge.persistence.database import Database, DatabaseUnavailable
from sentinel_bridge.persistence.outbox import Outbox
from sentinel_bridge.persistence.worker import PersistenceWorker

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
# Seconds allowed for the writer to catch up after the server is back.
CATCH_UP_S = 30.0


def snapshot(index: int) -> VehicleSnapshot:
    return VehicleSnapshot('drone_1', T0 + timedelta(seconds=index), 0, True, 'AUTO',
                           Point(index, 0, 30), GeoPoint(51, 4, 80), Point(), 0.0, 15.0, 0.5,
                           0, 1.0, 3, False, '')


def _count(database: Database, table: type[schema.Base]) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def _wait_until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_schema_ingest_and_audit_chain_on_postgres(postgres_url, helpers):
    database = Database.open(postgres_url)
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={'compare_type': True})
            assert compare_metadata(context, schema.Base.metadata) == []
        alert = helpers.make_alert('a1', at=T0)
        records = [alert, replace(alert, state=AlertState.RESOLVED,
                                  updated_at=T0 + timedelta(seconds=9)), snapshot(1),
                   AuditRecord('k1', T0, 'alice', 'engage_estop', 'fleet', 'engaged', {'x': 1}),
                   AuditRecord('k2', T0, 'bob', 'release', 'fleet', 'released', {})]
        for _ in range(2):
            with database.write() as session:
                for record in records:
                    store.ingest(session, record)
        with database.read() as session:
            assert [h.state for h in store.alert_history(session, 'a1')] == [0, 2]
            assert store.count_telemetry(session, 'drone_1') == 1
            assert store.verify_audit(session).ok
            stamps = list(store.iter_telemetry(session, 'drone_1', T0, T0 + timedelta(hours=1)))
            assert stamps[0].stamp == T0 + timedelta(seconds=1)
        with pytest.raises(DBAPIError, match='append-only'):
            with database.write() as session:
                session.execute(text("DELETE FROM audit_entries WHERE seq = 1"))
        with database.engine.begin() as connection:
            connection.exec_driver_sql(
                'ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only')
            connection.exec_driver_sql("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 2")
        with database.read() as session:
            report = store.verify_audit(session)
        assert (report.ok, report.first_broken_seq) == (False, 2)
    finally:
        database.close()


def test_ros_events_queue_through_an_outage_and_land_exactly_once(postgres_server, postgres_url,
                                                                   tmp_path, helpers):
    database = Database.open(postgres_url)
    persisted: list[int] = []
    worker = PersistenceWorker(database, Outbox(tmp_path / 'queue.jsonl'), logging.getLogger('sentinel_bridge.test.worker'),
                               on_persisted=persisted.append)
    worker.start()
    try:
        for index in range(5):
            worker.submit(snapshot(index))
        worker.submit(helpers.make_alert('before', at=T0))
        assert worker.wait_idle(CATCH_UP_S)
        postgres_server.stop()
        try:
            for index in range(5, 25):
                worker.submit(snapshot(index))
            for index in range(5):
                alert = helpers.make_alert(f'during-{index}', at=T0 + timedelta(seconds=index))
                worker.submit(alert)
                worker.submit(replace(alert, state=AlertState.ACKNOWLEDGED, acknowledged_by='bob',
                                      updated_at=alert.updated_at + timedelta(seconds=1)))
            worker.submit(AuditRecord('outage-audit', T0, 'alice', 'engage_estop', 'fleet',
                                      'engaged', {}))
            assert _wait_until(lambda: not worker.database_available, 10.0)
            assert worker.stats().pending == 31
            with pytest.raises(DatabaseUnavailable):
                database.ping()
        finally:
            postgres_server.start()
        assert worker.wait_idle(CATCH_UP_S), f'{worker.stats().pending} records still queued'
        assert worker.database_available
        with database.read() as session:
            assert store.count_telemetry(session, 'drone_1') == 25
            assert session.scalar(select(func.count()).select_from(schema.Alert)) == 6
            for index in range(5):
                history = store.alert_history(session, f'during-{index}')
                assert [(h.state, h.changed_by) for h in history] == [(0, ''), (1, 'bob')]
            assert [e.key for e in store.iter_audit(session)] == ['outage-audit']
        assert sum(persisted) >= 37
        assert (tmp_path / 'queue.jsonl').read_text() == ''
    finally:
        worker.stop()
        database.close()


def test_api_during_an_outage_refuses_actions_but_engages_the_estop(postgres_server, postgres_url,
                                                                    password_hash, tmp_path,
                                                                    helpers):
    database = Database.open(postgres_url)
    environment = helpers.open_api(database, password_hash, tmp_path / 'queue.jsonl')
    api = next(environment)
    try:
        operator = api.headers(Role.OPERATOR)
        assert api.client.get('/alerts', headers=operator).status_code == 200
        postgres_server.stop()
        try:
            response = api.client.get('/alerts', headers=operator)
            assert response.status_code == 503 and response.headers['retry-after']
            response = api.client.post('/vehicles/drone_1/commands', headers=operator,
                                       json={'command': 'hold'})
            assert response.status_code == 503
            assert api.gateway.calls == [], 'nothing is sent to ROS that could not be recorded'
            health = api.client.get('/health').json()
            assert (health['status'], health['database']) == ('degraded', 'unavailable')
            response = api.client.post('/estop', headers=operator, json={'reason': 'db down drill'})
            assert response.status_code == 200 and response.json()['engaged']
            assert api.gateway.names() == ['trigger_estop']
        finally:
            postgres_server.start()
        assert api.context.worker.wait_idle(CATCH_UP_S)
        with database.read() as session:
            (event,) = store.list_estop_events(session)
            assert (event.kind, event.actor) == ('engage', 'operator_user')
            actions = [e.action for e in store.iter_audit(session)]
        assert actions.count('engage_estop') == 1
        with database.read() as session:
            assert store.verify_audit(session).ok, 'the chain stays valid across the outage'
    finally:
        environment.close()
        database.close()
