"""The embedded simulator's physics: MuJoCo stepping every vehicle and actor of a world.

Why this module: the emulated autopilots produce one ``Setpoint`` per vehicle
per tick and expect a ``BodyState`` back (see ``vehicle_types``). This class
owns the MuJoCo model built from the SDF world and turns setpoints into
forces:

* drones: the cascaded flight controller (``flight_control``) gives a
  collective thrust along the body z axis and body torques; the physics adds
  linear air drag on the velocity, angular drag, optional gusts, and applies
  them through ``xfrc_applied`` (no rotor dynamics: thrust changes at once);
* ground vehicles: the differential drive (``ground_control``) gives a
  forward speed and a yaw rate; a velocity servo turns them into forces on
  the planar joints, bounded by traction (so a wall stops a rover), with
  lateral grip (no sideways sliding) and rolling resistance when coasting;
* actors: mocap bodies placed at ``actor.pose_at(t)``. They do not collide,
  so they are placed lazily, before anything looks at them (rendering, ray
  casts, ground truth), not every physics step.

MuJoCo steps at the world's physics step (4 ms in the shipped worlds); the
controllers run every ``PhysicsConfig.control_period`` (8 ms: two physics
steps) and their outputs are held in between, as a flight controller's
output stage holds motor commands. Both controllers are vectorised over all
vehicles (one numpy pass per control tick whatever the count): on one slow
core a hundred vehicles run several times faster than real time, with the
Python work still several times MuJoCo's own (see ``bench/sim_physics.py``).

Ground truth: ``body_states()`` for the autopilots, ``entity_states()`` for
perception scoring, ``camera_view()`` and ``ground_truth()`` for image boxes
(occlusion by ray casts, see ``ground_truth``).

Crash detection (latched; the motors stay off): a drone touching anything
(ground, obstacle, another vehicle) faster than ``crash_speed``, or tilting
past 90 degrees.

Determinism: MuJoCo is deterministic; the only randomness, the gusts, comes
from a numpy generator seeded by ``seed``. Same world, config, seed and
setpoint sequence -> the same states, bit for bit.
"""

from __future__ import annotations

import os

# MuJoCo picks its GL backend once, when it is first imported; this module is
# usually the first to import it, so it chooses headless EGL (see rendering).
os.environ.setdefault('MUJOCO_GL', 'egl')

import logging  # noqa: E402
import math  # noqa: E402
from collections.abc import Iterator, Mapping  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from sentinel_sim.flight_control import (  # noqa: E402
    DroneStates,
    FlightController,
    FlightParams,
    SetpointBatch,
)
from sentinel_sim.ground_control import GroundController, GroundParams, GroundStates  # noqa: E402
from sentinel_sim.ground_truth import (  # noqa: E402
    CLASS_DRONE,
    CLASS_VEHICLE,
    ROLE_AUTHORIZED,
    ROLE_INTRUDER,
    ROLE_OWN,
    CameraView,
    EntityState,
    ImageBox,
    project_entities,
)
from sentinel_sim.mjcf_builder import (  # noqa: E402
    INITIAL_KEYFRAME,
    VISIBLE_GROUPS,
    MjcfOptions,
    actor_box,
    build_mjcf,
    mujoco_to_sdf_camera,
    planar_joint_names,
    root_joint_name,
    sdf_to_mujoco_camera,
    vehicle_box,
)
from sentinel_sim.vehicle_types import BodyState, Setpoint, Vector3, VehicleKind  # noqa: E402
from sentinel_sim.world import Camera, Pose, World  # noqa: E402

_LOG = logging.getLogger(__name__)

STEP_ROUNDING = 1e-6  # a requested dt within this many physics steps of a whole count is whole
TIME_TOLERANCE = 1e-9  # s, a dt this far below zero (float round-off of t1 - t0) counts as 0
RAY_EPSILON = 0.05    # m, a ray hit this close before its target point does not occlude it


@dataclass(frozen=True)
class PhysicsConfig:
    """Everything about the dynamics that the SDF world does not say."""

    mjcf: MjcfOptions = field(default_factory=MjcfOptions)
    flight: FlightParams = field(default_factory=FlightParams)
    ground: GroundParams = field(default_factory=GroundParams)
    drone_linear_drag: float = 0.3      # N per m/s, air drag on the drone's velocity
    drone_angular_drag: float = 0.01    # N m per rad/s, rotational air drag
    gust_std: float = 0.2               # N, standard deviation of the random gust force
    gust_time_constant: float = 2.0     # s, correlation time of the gusts
    crash_speed: float = 3.0            # m/s, touching anything faster than this crashes
    rover_speed_gain: float = 8.0       # 1/s, velocity servo of the ground vehicles
    rover_drive_accel: float = 3.0      # m/s^2, traction limit driving and braking
    rover_lateral_accel: float = 6.0    # m/s^2, tyre grip against sideways sliding
    rover_rolling_decel: float = 0.4    # m/s^2, rolling resistance when coasting (IDLE)
    rover_yaw_gain: float = 10.0        # 1/s, yaw-rate servo
    rover_max_yaw_accel: float = 6.0    # rad/s^2, yaw traction limit
    gimbal: bool = True                 # drone cameras stay level in roll and pitch
    control_period: float = 0.008       # s, controllers' period (rounded to physics steps)

    def __post_init__(self) -> None:
        for name in ('drone_linear_drag', 'drone_angular_drag', 'gust_std'):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0.0):
                raise ValueError(f'PhysicsConfig.{name} must be >= 0, got {getattr(self, name)!r}')
        for name in ('control_period', 'gust_time_constant', 'crash_speed', 'rover_speed_gain',
                     'rover_drive_accel', 'rover_lateral_accel', 'rover_rolling_decel',
                     'rover_yaw_gain', 'rover_max_yaw_accel'):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0.0):
                raise ValueError(f'PhysicsConfig.{name} must be > 0, got {getattr(self, name)!r}')


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """Unit quaternions (n, 4) in MuJoCo's (w, x, y, z) order to rotation matrices (n, 3, 3)."""
    w, x, y, z = quat[:, 0], quat[:, 1], quat[:, 2], quat[:, 3]
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    rot = np.empty((quat.shape[0], 3, 3))
    rot[:, 0, 0] = 1.0 - 2.0 * (yy + zz)
    rot[:, 0, 1] = 2.0 * (xy - wz)
    rot[:, 0, 2] = 2.0 * (xz + wy)
    rot[:, 1, 0] = 2.0 * (xy + wz)
    rot[:, 1, 1] = 1.0 - 2.0 * (xx + zz)
    rot[:, 1, 2] = 2.0 * (yz - wx)
    rot[:, 2, 0] = 2.0 * (xz - wy)
    rot[:, 2, 1] = 2.0 * (yz + wx)
    rot[:, 2, 2] = 1.0 - 2.0 * (xx + yy)
    return rot


def rpy_of(rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SDF roll, pitch, yaw (R = Rz Ry Rx) of rotation matrices (n, 3, 3)."""
    roll = np.arctan2(rot[:, 2, 1], rot[:, 2, 2])
    pitch = np.arcsin(np.clip(-rot[:, 2, 0], -1.0, 1.0))
    yaw = np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
    return roll, pitch, yaw


def rpy_to_quat(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """SDF roll-pitch-yaw to a (w, x, y, z) quaternion."""
    cr, sr = math.cos(roll / 2.0), math.sin(roll / 2.0)
    cp, sp = math.cos(pitch / 2.0), math.sin(pitch / 2.0)
    cy, sy = math.cos(yaw / 2.0), math.sin(yaw / 2.0)
    return (cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy)


class BodyStates(Mapping[str, BodyState]):
    """Every vehicle's ``BodyState`` after a step, as a read-only mapping by vehicle name.

    The numbers are copied at once (a few array operations); each
    ``BodyState`` object is built on first access. A hundred frozen
    dataclasses cost about a millisecond, so a caller that reads only some
    vehicles, or none (as when the return of ``step`` is ignored), pays only
    for what it reads.
    """

    COLUMNS = 12  # x y z, vx vy vz, roll pitch yaw, on_ground motors_on crashed

    def __init__(self, index: Mapping[str, int], rows: np.ndarray) -> None:
        self._index = index
        self._rows = rows
        self._built: dict[str, BodyState] = {}

    def __getitem__(self, name: str) -> BodyState:
        state = self._built.get(name)
        if state is None:
            x, y, z, vx, vy, vz, roll, pitch, yaw, ground, motors, crashed = \
                self._rows[self._index[name]].tolist()
            state = BodyState(Vector3(x, y, z), Vector3(vx, vy, vz), roll, pitch, yaw,
                              ground > 0.5, motors > 0.5, crashed > 0.5)
            self._built[name] = state
        return state

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f'BodyStates({dict(self.items())!r})'


@dataclass(frozen=True)
class _CameraSlot:
    camera: Camera
    cam_id: int
    body_id: int           # body carrying the camera (excluded from its occlusion rays)
    carrier: str | None    # vehicle carrying it, None for fixed cameras
    gimballed: bool


class PhysicsWorld:
    """A MuJoCo simulation of one SDF world, stepped with setpoints."""

    def __init__(self, world: World, config: PhysicsConfig | None = None, seed: int = 0) -> None:
        self.world = world
        self.config = config or PhysicsConfig()
        self.seed = seed
        self.xml = build_mjcf(world, self.config.mjcf)
        try:
            self.model = mujoco.MjModel.from_xml_string(self.xml)
        except ValueError as exc:
            raise ValueError(f'{world.source}: MuJoCo rejected the model built from world '
                             f'{world.name!r}: {exc}') from exc
        self.data = mujoco.MjData(self.model)
        self.timestep = float(self.model.opt.timestep)
        # Physics steps per control tick (at least one).
        self._control_steps = max(1, round(self.config.control_period / self.timestep))
        self._control_period = self._control_steps * self.timestep
        self._gravity = float(-self.model.opt.gravity[2]) or 9.80665
        self._index_vehicles()
        self._index_actors()
        self._index_cameras()
        self._geom_visible_groups = np.zeros(6, dtype=np.uint8)
        self._geom_visible_groups[list(VISIBLE_GROUPS)] = 1
        self._warned: set[str] = set()
        self.reset()
        _LOG.info('physics for world %s: %d drones, %d ground vehicles, %d actors, '
                  '%d cameras, step %.4f s', world.name, len(self._drones), len(self._rovers),
                  len(self._actors), len(self._cameras), self.timestep)

    # ------------------------------------------------------------------ setup

    def _id(self, kind: mujoco.mjtObj, name: str) -> int:
        index = int(mujoco.mj_name2id(self.model, kind, name))
        if index < 0:
            raise RuntimeError(f'model has no {kind.name} named {name!r} (builder mismatch)')
        return index

    def _index_vehicles(self) -> None:
        m = self.model
        self._drones = [v for v in self.world.vehicles if v.kind is VehicleKind.DRONE]
        self._rovers = [v for v in self.world.vehicles if v.kind is VehicleKind.GROUND]
        self._slots: dict[str, tuple[VehicleKind, int]] = {}
        for i, vehicle in enumerate(self._drones):
            self._slots[vehicle.name] = (VehicleKind.DRONE, i)
        for i, vehicle in enumerate(self._rovers):
            self._slots[vehicle.name] = (VehicleKind.GROUND, i)
        # Row of each vehicle in body_states(): drones first, then ground vehicles.
        self._state_index = {v.name: i for i, v in enumerate(self._drones + self._rovers)}

        nd = len(self._drones)
        self._drone_body = np.array([self._id(mujoco.mjtObj.mjOBJ_BODY, v.name)
                                     for v in self._drones], dtype=np.int64)
        qadr = np.array([m.jnt_qposadr[self._id(mujoco.mjtObj.mjOBJ_JOINT, root_joint_name(v.name))]
                         for v in self._drones], dtype=np.int64).reshape(nd)
        vadr = np.array([m.jnt_dofadr[self._id(mujoco.mjtObj.mjOBJ_JOINT, root_joint_name(v.name))]
                         for v in self._drones], dtype=np.int64).reshape(nd)
        self._dq_pos = qadr[:, None] + np.arange(3)
        self._dq_quat = qadr[:, None] + np.arange(3, 7)
        self._dv_lin = vadr[:, None] + np.arange(3)
        self._dv_ang = vadr[:, None] + np.arange(3, 6)
        mass = m.body_mass[self._drone_body] if nd else np.zeros(0)
        inertia = m.body_inertia[self._drone_body] if nd else np.zeros((0, 3))
        self.flight = FlightController(mass, inertia, self.config.flight, self._gravity)

        nr = len(self._rovers)
        rover_joints = [[self._id(mujoco.mjtObj.mjOBJ_JOINT, j) for j in planar_joint_names(v.name)]
                        for v in self._rovers]
        self._rq = np.array([[m.jnt_qposadr[j] for j in js] for js in rover_joints],
                            dtype=np.int64).reshape(nr, 3)
        self._rv = np.array([[m.jnt_dofadr[j] for j in js] for js in rover_joints],
                            dtype=np.int64).reshape(nr, 3)
        rover_body = np.array([self._id(mujoco.mjtObj.mjOBJ_BODY, v.name) for v in self._rovers],
                              dtype=np.int64)
        self._rover_body = rover_body
        self._rover_mass = m.body_mass[rover_body] if nr else np.zeros(0)
        self._rover_yaw_inertia = m.body_inertia[rover_body, 2] if nr else np.zeros(0)
        self._rover_z = m.body_pos[rover_body, 2] if nr else np.zeros(0)
        self.ground = GroundController(nr, self.config.ground)

        # Geom -> drone index (-1: not a drone) and static-geom mask, for contacts.
        self._geom_drone = np.full(m.ngeom, -1, dtype=np.int64)
        for i, body in enumerate(self._drone_body):
            self._geom_drone[m.geom_bodyid == body] = i
        static_body = (m.body_jntnum == 0) & (m.body_mocapid < 0)
        self._geom_static = static_body[m.geom_bodyid]
        self._vehicle_body = {v.name: self._id(mujoco.mjtObj.mjOBJ_BODY, v.name)
                              for v in self.world.vehicles}
        self._vehicle_boxes = {v.name: vehicle_box(v) for v in self.world.vehicles}

    def _index_actors(self) -> None:
        self._actors = list(self.world.actors)
        bodies = [self._id(mujoco.mjtObj.mjOBJ_BODY, a.name) for a in self._actors]
        self._actor_body = {a.name: b for a, b in zip(self._actors, bodies, strict=True)}
        self._actor_mocap = [int(self.model.body_mocapid[b]) for b in bodies]
        self._actor_boxes = {a.name: actor_box(a) for a in self._actors}

    def _index_cameras(self) -> None:
        self._cameras: dict[str, _CameraSlot] = {}
        vehicles = {v.name for v in self.world.vehicles}
        for camera in self.world.cameras:
            cam_id = self._id(mujoco.mjtObj.mjOBJ_CAMERA, camera.name)
            carrier = camera.model if camera.model in vehicles else None
            gimballed = self.config.gimbal and carrier is not None and \
                self._slots[carrier][0] is VehicleKind.DRONE
            self._cameras[camera.name] = _CameraSlot(camera, cam_id,
                                                     int(self.model.cam_bodyid[cam_id]),
                                                     carrier, gimballed)

    def reset(self) -> None:
        """Back to the world's initial state (vehicles at their SDF poses, motors off)."""
        key = int(mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_KEY, INITIAL_KEYFRAME))
        if key >= 0:
            mujoco.mj_resetDataKeyframe(self.model, self.data, key)
        else:
            mujoco.mj_resetData(self.model, self.data)
        nd, nr = len(self._drones), len(self._rovers)
        self._rng = np.random.default_rng(self.seed)
        self._drone_sp = SetpointBatch.idle(nd)
        self._rover_sp = SetpointBatch.idle(nr)
        self._last_setpoint: dict[str, Setpoint] = {}
        self.flight.reset()
        self._on_ground = np.zeros(nd, dtype=bool)
        self._in_contact = np.zeros(nd, dtype=bool)
        self._crashed = np.zeros(nd, dtype=bool)
        self._motors_on = np.zeros(nd, dtype=bool)
        self._rover_drive = np.zeros(nr, dtype=bool)
        self._gust = np.zeros((nd, 3))
        self._time_debt = 0.0
        self._speed_before = np.zeros(nd)
        self._step_count = 0
        self._synced_step = -1
        self._entities_step = -1
        self._entities: list[EntityState] = []
        self._actor_velocity = np.zeros((len(self._actors), 3))
        self._actors_time = math.nan
        self._sync_actors()
        mujoco.mj_forward(self.model, self.data)
        self._update_contacts(np.zeros(nd))
        self._in_contact[:] = self._on_ground  # resting at start is no impact

    # ------------------------------------------------------------------ stepping

    @property
    def time(self) -> float:
        """Simulation time (s)."""
        return float(self.data.time)

    def step(self, dt: float, setpoints: Mapping[str, Setpoint] | None = None) -> BodyStates:
        """Advance ``dt`` seconds (whole physics steps; remainders carry over).

        ``setpoints`` replace the held setpoint of the vehicles they name; a
        vehicle not named keeps its last one (IDLE at start). Unknown names
        and setpoints with non-finite numbers are logged and ignored.
        """
        if not (math.isfinite(dt) and dt >= -TIME_TOLERANCE):
            raise ValueError(f'dt must be finite and >= 0, got {dt!r}')
        dt = max(dt, 0.0)
        if setpoints:
            self._apply_setpoints(setpoints)
        self._time_debt += dt
        count = int(math.floor(self._time_debt / self.timestep + STEP_ROUNDING))
        self._time_debt = max(0.0, self._time_debt - count * self.timestep)
        while count > 0:
            count -= self._advance(count)
        return self.body_states()

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _LOG.warning(message, *args)

    def _apply_setpoints(self, setpoints: Mapping[str, Setpoint]) -> None:
        for name, setpoint in setpoints.items():
            if self._last_setpoint.get(name) is setpoint:
                continue  # the autopilot handed the same object again: nothing to encode
            slot = self._slots.get(name)
            if slot is None:
                self._warn_once(f'unknown:{name}', 'setpoint for unknown vehicle %r ignored '
                                '(world %s)', name, self.world.name)
                continue
            kind, index = slot
            batch = self._drone_sp if kind is VehicleKind.DRONE else self._rover_sp
            try:
                batch.set(index, setpoint)
            except ValueError as exc:
                self._warn_once(f'bad:{name}', 'vehicle %s: %s; keeping the previous setpoint',
                                name, exc)
                continue
            self._last_setpoint[name] = setpoint

    def _advance(self, most: int) -> int:
        """Run the controllers if a control tick is due, then physics up to the next tick.

        Returns the number of physics steps taken (at most ``most``). The
        controllers run every ``control_steps`` physics steps (a zero-order
        hold between, as a flight controller's output stage does), always on
        the same step numbers, so how ``step`` is called does not change the
        trajectory.
        """
        m, d = self.model, self.data
        phase = self._step_count % self._control_steps
        if phase == 0:
            self._speed_before = self._control_drones() if len(self._drones) else \
                self._speed_before
            if len(self._rovers):
                self._control_rovers()
        steps = min(most, self._control_steps - phase)
        mujoco.mj_step(m, d, steps)
        self._step_count += steps
        if len(self._drones):
            self._update_contacts(self._speed_before)
        return steps

    def _control_drones(self) -> np.ndarray:
        """Controller -> xfrc_applied for every drone; returns their speeds before the step."""
        cfg, d = self.config, self.data
        qpos, qvel = d.qpos, d.qvel
        vel = qvel[self._dv_lin]
        omega = qvel[self._dv_ang]
        rot = quat_to_matrix(qpos[self._dq_quat])
        state = DroneStates(qpos[self._dq_pos], vel, rot, omega, self._on_ground)
        commands = self.flight.update(state, self._drone_sp, self._control_period)
        motors = commands.motors_on & ~self._crashed
        thrust = np.where(motors, commands.thrust, 0.0)
        torque_body = np.where(motors[:, None], commands.torque, 0.0)
        if cfg.gust_std > 0.0:  # Ornstein-Uhlenbeck gusts with std gust_std
            decay = self._control_period / cfg.gust_time_constant
            noise = self._rng.standard_normal(self._gust.shape)
            self._gust += -decay * self._gust + cfg.gust_std * math.sqrt(2.0 * decay) * noise
        airborne = ~self._on_ground
        force = thrust[:, None] * rot[:, :, 2] - cfg.drone_linear_drag * vel + \
            self._gust * airborne[:, None]
        torque = np.einsum('nij,nj->ni', rot, torque_body - cfg.drone_angular_drag * omega)
        d.xfrc_applied[self._drone_body, :3] = force
        d.xfrc_applied[self._drone_body, 3:] = torque
        self._motors_on = motors
        speed: np.ndarray = np.linalg.norm(vel, axis=1)
        return speed

    def _control_rovers(self) -> None:
        """Differential drive -> forces on the planar joints, within traction limits."""
        cfg, d = self.config, self.data
        q = d.qpos[self._rq]
        v = d.qvel[self._rv]
        yaw = q[:, 2]
        commands = self.ground.update(GroundStates(q[:, :2], yaw), self._rover_sp)
        cos_yaw, sin_yaw = np.cos(yaw), np.sin(yaw)
        along = cos_yaw * v[:, 0] + sin_yaw * v[:, 1]
        across = -sin_yaw * v[:, 0] + cos_yaw * v[:, 1]
        mass = self._rover_mass
        held = commands.drive_on | commands.brake
        drive_limit = np.where(held, cfg.rover_drive_accel, cfg.rover_rolling_decel) * mass
        f_along = np.clip(cfg.rover_speed_gain * (commands.speed - along) * mass,
                          -drive_limit, drive_limit)
        grip = cfg.rover_lateral_accel * mass
        f_across = np.clip(-cfg.rover_speed_gain * across * mass, -grip, grip)
        inertia = self._rover_yaw_inertia
        yaw_limit = np.where(held, cfg.rover_max_yaw_accel,
                             cfg.rover_rolling_decel) * inertia
        torque = np.clip(cfg.rover_yaw_gain * (commands.yaw_rate - v[:, 2]) * inertia,
                         -yaw_limit, yaw_limit)
        forces = np.column_stack((cos_yaw * f_along - sin_yaw * f_across,
                                  sin_yaw * f_along + cos_yaw * f_across, torque))
        d.qfrc_applied[self._rv] = forces
        self._rover_drive = commands.drive_on

    def _sync_actors(self) -> None:
        """Put the actors' mocap bodies where their scripts say they are now.

        Lazy (before rendering, ray casts and ground truth), not every physics
        step: actors do not collide, so nothing in the dynamics depends on them.
        """
        now = self.time
        if self._actors_time == now:
            return
        d = self.data
        for i, (actor, mocap) in enumerate(zip(self._actors, self._actor_mocap, strict=True)):
            pose = actor.pose_at(now)
            before = actor.pose_at(now - self.timestep)
            self._actor_velocity[i] = (np.array(pose.position) - np.array(before.position)) / \
                self.timestep
            d.mocap_pos[mocap] = pose.position
            d.mocap_quat[mocap] = rpy_to_quat(pose.roll, pose.pitch, pose.yaw)
        self._actors_time = now

    def _update_contacts(self, speed_before: np.ndarray) -> None:
        """Ground contact and crash detection for the drones from this step's contacts."""
        d = self.data
        nd = len(self._drones)
        on_ground = np.zeros(nd, dtype=bool)
        touching = np.zeros(nd, dtype=bool)
        ncon = d.ncon
        if ncon:
            geoms = d.contact.geom[:ncon]
            drone = self._geom_drone[geoms]            # (ncon, 2) drone index or -1
            static = self._geom_static[geoms[:, ::-1]]  # is the *other* geom static?
            mine = drone >= 0
            touching[drone[mine]] = True
            on_ground[drone[mine & static]] = True
        impact = touching & ~self._in_contact & (speed_before > self.config.crash_speed)
        tipped = d.xmat[self._drone_body, 8] < 0.0  # body z axis points below the horizon
        newly = (impact | tipped) & ~self._crashed
        if newly.any():
            for i in np.flatnonzero(newly):
                cause = f'impact at {speed_before[i]:.1f} m/s' if impact[i] else 'tipped over'
                _LOG.warning('drone %s crashed at t=%.2f s (%s)', self._drones[i].name,
                             self.time, cause)
            self._crashed |= newly
        self._in_contact = touching
        self._on_ground = on_ground

    # ------------------------------------------------------------------ state out

    def body_states(self) -> BodyStates:
        """Ground-truth state of every vehicle now (what the autopilots read)."""
        d = self.data
        parts = []
        if self._drones:
            roll, pitch, yaw = rpy_of(quat_to_matrix(d.qpos[self._dq_quat]))
            parts.append(np.column_stack((d.qpos[self._dq_pos], d.qvel[self._dv_lin], roll, pitch,
                                          yaw, self._on_ground, self._motors_on, self._crashed)))
        if self._rovers:
            q, v = d.qpos[self._rq], d.qvel[self._rv]
            nr = len(self._rovers)
            zeros, ones = np.zeros(nr), np.ones(nr)
            parts.append(np.column_stack((q[:, 0], q[:, 1], self._rover_z, v[:, 0], v[:, 1], zeros,
                                          zeros, zeros, np.remainder(q[:, 2] + np.pi, 2 * np.pi)
                                          - np.pi, ones, self._rover_drive, zeros)))
        rows = np.vstack(parts) if parts else np.zeros((0, BodyStates.COLUMNS))
        return BodyStates(self._state_index, rows)

    def vehicle_pose(self, name: str) -> Pose:
        """World pose of a vehicle's model frame."""
        kind, index = self._slots[name]
        d = self.data
        if kind is VehicleKind.DRONE:
            x, y, z = d.qpos[self._dq_pos[index]]
            rot = quat_to_matrix(d.qpos[self._dq_quat[index]][None, :])
            roll, pitch, yaw = (float(a[0]) for a in rpy_of(rot))
            return Pose(float(x), float(y), float(z), roll, pitch, yaw)
        x, y, yaw = d.qpos[self._rq[index]]
        return Pose(float(x), float(y), float(self._rover_z[index]), 0.0, 0.0,
                    math.remainder(float(yaw), math.tau))

    def entity_states(self) -> list[EntityState]:
        """Ground truth of every vehicle and actor (id, class, role, pose, velocity, size).

        ``pose`` is the entity's own frame (a vehicle's model frame, an
        actor's script pose: at its feet or wheels); its box is ``size``
        around ``box_center`` in that frame. Computed once per state and
        shared by every camera's ground truth.
        """
        if self._entities_step != self._step_count:
            self._entities = self._compute_entities()
            self._entities_step = self._step_count
        return list(self._entities)

    def _compute_entities(self) -> list[EntityState]:
        d = self.data
        self._sync_actors()
        entities: list[EntityState] = []
        for name, (kind, index) in self._slots.items():
            centre, size = self._vehicle_boxes[name]
            if kind is VehicleKind.DRONE:
                vel = d.qvel[self._dv_lin[index]]
                cls = CLASS_DRONE
            else:
                vx, vy, _ = d.qvel[self._rv[index]]
                vel = np.array([vx, vy, 0.0])
                cls = CLASS_VEHICLE
            entities.append(EntityState(name, cls, ROLE_OWN, self.vehicle_pose(name),
                                        Vector3(*(float(c) for c in vel)),
                                        _triple(size), _triple(centre)))
        for i, actor in enumerate(self._actors):
            centre, size = self._actor_boxes[actor.name]
            velocity = self._actor_velocity[i]
            role = ROLE_AUTHORIZED if actor.authorized else ROLE_INTRUDER
            entities.append(EntityState(actor.name, actor.kind.value, role,
                                        actor.pose_at(self.time),
                                        Vector3(*(float(c) for c in velocity)),
                                        _triple(size), _triple(centre)))
        return entities

    def crashed(self, name: str) -> bool:
        kind, index = self._slots[name]
        return bool(self._crashed[index]) if kind is VehicleKind.DRONE else False

    # ------------------------------------------------------------------ cameras

    @property
    def camera_names(self) -> list[str]:
        return list(self._cameras)

    def camera(self, name: str) -> Camera:
        return self._slot(name).camera

    def camera_id(self, name: str) -> int:
        return self._slot(name).cam_id

    def _slot(self, name: str) -> _CameraSlot:
        try:
            return self._cameras[name]
        except KeyError:
            raise KeyError(f'world {self.world.name!r} has no camera {name!r}') from None

    def update_kinematics(self) -> None:
        """Bring body and camera poses in ``data`` up to the current state (for rendering).

        ``mj_step`` leaves positions of the state *before* its integration in
        ``data.xpos``; rendering and ray casts need the current ones. Drone
        cameras on a gimbal are then levelled: they follow the drone's
        position and yaw, keep their mount's pitch and roll to the horizon.
        """
        if self._synced_step == self._step_count:
            return
        m, d = self.model, self.data
        self._sync_actors()
        mujoco.mj_kinematics(m, d)
        mujoco.mj_camlight(m, d)
        for slot in self._cameras.values():
            if not slot.gimballed:
                continue
            body_rot = d.xmat[slot.body_id].reshape(3, 3)
            yaw = math.atan2(body_rot[1, 0], body_rot[0, 0])
            c, s = math.cos(yaw), math.sin(yaw)
            level = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            mount = slot.camera.mount
            d.cam_xpos[slot.cam_id] = d.xpos[slot.body_id] + body_rot @ np.array(mount.position)
            d.cam_xmat[slot.cam_id] = sdf_to_mujoco_camera(level @ mount.rotation()).reshape(9)
        self._synced_step = self._step_count

    def camera_view(self, name: str) -> CameraView:
        """Where camera ``name`` is now and what it sees (shared by rendering and ground truth)."""
        slot = self._slot(name)
        self.update_kinematics()
        d = self.data
        rot = mujoco_to_sdf_camera(d.cam_xmat[slot.cam_id].reshape(3, 3))
        cam = slot.camera
        return CameraView(name, d.cam_xpos[slot.cam_id].copy(), rot, cam.width, cam.height,
                          cam.horizontal_fov, cam.near, cam.far)

    def visible_points(self, origin: np.ndarray, points: np.ndarray, entity_id: str,
                       exclude_body: int = -1) -> np.ndarray:
        """Which points a ray from ``origin`` reaches unobstructed (hits on the entity count).

        Rays test the visible geom groups (what cameras render), not the
        invisible collision hulls.
        """
        self.update_kinematics()
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        count = pts.shape[0]
        if count == 0:
            return np.zeros(0, dtype=bool)
        offsets = pts - origin
        distance = np.linalg.norm(offsets, axis=1)
        directions = offsets / np.maximum(distance, 1e-9)[:, None]
        geom = np.zeros(count, dtype=np.int32)
        hit = np.zeros(count)
        mujoco.mj_multiRay(self.model, self.data, np.asarray(origin, dtype=float),
                           directions.reshape(-1), self._geom_visible_groups, 1, exclude_body,
                           geom, hit, None, count, float(distance.max()) + 1.0)
        entity_body = self._vehicle_body.get(entity_id, self._actor_body.get(entity_id, -2))
        hit_body = np.where(geom >= 0, self.model.geom_bodyid[np.maximum(geom, 0)], -1)
        seen: np.ndarray = (geom < 0) | (hit < 0.0) | (hit >= distance - RAY_EPSILON) | \
            (hit_body == entity_body)
        return seen

    def ground_truth(self, camera: str) -> list[ImageBox]:
        """Image boxes of every entity camera ``camera`` sees now (not the vehicle carrying it)."""
        slot = self._slot(camera)
        view = self.camera_view(camera)
        entities = [e for e in self.entity_states() if e.entity_id != slot.carrier]

        def visibility(origin: np.ndarray, points: np.ndarray, entity_id: str) -> np.ndarray:
            return self.visible_points(origin, points, entity_id, slot.body_id)

        return project_entities(view, entities, visibility)


def _triple(values: np.ndarray) -> tuple[float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]))
