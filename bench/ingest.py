#!/usr/bin/env python3
"""Benchmark of telemetry ingest: the operator API's path to the database against raw sqlite3.

Why: vehicle state is most of what the operator API stores, and its writer
must keep up with a large fleet (and drain a backlog after a database outage)
without the ORM costing an order of magnitude over the driver. Three ways of
storing the same telemetry rows in fresh SQLite files with the same schema and
settings (WAL, synchronous=NORMAL), measured in the same run:

* raw: the standard library's sqlite3 ``executemany`` of plain tuples built
  from the same records, one transaction per batch of 200 rows (the baseline:
  any path has to turn records into rows);
* store: what the writer thread does per batch: ``Database.write()`` (BEGIN
  IMMEDIATE) and ``store.ingest_many`` (domain records -> one executemany of
  ``INSERT ... ON CONFLICT DO NOTHING``), one transaction per batch of 200;
* queued: the whole path a ROS callback starts: ``PersistenceWorker.submit``
  (the retry queue and its journal file) and the writer thread draining it.

It prints rows/s of each and the ratios to raw; the goal is store >= 0.5 x raw.

Run: ``.venv/bin/python bench/ingest.py [--rows 20000]`` (about 20 s).
Figures depend on the machine, its disk and its load; compare the ratios.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sentinel_bridge.domain import GeoPoint, Point, VehicleSnapshot
from sentinel_bridge.persistence import store
from sentinel_bridge.persistence.database import Database
from sentinel_bridge.persistence.outbox import Outbox
from sentinel_bridge.persistence.worker import DEFAULT_BATCH_SIZE, PersistenceWorker

VEHICLES = 20                 # distinct vehicle ids in the generated telemetry
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
COLUMNS = ('vehicle_id', 'stamp', 'x', 'y', 'z', 'latitude_deg', 'longitude_deg', 'altitude',
           'vx', 'vy', 'vz', 'heading_deg', 'battery_voltage', 'battery_remaining', 'mode',
           'armed', 'landed', 'link_state', 'gps_fix')


def snapshots(count: int) -> list[VehicleSnapshot]:
    """Telemetry of VEHICLES vehicles at 10 Hz, unique per vehicle and stamp."""
    return [VehicleSnapshot(
        vehicle_id=f'drone_{i % VEHICLES}', stamp=T0 + timedelta(milliseconds=100 * (i // VEHICLES)),
        vehicle_type=1, armed=True, mode='GUIDED', position=Point(i * 0.1, -i * 0.1, 20.0),
        geo_position=GeoPoint(51.0, 4.0, 80.0), velocity=Point(1.0, 0.5, 0.0), heading_deg=90.0,
        battery_voltage=15.2, battery_remaining=0.8, link_state=0, link_quality=1.0, gps_fix=3,
        landed=False, current_task_id='') for i in range(count)]


def fresh_database(directory: Path, name: str) -> str:
    """A migrated, empty database file; returns its URL."""
    url = f'sqlite:///{directory / name}'
    Database.open(url).close()
    return url


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def run_raw(path: Path, rows: list[VehicleSnapshot]) -> float:
    """Plain sqlite3 executemany of tuples made from the same records; seconds."""
    sql = (f'INSERT INTO telemetry_samples ({", ".join(COLUMNS)}) '
           f'VALUES ({", ".join("?" * len(COLUMNS))}) ON CONFLICT DO NOTHING')
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute('PRAGMA journal_mode=WAL')
    connection.execute('PRAGMA synchronous=NORMAL')
    start = time.perf_counter()
    tuples = [(s.vehicle_id, s.stamp.strftime('%Y-%m-%d %H:%M:%S.%f'), s.position.x,
               s.position.y, s.position.z, s.geo_position.latitude_deg,
               s.geo_position.longitude_deg, s.geo_position.altitude, s.velocity.x,
               s.velocity.y, s.velocity.z, s.heading_deg, s.battery_voltage,
               s.battery_remaining, s.mode, s.armed, s.landed, s.link_state, s.gps_fix)
              for s in rows]
    for chunk in batches(tuples, DEFAULT_BATCH_SIZE):
        connection.execute('BEGIN IMMEDIATE')
        connection.executemany(sql, chunk)
        connection.execute('COMMIT')
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def run_store(url: str, rows: list[VehicleSnapshot]) -> float:
    """The writer thread's transactions, without the queue; seconds."""
    database = Database.open(url, run_migrations=False)
    start = time.perf_counter()
    for chunk in batches(rows, DEFAULT_BATCH_SIZE):
        with database.write() as session:
            store.ingest_many(session, chunk)
    elapsed = time.perf_counter() - start
    database.close()
    return elapsed


def run_queued(url: str, journal: Path, rows: list[VehicleSnapshot]) -> float:
    """submit() from the caller, journal, writer thread; seconds until all are stored."""
    database = Database.open(url, run_migrations=False)
    worker = PersistenceWorker(database, Outbox(journal, max_records=len(rows) + 1),
                               logging.getLogger('bench.ingest'))
    worker.start()
    start = time.perf_counter()
    for row in rows:
        worker.submit(row)
    if not worker.wait_idle(600.0):
        raise RuntimeError('the writer did not drain the queue within 600 s')
    elapsed = time.perf_counter() - start
    worker.stop()
    database.close()
    return elapsed


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute('SELECT count(*) FROM telemetry_samples').fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rows', type=int, default=20_000, help='telemetry rows per method')
    options = parser.parse_args()
    if options.rows < DEFAULT_BATCH_SIZE:
        parser.error(f'--rows must be at least {DEFAULT_BATCH_SIZE}')
    rows = snapshots(options.rows)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        urls = {name: fresh_database(directory, f'{name}.db') for name in ('raw', 'store', 'queued')}
        seconds = {
            'raw': run_raw(directory / 'raw.db', rows),
            'store': run_store(urls['store'], rows),
            'queued': run_queued(urls['queued'], directory / 'queue.jsonl', rows),
        }
        for name in seconds:
            stored = count_rows(directory / f'{name}.db')
            if stored != options.rows:
                raise RuntimeError(f'{name}: {stored} rows stored of {options.rows}')
    raw_rate = options.rows / seconds['raw']
    print(f'{options.rows} telemetry rows, batches of {DEFAULT_BATCH_SIZE}, SQLite WAL '
          'synchronous=NORMAL')
    print(f'{"method":52s} {"rows/s":>10s} {"x raw":>7s}')
    labels = {'raw': 'raw sqlite3 executemany (baseline)',
              'store': 'store.ingest_many in Database.write() (the writer)',
              'queued': 'PersistenceWorker.submit -> journal -> writer'}
    for name, label in labels.items():
        rate = options.rows / seconds[name]
        print(f'{label:52s} {rate:10.0f} {rate / raw_rate:7.2f}')
    ratio = seconds['raw'] / seconds['store']
    print(f'goal store >= 0.5 x raw: {"met" if ratio >= 0.5 else "NOT met"} ({ratio:.2f})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
