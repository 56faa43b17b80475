"""Keeps simulation time in step with the wall clock at a chosen ratio.

Why not a ROS timer: a timer cannot run faster than real time in lockstep, and
it would couple the simulation to the executor. The pacer sleeps only as long
as the simulation is ahead; when it falls behind it does not try to catch up
in a burst, and the achieved ratio is reported instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RealTimePacer:
    """Sleeps so that `factor` simulated seconds pass per wall-clock second (0: never sleep)."""

    def __init__(self, factor: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not (math.isfinite(factor) and factor >= 0.0):
            raise ValueError(f'real-time factor must be >= 0, got {factor!r}')
        self.factor = factor
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._simulated = 0.0
        self._window_wall = self._start
        self._window_sim = 0.0

    def wait(self, step: float) -> None:
        """Account for one simulated step and sleep until the wall clock catches up."""
        self._simulated += step
        if self.factor == 0.0:
            return
        target = self._start + self._simulated / self.factor
        now = self._clock()
        if target > now:
            self._sleep(target - now)
        elif now - target > 1.0:
            # More than a second behind: give up on that time rather than burst.
            self._start = now - self._simulated / self.factor

    def achieved(self) -> float:
        """Simulated seconds per wall second since the previous call."""
        now = self._clock()
        wall = now - self._window_wall
        ratio = (self._simulated - self._window_sim) / wall if wall > 0 else 0.0
        self._window_wall, self._window_sim = now, self._simulated
        return ratio
