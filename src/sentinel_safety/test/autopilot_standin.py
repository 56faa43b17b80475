"""A simulated drone on real UDP: the simulator's emulated autopilot over a kinematic stand-in.

Used by the MAVLink integration test and by bench/estop_latency.py (both load
this file by path). The physics is deliberately tiny: the vehicle moves
straight toward a position setpoint at its speed limit, climbs at a fixed
rate, descends when landing and falls when its motors stop. Only the
simulator's public API is used: ``Autopilot``/``AutopilotConfig`` and
``MavlinkHub``/``LinkConfig``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from sentinel_sim.autopilot import Autopilot, AutopilotConfig, mode_names
from sentinel_sim.mavlink_endpoint import LinkConfig, MavlinkHub
from sentinel_sim.vehicle_types import BodyState, Setpoint, SetpointMode, Vector3, VehicleKind

ORIGIN = (39.7392, -104.9903, 1609.0)   # site origin for the autopilot's GPS (lat, lon, alt)
CLIMB_RATE = 3.0                        # m/s, vertical speed toward a position setpoint
FALL_SPEED = 8.0                        # m/s, with the motors stopped in the air
STEP = 0.02                             # s of simulated time per physics step
WAIT = 10.0                             # s, longest wait for any expected event
GCS_SYSTEM = 255                        # the test ground station's MAVLink system id


class StandInBody:
    """Kinematic drone: no dynamics, only speed limits; the ground is z = 0."""

    def __init__(self, start: Vector3 = Vector3()) -> None:
        self.position = start
        self.velocity = Vector3()
        self.motors_on = False

    def state(self) -> BodyState:
        on_ground = self.position.z <= 0.0
        return BodyState(self.position, self.velocity, 0.0, 0.0, 0.0, on_ground, self.motors_on)

    def apply(self, setpoint: Setpoint, dt: float) -> None:
        p = self.position
        vx = vy = vz = 0.0
        mode = setpoint.mode
        if mode in (SetpointMode.IDLE, SetpointMode.KILL):
            self.motors_on = False
            vz = -FALL_SPEED if p.z > 0.0 else 0.0
        elif mode is SetpointMode.POSITION:
            self.motors_on = True
            dx, dy = setpoint.position.x - p.x, setpoint.position.y - p.y
            distance = math.hypot(dx, dy)
            if distance > 1e-9:
                step = min(distance, setpoint.max_speed * dt)
                vx, vy = dx / distance * step / dt, dy / distance * step / dt
            dz = setpoint.position.z - p.z
            vz = math.copysign(min(abs(dz), CLIMB_RATE * dt), dz) / dt
        elif mode is SetpointMode.VELOCITY:
            self.motors_on = True
            vx, vy, vz = setpoint.velocity.x, setpoint.velocity.y, setpoint.velocity.z
        elif mode is SetpointMode.LAND:
            self.motors_on = p.z > 0.0
            vz = -setpoint.max_speed if p.z > 0.0 else 0.0
        z = max(0.0, p.z + vz * dt)
        self.position = Vector3(p.x + vx * dt, p.y + vy * dt, z)
        self.velocity = Vector3(vx, vy, vz if z > 0.0 else 0.0)


class SimulatedDrone:
    """One emulated ArduCopter on a UDP port, stepped by a background thread."""

    def __init__(self, system_id: int = 1, scale: float = 1.0, **overrides: Any) -> None:
        values: dict[str, Any] = dict(
            system_id=system_id, kind=VehicleKind.DRONE, origin_lat_deg=ORIGIN[0],
            origin_lon_deg=ORIGIN[1], origin_alt_m=ORIGIN[2], gps_noise_m=0.0,
            gcs_timeout_s=30.0, auto_disarm_s=0.0)
        values.update(overrides)
        self.autopilot = Autopilot(AutopilotConfig(**values))
        self.body = StandInBody()
        self.hub = MavlinkHub()
        self.port = self.hub.add(LinkConfig(system_id, 0), _Peer(self)).address[1]
        self.system_id = system_id
        self.scale = scale
        self.on_flush: Callable[[list[Any], float], None] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='standin-drone', daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> SimulatedDrone:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.hub.close()
        if self.error is not None:
            raise self.error

    @property
    def mode_name(self) -> str:
        with self._lock:
            return self.autopilot.mode_name

    @property
    def altitude(self) -> float:
        return self.body.position.z

    def _run(self) -> None:
        start = time.monotonic()
        sim_now = 0.0
        next_step = 0.0
        try:
            while not self._stop.is_set():
                with self._lock:
                    self._poll(sim_now)
                    wall = (time.monotonic() - start) * self.scale
                    while next_step <= wall:
                        out = self.autopilot.step(next_step, self.body.state())
                        self.hub.send(self.system_id, out.messages)
                        self.body.apply(out.setpoint, STEP)
                        sim_now = next_step
                        next_step += STEP
        except BaseException as error:  # surfaced to the test on exit
            self.error = error

    def _poll(self, sim_now: float) -> None:
        self.hub.poll(sim_now, timeout=0.001)


class _Peer:
    """What the hub talks to: the autopilot, with a hook on the replies it sends."""

    def __init__(self, drone: SimulatedDrone) -> None:
        self._drone = drone

    def receive(self, msg: Any, now: float) -> None:
        self._drone.autopilot.receive(msg, now)

    def flush(self, now: float) -> list[Any]:
        messages = self._drone.autopilot.flush(now)
        hook = self._drone.on_flush
        if hook is not None and messages:
            hook(messages, time.perf_counter())
        return messages


class GroundStation:
    """A pymavlink GCS on the drone's port, the way scripts and MAVProxy talk to SITL."""

    def __init__(self, port: int, system_id: int = 1) -> None:
        self.conn = mavutil.mavlink_connection(f'udpout:127.0.0.1:{port}',
                                               source_system=GCS_SYSTEM)
        self.target = system_id
        self.conn.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)

    def close(self) -> None:
        self.conn.close()

    def command(self, command: int, *params: float, timeout: float = WAIT) -> int:
        """COMMAND_LONG and its COMMAND_ACK result (resent each second, as a GCS would)."""
        values = (list(params) + [0.0] * 7)[:7]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.conn.mav.command_long_send(self.target, 1, command, 0, *values)
            ack = self.conn.recv_match(type='COMMAND_ACK', blocking=True, timeout=1.0,
                                       condition=f'COMMAND_ACK.command=={command}')
            if ack is not None:
                return int(ack.result)
        raise AssertionError(f'no COMMAND_ACK for command {command} within {timeout} s')

    def set_mode(self, name: str) -> int:
        return self.command(mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
                            mode_names(VehicleKind.DRONE)[name])

    def take_off(self, drone: SimulatedDrone, altitude: float) -> None:
        """GUIDED, arm, take off, and wait until the drone is near the altitude."""
        accepted = mavlink.MAV_RESULT_ACCEPTED
        self._wait(lambda: drone.autopilot.gps.has_fix, 'a GPS fix')
        assert self.set_mode('GUIDED') == accepted
        assert self.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1) == accepted
        assert self.command(mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, math.nan, 0, 0,
                            altitude) == accepted
        self._wait(lambda: drone.altitude > altitude - 1.0, f'{altitude} m')

    @staticmethod
    def _wait(predicate: Callable[[], bool], what: str) -> None:
        end = time.monotonic() + WAIT
        while not predicate():
            assert time.monotonic() < end, f'not reached within {WAIT} s: {what}'
            time.sleep(0.02)
