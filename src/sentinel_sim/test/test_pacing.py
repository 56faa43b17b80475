"""The real-time pacer, with a fake clock."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_sim.pacing import RealTimePacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@given(st.floats(min_value=0.1, max_value=20.0), st.integers(min_value=1, max_value=200))
def test_wall_time_tracks_simulated_time_over_the_factor(factor, steps):
    clock = FakeClock()
    pacer = RealTimePacer(factor, clock, clock.sleep)
    for _ in range(steps):
        pacer.wait(0.02)
    assert clock.now - 100.0 == pytest.approx(steps * 0.02 / factor, rel=1e-6)
    assert pacer.achieved() == pytest.approx(factor, rel=1e-6)


def test_factor_zero_never_sleeps():
    clock = FakeClock()
    pacer = RealTimePacer(0.0, clock, clock.sleep)
    for _ in range(100):
        pacer.wait(0.02)
    assert clock.slept == []


def test_falling_far_behind_does_not_cause_a_burst_later():
    clock = FakeClock()
    pacer = RealTimePacer(1.0, clock, clock.sleep)
    pacer.wait(0.02)
    clock.now += 5.0  # a five-second stall (e.g. a slow render)
    pacer.wait(0.02)
    pacer.wait(0.02)
    assert clock.slept[-1] == pytest.approx(0.02), 'paces normally again after the stall'


@pytest.mark.parametrize('factor', [-1.0, float('nan'), float('inf')])
def test_invalid_factors_are_rejected(factor):
    with pytest.raises(ValueError, match='real-time factor'):
        RealTimePacer(factor)
