"""The differential-drive controller alone: turn then drive, stop, limits, a kinematic loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentinel_sim.flight_control import SetpointBatch
from sentinel_sim.ground_control import (
    GroundCommands,
    GroundController,
    GroundParams,
    GroundStates,
    wrap_angle,
)
from sentinel_sim.vehicle_types import Setpoint, SetpointMode, Vector3

DT = 0.02  # s, step of the kinematic loop


def command(setpoint: Setpoint, x: float = 0.0, y: float = 0.0, yaw: float = 0.0,
            params: GroundParams | None = None) -> GroundCommands:
    ctl = GroundController(1, params or GroundParams())
    return ctl.update(GroundStates(np.array([[x, y]]), np.array([yaw])),
                      SetpointBatch.from_setpoints([setpoint]))


def test_a_target_behind_is_turned_to_in_place_first() -> None:
    out = command(Setpoint(SetpointMode.POSITION, Vector3(-10, 1, 0), max_speed=2))
    assert out.speed[0] == 0.0
    assert out.yaw_rate[0] > 0.0  # the target is behind and to the left: turn left
    assert out.drive_on[0] and not out.brake[0]


def test_an_aligned_target_is_driven_to_straight_at_the_speed_limit() -> None:
    out = command(Setpoint(SetpointMode.POSITION, Vector3(50, 0, 0), max_speed=2))
    assert out.speed[0] == pytest.approx(2.0)
    assert out.yaw_rate[0] == pytest.approx(0.0)


def test_the_vehicle_slows_near_the_goal_and_stops_within_the_radius() -> None:
    params = GroundParams()
    near = command(Setpoint(SetpointMode.POSITION, Vector3(1.0, 0, 0), max_speed=2))
    assert 0.0 < near.speed[0] < 2.0
    inside = command(Setpoint(SetpointMode.POSITION, Vector3(params.arrive_radius * 0.5, 0, 0),
                              max_speed=2))
    assert inside.speed[0] == 0.0 and inside.yaw_rate[0] == 0.0


def test_a_final_yaw_is_turned_to_once_arrived() -> None:
    out = command(Setpoint(SetpointMode.POSITION, Vector3(0, 0, 0), yaw=-1.0))
    assert out.speed[0] == 0.0 and out.yaw_rate[0] < 0.0


def test_velocity_mode_drives_along_the_velocity_and_zero_stops() -> None:
    out = command(Setpoint(SetpointMode.VELOCITY, velocity=Vector3(0, 1.5, 0), max_speed=3),
                  yaw=math.pi / 2)
    assert out.speed[0] == pytest.approx(1.5) and out.yaw_rate[0] == pytest.approx(0.0)
    stop = command(Setpoint(SetpointMode.VELOCITY, velocity=Vector3(), max_speed=3))
    assert stop.speed[0] == 0.0 and stop.yaw_rate[0] == 0.0 and stop.drive_on[0]


def test_idle_coasts_and_kill_brakes() -> None:
    idle = command(Setpoint(SetpointMode.IDLE, Vector3(10, 0, 0)))
    assert not idle.drive_on[0] and not idle.brake[0] and idle.speed[0] == 0.0
    kill = command(Setpoint(SetpointMode.KILL, Vector3(10, 0, 0)))
    assert not kill.drive_on[0] and kill.brake[0] and kill.speed[0] == 0.0


def drive(setpoint: Setpoint, seconds: float, start: tuple[float, float, float] = (0, 0, 0)
          ) -> tuple[np.ndarray, float | None]:
    """Unicycle kinematics following the commands; returns the final pose and arrival time."""
    params = GroundParams()
    ctl = GroundController(1, params)
    points = SetpointBatch.from_setpoints([setpoint])
    x, y, yaw = start
    arrived = None
    for step in range(int(seconds / DT)):
        out = ctl.update(GroundStates(np.array([[x, y]]), np.array([yaw])), points)
        x += out.speed[0] * math.cos(yaw) * DT
        y += out.speed[0] * math.sin(yaw) * DT
        yaw += out.yaw_rate[0] * DT
        if arrived is None and math.hypot(setpoint.position.x - x,
                                          setpoint.position.y - y) <= params.arrive_radius:
            arrived = step * DT
    return np.array([x, y, yaw]), arrived


def test_kinematic_loop_reaches_a_point_behind_within_tolerance_and_time() -> None:
    target = Setpoint(SetpointMode.POSITION, Vector3(-20, 15, 0), max_speed=2.0)
    final, arrived = drive(target, 30.0)
    assert arrived is not None and arrived < 20.0  # 25 m at 2 m/s plus a half turn
    assert math.hypot(final[0] + 20, final[1] - 15) <= GroundParams().arrive_radius


@settings(max_examples=200, deadline=None)
@given(mode=st.sampled_from(list(SetpointMode)),
       target=st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4)),
       wanted=st.tuples(st.floats(-50, 50), st.floats(-50, 50)),
       yaw=st.none() | st.floats(-10, 10), max_speed=st.floats(0, 100),
       here=st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.floats(-20, 20)))
def test_commands_stay_within_wheel_and_yaw_rate_limits(
        mode: SetpointMode, target: tuple[float, float], wanted: tuple[float, float],
        yaw: float | None, max_speed: float, here: tuple[float, float, float]) -> None:
    params = GroundParams()
    setpoint = Setpoint(mode, Vector3(target[0], target[1], 0), Vector3(wanted[0], wanted[1], 0),
                        yaw, max_speed)
    out = command(setpoint, *here, params=params)
    assert np.all(np.isfinite(out.wheel_speeds))
    assert np.all(np.abs(out.wheel_speeds) <= params.max_wheel_speed + 1e-9)
    assert abs(out.yaw_rate[0]) <= params.max_yaw_rate + 1e-9
    assert 0.0 <= out.speed[0] <= max_speed + 1e-9  # never faster than asked, never backwards
    if mode not in (SetpointMode.POSITION, SetpointMode.VELOCITY):
        assert out.speed[0] == 0.0 and out.yaw_rate[0] == 0.0


def test_wrap_angle() -> None:
    assert np.allclose(wrap_angle(np.array([3 * math.pi, -3 * math.pi / 2, 0.5])),
                       [-math.pi, math.pi / 2, 0.5])
