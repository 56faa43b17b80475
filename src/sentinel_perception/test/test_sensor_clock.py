"""Sensor time between detections follows the pace of the stamps, not the wall clock."""

from __future__ import annotations

import pytest

from sentinel_perception.sensor_clock import DEFAULT_PACE, MAX_PACE, SensorClock


def _feed(clock: SensorClock, pace: float, seconds: float, period: float = 0.5,
          start: float = 0.0) -> float:
    """Detections every ``period`` wall s whose stamps advance at ``pace``; the last arrival."""
    arrival = start
    while arrival <= start + seconds:
        clock.observe(100.0 + pace * arrival, arrival)
        arrival += period
    return arrival - period


def test_before_any_detection_there_is_no_sensor_time():
    assert SensorClock().now(5.0) is None


def test_a_simulator_at_half_speed_is_extrapolated_at_half_speed():
    clock = SensorClock()
    last = _feed(clock, 0.5, 12.0)
    assert clock.pace() == pytest.approx(0.5)
    # two wall seconds after the last detection: one sensor second later, not two
    assert clock.now(last + 2.0) == pytest.approx(100.0 + 0.5 * last + 1.0)


def test_real_cameras_keep_the_wall_clock_pace():
    clock = SensorClock()
    last = _feed(clock, 1.0, 12.0)
    assert clock.now(last + 0.3) == pytest.approx(100.0 + last + 0.3)


def test_until_the_stamps_span_enough_wall_time_the_default_pace_holds():
    clock = SensorClock()
    _feed(clock, 0.5, 1.0)
    assert clock.pace() == DEFAULT_PACE


def test_the_pace_follows_a_change_within_the_window():
    clock = SensorClock(window=5.0)
    last = _feed(clock, 1.0, 10.0)
    start, slowed = clock.now(last + 0.5), last + 0.5
    arrival = slowed
    while arrival <= slowed + 10.0:
        clock.observe(start + 0.5 * (arrival - slowed), arrival)
        arrival += 0.5
    assert clock.pace() == pytest.approx(0.5, abs=0.01)


def test_out_of_order_stamps_never_move_the_clock_back():
    clock = SensorClock()
    clock.observe(50.0, 0.0)
    clock.observe(49.0, 0.1)                  # a slower camera's older frame
    assert clock.now(0.1) == pytest.approx(50.1)
    clock.observe(60.0, 1.0)
    clock.observe(5.0, 1.5)                   # older than every anchor kept: ignored
    assert clock.now(1.5) == pytest.approx(60.5)


def test_a_jump_in_the_stamps_is_bounded():
    clock = SensorClock()
    clock.observe(0.0, 0.0)
    clock.observe(1e6, 3.0)
    assert clock.pace() == MAX_PACE


def test_a_window_no_longer_than_the_minimum_span_is_refused():
    with pytest.raises(ValueError, match='window'):
        SensorClock(window=1.0)
