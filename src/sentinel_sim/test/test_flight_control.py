"""The cascaded quadrotor controller alone: modes, limits and a closed loop without MuJoCo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentinel_sim.flight_control import (
    DroneStates,
    FlightController,
    FlightParams,
    SetpointBatch,
    yaw_of,
)
from sentinel_sim.vehicle_types import Setpoint, SetpointMode, Vector3

MASS = 1.5                      # kg
INERTIA = (0.029, 0.029, 0.055)  # kg m^2
G = 9.81                        # m/s^2
DT = 0.004                      # s, the physics step
DRAG = 0.3                      # N per m/s, as the physics applies


def rot_z(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def controller(count: int = 1, params: FlightParams | None = None) -> FlightController:
    return FlightController(np.full(count, MASS), np.tile(INERTIA, (count, 1)),
                            params or FlightParams(), G)


def state(position: tuple[float, float, float] = (0.0, 0.0, 10.0),
          velocity: tuple[float, float, float] = (0.0, 0.0, 0.0), yaw: float = 0.0,
          on_ground: bool = False) -> DroneStates:
    return DroneStates(np.array([position], dtype=float), np.array([velocity], dtype=float),
                       rot_z(yaw)[None], np.zeros((1, 3)), np.array([on_ground]))


def batch(setpoint: Setpoint) -> SetpointBatch:
    return SetpointBatch.from_setpoints([setpoint])


def tilt(rotations: np.ndarray) -> np.ndarray:
    angle: np.ndarray = np.arccos(np.clip(rotations[:, 2, 2], -1.0, 1.0))
    return angle


@pytest.mark.parametrize('mode', [SetpointMode.IDLE, SetpointMode.KILL])
def test_idle_and_kill_switch_the_motors_off(mode: SetpointMode) -> None:
    out = controller().update(state(), batch(Setpoint(mode, Vector3(0, 0, 50))), DT)
    assert not out.motors_on[0]
    assert out.thrust[0] == 0.0
    assert np.all(out.torque == 0.0)


def test_hover_at_the_setpoint_asks_for_the_weight_and_no_torque() -> None:
    out = controller().update(state(), batch(Setpoint(SetpointMode.POSITION, Vector3(0, 0, 10))),
                              DT)
    assert out.motors_on[0]
    assert out.thrust[0] == pytest.approx(MASS * G, rel=1e-6)
    assert np.allclose(out.torque, 0.0, atol=1e-9)
    assert np.allclose(out.attitude_target[0], np.eye(3), atol=1e-9)


def test_a_target_to_the_east_tilts_the_thrust_east_within_the_tilt_limit() -> None:
    params = FlightParams(max_tilt=math.radians(25.0))
    out = controller(params=params).update(
        state(), batch(Setpoint(SetpointMode.POSITION, Vector3(100, 0, 10), max_speed=15)), DT)
    b3 = out.attitude_target[0][:, 2]
    assert b3[0] > 0.1 and abs(b3[1]) < 1e-9
    assert tilt(out.attitude_target)[0] == pytest.approx(params.max_tilt, abs=1e-6)
    assert out.torque[0, 1] > 0.0  # pitch the nose down (positive pitch about y) toward east


def test_yaw_is_held_without_a_yaw_target_and_turned_to_one_when_given() -> None:
    ctl = controller()
    hold = batch(Setpoint(SetpointMode.POSITION, Vector3(0, 0, 10)))
    out = ctl.update(state(yaw=1.0), hold, DT)
    assert yaw_of(out.attitude_target)[0] == pytest.approx(1.0)
    assert abs(out.torque[0, 2]) < 1e-9
    out = ctl.update(state(yaw=1.0), batch(Setpoint(SetpointMode.POSITION, Vector3(0, 0, 10),
                                                    yaw=1.5)), DT)
    assert yaw_of(out.attitude_target)[0] == pytest.approx(1.5)
    assert out.torque[0, 2] > 0.0
    # Back to no yaw target: the last commanded heading is kept, not the current one.
    out = ctl.update(state(yaw=1.2), hold, DT)
    assert yaw_of(out.attitude_target)[0] == pytest.approx(1.5)


def test_land_cuts_the_motors_on_touchdown_until_the_mode_changes() -> None:
    ctl = controller()
    land = batch(Setpoint(SetpointMode.LAND, Vector3(0, 0, 5), max_speed=1.0))
    assert ctl.update(state(position=(0, 0, 5)), land, DT).motors_on[0]
    assert not ctl.update(state(position=(0, 0, 0.1), on_ground=True), land, DT).motors_on[0]
    # Bouncing off the ground does not restart the motors while still landing...
    assert not ctl.update(state(position=(0, 0, 0.2)), land, DT).motors_on[0]
    # ...a new mode does (a take-off).
    takeoff = batch(Setpoint(SetpointMode.POSITION, Vector3(0, 0, 10)))
    assert ctl.update(state(position=(0, 0, 0.1), on_ground=True), takeoff, DT).motors_on[0]


def test_armed_on_the_ground_without_a_climb_target_spins_at_idle() -> None:
    params = FlightParams()
    ctl = controller(params=params)
    on_pad = state(position=(0, 0, 0.1), on_ground=True)
    hold = ctl.update(on_pad, batch(Setpoint(SetpointMode.POSITION, Vector3(3, 0, 0.2))), DT)
    assert hold.motors_on[0]
    assert hold.thrust[0] == pytest.approx(params.ground_idle_thrust * MASS * G)
    assert np.all(hold.torque == 0.0)
    slide = ctl.update(on_pad, batch(Setpoint(SetpointMode.VELOCITY,
                                              velocity=Vector3(2, 0, 0))), DT)
    assert slide.thrust[0] == pytest.approx(params.ground_idle_thrust * MASS * G)
    takeoff = ctl.update(on_pad, batch(Setpoint(SetpointMode.POSITION, Vector3(0, 0, 5))), DT)
    assert takeoff.thrust[0] > MASS * G
    climb = ctl.update(on_pad, batch(Setpoint(SetpointMode.VELOCITY, velocity=Vector3(0, 0, 1))),
                       DT)
    assert climb.thrust[0] > MASS * G


def test_setpoints_with_non_finite_numbers_are_rejected() -> None:
    points = SetpointBatch.idle(1)
    with pytest.raises(ValueError, match='non-finite'):
        points.set(0, Setpoint(SetpointMode.POSITION, Vector3(math.nan, 0, 0)))
    with pytest.raises(ValueError, match='non-finite'):
        points.set(0, Setpoint(SetpointMode.POSITION, yaw=math.inf))
    with pytest.raises(ValueError, match='negative'):
        points.set(0, Setpoint(SetpointMode.POSITION, max_speed=-1.0))


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match='max_tilt'):
        FlightParams(max_tilt=math.radians(95.0))
    with pytest.raises(ValueError, match='thrust_to_weight'):
        FlightParams(thrust_to_weight=0.9)


def fly(setpoint: Setpoint, seconds: float, start: tuple[float, float, float] = (0, 0, 10)
        ) -> tuple[np.ndarray, np.ndarray]:
    """Closed loop on a point mass whose attitude follows the target at once.

    Tests the outer loops (position, velocity, limits) without MuJoCo.
    Returns the positions and velocities of every step.
    """
    ctl = controller()
    points = batch(setpoint)
    pos, vel = np.array(start, dtype=float), np.zeros(3)
    rot = np.eye(3)
    positions, velocities = [], []
    for _ in range(int(seconds / DT)):
        out = ctl.update(DroneStates(pos[None], vel[None], rot[None], np.zeros((1, 3)),
                                     np.array([pos[2] <= 0.0])), points, DT)
        rot = out.attitude_target[0]
        accel = out.thrust[0] * rot[:, 2] / MASS - np.array([0, 0, G]) - DRAG * vel / MASS
        vel = vel + accel * DT
        pos = pos + vel * DT
        positions.append(pos.copy())
        velocities.append(vel.copy())
    return np.array(positions), np.array(velocities)


def test_closed_loop_goto_respects_the_speed_limit_and_arrives() -> None:
    positions, velocities = fly(Setpoint(SetpointMode.POSITION, Vector3(60, 0, 10), max_speed=6),
                                20.0)
    horizontal = np.hypot(velocities[:, 0], velocities[:, 1])
    assert horizontal.max() < 6.0 * 1.05
    assert np.linalg.norm(positions[-1] - (60, 0, 10)) < 0.2


def test_closed_loop_climb_and_descent_rates_are_limited() -> None:
    params = FlightParams()
    _, up = fly(Setpoint(SetpointMode.POSITION, Vector3(0, 0, 60)), 8.0)
    assert up[:, 2].max() < params.max_climb_rate * 1.05
    _, down = fly(Setpoint(SetpointMode.VELOCITY, velocity=Vector3(0, 0, -10)), 5.0, (0, 0, 50))
    assert down[:, 2].min() > -params.max_descent_rate * 1.05


def test_closed_loop_velocity_mode_tracks_a_velocity() -> None:
    _, velocities = fly(Setpoint(SetpointMode.VELOCITY, velocity=Vector3(3, -2, 0.5),
                                 max_speed=10), 6.0)
    assert np.allclose(velocities[-1], (3, -2, 0.5), atol=0.1)


finite = st.floats(-1e3, 1e3, allow_nan=False)
unit = st.floats(-1.0, 1.0, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(mode=st.sampled_from(list(SetpointMode)),
       target=st.tuples(finite, finite, finite), wanted=st.tuples(finite, finite, finite),
       yaw=st.none() | st.floats(-10, 10, allow_nan=False),
       max_speed=st.floats(0.0, 1e3, allow_nan=False),
       position=st.tuples(finite, finite, finite), velocity=st.tuples(finite, finite, finite),
       quat=st.tuples(unit, unit, unit, unit).filter(lambda q: sum(c * c for c in q) > 1e-3),
       omega=st.tuples(finite, finite, finite), on_ground=st.booleans(),
       integrate=st.integers(0, 20))
def test_outputs_stay_within_limits_for_any_setpoint_and_state(
        mode: SetpointMode, target: tuple[float, float, float],
        wanted: tuple[float, float, float], yaw: float | None, max_speed: float,
        position: tuple[float, float, float], velocity: tuple[float, float, float],
        quat: tuple[float, float, float, float], omega: tuple[float, float, float],
        on_ground: bool, integrate: int) -> None:
    params = FlightParams()
    ctl = controller(params=params)
    w, x, y, z = np.array(quat) / np.linalg.norm(quat)
    rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    drone = DroneStates(np.array([position]), np.array([velocity]), rot[None],
                        np.array([omega]), np.array([on_ground]))
    points = batch(Setpoint(mode, Vector3(*target), Vector3(*wanted), yaw, max_speed))
    for _ in range(integrate + 1):  # let the integrators wind up
        out = ctl.update(drone, points, DT)
    assert np.all(np.isfinite(out.thrust)) and np.all(np.isfinite(out.torque))
    assert 0.0 <= out.thrust[0] <= params.thrust_to_weight * MASS * G + 1e-9
    assert np.all(np.abs(out.torque[0]) <= np.array(params.max_torque) + 1e-12)
    assert tilt(out.attitude_target)[0] <= params.max_tilt + 1e-9
    assert np.allclose(out.attitude_target[0] @ out.attitude_target[0].T, np.eye(3), atol=1e-9)
    if mode in (SetpointMode.IDLE, SetpointMode.KILL):
        assert not out.motors_on[0]
    if not out.motors_on[0]:
        assert out.thrust[0] == 0.0 and np.all(out.torque[0] == 0.0)
