"""Emulated vehicles for tests and benchmarks: the simulator's autopilots and UDP hub, kinematic bodies.

The autopilot (sentinel_sim.autopilot) and its UDP hub (sentinel_sim.mavlink_endpoint)
are the simulator's; only the physics is replaced by a kinematic stand-in that
moves straight toward the setpoint at the commanded speed, so the tests
exercise the real MAVLink behaviour without MuJoCo. The fleet runs on its own
thread, simulation time running ``scale`` times faster than the wall clock.

Loaded by path (pytest runs in importlib mode), see ``load_helper`` in the tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sentinel_sim.autopilot import Autopilot, AutopilotConfig
from sentinel_sim.mavlink_endpoint import LinkConfig, MavlinkHub
from sentinel_sim.vehicle_types import BodyState, Setpoint, SetpointMode, Vector3, VehicleKind

REPO = Path(__file__).resolve().parents[3]
SUBSTATION = REPO / 'config' / 'sites' / 'substation.yaml'
WORLD = REPO / 'worlds' / 'substation.sdf'
ORIGIN = (40.5853, -105.0844, 1525.0)   # substation.sdf <spherical_coordinates>
CLIMB_RATE = 5.0        # m/s, the stand-in's vertical speed
DT = 0.05               # s of simulation time per physics step


@dataclass(frozen=True)
class VehicleSpec:
    vehicle_id: str
    system_id: int
    kind: VehicleKind
    home: tuple[float, float]


class KinematicBody:
    """Moves toward position setpoints at the commanded speed; the ground is z = 0."""

    def __init__(self, kind: VehicleKind, x: float, y: float) -> None:
        self.kind = kind
        self.position = Vector3(x, y, 0.0)
        self.velocity = Vector3()
        self.yaw = 0.0
        self.motors_on = False

    def state(self) -> BodyState:
        return BodyState(self.position, self.velocity, 0.0, 0.0, self.yaw, self.position.z <= 0.0,
                         self.motors_on)

    def apply(self, sp: Setpoint, dt: float) -> None:
        p = self.position
        drone = self.kind is VehicleKind.DRONE
        vx = vy = vz = 0.0
        if sp.mode in (SetpointMode.IDLE, SetpointMode.KILL):
            self.motors_on = False
            vz = -CLIMB_RATE if drone and p.z > 0.0 else 0.0
        elif sp.mode is SetpointMode.POSITION:
            self.motors_on = True
            dx, dy = sp.position.x - p.x, sp.position.y - p.y
            distance = math.hypot(dx, dy)
            if distance > 1e-9:
                step = min(distance, sp.max_speed * dt)
                vx, vy = dx / distance * step / dt, dy / distance * step / dt
            if drone:
                dz = sp.position.z - p.z
                vz = math.copysign(min(abs(dz), CLIMB_RATE * dt), dz) / dt
        elif sp.mode is SetpointMode.VELOCITY:
            self.motors_on = True
            vx, vy = sp.velocity.x, sp.velocity.y
            vz = sp.velocity.z if drone else 0.0
        elif sp.mode is SetpointMode.LAND:
            self.motors_on = p.z > 0.0
            vz = -sp.max_speed if p.z > 0.0 else 0.0
        if sp.yaw is not None:
            self.yaw = sp.yaw
        z = max(0.0, p.z + vz * dt)
        self.position = Vector3(p.x + vx * dt, p.y + vy * dt, z)
        self.velocity = Vector3(vx, vy, vz if z > 0.0 else 0.0)


def autopilot_config(spec: VehicleSpec, **overrides: Any) -> AutopilotConfig:
    values: dict[str, Any] = dict(
        system_id=spec.system_id, kind=spec.kind, origin_lat_deg=ORIGIN[0], origin_lon_deg=ORIGIN[1],
        origin_alt_m=ORIGIN[2], gps_noise_m=0.0, cruise_speed_m_s=8.0, gcs_timeout_s=60.0,
        auto_disarm_s=60.0, rtl_altitude_m=10.0, rtl_loiter_s=0.0, descent_speed_m_s=3.0,
        land_speed_m_s=3.0)
    values.update(overrides)
    return AutopilotConfig(**values)


class EmulatedFleet:
    """A MavlinkHub serving emulated autopilots on kinematic bodies, on a background thread."""

    def __init__(self, specs: Sequence[VehicleSpec], ports: dict[int, int] | None = None,
                 scale: float = 3.0, dt: float = DT, signing_keys: dict[int, bytes] | None = None,
                 **overrides: Any) -> None:
        self.specs = list(specs)
        self.scale = scale
        self.dt = dt
        self.hub = MavlinkHub()
        self.autopilots: dict[int, Autopilot] = {}
        self.bodies: dict[int, KinematicBody] = {}
        self.ports: dict[int, int] = {}
        for spec in specs:
            self.autopilots[spec.system_id] = Autopilot(autopilot_config(spec, **overrides))
            self.bodies[spec.system_id] = KinematicBody(spec.kind, *spec.home)
            key = (signing_keys or {}).get(spec.system_id)
            link = self.hub.add(LinkConfig(spec.system_id, (ports or {}).get(spec.system_id, 0),
                                           signing_key=key), self.autopilots[spec.system_id])
            self.ports[spec.system_id] = link.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='emulated-fleet', daemon=True)
        self.error: BaseException | None = None
        self.steps = 0

    def __enter__(self) -> EmulatedFleet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.hub.close()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        start = time.monotonic()
        sim_now = 0.0
        next_step = 0.0
        try:
            while not self._stop.is_set():
                wall = (time.monotonic() - start) * self.scale
                wait = max(0.0, min(0.01, (next_step - wall) / self.scale))
                self.hub.poll(sim_now, timeout=wait)
                wall = (time.monotonic() - start) * self.scale
                while next_step <= wall:
                    for system_id, autopilot in self.autopilots.items():
                        body = self.bodies[system_id]
                        out = autopilot.step(next_step, body.state())
                        self.hub.send(system_id, out.messages)
                        body.apply(out.setpoint, self.dt)
                    sim_now = next_step
                    next_step += self.dt
                    self.steps += 1
        except BaseException as error:   # handed to the test on stop()
            self.error = error


def site_yaml(tmp: Path, vehicles: Sequence[tuple[VehicleSpec, str]]) -> Path:
    """A copy of the substation configuration whose roster is ``vehicles`` (spec, MAVLink URL)."""
    document = yaml.safe_load(SUBSTATION.read_text(encoding='utf-8'))
    document['site']['world'] = str(WORLD)
    roster = []
    for spec, url in vehicles:
        drone = spec.kind is VehicleKind.DRONE
        roster.append({
            'id': spec.vehicle_id, 'kind': 'drone' if drone else 'ground',
            'mavlink': {'url': url, 'system_id': spec.system_id},
            'home': {'x': spec.home[0], 'y': spec.home[1], 'z': 0.0},
            'camera': f'{spec.vehicle_id}_camera', 'capabilities': ['camera'],
            'battery_capacity_wh': 90.0 if drone else 500.0})
    document['vehicles'] = roster
    path = tmp / 'site.yaml'
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding='utf-8')
    return path
