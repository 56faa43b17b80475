"""Heartbeat bookkeeping shared by every node: pure logic, no rclpy.

The safety watchdog tells a dead node from a stuck one by two counters: the
heartbeat sequence proves the process is alive, the progress counter proves
its main loop still does work. A node bumps progress wherever it finishes a
unit of work (a frame detected, a state published, a command checked).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Upper bound on the heartbeat period required of every node (seconds); the
# watchdog's lease is derived from it.
MAX_HEARTBEAT_PERIOD = 0.2


class Health(enum.IntEnum):
    """Mirror of NodeHeartbeat.HEALTH_* so logic modules need not import messages."""

    OK = 0
    DEGRADED = 1
    ERROR = 2


@dataclass(frozen=True)
class HeartbeatSample:
    """What one heartbeat message carries, ready to be converted to NodeHeartbeat."""

    sequence: int
    progress_counter: int
    health: Health
    status_msg: str


@dataclass
class HeartbeatState:
    """Counters and health of one node between heartbeats."""

    sequence: int = 0
    progress_counter: int = 0
    health: Health = Health.OK
    status_msg: str = ''

    def record_progress(self, units: int = 1) -> None:
        """Count finished work; a stuck main loop stops calling this."""
        if units < 0:
            raise ValueError(f'progress units must be >= 0, got {units}')
        self.progress_counter += units

    def set_health(self, health: Health, status_msg: str = '') -> None:
        """Report reduced capability (or recovery) in the next heartbeat."""
        self.health = health
        self.status_msg = status_msg

    def next_sample(self) -> HeartbeatSample:
        """Advance the sequence and return what the next heartbeat should say."""
        self.sequence += 1
        return HeartbeatSample(self.sequence, self.progress_counter, self.health, self.status_msg)


def validate_period(period: float) -> float:
    """Reject heartbeat periods the watchdog could not rely on."""
    if not 0.0 < period <= MAX_HEARTBEAT_PERIOD:
        raise ValueError(
            f'heartbeat period must be in (0, {MAX_HEARTBEAT_PERIOD}] s, got {period!r}')
    return period
