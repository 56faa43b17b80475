"""Link health from sequence numbers and heartbeats, with a fake clock."""

from __future__ import annotations

import pytest

from sentinel_control.link_health import LinkMonitor, LinkThresholds
from sentinel_control.telemetry import LinkState


def feed(monitor: LinkMonitor, start: float, seconds: float, rate: float, drop_every: int = 0,
         seq: int = 0) -> int:
    """Packets at ``rate`` Hz (one heartbeat a second); every drop_every-th packet lost."""
    count = round(seconds * rate)
    for i in range(count):
        now = start + i / rate
        seq = (seq + 1) % 256
        if drop_every and i % drop_every == 0:
            continue
        monitor.packet(1, 1, seq, now)
        if i % round(rate) == 1:
            monitor.heartbeat(now)
    return seq


def test_clean_link_is_ok_with_full_quality() -> None:
    monitor = LinkMonitor(LinkThresholds())
    feed(monitor, 0.0, 10.0, 20.0)
    assert monitor.state(10.0) is LinkState.OK and monitor.quality(10.0) == 1.0


def test_loss_lowers_quality_and_degrades_the_link() -> None:
    monitor = LinkMonitor(LinkThresholds())
    feed(monitor, 0.0, 10.0, 20.0, drop_every=4)
    assert monitor.quality(10.0) == pytest.approx(0.75, abs=0.02)
    assert monitor.state(10.0) is LinkState.DEGRADED


def test_silence_degrades_then_loses_then_recovers() -> None:
    monitor = LinkMonitor(LinkThresholds(lost_after=3.0, degraded_after=2.0))
    seq = feed(monitor, 0.0, 5.0, 10.0)
    assert monitor.state(5.0) is LinkState.OK
    assert monitor.state(6.5) is LinkState.DEGRADED   # last heartbeat at 4.1 s
    assert monitor.state(7.5) is LinkState.LOST and monitor.lost_since == 7.5
    assert monitor.quality(20.0) == 0.0
    monitor.forget_sequences()
    feed(monitor, 20.0, 6.0, 10.0, seq=(seq + 77) % 256)
    assert monitor.state(26.0) is LinkState.OK and monitor.lost_since is None


def test_sequence_wraps_and_restarts_are_not_loss() -> None:
    monitor = LinkMonitor(LinkThresholds())
    for i, seq in enumerate([253, 254, 255, 0, 1, 2]):
        monitor.packet(1, 1, seq, i * 0.1)
    assert monitor.quality(0.6) == 1.0
    monitor.packet(1, 1, 200, 0.7)   # a jump of more than half the ring: restart, not 197 lost
    assert monitor.quality(0.8) == 1.0


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError):
        LinkThresholds(lost_after=2.0, degraded_after=2.0)
    with pytest.raises(ValueError):
        LinkThresholds(degraded_quality=1.5)
