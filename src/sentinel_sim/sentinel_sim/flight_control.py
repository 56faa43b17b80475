"""Cascaded quadrotor flight controller, vectorised over every drone of a world.

Why vectorised: the embedded simulator flies up to a hundred drones at a
250 Hz physics rate on one slow core. A Python loop per drone per step would
cost more than MuJoCo's whole step, so every quantity here is an array with
one row per drone and the controller is a fixed sequence of numpy operations
whatever the number of drones.

The cascade, as PX4 and ArduPilot structure it (simplified):

    position P  ->  velocity PI  ->  acceleration (+ gravity)
        ->  thrust vector: collective thrust and attitude target (max tilt)
        ->  attitude PD on SO(3)  ->  body torques (clipped)

Limits: the horizontal speed from the setpoint's ``max_speed`` (capped by
:attr:`FlightParams.max_speed`), the climb and descent rates, the tilt, the
thrust and the torques. Modes (``SetpointMode``):

* IDLE, KILL: motors off (no thrust, no torque); integrators reset.
* On the ground (touching it or an obstacle top) and not asked to climb
  (a position target at least ``takeoff_margin`` higher, or a climbing
  velocity): motors at spin idle, no lift, as an armed autopilot waits for
  take-off (and as it rests after a descent onto something).
* POSITION: fly to ``position`` and hold; ``yaw`` if given, else keep heading.
* VELOCITY: track ``velocity`` (ENU); ``position`` is ignored.
* LAND: hold the setpoint's x/y, descend at ``max_speed`` (capped by the
  descent limit); on touchdown the motors stop and stay off until the mode
  changes.

Pure numpy: no MuJoCo, so it is tested alone. The physics feeds it the
state and applies its thrust (along the body z axis) and torques.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sentinel_sim.vehicle_types import Setpoint, SetpointMode

# Integer codes of the setpoint modes in the batch arrays.
MODE_CODE: dict[SetpointMode, int] = {mode: code for code, mode in enumerate(SetpointMode)}
IDLE = MODE_CODE[SetpointMode.IDLE]
POSITION = MODE_CODE[SetpointMode.POSITION]
VELOCITY = MODE_CODE[SetpointMode.VELOCITY]
LAND = MODE_CODE[SetpointMode.LAND]
KILL = MODE_CODE[SetpointMode.KILL]

STANDARD_GRAVITY = 9.80665  # m/s^2, used when no gravity is given


@dataclass
class SetpointBatch:
    """The setpoints of n vehicles as arrays (one row per vehicle).

    ``yaw`` is NaN where the setpoint has none (keep heading).
    """

    mode: np.ndarray       # (n,) int, MODE_CODE values
    position: np.ndarray   # (n, 3) m, ENU
    velocity: np.ndarray   # (n, 3) m/s, ENU
    yaw: np.ndarray        # (n,) rad, NaN: keep heading
    max_speed: np.ndarray  # (n,) m/s

    @classmethod
    def idle(cls, count: int) -> SetpointBatch:
        """n vehicles told IDLE (motors off), as they start."""
        return cls(np.full(count, IDLE, dtype=np.int64), np.zeros((count, 3)),
                   np.zeros((count, 3)), np.full(count, np.nan), np.full(count, 5.0))

    @classmethod
    def from_setpoints(cls, setpoints: Sequence[Setpoint]) -> SetpointBatch:
        batch = cls.idle(len(setpoints))
        for index, setpoint in enumerate(setpoints):
            batch.set(index, setpoint)
        return batch

    def __len__(self) -> int:
        return int(self.mode.shape[0])

    def set(self, index: int, setpoint: Setpoint) -> None:
        """Write one vehicle's setpoint. Raises ValueError for non-finite numbers."""
        p, v = setpoint.position, setpoint.velocity
        numbers = (p.x, p.y, p.z, v.x, v.y, v.z, setpoint.max_speed)
        if not all(math.isfinite(x) for x in numbers) or \
                (setpoint.yaw is not None and not math.isfinite(setpoint.yaw)):
            raise ValueError(f'setpoint has a non-finite value: {setpoint}')
        if setpoint.max_speed < 0.0:
            raise ValueError(f'setpoint max_speed must not be negative: {setpoint}')
        self.mode[index] = MODE_CODE[setpoint.mode]
        self.position[index] = (p.x, p.y, p.z)
        self.velocity[index] = (v.x, v.y, v.z)
        self.yaw[index] = np.nan if setpoint.yaw is None else setpoint.yaw
        self.max_speed[index] = setpoint.max_speed


@dataclass(frozen=True)
class FlightParams:
    """Gains and limits of the cascade (SI units)."""

    position_gain_xy: float = 1.0        # 1/s, horizontal position error -> velocity
    position_gain_z: float = 1.5         # 1/s, vertical position error -> velocity
    velocity_gain_xy: float = 2.5        # 1/s, horizontal velocity error -> acceleration
    velocity_gain_z: float = 4.0         # 1/s, vertical velocity error -> acceleration
    velocity_integral_xy: float = 0.4    # 1/s^2, horizontal integral gain (wind, drag)
    velocity_integral_z: float = 1.5     # 1/s^2, vertical integral gain (mass, drag)
    integral_limit: float = 3.0          # m/s^2, most acceleration the integrators add
    max_speed: float = 20.0              # m/s, cap on any setpoint's horizontal max_speed
    max_climb_rate: float = 3.0          # m/s
    max_descent_rate: float = 2.0        # m/s
    max_land_xy_speed: float = 1.0       # m/s, horizontal correction while landing
    max_tilt: float = math.radians(35.0)  # rad, attitude target tilt limit
    min_vertical_accel: float = 0.3 * STANDARD_GRAVITY  # m/s^2 (with gravity): keeps authority
    thrust_to_weight: float = 2.0        # max thrust / weight
    attitude_gain_rp: float = 100.0      # 1/s^2, roll/pitch attitude error -> angular accel
    rate_gain_rp: float = 18.0           # 1/s, roll/pitch rate -> angular accel (damping)
    attitude_gain_yaw: float = 16.0      # 1/s^2, yaw error -> angular accel
    rate_gain_yaw: float = 8.0           # 1/s, yaw rate -> angular accel (damping)
    max_torque: tuple[float, float, float] = (1.5, 1.5, 0.3)  # N m about body x, y, z
    takeoff_margin: float = 0.2          # m, a position target this far above leaves the ground
    takeoff_climb_rate: float = 0.05     # m/s, a velocity target climbing faster leaves it
    ground_idle_thrust: float = 0.1      # share of the weight while armed on the ground (spin idle)

    def __post_init__(self) -> None:
        for name in ('position_gain_xy', 'position_gain_z', 'velocity_gain_xy', 'velocity_gain_z',
                     'max_speed', 'max_climb_rate', 'max_descent_rate', 'max_land_xy_speed',
                     'max_tilt', 'thrust_to_weight', 'attitude_gain_rp', 'attitude_gain_yaw'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f'FlightParams.{name} must be positive, got {value!r}')
        if self.max_tilt >= math.pi / 2:
            raise ValueError(f'FlightParams.max_tilt must be below 90 deg, got {self.max_tilt}')
        if self.thrust_to_weight <= 1.0:
            raise ValueError('FlightParams.thrust_to_weight must exceed 1 (or it cannot hover)')
        if not 0.0 <= self.ground_idle_thrust < 1.0:
            raise ValueError('FlightParams.ground_idle_thrust must be in [0, 1) of the weight, '
                             f'got {self.ground_idle_thrust!r}')
        if not (self.takeoff_margin >= 0.0 and self.takeoff_climb_rate >= 0.0):
            raise ValueError('FlightParams.takeoff_margin and takeoff_climb_rate must be >= 0')


@dataclass
class DroneStates:
    """What the controller needs to know about n drones (world ENU frame)."""

    position: np.ndarray          # (n, 3) m
    velocity: np.ndarray          # (n, 3) m/s
    rotation: np.ndarray          # (n, 3, 3) body-to-world (columns: body axes)
    angular_velocity: np.ndarray  # (n, 3) rad/s in the body frame
    on_ground: np.ndarray         # (n,) bool: touching the ground or a static obstacle


@dataclass
class FlightCommands:
    """What the controller asks of the airframes."""

    thrust: np.ndarray            # (n,) N along the body z axis, in [0, max thrust]
    torque: np.ndarray            # (n, 3) N m in the body frame, within max_torque
    motors_on: np.ndarray         # (n,) bool
    attitude_target: np.ndarray   # (n, 3, 3) target rotation (identity where motors are off)


def yaw_of(rotation: np.ndarray) -> np.ndarray:
    """ENU yaw (rad) of body-to-world rotations (n, 3, 3): heading of the body x axis."""
    yaw: np.ndarray = np.arctan2(rotation[:, 1, 0], rotation[:, 0, 0])
    return yaw


def _clip(values: np.ndarray, low: np.ndarray | float, high: np.ndarray | float) -> np.ndarray:
    """np.clip without its Python-level overhead (called several times per control tick)."""
    clipped: np.ndarray = np.minimum(np.maximum(values, low), high)
    return clipped


def _clip_norm_xy(x: np.ndarray, y: np.ndarray, limit: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Scale each (x, y) down to at most ``limit`` in length."""
    scale = np.minimum(1.0, limit / np.maximum(np.sqrt(x * x + y * y), 1e-12))
    return x * scale, y * scale


@dataclass
class FlightController:
    """The cascade for n drones; keeps the integrators, held yaw and landing latches."""

    mass: np.ndarray      # (n,) kg
    inertia: np.ndarray   # (n, 3) kg m^2, principal, body axes
    params: FlightParams = field(default_factory=FlightParams)
    gravity: float = STANDARD_GRAVITY  # m/s^2, magnitude (acts along -z)

    def __post_init__(self) -> None:
        self.mass = np.asarray(self.mass, dtype=float).reshape(-1)
        count = self.mass.shape[0]
        self.inertia = np.asarray(self.inertia, dtype=float).reshape(count, 3)
        if np.any(self.mass <= 0.0) or np.any(self.inertia <= 0.0):
            raise ValueError('drone masses and inertias must be positive')
        p = self.params
        self._integral = np.zeros((count, 3))
        self._yaw_hold = np.full(count, np.nan)
        self._landed = np.zeros(count, dtype=bool)
        self._ki = np.array([p.velocity_integral_xy, p.velocity_integral_xy,
                             p.velocity_integral_z])
        self._integral_cap = p.integral_limit / np.maximum(self._ki, 1e-9)  # integral bound
        self._kv = np.array([p.velocity_gain_xy, p.velocity_gain_xy, p.velocity_gain_z])
        self._k_att = np.array([p.attitude_gain_rp, p.attitude_gain_rp, p.attitude_gain_yaw])
        self._k_rate = np.array([p.rate_gain_rp, p.rate_gain_rp, p.rate_gain_yaw])
        self._max_torque = np.asarray(p.max_torque, dtype=float)
        self.max_thrust = p.thrust_to_weight * self.mass * self.gravity  # (n,) N
        self._idle_thrust = p.ground_idle_thrust * self.mass * self.gravity  # (n,) N
        # Largest vertical acceleration that still leaves room to tilt fully.
        self._max_accel_z = self.max_thrust / self.mass * math.cos(p.max_tilt)
        self._tan_tilt = math.tan(p.max_tilt)

    def __len__(self) -> int:
        return int(self.mass.shape[0])

    def reset(self, index: int | None = None) -> None:
        """Forget integrators, held yaw and landing latches (all drones, or one)."""
        where = slice(None) if index is None else index
        self._integral[where] = 0.0
        self._yaw_hold[where] = np.nan
        self._landed[where] = False

    def update(self, state: DroneStates, setpoints: SetpointBatch, dt: float) -> FlightCommands:
        """One control step of ``dt`` seconds for every drone.

        Written component by component on 1-D arrays: on these CPUs each
        numpy call costs microseconds whatever its size, so fewer, simpler
        calls are what makes a hundred drones cheap.
        """
        p = self.params
        mode = setpoints.mode
        rot = state.rotation

        # Modes: LAND latches "landed" on touchdown until the mode changes.
        landing = mode == LAND
        self._landed = landing & (self._landed | state.on_ground)
        positional = mode == POSITION
        motors_on = positional | (mode == VELOCITY) | (landing & ~self._landed)
        # Armed on the ground and not asked to climb: spin at idle, stay down.
        above = setpoints.position[:, 2] > state.position[:, 2] + p.takeoff_margin
        climb = (positional & above) | \
            ((mode == VELOCITY) & (setpoints.velocity[:, 2] > p.takeoff_climb_rate))
        ground_idle = motors_on & state.on_ground & ~climb & ~landing
        active = motors_on & ~ground_idle  # the cascade flies these

        # Yaw target: the setpoint's, else the last one held, else the current heading.
        yaw_now = np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
        held = np.where(np.isnan(self._yaw_hold), yaw_now, self._yaw_hold)
        given = ~np.isnan(setpoints.yaw)
        self._yaw_hold = np.where(active, np.where(given, setpoints.yaw, held), np.nan)

        # Position P -> velocity target (limited).
        error_p = setpoints.position - state.position
        holds_position = positional | landing
        gain_xy = p.position_gain_xy
        vx = np.where(holds_position, gain_xy * error_p[:, 0], setpoints.velocity[:, 0])
        vy = np.where(holds_position, gain_xy * error_p[:, 1], setpoints.velocity[:, 1])
        speed_cap = np.where(landing, p.max_land_xy_speed,
                             _clip(setpoints.max_speed, 0.0, p.max_speed))
        vx, vy = _clip_norm_xy(vx, vy, speed_cap)
        descent = _clip(setpoints.max_speed, 0.0, p.max_descent_rate)
        vz = np.where(positional, p.position_gain_z * error_p[:, 2],
                      np.where(landing, -descent, setpoints.velocity[:, 2]))
        vz = _clip(vz, -p.max_descent_rate, p.max_climb_rate)

        # Velocity PI -> acceleration (+ gravity), with a clamped integrator.
        error_v = np.column_stack((vx, vy, vz)) - state.velocity
        integral = (self._integral + error_v * dt) * active[:, None]
        self._integral = _clip(integral, -self._integral_cap, self._integral_cap)
        accel = self._kv * error_v + self._ki * self._integral

        # Thrust vector limits: vertical first (with gravity), then tilt.
        az = _clip(accel[:, 2] + self.gravity, p.min_vertical_accel, self._max_accel_z)
        ax, ay = _clip_norm_xy(accel[:, 0], accel[:, 1], az * self._tan_tilt)

        # Attitude target: b3 along the thrust vector, b1 toward the yaw target.
        inv = 1.0 / np.sqrt(ax * ax + ay * ay + az * az)
        b3x, b3y, b3z = ax * inv, ay * inv, az * inv
        yaw_target = np.where(active, self._yaw_hold, 0.0)
        hx, hy = np.cos(yaw_target), np.sin(yaw_target)
        # b2 = b3 x heading (heading is horizontal); b3 is within max_tilt of vertical.
        b2x, b2y, b2z = -b3z * hy, b3z * hx, b3x * hy - b3y * hx
        inv = 1.0 / np.sqrt(b2x * b2x + b2y * b2y + b2z * b2z)
        b2x, b2y, b2z = b2x * inv, b2y * inv, b2z * inv
        target = np.empty_like(rot)
        target[:, 0, 0] = b2y * b3z - b2z * b3y  # b1 = b2 x b3
        target[:, 1, 0] = b2z * b3x - b2x * b3z
        target[:, 2, 0] = b2x * b3y - b2y * b3x
        target[:, 0, 1], target[:, 1, 1], target[:, 2, 1] = b2x, b2y, b2z
        target[:, 0, 2], target[:, 1, 2], target[:, 2, 2] = b3x, b3y, b3z

        # Collective thrust: the wanted force projected on the current body z axis.
        body_z = rot[:, :, 2]
        thrust = self.mass * (ax * body_z[:, 0] + ay * body_z[:, 1] + az * body_z[:, 2])
        thrust = _clip(thrust, 0.0, self.max_thrust) * active + self._idle_thrust * ground_idle

        # Attitude PD on SO(3): e_R = 0.5 vee(Rd^T R - R^T Rd).
        rel = np.einsum('nji,njk->nik', target, rot)
        error_r = 0.5 * np.column_stack((rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0],
                                         rel[:, 1, 0] - rel[:, 0, 1]))
        torque = self.inertia * (-self._k_att * error_r - self._k_rate * state.angular_velocity)
        torque = _clip(torque, -self._max_torque, self._max_torque) * active[:, None]

        target[~active] = np.eye(3)
        return FlightCommands(thrust, torque, motors_on, target)
