"""Per-key log throttling with a count of what was held back.

Why: a camera publishing the wrong encoding at 30 Hz must produce one clear
log line every few seconds, not 30 a second, yet a second camera failing for
another reason must not be silenced by the first (rclpy's own throttle keys
on the call site only). Each key (camera and reason, say) has its own period,
and the next line says how many occurrences were held back. No rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LogThrottle:
    """Decides, per key, whether a repeated message may be logged now."""

    period: float = 10.0   # s between two lines of the same key
    _last: dict[str, float] = field(default_factory=dict)
    _held: dict[str, int] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> int | None:
        """None to stay quiet; else the number of occurrences held back since the last line."""
        last = self._last.get(key)
        if last is not None and now - last < self.period:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)

    @staticmethod
    def suffix(held: int) -> str:
        """Text to append to a line that follows held-back occurrences."""
        return f' ({held} more since the last report)' if held else ''
