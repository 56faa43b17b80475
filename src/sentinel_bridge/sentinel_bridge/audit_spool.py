"""The audit trail of a process other than the operator API: same chain, same durability.

Operators act through two doors, the HTTP API and Foxglove, and every action
must land in the one tamper-evident chain (``audit_entries``) whichever door
it came through. The Foxglove bridge therefore writes to the operator API's
database (the same ``db_url``) through the same machinery the API uses for
records of actions that already took effect: a bounded retry queue whose
journal is fsynced before ``record`` returns, drained by a
:class:`PersistenceWorker` that appends each entry with
``store.append_audit``. The append reads the chain's head under a lock held
across processes (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so
two processes never seal two entries on the same predecessor.

So an answered action is never lost: while the database is down the entries
wait in the journal (``audit_queue.jsonl``, its own file: one writer per
journal), a respawned process replays them, and idempotent keys make a replay
of an entry that had committed append nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from sentinel_bridge.domain import AuditRecord
from sentinel_bridge.persistence.database import Database, DatabaseUnavailable, make_engine
from sentinel_bridge.persistence.outbox import DEFAULT_MAX_RECORDS, Outbox, OutboxStats
from sentinel_bridge.persistence.worker import Logger, PersistenceWorker

# Journal of entries not yet in the database, in the process's data directory.
JOURNAL_NAME = 'audit_queue.jsonl'


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def open_database(db_url: str, logger: Logger) -> Database:
    """The database at db_url, migrated when it can be reached now.

    When it cannot (PostgreSQL down at start), the process still starts: the
    writer retries until it is back, and the operator API migrates the schema
    at its own start. ValueError for a db_url that is not usable at all.
    """
    try:
        return Database.open(db_url)
    except DatabaseUnavailable as error:
        logger.warning(f'database unavailable at start ({error}); audit entries wait in the '
                       'journal until it is back')
        return Database(make_engine(db_url))


class AuditSpool:
    """Appends audit records to the chain through a durable queue (thread-safe)."""

    def __init__(self, database: Database, journal: Path, logger: Logger,
                 max_records: int = DEFAULT_MAX_RECORDS,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._database = database
        self._log = logger
        self._clock = clock
        outbox = Outbox(journal, max_records, on_error=logger.error)
        if outbox.recovered:
            logger.warning(f'{outbox.recovered} audit entries recovered from {journal}')
        self._worker = PersistenceWorker(database, outbox, logger)
        self._worker.start()

    def record(self, actor: str, action: str, target: str, outcome: str,
               detail: dict[str, object]) -> bool:
        """Queue one entry, stamped now; True once it is in the journal (or memory).

        False when the queue is full of entries not yet written: the entry is
        lost, which is logged as an error (the action itself already happened).
        """
        entry = AuditRecord.new(self._clock(), actor, action, target, outcome, detail)
        if self._worker.submit(entry):
            return True
        self._log.error(f'audit queue full: lost the entry {action} {target} by {actor} '
                        f'({outcome})')
        return False

    @property
    def database_available(self) -> bool:
        """False while the last write attempt found the database unavailable."""
        return self._worker.database_available

    def stats(self) -> OutboxStats:
        """The queue's counters (pending, refused, ...)."""
        return self._worker.stats()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every queued entry is written (True) or the timeout passes."""
        return self._worker.wait_idle(timeout_s)

    def close(self) -> None:
        """Stop the writer (what is left stays in the journal) and release the database."""
        self._worker.stop()
        self._database.close()
