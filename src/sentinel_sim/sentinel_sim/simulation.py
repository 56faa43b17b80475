"""One simulated site: physics, emulated autopilots, MAVLink and cameras stepped together.

Why a separate module: the ROS node only converts and publishes; everything
that decides *what happens* in the simulated world lives here, free of rclpy,
so tests can step a site in lockstep and a benchmark can time it.

Each control period the simulation
1. reads MAVLink packets from every vehicle's UDP port (one selector for all),
2. lets every autopilot turn its state and commands into a setpoint and the
   telemetry due now, and sends that telemetry,
3. advances the MuJoCo physics by one control period,
4. renders the cameras whose next frame is due (each at its own rate).
Time is simulation time: the caller decides whether it tracks the wall clock.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from sentinel_sim.autopilot import Autopilot, AutopilotConfig
from sentinel_sim.ground_truth import CameraInfo, EntityState, ImageBox
from sentinel_sim.mavlink_endpoint import LinkConfig, MavlinkHub
from sentinel_sim.physics import PhysicsWorld
from sentinel_sim.rendering import CameraEffects, CameraRenderer
from sentinel_sim.site_config import SiteConfig
from sentinel_sim.vehicle_types import Setpoint
from sentinel_sim.world import World

_LOG = logging.getLogger(__name__)

# Nominal voltage of one LiPo cell (V): converts the roster's battery energy
# (Wh) into the capacity (mAh) the autopilot's battery model counts in.
LIPO_NOMINAL_CELL_VOLTAGE = 3.7
# Series cells of the emulated batteries, per the roster's usual airframes.
BATTERY_CELLS = 4


class Fault(enum.IntEnum):
    """Faults the simulator can inject; values match sentinel_msgs/InjectFault."""

    LINK_CUT = 0
    LINK_DEGRADE = 1
    GPS_LOSS = 2
    BATTERY_DROP = 3
    MOTOR_FAILURE = 4
    CAMERA_BLACKOUT = 5
    FOG = 6
    NIGHT = 7


class FaultError(ValueError):
    """A fault request that cannot be applied; `unknown_target` tells why."""

    def __init__(self, reason: str, unknown_target: bool = False) -> None:
        super().__init__(reason)
        self.unknown_target = unknown_target


@dataclass(frozen=True)
class SimulationOptions:
    """How a site is simulated (the world and roster say what is simulated)."""

    seed: int = 0
    control_period: float = 0.02       # s: autopilots and controllers run at 50 Hz
    render: bool = True                # False: physics and MAVLink only (no GL needed)
    camera_rate_scale: float = 1.0     # multiplies every camera's configured rate
    mavlink_host: str = '127.0.0.1'    # address the autopilots' UDP ports bind to
    mavlink_port_offset: int = 0       # added to every world port: two simulations side by side

    def __post_init__(self) -> None:
        if not (math.isfinite(self.control_period) and 0.0 < self.control_period <= 0.1):
            raise ValueError(f'control_period must be in (0, 0.1] s, got {self.control_period!r}')
        if not (math.isfinite(self.camera_rate_scale) and self.camera_rate_scale >= 0.0):
            raise ValueError(f'camera_rate_scale must be >= 0, got {self.camera_rate_scale!r}')


@dataclass(frozen=True)
class CameraFrame:
    """One rendered image with what a consumer needs to interpret it."""

    camera: str
    stamp: float                 # s, simulation time of the capture
    image: np.ndarray            # (height, width, 3) uint8 RGB
    info: CameraInfo
    boxes: tuple[ImageBox, ...]  # ground truth of this frame


@dataclass
class _Environment:
    """Site-wide and per-camera conditions set by fault injection."""

    fog: float = 0.0
    night: float = 0.0
    blackout: set[str] = field(default_factory=set)

    def effects(self, camera: str) -> CameraEffects:
        return CameraEffects(fog=self.fog, night=self.night, blackout=camera in self.blackout)


def autopilot_config(world: World, site: SiteConfig, vehicle_id: str, seed: int) -> AutopilotConfig:
    """The emulated autopilot of one roster vehicle, at the world's origin."""
    vehicle = next(v for v in world.vehicles if v.model.name == vehicle_id)
    roster = next(v for v in site.vehicles if v.id == vehicle_id)
    capacity_mah = roster.battery_capacity_wh / (BATTERY_CELLS * LIPO_NOMINAL_CELL_VOLTAGE) * 1000.0
    return AutopilotConfig(
        system_id=vehicle.system_id, kind=vehicle.kind,
        origin_lat_deg=world.origin.latitude_deg, origin_lon_deg=world.origin.longitude_deg,
        origin_alt_m=world.origin.elevation, battery_capacity_mah=capacity_mah,
        battery_cells=BATTERY_CELLS, seed=seed * 1000 + vehicle.system_id)


class Simulation:
    """A site in simulation time; `step()` advances it by one control period."""

    def __init__(self, world: World, site: SiteConfig,
                 options: SimulationOptions | None = None) -> None:
        self.world = world
        self.site = site
        self.options = options or SimulationOptions()
        self.physics = PhysicsWorld(world, seed=self.options.seed)
        self.autopilots: dict[str, Autopilot] = {}
        self._system_ids: dict[str, int] = {}
        self.hub = MavlinkHub()
        try:
            for vehicle in world.vehicles:
                name = vehicle.model.name
                autopilot = Autopilot(autopilot_config(world, site, name, self.options.seed),
                                      start_time=self.physics.time)
                self.autopilots[name] = autopilot
                self._system_ids[name] = vehicle.system_id
                self.hub.add(LinkConfig(system_id=vehicle.system_id, port=self.mavlink_port(name),
                                        host=self.options.mavlink_host), autopilot)
        except BaseException:
            self.hub.close()
            raise
        self.renderer = CameraRenderer(self.physics) if self.options.render else None
        self.environment = _Environment()
        self._camera_period = {c.name: self._period(c.update_rate) for c in world.cameras}
        self._next_frame = {name: 0.0 for name, period in self._camera_period.items()
                            if period is not None}
        self._setpoints: dict[str, Setpoint] = {}

    def mavlink_port(self, vehicle_id: str) -> int:
        """The UDP port the vehicle's emulated autopilot listens on."""
        vehicle = next(v for v in self.world.vehicles if v.model.name == vehicle_id)
        return vehicle.mavlink_port + self.options.mavlink_port_offset

    def _period(self, rate: float) -> float | None:
        scaled = rate * self.options.camera_rate_scale
        return 1.0 / scaled if scaled > 0.0 else None

    @property
    def time(self) -> float:
        return self.physics.time

    @property
    def camera_names(self) -> list[str]:
        return list(self._camera_period)

    def step(self) -> list[CameraFrame]:
        """Advance by one control period; returns the camera frames that fell due."""
        now = self.physics.time
        self.hub.poll(now)
        bodies = self.physics.body_states()
        for name, autopilot in self.autopilots.items():
            output = autopilot.step(now, bodies[name])
            self._setpoints[name] = output.setpoint
            if output.messages:
                self.hub.send(self._system_ids[name], output.messages)
        self.physics.step(self.options.control_period, self._setpoints)
        return self._render_due()

    def _render_due(self) -> list[CameraFrame]:
        if self.renderer is None:
            return []
        now = self.physics.time
        frames = []
        for camera, due in self._next_frame.items():
            if now + 1e-9 < due:
                continue
            period = self._camera_period[camera]
            assert period is not None
            # Catch up without a burst: the next frame is one period after now.
            self._next_frame[camera] = max(due + period, now)
            image = self.renderer.render(camera, self.environment.effects(camera))
            frames.append(CameraFrame(camera, now, image, self.physics.camera_view(camera).info,
                                      tuple(self.physics.ground_truth(camera))))
        return frames

    def entity_states(self) -> list[EntityState]:
        """Ground truth of every vehicle and actor now."""
        return self.physics.entity_states()

    def inject(self, fault: Fault, target: str, magnitude: float, clear: bool) -> None:
        """Apply (or clear) a fault; raises FaultError with the reason when it cannot."""
        if not math.isfinite(magnitude):
            raise FaultError(f'magnitude must be finite, got {magnitude!r}')
        if fault in (Fault.FOG, Fault.NIGHT):
            self._set_weather(fault, 0.0 if clear else magnitude)
        elif fault is Fault.CAMERA_BLACKOUT:
            if target not in self._camera_period:
                raise FaultError(f'no camera {target!r}; cameras: {sorted(self._camera_period)}',
                                 unknown_target=True)
            (self.environment.blackout.discard if clear else self.environment.blackout.add)(target)
        else:
            self._inject_vehicle_fault(fault, self._autopilot(target), magnitude, clear)
        _LOG.info('fault %s %s on %r (magnitude %.2f)', fault.name,
                  'cleared' if clear else 'injected', target, magnitude)

    def _set_weather(self, fault: Fault, level: float) -> None:
        if not 0.0 <= level <= 1.0:
            raise FaultError(f'{fault.name.lower()} level must be in [0, 1], got {level}')
        if fault is Fault.FOG:
            self.environment.fog = level
        else:
            self.environment.night = level

    def _autopilot(self, target: str) -> Autopilot:
        if target not in self.autopilots:
            raise FaultError(f'no vehicle {target!r}; vehicles: {sorted(self.autopilots)}',
                             unknown_target=True)
        return self.autopilots[target]

    @staticmethod
    def _inject_vehicle_fault(fault: Fault, autopilot: Autopilot, magnitude: float,
                              clear: bool) -> None:
        if fault is Fault.LINK_CUT:
            autopilot.inject_link_degradation(0.0 if clear else 1.0, 0.0)
        elif fault is Fault.LINK_DEGRADE:
            if not 0.0 <= magnitude <= 1.0:
                raise FaultError(f'drop fraction must be in [0, 1], got {magnitude}')
            autopilot.inject_link_degradation(0.0 if clear else magnitude, 0.0)
        elif fault is Fault.GPS_LOSS:
            autopilot.inject_gps_loss(not clear)
        elif fault is Fault.BATTERY_DROP:
            if clear:
                raise FaultError('a battery drop cannot be cleared (energy is gone)')
            if not 0.0 <= magnitude <= 1.0:
                raise FaultError(f'battery remaining must be in [0, 1], got {magnitude}')
            autopilot.inject_battery_remaining(magnitude * 100.0)
        elif fault is Fault.MOTOR_FAILURE:
            if clear:
                raise FaultError('a motor failure cannot be cleared in flight')
            autopilot.inject_motor_failure()
        else:
            raise FaultError(f'unknown fault {fault!r}')

    def close(self) -> None:
        """Release the UDP ports and GL contexts."""
        self.hub.close()
        if self.renderer is not None:
            self.renderer.close()
