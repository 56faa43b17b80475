"""The bounded retry queue between ROS-side events and the database.

Every record bound for the database (an alert, a verdict, a telemetry sample,
an audit entry whose write failed after the action took effect) enters this
queue first and leaves it only once a transaction holding it has committed.
The queue is mirrored to a journal file (one JSON line per record) so that a
crash or respawn during a database outage does not lose it; on start the
journal is read back and replayed (writes are idempotent, so records that had
committed just before a crash are stored once).

The bound: at most `max_records` records. When full, the oldest *droppable*
records go first (telemetry samples and task snapshots: newer ones supersede
them), a tenth of them at a time. When nothing droppable is left, new records
are refused, counted and reported as an error: alerts, commands, e-stop events
and audit entries are never evicted to make room for newer ones.
Records that must not be lost are fsynced as they enter; the rest are only
flushed (they survive a process crash, not a power cut).
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sentinel_bridge.codec import decode, encode
from sentinel_bridge.domain import (AlertAction, AlertRecord, AuditRecord, CommandRecord,
                                    EstopEvent, TaskRecord, VehicleSnapshot)
from sentinel_bridge.persistence.store import IngestRecord

# Default bound on queued records (about 20 MB of journal at ~400 bytes each).
DEFAULT_MAX_RECORDS = 50_000
# Fraction of the droppable records evicted at once when the queue is full,
# so that eviction (which rewrites the journal) is rare rather than per record.
EVICT_FRACTION = 0.1
# Committed records tolerated at the head of the journal before it is rewritten.
COMPACT_AFTER_RECORDS = 10_000
# Journal file name in the data directory.
JOURNAL_NAME = 'ingest_queue.jsonl'

# Record kinds as written in the journal.
KINDS: dict[str, type] = {
    'alert': AlertRecord, 'alert_action': AlertAction, 'task': TaskRecord,
    'command': CommandRecord, 'estop': EstopEvent, 'telemetry': VehicleSnapshot,
    'audit': AuditRecord,
}
_KIND_OF = {cls: kind for kind, cls in KINDS.items()}
# Kinds a newer record of the same kind supersedes: evicted first when full.
DROPPABLE = (VehicleSnapshot, TaskRecord)


@dataclass(frozen=True)
class OutboxStats:
    """Counters for health reporting."""

    pending: int
    evicted: int       # droppable records removed to make room
    refused: int       # records refused because the queue was full of must-keep records
    max_records: int


class Outbox:
    """Thread-safe bounded FIFO of records, mirrored to an optional journal file."""

    def __init__(self, journal: Path | None, max_records: int = DEFAULT_MAX_RECORDS,
                 on_error: Callable[[str], None] | None = None) -> None:
        if max_records < 1:
            raise ValueError(f'max_records must be >= 1, got {max_records}')
        self.max_records = max_records
        self._journal = journal
        self._on_error = on_error or (lambda _message: None)
        self._lock = threading.Lock()
        self._queue: deque[tuple[int, IngestRecord]] = deque()
        self._handle: TextIO | None = None   # the journal, open for appending
        self._next_seq = 1
        self._committed_in_journal = 0
        self._droppable = 0
        self.evicted = 0
        self.refused = 0
        self.recovered = 0
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            self._load()

    # -- producer side -------------------------------------------------------

    def put(self, record: IngestRecord) -> bool:
        """Queue a record; False (and counted) when the queue is full of must-keep records."""
        with self._lock:
            if len(self._queue) >= self.max_records:
                self._evict_locked()
            if len(self._queue) >= self.max_records:
                self.refused += 1
                return False
            self._queue.append((self._next_seq, record))
            self._next_seq += 1
            if isinstance(record, DROPPABLE):
                self._droppable += 1
            self._append_locked(record)
            return True

    # -- consumer side -------------------------------------------------------

    def peek(self, limit: int) -> list[tuple[int, IngestRecord]]:
        """Up to `limit` oldest records with their queue sequence numbers."""
        with self._lock:
            return [self._queue[i] for i in range(min(limit, len(self._queue)))]

    def ack(self, up_to_seq: int) -> int:
        """Remove every record up to `up_to_seq` (committed); returns how many were removed."""
        removed = 0
        with self._lock:
            while self._queue and self._queue[0][0] <= up_to_seq:
                _seq, record = self._queue.popleft()
                if isinstance(record, DROPPABLE):
                    self._droppable -= 1
                removed += 1
            self._committed_in_journal += removed
            if not self._queue:
                self._rewrite_locked()
            elif self._committed_in_journal > COMPACT_AFTER_RECORDS:
                self._rewrite_locked()
        return removed

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        """Close the journal file (what is queued stays in it for the next start)."""
        with self._lock:
            self._close_handle_locked()

    def stats(self) -> OutboxStats:
        """Counters for the health endpoint and the heartbeat."""
        with self._lock:
            return OutboxStats(len(self._queue), self.evicted, self.refused, self.max_records)

    # -- internals -------------------------------------------------------------

    def _evict_locked(self) -> None:
        if self._droppable == 0:
            return
        budget = max(1, int(self._droppable * EVICT_FRACTION))
        kept: deque[tuple[int, IngestRecord]] = deque()
        for item in self._queue:
            if budget and isinstance(item[1], DROPPABLE):
                budget -= 1
                self._droppable -= 1
                self.evicted += 1
            else:
                kept.append(item)
        self._queue = kept
        self._rewrite_locked()

    def _close_handle_locked(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError as error:
                self._on_error(f'retry queue journal {self._journal} not closable ({error})')
            self._handle = None

    def _line(self, record: IngestRecord) -> str:
        return json.dumps({'kind': _KIND_OF[type(record)], 'record': encode(record)},
                          separators=(',', ':'), allow_nan=True) + '\n'

    def _append_locked(self, record: IngestRecord) -> None:
        if self._journal is None:
            return
        try:
            if self._handle is None:  # kept open between appends: one open per rewrite, not per record
                self._handle = self._journal.open('a', encoding='utf-8')
            self._handle.write(self._line(record))
            self._handle.flush()
            if not isinstance(record, DROPPABLE):
                os.fsync(self._handle.fileno())
        except OSError as error:
            self._on_error(f'retry queue journal {self._journal} not writable ({error}); '
                           'queued records survive only in memory')

    def _rewrite_locked(self) -> None:
        self._committed_in_journal = 0
        if self._journal is None:
            return
        self._close_handle_locked()
        temp = self._journal.with_suffix('.tmp')
        try:
            with temp.open('w', encoding='utf-8') as handle:
                for _seq, record in self._queue:
                    handle.write(self._line(record))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self._journal)
        except OSError as error:
            self._on_error(f'retry queue journal {self._journal} not rewritable ({error})')

    def _load(self) -> None:
        assert self._journal is not None
        if not self._journal.exists():
            return
        bad = 0
        with self._journal.open(encoding='utf-8') as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    item = json.loads(line)
                    record = decode(KINDS[item['kind']], item['record'])
                except (ValueError, KeyError, TypeError) as error:
                    # A torn last line after a crash is expected; anything else is reported.
                    bad += 1
                    self._on_error(f'{self._journal}:{number}: unreadable queued record '
                                   f'skipped ({error})')
                    continue
                if len(self._queue) >= self.max_records:
                    self.refused += 1
                    continue
                self._queue.append((self._next_seq, record))
                self._next_seq += 1
                if isinstance(record, DROPPABLE):
                    self._droppable += 1
        self.recovered = len(self._queue)
        self._rewrite_locked()
