"""The observer's DDS teardown: a hung one costs a bounded wait, never the report."""

import threading
import time

from sentinel_scenarios import runner


class _Executor:
    def __init__(self, gate: threading.Event | None) -> None:
        self.gate = gate

    def shutdown(self) -> None:
        if self.gate is not None:
            self.gate.wait()   # a participant deadlocked in Fast DDS never returns


class _Node:
    destroyed = False

    def destroy_node(self) -> None:
        self.destroyed = True


def test_a_teardown_that_returns_is_reported_done(monkeypatch):
    monkeypatch.setattr(runner.rclpy, 'try_shutdown', lambda: None)
    node = _Node()
    assert runner._release_dds(_Executor(None), node)
    assert node.destroyed


def test_a_hung_teardown_gives_up_after_the_deadline(monkeypatch):
    monkeypatch.setattr(runner.rclpy, 'try_shutdown', lambda: None)
    monkeypatch.setattr(runner, 'DDS_RELEASE_TIMEOUT', 0.3)
    gate = threading.Event()
    node = _Node()
    started = time.monotonic()
    try:
        assert not runner._release_dds(_Executor(gate), node)
        assert 0.3 <= time.monotonic() - started < 5.0
        assert not node.destroyed
    finally:
        gate.set()
