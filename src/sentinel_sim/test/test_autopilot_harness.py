"""Test harness for the emulated autopilot: a kinematic stand-in for the physics and a GCS.

Everything goes over the wire format: the GCS's messages are packed and parsed
before the autopilot sees them, and every message the autopilot emits is packed
and parsed before a test looks at it, so a field that cannot be encoded fails
the test that produced it. The other autopilot test modules load this file by
path (pytest runs in importlib mode); its own tests check the stand-in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import Autopilot, AutopilotConfig
from sentinel_sim.vehicle_types import BodyState, Setpoint, SetpointMode, Vector3, VehicleKind

ORIGIN = (47.397742, 8.545594, 488.0)   # site origin used by every test (lat, lon, alt)
GCS_SYSID = 255                         # ground station system id, as QGroundControl uses
GCS_COMPID = mavlink.MAV_COMP_ID_MISSIONPLANNER  # ground station component id
CLIMB_RATE = 3.0                        # m/s, the stand-in's vertical speed for position targets
FALL_SPEED = 8.0                        # m/s, the stand-in's fall speed without thrust
CRASH_SPEED = 4.0                       # m/s, touching down faster than this is a crash


def dist(a: Vector3, b: Vector3) -> float:
    return math.sqrt((a.x - b.x) ** 2 + (a.y - b.y) ** 2 + (a.z - b.z) ** 2)


def make_config(kind: VehicleKind = VehicleKind.DRONE, **overrides: Any) -> AutopilotConfig:
    values: dict[str, Any] = dict(system_id=1, kind=kind, origin_lat_deg=ORIGIN[0], origin_lon_deg=ORIGIN[1],
                                  origin_alt_m=ORIGIN[2], gps_noise_m=0.0)
    values.update(overrides)
    return AutopilotConfig(**values)


class FakePhysics:
    """Kinematic stand-in: moves straight toward the setpoint at its speed limit; ground is z = 0."""

    def __init__(self, kind: VehicleKind, start: Vector3 = Vector3()) -> None:
        self.kind = kind
        self.position = start
        self.velocity = Vector3()
        self.yaw = 0.0
        self.motors_on = False
        self.crashed = False

    @property
    def on_ground(self) -> bool:
        return self.position.z <= 0.0

    def state(self) -> BodyState:
        return BodyState(self.position, self.velocity, 0.0, 0.0, self.yaw, self.on_ground, self.motors_on,
                         self.crashed)

    def apply(self, sp: Setpoint, dt: float) -> None:
        p = self.position
        vx = vy = vz = 0.0
        drone = self.kind is VehicleKind.DRONE
        if sp.mode in (SetpointMode.IDLE, SetpointMode.KILL):
            self.motors_on = False
            if drone and not self.on_ground:
                vz = -FALL_SPEED
        elif sp.mode is SetpointMode.POSITION:
            self.motors_on = True
            dx, dy = sp.position.x - p.x, sp.position.y - p.y
            d = math.hypot(dx, dy)
            step = min(d, sp.max_speed * dt)
            if d > 1e-9:
                vx, vy = dx / d * step / dt, dy / d * step / dt
            if drone:
                dz = sp.position.z - p.z
                vz = math.copysign(min(abs(dz), CLIMB_RATE * dt), dz) / dt
        elif sp.mode is SetpointMode.VELOCITY:
            self.motors_on = True
            vx, vy = sp.velocity.x, sp.velocity.y
            speed = math.hypot(vx, vy)
            if speed > sp.max_speed:
                vx, vy = vx * sp.max_speed / speed, vy * sp.max_speed / speed
            vz = sp.velocity.z if drone else 0.0
        elif sp.mode is SetpointMode.LAND:
            self.motors_on = not self.on_ground
            vz = -sp.max_speed if not self.on_ground else 0.0
        if sp.yaw is not None:
            self.yaw = sp.yaw
        z = p.z + vz * dt
        if z <= 0.0:
            if drone and p.z > 0.0 and -vz > CRASH_SPEED:
                self.crashed = True
            z = 0.0
            vz = 0.0
            if sp.mode is SetpointMode.LAND:
                self.motors_on = False
        self.position = Vector3(p.x + vx * dt, p.y + vy * dt, z)
        self.velocity = Vector3(vx, vy, vz)


def wire(msg: mavlink.MAVLink_message, sysid: int, compid: int) -> mavlink.MAVLink_message:
    """Pack a message as (sysid, compid) and parse it back, as it would cross a link."""
    encoder = mavlink.MAVLink(None, sysid, compid)
    data = msg.pack(encoder)
    parser = mavlink.MAVLink(None)
    decoded = parser.parse_buffer(data)
    assert decoded is not None and len(decoded) == 1, f'{msg.get_type()} did not survive the wire'
    assert decoded[0].get_type() == msg.get_type()
    return decoded[0]


@dataclass
class Sim:
    """An autopilot, the stand-in physics, a GCS and a fake clock."""

    config: AutopilotConfig
    dt: float = 0.1
    gcs_heartbeats: bool = True
    start: Vector3 = Vector3()
    t: float = 0.0
    messages: list[Any] = field(default_factory=list)
    times: list[float] = field(default_factory=list)   # when each message in `messages` was emitted
    setpoints: list[Setpoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ap = Autopilot(self.config, start_time=self.t)
        self.physics = FakePhysics(self.config.kind, self.start)
        self.last_gcs_heartbeat = -math.inf
        self.gcs = mavlink.MAVLink(None, GCS_SYSID, GCS_COMPID)
        self.step()

    # ---- time

    def step(self) -> None:
        if self.gcs_heartbeats and self.t - self.last_gcs_heartbeat >= 1.0:
            self.last_gcs_heartbeat = self.t
            self.send(self.gcs.heartbeat_encode(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0))
        out = self.ap.step(self.t, self.physics.state())
        self._collect(out.messages)
        self.setpoints.append(out.setpoint)
        self.physics.apply(out.setpoint, self.dt)
        self.t = round(self.t + self.dt, 9)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / self.dt)):
            self.step()

    def run_until(self, predicate: Any, timeout: float, what: str = 'condition') -> None:
        end = self.t + timeout
        while not predicate():
            assert self.t < end, f'{what} not reached within {timeout} s (t={self.t:.1f}, {self.ap.snapshot()})'
            self.step()

    # ---- messages

    def _collect(self, messages: list[Any]) -> list[Any]:
        decoded = [wire(m, self.config.system_id, self.config.component_id) for m in messages]
        self.messages.extend(decoded)
        self.times.extend([self.t] * len(decoded))
        return decoded

    def send(self, msg: Any, sysid: int = GCS_SYSID, compid: int = GCS_COMPID) -> list[Any]:
        """Deliver a GCS message; returns the replies emitted at once."""
        self.ap.receive(wire(msg, sysid, compid), self.t)
        return self._collect(self.ap.flush(self.t))

    def command(self, command: int, *params: float, sysid: int = GCS_SYSID) -> Any:
        """COMMAND_LONG; returns its single COMMAND_ACK (asserting there is exactly one)."""
        values = (list(params) + [0.0] * 7)[:7]
        replies = self.send(self.gcs.command_long_encode(self.config.system_id, 1, command, 0, *values), sysid)
        return single_ack(replies, command)

    def command_int(self, command: int, frame: int, params: tuple[float, float, float, float],
                    x: int, y: int, z: float) -> Any:
        replies = self.send(self.gcs.command_int_encode(self.config.system_id, 1, frame, command, 0, 0,
                                                        *params, x, y, z))
        return single_ack(replies, command)

    def of_type(self, msg_type: str, since: int = 0) -> list[Any]:
        return [m for m in self.messages[since:] if m.get_type() == msg_type]

    def texts(self, since: int = 0) -> list[str]:
        return [m.text for m in self.of_type('STATUSTEXT', since)]

    # ---- common flows

    def set_mode(self, name: str) -> Any:
        from sentinel_sim.autopilot import mode_names
        return self.command(mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
                            mode_names(self.config.kind)[name])

    def arm(self) -> Any:
        return self.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1)

    def takeoff(self, alt: float) -> Any:
        return self.command(mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, math.nan, 0, 0, alt)

    def fly_to_altitude(self, alt: float) -> None:
        assert self.set_mode('GUIDED').result == mavlink.MAV_RESULT_ACCEPTED
        assert self.arm().result == mavlink.MAV_RESULT_ACCEPTED
        assert self.takeoff(alt).result == mavlink.MAV_RESULT_ACCEPTED
        self.run_until(lambda: abs(self.physics.position.z - alt) < 1e-6, 30, 'takeoff altitude')
        self.step()  # the autopilot has seen the vehicle settled

    def geodetic(self, east: float, north: float) -> tuple[int, int]:
        """(lat degE7, lon degE7) of a site point."""
        from sentinel_sim import geo
        lat, lon, _ = geo.enu_to_wgs84(east, north, 0.0, *ORIGIN)
        return round(lat * 1e7), round(lon * 1e7)


def single_ack(replies: list[Any], command: int) -> Any:
    acks = [m for m in replies if m.get_type() == 'COMMAND_ACK']
    assert len(acks) == 1, f'expected one COMMAND_ACK for {command}, got {acks}'
    assert acks[0].command == command
    assert acks[0].target_system == GCS_SYSID
    return acks[0]


# ---------------------------------------------------------------------- the stand-in's own tests

def test_stand_in_moves_toward_position_setpoint_and_stops_there() -> None:
    physics = FakePhysics(VehicleKind.DRONE)
    target = Setpoint(SetpointMode.POSITION, position=Vector3(10.0, 0.0, 5.0), max_speed=5.0)
    for _ in range(50):
        physics.apply(target, 0.1)
    assert physics.position == Vector3(10.0, 0.0, 5.0)
    assert not physics.on_ground and physics.motors_on


def test_stand_in_falls_without_thrust_and_crashes() -> None:
    physics = FakePhysics(VehicleKind.DRONE, Vector3(0.0, 0.0, 20.0))
    for _ in range(40):
        physics.apply(Setpoint(SetpointMode.KILL), 0.1)
    assert physics.on_ground and physics.crashed and not physics.motors_on


def test_wire_round_trip_keeps_source_ids() -> None:
    msg = wire(mavlink.MAVLink_heartbeat_message(6, 8, 0, 0, 0, 3), 42, 7)
    assert (msg.get_srcSystem(), msg.get_srcComponent()) == (42, 7)


class HubLoop:
    """A MavlinkHub serving autopilots with the stand-in physics, on a background thread.

    Simulation time runs ``scale`` times faster than the wall clock so that real
    UDP tests stay short; the loop is the one the simulator runs: poll the hub,
    then step every vehicle and send its output.
    """

    def __init__(self, configs: list[AutopilotConfig], links: dict[int, dict[str, Any]] | None = None,
                 dt: float = 0.05, scale: float = 5.0) -> None:
        import threading

        from sentinel_sim.mavlink_endpoint import LinkConfig, MavlinkHub
        self.dt = dt
        self.scale = scale
        self.hub = MavlinkHub()
        self.autopilots = {c.system_id: Autopilot(c) for c in configs}
        self.physics = {c.system_id: FakePhysics(c.kind) for c in configs}
        self.ports: dict[int, int] = {}
        for c in configs:
            extra = (links or {}).get(c.system_id, {})
            link = self.hub.add(LinkConfig(c.system_id, 0, **extra), self.autopilots[c.system_id])
            self.ports[c.system_id] = link.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='hub-loop', daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> HubLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.hub.close()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        import time
        t0 = time.monotonic()
        sim_now = 0.0       # time of the last step: the autopilots' clock never runs backwards
        next_step = 0.0
        try:
            while not self._stop.is_set():
                self.hub.poll(sim_now, timeout=0.002)
                wall = (time.monotonic() - t0) * self.scale
                while next_step <= wall:
                    for sysid, ap in self.autopilots.items():
                        out = ap.step(next_step, self.physics[sysid].state())
                        self.hub.send(sysid, out.messages)
                        self.physics[sysid].apply(out.setpoint, self.dt)
                    sim_now = next_step
                    next_step += self.dt
        except BaseException as error:  # surfaced to the test on exit
            self.error = error
