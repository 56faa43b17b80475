"""The audit log's hash chain: how an entry is sealed and how the chain is checked.

Each entry's hash covers its own fields and the previous entry's hash, so
changing, inserting or deleting any entry breaks every link after it, and
`verify` names the first entry where the chain stops adding up. This detects
tampering by anyone who can write to the database but cannot also rewrite the
chain from that point on; cutting entries off the end is only detectable
against a head hash kept elsewhere (the export carries it). Pure logic.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from sentinel_bridge.domain import AuditRecord

# prev_hash of the first entry: no entry came before it.
GENESIS_HASH = '0' * 64
# Sequence number of the first entry.
FIRST_SEQ = 1


@dataclass(frozen=True)
class ChainedEntry:
    """An audit entry as stored: the record plus its place and seal in the chain."""

    seq: int
    key: str
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail_json: str
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class ChainReport:
    """Result of checking the chain: ok, or the first broken link and why."""

    ok: bool
    checked: int
    head_hash: str
    first_broken_seq: int | None = None
    reason: str = ''


def canonical_json(value: object) -> str:
    """One fixed JSON spelling of a value (sorted keys, no spaces), so hashes are stable."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=True,
                      allow_nan=False, default=str)


def format_time(at: datetime) -> str:
    """UTC timestamp with microseconds, the form that enters the hash."""
    if at.tzinfo is None:
        raise ValueError('audit timestamps must be timezone-aware')
    return at.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def compute_hash(seq: int, key: str, at: datetime, actor: str, action: str, target: str,
                 outcome: str, detail_json: str, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of every stored field but the hash itself."""
    body = canonical_json([seq, key, format_time(at), actor, action, target, outcome,
                           detail_json, prev_hash])
    return hashlib.sha256(body.encode('utf-8')).hexdigest()


def seal(record: AuditRecord, previous: ChainedEntry | None) -> ChainedEntry:
    """The entry that appends `record` after `previous` (None: the chain is empty)."""
    seq = FIRST_SEQ if previous is None else previous.seq + 1
    prev_hash = GENESIS_HASH if previous is None else previous.entry_hash
    detail_json = canonical_json(record.detail)
    at = record.at.astimezone(timezone.utc)
    digest = compute_hash(seq, record.key, at, record.actor, record.action, record.target,
                          record.outcome, detail_json, prev_hash)
    return ChainedEntry(seq, record.key, at, record.actor, record.action, record.target,
                        record.outcome, detail_json, prev_hash, digest)


def verify_chain(entries: Iterable[ChainedEntry]) -> ChainReport:
    """Walk entries in sequence order and report the first one that breaks the chain."""
    expected_seq = FIRST_SEQ
    expected_prev = GENESIS_HASH
    checked = 0
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainReport(False, checked, expected_prev, entry.seq,
                               f'sequence jumps from {expected_seq - 1} to {entry.seq} '
                               '(entries missing or inserted)')
        if entry.prev_hash != expected_prev:
            return ChainReport(False, checked, expected_prev, entry.seq,
                               'prev_hash does not match the previous entry')
        digest = compute_hash(entry.seq, entry.key, entry.at, entry.actor, entry.action,
                              entry.target, entry.outcome, entry.detail_json, entry.prev_hash)
        if digest != entry.entry_hash:
            return ChainReport(False, checked, expected_prev, entry.seq,
                               'entry content does not match its hash (modified)')
        checked += 1
        expected_seq += 1
        expected_prev = entry.entry_hash
    return ChainReport(True, checked, expected_prev)
