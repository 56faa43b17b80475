"""Sensor time between detections: the newest stamp, advanced at the pace stamps keep.

Why: fusion ages its tracks and judges its rules in sensor time (the stamps of
the frames), and between two detection arrays it must guess how far sensor time
has moved on. Assuming it moves with the wall clock is right for real cameras
but not for a simulator that runs slower than real time (a real-time factor of
0.5 to 0.6 with the whole system on two cores): the guess then ran ahead by up
to half of every gap, tracks went coasting early and predictions overshot.
So the pace is measured: how much the stamps advanced over the last
``window`` s of wall time. No rclpy.
"""

from __future__ import annotations

from collections import deque

# Pace assumed until the stamps have spanned enough wall time to measure one.
DEFAULT_PACE = 1.0
# Least wall time (s) the anchors must span before their pace is trusted.
MIN_SPAN = 2.0
# Bounds of a believable pace (sensor seconds per wall second): a paused or jumping
# source must not freeze sensor time or throw it far ahead.
MIN_PACE, MAX_PACE = 0.05, 20.0


class SensorClock:
    """Sensor time now from (stamp, arrival) anchors of the detections seen."""

    def __init__(self, window: float = 10.0) -> None:
        if not window > MIN_SPAN:
            raise ValueError(f'window must be > {MIN_SPAN} s, got {window!r}')
        self.window = window
        self._anchors: deque[tuple[float, float]] = deque()   # (stamp, monotonic arrival)

    def observe(self, stamp: float, arrived: float) -> None:
        """A detection array stamped ``stamp`` (sensor s) arrived at ``arrived`` (monotonic s).

        Only a newer stamp moves the clock: cameras deliver out of order.
        """
        if self._anchors and stamp < self._anchors[-1][0]:
            return
        self._anchors.append((stamp, arrived))
        while len(self._anchors) > 2 and arrived - self._anchors[1][1] >= self.window:
            self._anchors.popleft()

    def pace(self) -> float:
        """Sensor seconds per wall second over the window (DEFAULT_PACE until measurable)."""
        if len(self._anchors) < 2:
            return DEFAULT_PACE
        (first_stamp, first_arrival), (last_stamp, last_arrival) = self._anchors[0], self._anchors[-1]
        span = last_arrival - first_arrival
        if span < MIN_SPAN:
            return DEFAULT_PACE
        return min(MAX_PACE, max(MIN_PACE, (last_stamp - first_stamp) / span))

    def now(self, monotonic: float) -> float | None:
        """Sensor time at ``monotonic``; None before the first detection."""
        if not self._anchors:
            return None
        stamp, arrived = self._anchors[-1]
        return stamp + self.pace() * max(0.0, monotonic - arrived)
