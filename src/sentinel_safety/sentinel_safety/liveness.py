"""Which Sentinel nodes are dead or stuck, from their heartbeats.

A node is **dead** when no heartbeat arrived within its lease (or, never
heard, once the startup grace is over); **stuck** when heartbeats keep coming
with health OK but the progress counter has not increased within the lease
(only for nodes configured with a main loop); in **error** when it says so
(health ERROR). Any of the three makes the node *down*.

Detection bound: a check at every monitoring cycle ``p`` finds a node down
at most ``lease + p`` after its last heartbeat (or last progress), and the
config loader keeps ``p <= 0.1 x lease``, so within 1.1 x lease.

A restarted node (new pid, or counters that went backwards) starts a fresh
progress lease rather than being judged on its predecessor's counters.
Times are the watchdog's monotonic clock at receipt.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sentinel_safety.config import NodeRole, NodeSpec

# NodeHeartbeat.HEALTH_* values.
HEALTH_OK = 0
HEALTH_DEGRADED = 1
HEALTH_ERROR = 2


class Condition(enum.Enum):
    OK = 'ok'
    DEGRADED = 'degraded'     # alive, says it works with reduced capability
    WAITING = 'waiting'       # never heard, still within the startup grace
    DEAD = 'dead'
    STUCK = 'stuck'
    ERROR = 'error'


# Conditions in which a node counts as down for the degraded-mode policy.
DOWN = frozenset({Condition.DEAD, Condition.STUCK, Condition.ERROR})


@dataclass
class _Track:
    last_beat: float
    pid: int
    sequence: int
    progress: int
    progress_since: float     # when progress last increased (or the lease restarted)
    health: int
    status_msg: str


@dataclass(frozen=True)
class NodeReport:
    spec: NodeSpec
    condition: Condition
    detail: str


class NodeLiveness:
    """Heartbeat bookkeeping of every configured node."""

    def __init__(self, specs: Sequence[NodeSpec], startup_grace: float, start: float) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._grace = startup_grace
        self._start = start
        self._tracks: dict[str, _Track] = {}

    @property
    def specs(self) -> Sequence[NodeSpec]:
        return tuple(self._specs.values())

    def record(self, name: str, pid: int, sequence: int, progress: int, health: int,
               status_msg: str, now: float) -> None:
        """One heartbeat received; nodes not in the config are ignored."""
        if name not in self._specs:
            return
        track = self._tracks.get(name)
        restarted = track is None or pid != track.pid or sequence < track.sequence \
            or progress < track.progress
        if track is None or restarted:
            self._tracks[name] = _Track(now, pid, sequence, progress, now, health, status_msg)
            return
        if progress > track.progress or (health == HEALTH_OK and track.health != HEALTH_OK):
            track.progress_since = now   # work done, or the loop (re)starts reporting OK
        track.last_beat = now
        track.sequence = sequence
        track.progress = progress
        track.health = health
        track.status_msg = status_msg

    def report(self, name: str, now: float) -> NodeReport:
        spec = self._specs[name]
        track = self._tracks.get(name)
        if track is None:
            if now - self._start <= self._grace:
                return NodeReport(spec, Condition.WAITING, 'not heard yet')
            return NodeReport(spec, Condition.DEAD, f'no heartbeat since the watchdog started '
                                                    f'{now - self._start:.1f} s ago')
        silence = now - track.last_beat
        if silence > spec.lease:
            return NodeReport(spec, Condition.DEAD, f'no heartbeat for {silence:.2f} s '
                                                    f'(lease {spec.lease:g} s)')
        if track.health == HEALTH_ERROR:
            return NodeReport(spec, Condition.ERROR, track.status_msg or 'reports ERROR')
        if track.health == HEALTH_DEGRADED:
            return NodeReport(spec, Condition.DEGRADED, track.status_msg)
        stalled = now - track.progress_since
        if spec.main_loop and stalled > spec.lease:
            return NodeReport(spec, Condition.STUCK,
                              f'progress counter stuck at {track.progress} for {stalled:.2f} s '
                              f'(lease {spec.lease:g} s)')
        return NodeReport(spec, Condition.OK, '')

    def reports(self, now: float) -> list[NodeReport]:
        return [self.report(name, now) for name in self._specs]

    def down(self, now: float) -> list[NodeReport]:
        return [report for report in self.reports(now) if report.condition in DOWN]

    def down_roles(self, now: float) -> set[NodeRole]:
        return {report.spec.role for report in self.down(now)}
