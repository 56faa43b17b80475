"""The vehicle's radio link as the autopilot sees it, with injected loss and latency.

Why: Sentinel's safety path must keep working when a link degrades, so tests
need a link that drops and delays messages in both directions, deterministically
(seeded). The socket layer (``mavlink_endpoint``) stays ideal; the degradation
lives here, in front of the autopilot's logic.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sentinel_sim.autopilot.wire import MavMessage, finite


@dataclass
class LinkFaults:
    """Injected link degradation, applied to both directions by the autopilot."""

    drop_probability: float = 0.0
    latency_s: float = 0.0


class FaultyLink:
    """Incoming and outgoing message queues that drop and delay as ``faults`` says."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.faults = LinkFaults()
        self._rng = rng
        self._order = itertools.count()   # ties on the same due time keep arrival order
        self._inbox: list[tuple[float, int, MavMessage]] = []
        self._outbox: list[tuple[float, int, MavMessage]] = []

    def degrade(self, drop_probability: float, latency_s: float) -> None:
        """Replace the faults; raises ValueError for values outside their range."""
        if not (finite(drop_probability) and 0.0 <= drop_probability <= 1.0):
            raise ValueError('drop_probability must be in [0, 1]')
        if not (finite(latency_s) and latency_s >= 0.0):
            raise ValueError('latency_s must be >= 0')
        self.faults = LinkFaults(float(drop_probability), float(latency_s))

    def _lost(self) -> bool:
        drop = self.faults.drop_probability
        return drop > 0.0 and self._rng.random() < drop

    def incoming(self, msg: MavMessage, now: float) -> bool:
        """True when the message is to be handled now; False when lost or held back by latency."""
        if self._lost():
            return False
        if self.faults.latency_s > 0.0:
            heapq.heappush(self._inbox, (now + self.faults.latency_s, next(self._order), msg))
            return False
        return True

    def arrived(self, now: float) -> Iterator[MavMessage]:
        """Delayed incoming messages whose time has come, oldest first."""
        while self._inbox and self._inbox[0][0] <= now:
            yield heapq.heappop(self._inbox)[2]

    def outgoing(self, msg: MavMessage, now: float) -> None:
        """Queue a message for sending (or lose it)."""
        if self._lost():
            return
        heapq.heappush(self._outbox, (now + self.faults.latency_s, next(self._order), msg))

    def due(self, now: float) -> list[MavMessage]:
        """Outgoing messages whose time has come, oldest first."""
        due: list[MavMessage] = []
        while self._outbox and self._outbox[0][0] <= now:
            due.append(heapq.heappop(self._outbox)[2])
        return due
