"""Link health of one vehicle: heartbeat age and packet loss from MAVLink sequence numbers.

Why sequence numbers: every MAVLink packet carries a per-sender 8-bit
sequence, so a gap is a lost packet whatever the message mix or stream rates;
counting arrivals against an expected rate would need to know both. Why the
heartbeat for LOST: it is the one message every autopilot sends at a known rate
(1 Hz) whatever was requested, and the autopilots' own GCS failsafe works the
same way.

Pure logic with an explicit clock: tests drive it with a fake one.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from sentinel_control.telemetry import LinkState

SEQ_MODULO = 256            # MAVLink sequence numbers wrap at 256
# A jump this large or larger is a restart or reordering, not loss (more than half the ring).
SEQ_RESTART_GAP = 128
BUCKET_S = 1.0              # width of a loss-counting bucket, seconds


@dataclass(frozen=True)
class LinkThresholds:
    """When a link counts as degraded or lost (seconds, fraction)."""

    lost_after: float = 3.0          # no heartbeat for this long: LOST (3 missed 1 Hz heartbeats)
    degraded_after: float = 2.0      # no heartbeat for this long: DEGRADED (one missed, plus jitter)
    degraded_quality: float = 0.9    # fewer packets than this fraction arriving: DEGRADED
    window: float = 5.0              # packet-loss averaging window, seconds

    def __post_init__(self) -> None:
        if not 0.0 < self.degraded_after < self.lost_after:
            raise ValueError(f'need 0 < degraded_after ({self.degraded_after} s) < lost_after '
                             f'({self.lost_after} s)')
        if not 0.0 <= self.degraded_quality <= 1.0:
            raise ValueError(f'degraded_quality must be in [0, 1], got {self.degraded_quality}')
        if self.window < BUCKET_S:
            raise ValueError(f'window must be at least {BUCKET_S} s, got {self.window}')


class LinkMonitor:
    """Counts received and lost packets per second and the heartbeat's age."""

    def __init__(self, thresholds: LinkThresholds) -> None:
        self.thresholds = thresholds
        self._last_seq: dict[tuple[int, int], int] = {}
        # (bucket start, received, lost), oldest first
        self._buckets: collections.deque[list[float]] = collections.deque()
        self._last_heartbeat: float | None = None
        self.lost_since: float | None = None

    def packet(self, system: int, component: int, seq: int, now: float) -> None:
        """Count one packet from (system, component) with its sequence number."""
        key = (system, component)
        last = self._last_seq.get(key)
        self._last_seq[key] = seq
        lost = 0
        if last is not None:
            gap = (seq - last - 1) % SEQ_MODULO
            lost = gap if gap < SEQ_RESTART_GAP else 0
        bucket = self._bucket(now)
        bucket[1] += 1
        bucket[2] += lost

    def heartbeat(self, now: float) -> None:
        """The vehicle's autopilot sent a heartbeat."""
        self._last_heartbeat = now

    def _bucket(self, now: float) -> list[float]:
        start = now - now % BUCKET_S
        if not self._buckets or self._buckets[-1][0] < start:
            self._buckets.append([start, 0, 0])
        self._trim(now)
        return self._buckets[-1]

    def _trim(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] <= now - self.thresholds.window - BUCKET_S:
            self._buckets.popleft()

    def quality(self, now: float) -> float:
        """Fraction of packets received over the window; 0 when nothing arrived."""
        self._trim(now)
        received = sum(b[1] for b in self._buckets)
        lost = sum(b[2] for b in self._buckets)
        if received == 0:
            return 0.0
        return received / (received + lost)

    def heartbeat_age(self, now: float) -> float:
        """Seconds since the last heartbeat; infinite before the first."""
        if self._last_heartbeat is None:
            return float('inf')
        return max(0.0, now - self._last_heartbeat)

    def state(self, now: float) -> LinkState:
        """OK, DEGRADED or LOST, and remembers since when it is lost."""
        age = self.heartbeat_age(now)
        t = self.thresholds
        if age > t.lost_after:
            if self.lost_since is None:
                self.lost_since = now
            return LinkState.LOST
        self.lost_since = None
        if age > t.degraded_after or self.quality(now) < t.degraded_quality:
            return LinkState.DEGRADED
        return LinkState.OK

    def forget_sequences(self) -> None:
        """After a reconnect the peer may restart its sequence; do not count that as loss."""
        self._last_seq.clear()
