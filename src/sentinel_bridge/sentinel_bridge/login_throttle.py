"""Slows password guessing at the login endpoint.

After a few failed logins for one user name from one client address, further
attempts are refused for a while (HTTP 429 with Retry-After). Only logins are
throttled: operator actions, and the e-stop above all, never are. Pure logic,
bounded memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# Failed logins tolerated within the window before the key is locked out.
DEFAULT_MAX_FAILURES = 5
# Window over which failures are counted, seconds.
DEFAULT_WINDOW_S = 60.0
# How long a locked-out key must wait, seconds.
DEFAULT_LOCKOUT_S = 60.0
# Most keys remembered; the least recently failed are forgotten first.
MAX_TRACKED_KEYS = 10_000


class LoginThrottle:
    """Counts recent failures per key (client address and user name)."""

    def __init__(self, max_failures: int = DEFAULT_MAX_FAILURES,
                 window_s: float = DEFAULT_WINDOW_S, lockout_s: float = DEFAULT_LOCKOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._clock = clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._locked_until: dict[str, float] = {}

    def retry_after(self, key: str) -> float:
        """Seconds the key must still wait; 0 when it may try now."""
        until = self._locked_until.get(key, 0.0)
        remaining = until - self._clock()
        if remaining <= 0.0:
            self._locked_until.pop(key, None)
            return 0.0
        return remaining

    def record_failure(self, key: str) -> None:
        """Count a failed login; lock the key out when it has failed too often."""
        now = self._clock()
        recent = [t for t in self._failures.pop(key, []) if now - t < self.window_s]
        recent.append(now)
        self._failures[key] = recent
        if len(recent) >= self.max_failures:
            self._locked_until[key] = now + self.lockout_s
            self._failures.pop(key, None)
        while len(self._failures) > MAX_TRACKED_KEYS:
            self._failures.popitem(last=False)
        if len(self._locked_until) > MAX_TRACKED_KEYS:
            self._locked_until = {k: v for k, v in self._locked_until.items() if v > now}

    def record_success(self, key: str) -> None:
        """A successful login clears the key's failures."""
        self._failures.pop(key, None)
        self._locked_until.pop(key, None)
