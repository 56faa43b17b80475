"""Moves queued records into the database, in batches, retrying through outages.

ROS callbacks must never wait on the database (a PostgreSQL connect timeout
would stall the executor that also carries the operator API's service calls),
so they only enqueue; this thread writes. A batch is one transaction; when the
database is unavailable the batch stays queued and the thread retries with
backoff. A record the database rejects for a reason other than availability
(a bug or bad data) is isolated by retrying the batch record by record, and
only that record is dropped, with an error log, so one bad record cannot block
every later one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from sentinel_bridge.persistence import store
from sentinel_bridge.persistence.database import Database, DatabaseUnavailable
from sentinel_bridge.persistence.outbox import Outbox, OutboxStats

# Records written per transaction.
DEFAULT_BATCH_SIZE = 200
# First and longest wait between retries while the database is unavailable, seconds.
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 5.0


class Logger(Protocol):
    """The subset of rclpy's and the standard library's logger interface used here."""

    def info(self, message: str) -> object: ...
    def warning(self, message: str) -> object: ...
    def error(self, message: str) -> object: ...


class PersistenceWorker:
    """A thread draining an Outbox into a Database."""

    def __init__(self, database: Database, outbox: Outbox, logger: Logger,
                 on_persisted: Callable[[int], None] = lambda _count: None,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self._database = database
        self._outbox = outbox
        self._log = logger
        self._on_persisted = on_persisted
        self._batch_size = batch_size
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self.database_available = True
        self.persisted = 0
        self.rejected = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name='persistence-worker', daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the current batch; whatever is still queued stays in the journal."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._outbox.close()

    def submit(self, record: store.IngestRecord) -> bool:
        """Queue a record for writing; False when the queue refused it (full)."""
        accepted = self._outbox.put(record)
        self._wake.set()
        return accepted

    def stats(self) -> OutboxStats:
        """The retry queue's counters."""
        return self._outbox.stats()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until the queue is empty (True) or the timeout passes (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: len(self._outbox) == 0, timeout_s)

    def _run(self) -> None:
        delay = RETRY_INITIAL_S
        while not self._stop.is_set():
            batch = self._outbox.peek(self._batch_size)
            if not batch:
                with self._idle:
                    self._idle.notify_all()
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            if self._write(batch):
                delay = RETRY_INITIAL_S
                continue
            self._stop.wait(delay)
            delay = min(delay * 2.0, RETRY_MAX_S)

    def _write(self, batch: list[tuple[int, store.IngestRecord]]) -> bool:
        """Write one batch; True when the queue advanced."""
        try:
            with self._database.write() as session:
                store.ingest_many(session, [record for _seq, record in batch])
        except DatabaseUnavailable as error:
            if self.database_available:
                self._log.error(f'database unavailable ({error}); {len(self._outbox)} records '
                                'queued, retrying')
            self.database_available = False
            return False
        except (SQLAlchemyError, ValueError, TypeError) as error:
            self._log.error(f'batch of {len(batch)} records rejected ({error}); '
                            'retrying record by record')
            return self._write_one_by_one(batch)
        self._committed(batch[-1][0], len(batch))
        return True

    def _write_one_by_one(self, batch: list[tuple[int, store.IngestRecord]]) -> bool:
        for seq, record in batch:
            try:
                with self._database.write() as session:
                    store.ingest(session, record)
            except DatabaseUnavailable:
                self.database_available = False
                return False
            except (SQLAlchemyError, ValueError, TypeError) as error:
                self.rejected += 1
                self._log.error(f'dropped a {type(record).__name__} the database rejects: {error}')
                self._outbox.ack(seq)
                continue
            self._committed(seq, 1)
        return True

    def _committed(self, up_to_seq: int, count: int) -> None:
        self._outbox.ack(up_to_seq)
        if not self.database_available:
            self._log.info(f'database available again; {len(self._outbox)} records still queued')
        self.database_available = True
        self.persisted += count
        self._on_persisted(count)
