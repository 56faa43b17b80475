"""Progress lines for long CLI runs (dataset generation, evaluation, extraction).

Why not tqdm: it is not in the runtime install, and a line that says done,
total, rate and time left is all an operator needs. On a terminal the line
is redrawn in place; in a log (not a TTY) a line is printed every tenth.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

# Seconds between redraws on a terminal.
REDRAW_PERIOD_S = 0.5
# Share of the work between lines when the output is not a terminal.
LOG_STEP = 0.1


def format_duration(seconds: float) -> str:
    """``1h02m``, ``3m07s`` or ``12s``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f'{hours}h{minutes:02d}m'
    if minutes:
        return f'{minutes}m{secs:02d}s'
    return f'{secs}s'


class Progress:
    """Call ``update(done)`` as work completes and ``close()`` at the end."""

    def __init__(self, label: str, total: int, unit: str = 'items',
                 stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(0, total)
        self.unit = unit
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self._last_draw = 0.0
        self._next_log = LOG_STEP
        self._tty = bool(getattr(self.stream, 'isatty', lambda: False)())
        self.done = 0

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        share = self.done / self.total if self.total else 1.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        return (f'[{self.label}] {self.done}/{self.total} {self.unit} ({100 * share:.0f}%) '
                f'{rate:.1f} {self.unit}/s, elapsed {format_duration(elapsed)}, '
                f'left {format_duration(eta)}')

    def update(self, done: int, total: int | None = None) -> None:
        """Record ``done`` units of work (and a new ``total`` when it became known)."""
        if total is not None:
            self.total = max(0, total)
        self.done = done
        now = time.monotonic()
        if self._tty:
            if now - self._last_draw >= REDRAW_PERIOD_S or done >= self.total:
                self.stream.write('\r' + self.line() + '\x1b[K')
                self.stream.flush()
                self._last_draw = now
        elif self.total and done / self.total >= self._next_log:
            self.stream.write(self.line() + '\n')
            self.stream.flush()
            while self._next_log <= done / self.total:
                self._next_log += LOG_STEP

    def close(self) -> None:
        if self._tty:
            self.stream.write('\r' + self.line() + '\x1b[K\n')
            self.stream.flush()
