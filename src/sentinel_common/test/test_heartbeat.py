"""Heartbeat bookkeeping: the counters the watchdog relies on."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_common.heartbeat import MAX_HEARTBEAT_PERIOD, Health, HeartbeatState, validate_period


def test_sequence_advances_with_every_sample_even_without_progress():
    state = HeartbeatState()
    samples = [state.next_sample() for _ in range(3)]
    assert [s.sequence for s in samples] == [1, 2, 3]
    assert {s.progress_counter for s in samples} == {0}


@given(st.lists(st.integers(min_value=0, max_value=1000), max_size=50))
def test_progress_is_the_sum_of_reported_work(units):
    state = HeartbeatState()
    for unit in units:
        state.record_progress(unit)
    assert state.next_sample().progress_counter == sum(units)


def test_negative_progress_is_rejected():
    with pytest.raises(ValueError, match='>= 0'):
        HeartbeatState().record_progress(-1)


def test_health_and_reason_travel_in_the_next_sample():
    state = HeartbeatState()
    state.set_health(Health.DEGRADED, 'camera 2 silent for 3.0 s')
    sample = state.next_sample()
    assert sample.health is Health.DEGRADED
    assert sample.status_msg == 'camera 2 silent for 3.0 s'


@pytest.mark.parametrize('period', [0.0, -0.1, MAX_HEARTBEAT_PERIOD + 0.001, float('nan')])
def test_periods_the_watchdog_cannot_rely_on_are_rejected(period):
    with pytest.raises(ValueError, match='heartbeat period'):
        validate_period(period)


def test_health_values_match_the_message_constants():
    from sentinel_msgs.msg import NodeHeartbeat
    assert Health.OK == NodeHeartbeat.HEALTH_OK
    assert Health.DEGRADED == NodeHeartbeat.HEALTH_DEGRADED
    assert Health.ERROR == NodeHeartbeat.HEALTH_ERROR
