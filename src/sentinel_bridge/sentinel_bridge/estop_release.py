"""The two-person rule for releasing an emergency stop.

Releasing an e-stop puts vehicles back in motion, so it takes two different
supervisors: one files a release request (scope and reason), a second one
confirms it within a time window. Only then does the API ask the safety
watchdog to release, naming both approvers; the watchdog re-checks them
itself. The same person confirming their own request is refused and the
request stays open for someone else. Pure logic: the clock is injected.

Pending requests live in memory only: they are seconds-to-minutes old by
design, and after a restart the supervisors simply file a new one.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# How long a release request waits for its second approver, seconds.
DEFAULT_WINDOW_S = 120.0
# Longest window that may be configured, seconds: a request left open for
# longer would no longer reflect a joint decision about the current situation.
MAX_WINDOW_S = 900.0
# Most requests pending at once; more means something is wrong (or a script is
# flooding), and the caller gets a clear refusal instead of unbounded memory.
MAX_PENDING = 16


@dataclass(frozen=True)
class ReleaseRequest:
    """A first approval waiting for a second one."""

    request_id: str
    requested_by: str
    vehicle_ids: tuple[str, ...]   # empty: the whole fleet
    reason: str
    requested_at: float            # seconds since the epoch
    expires_at: float              # seconds since the epoch


class ReleaseError(Exception):
    """A release step was refused; `code` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ReleaseBook:
    """Pending release requests and the rules for confirming them (thread-safe)."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0.0 < window_s <= MAX_WINDOW_S:
            raise ValueError(f'release window must be in (0, {MAX_WINDOW_S:.0f}] s, got {window_s!r}')
        self.window_s = window_s
        self._clock = clock
        self._pending: dict[str, ReleaseRequest] = {}
        # HTTP handlers run on several threads; every public method holds this lock.
        self._lock = threading.Lock()

    def request(self, requested_by: str, vehicle_ids: Sequence[str], reason: str) -> ReleaseRequest:
        """File the first approval."""
        with self._lock:
            self._expire()
            if len(self._pending) >= MAX_PENDING:
                raise ReleaseError('too_many', f'{MAX_PENDING} release requests are already pending')
            now = self._clock()
            entry = ReleaseRequest(uuid.uuid4().hex, requested_by, tuple(vehicle_ids), reason,
                                   now, now + self.window_s)
            self._pending[entry.request_id] = entry
            return entry

    def confirm(self, request_id: str, confirmed_by: str) -> ReleaseRequest:
        """Take the request for release by a second, different approver."""
        with self._lock:
            entry = self._get(request_id)
            if entry.requested_by == confirmed_by:
                raise ReleaseError(
                    'same_approver',
                    'the second approval must come from a different supervisor than the first')
            del self._pending[request_id]
            return entry

    def restore(self, entry: ReleaseRequest) -> None:
        """Put a taken request back (the watchdog could not be reached), if still in time."""
        with self._lock:
            if entry.expires_at > self._clock() and len(self._pending) < MAX_PENDING:
                self._pending[entry.request_id] = entry

    def cancel(self, request_id: str) -> ReleaseRequest:
        """Withdraw a pending request."""
        with self._lock:
            entry = self._get(request_id)
            del self._pending[request_id]
            return entry

    def pending(self) -> list[ReleaseRequest]:
        """Requests still waiting, oldest first."""
        with self._lock:
            self._expire()
            return sorted(self._pending.values(), key=lambda r: r.requested_at)

    def _get(self, request_id: str) -> ReleaseRequest:
        entry = self._pending.get(request_id)
        if entry is None:
            raise ReleaseError('not_found', f'no pending release request {request_id!r}')
        if entry.expires_at <= self._clock():
            del self._pending[request_id]
            raise ReleaseError(
                'expired', f'release request {request_id!r} expired; '
                f'the second approval must come within {self.window_s:.0f} s')
        return entry

    def _expire(self) -> None:
        now = self._clock()
        for request_id in [k for k, v in self._pending.items() if v.expires_at <= now]:
            del self._pending[request_id]
