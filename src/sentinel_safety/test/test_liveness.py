"""Dead and stuck nodes are found within 1.1 x their lease (fake clock)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_safety.config import NodeRole, NodeSpec
from sentinel_safety.liveness import (HEALTH_DEGRADED, HEALTH_ERROR, HEALTH_OK, Condition,
                                      NodeLiveness)

NODE = '/control/mission_control'   # the node these tests watch


def spec(lease: float, main_loop: bool = True) -> NodeSpec:
    return NodeSpec(NODE, NodeRole.MISSION_CONTROL, lease, main_loop)


def run(liveness: NodeLiveness, start: float, end: float, beat_period: float, check_period: float,
        beat: object, condition: Condition) -> float | None:
    """Step a fake clock; the node beats via ``beat(t)``; the watchdog checks every period.

    Returns when ``condition`` was first reported, or None.
    """
    next_beat, next_check, t = start, start, start
    while t <= end:
        if next_beat <= next_check:
            t = next_beat
            beat(t)  # type: ignore[operator]
            next_beat += beat_period
        else:
            t = next_check
            if liveness.report(NODE, t).condition is condition:
                return t
            next_check += check_period
    return None


leases = st.floats(0.5, 5.0)
beat_periods = st.floats(0.02, 0.2)


@settings(max_examples=100, deadline=None)
@given(leases, beat_periods, st.floats(0.05, 0.1), st.floats(1.0, 10.0), st.floats(0.0, 1.0))
def test_a_dead_node_is_found_within_1_1_lease(lease: float, beat_period: float,
                                               fraction: float, dies_at: float,
                                               phase: float) -> None:
    check_period = fraction * lease           # the config keeps it <= 0.1 x lease
    liveness = NodeLiveness([spec(lease)], startup_grace=0.5, start=0.0)
    progress = iter(range(1, 10**9))

    def beat(t: float) -> None:
        if t < dies_at:
            liveness.record(NODE, 42, int(t * 1000) + 1, next(progress), HEALTH_OK, '', t)
    found = run(liveness, phase * beat_period, dies_at + 3 * lease, beat_period, check_period,
                beat, Condition.DEAD)
    assert found is not None
    assert found <= dies_at + 1.1 * lease + 1e-9
    assert found > dies_at - beat_period   # never while it was still beating


@settings(max_examples=100, deadline=None)
@given(leases, beat_periods, st.floats(0.05, 0.1), st.floats(1.0, 10.0), st.floats(0.0, 1.0))
def test_a_stuck_node_is_found_within_1_1_lease(lease: float, beat_period: float,
                                                fraction: float, freezes_at: float,
                                                phase: float) -> None:
    check_period = fraction * lease
    liveness = NodeLiveness([spec(lease)], startup_grace=0.5, start=0.0)
    counter = {'sequence': 0, 'progress': 0}

    def beat(t: float) -> None:   # heartbeats never stop; progress does
        counter['sequence'] += 1
        if t < freezes_at:
            counter['progress'] += 1
        liveness.record(NODE, 42, counter['sequence'], counter['progress'], HEALTH_OK, '', t)
    found = run(liveness, phase * beat_period, freezes_at + 3 * lease, beat_period, check_period,
                beat, Condition.STUCK)
    assert found is not None
    assert found <= freezes_at + 1.1 * lease + 1e-9
    assert found > freezes_at - beat_period
    assert liveness.report(NODE, found).condition is not Condition.DEAD


def test_without_a_main_loop_or_when_degraded_progress_does_not_matter() -> None:
    idle = NodeLiveness([spec(1.0, main_loop=False)], 0.5, 0.0)
    placeholder = NodeLiveness([spec(1.0)], 0.5, 0.0)
    for i in range(50):
        t = i * 0.1
        idle.record(NODE, 1, i, 0, HEALTH_OK, '', t)
        placeholder.record(NODE, 1, i, 0, HEALTH_DEGRADED, 'placeholder', t)
    assert idle.report(NODE, 4.95).condition is Condition.OK
    assert placeholder.report(NODE, 4.95).condition is Condition.DEGRADED
    assert not placeholder.down(4.95)


def test_error_health_is_down_and_a_restart_gets_a_fresh_lease() -> None:
    liveness = NodeLiveness([spec(1.0)], 0.5, 0.0)
    liveness.record(NODE, 1, 1, 10, HEALTH_ERROR, 'camera driver failed', 0.0)
    assert liveness.report(NODE, 0.1).condition is Condition.ERROR
    assert liveness.down_roles(0.1) == {NodeRole.MISSION_CONTROL}
    # Restarted (new pid, counters from zero): judged afresh, not as stuck.
    liveness.record(NODE, 2, 1, 0, HEALTH_OK, '', 5.0)
    assert liveness.report(NODE, 5.5).condition is Condition.OK
    liveness.record(NODE, 2, 2, 0, HEALTH_OK, '', 5.9)   # beating, but no progress
    assert liveness.report(NODE, 6.05).condition is Condition.STUCK


def test_never_heard_is_waiting_then_dead_and_unknown_nodes_are_ignored() -> None:
    liveness = NodeLiveness([spec(1.0)], startup_grace=10.0, start=100.0)
    liveness.record('/some/other_node', 5, 1, 1, HEALTH_OK, '', 101.0)
    assert liveness.report(NODE, 105.0).condition is Condition.WAITING
    assert liveness.report(NODE, 110.5).condition is Condition.DEAD
    assert [r.spec.name for r in liveness.reports(110.5)] == [NODE]
