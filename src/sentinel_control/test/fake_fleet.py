"""A pretend fleet for mission-control tests: vehicles that obey approved commands kinematically.

It plays the vehicle interface's part (executes approved commands, reports
VehicleStateData with the current task, answers every command with a result)
without MAVLink, so mission-control scenarios run in milliseconds with a fake
clock. Loaded by path (pytest runs in importlib mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from sentinel_control.commands import Command, CommandKind, CommandResult, Outcome
from sentinel_control.registry import Asset
from sentinel_control.telemetry import GpsFix, LinkState, VehicleStateData, VehicleType

Point = tuple[float, float, float]
SPEED = {'drone': 6.0, 'ground': 4.0}       # m/s the pretend vehicles move at
CLIMB = 3.0                                 # m/s drones climb and descend at
DRAIN_PER_S = {'drone': 0.0005, 'ground': 0.0001}   # battery fraction used per second of motion


@dataclass
class FakeVehicle:
    asset: Asset
    position: Point
    battery: float = 0.95
    armed: bool = False
    mode: str = 'STABILIZE'
    task_id: str = ''
    goal: Point | None = None
    route: list[Point] = field(default_factory=list)
    link: LinkState = LinkState.OK
    landing: bool = False

    @property
    def drone(self) -> bool:
        return self.asset.kind == 'drone'

    def state(self) -> VehicleStateData:
        landed = (not self.drone) or self.position[2] <= 0.05
        return VehicleStateData(
            self.asset.vehicle_id, VehicleType.DRONE if self.drone else VehicleType.GROUND, armed=self.armed,
            mode=self.mode, autopilot='ardupilot', position=self.position, battery_remaining=self.battery,
            link_state=self.link, link_quality=1.0 if self.link is LinkState.OK else 0.0,
            gps_fix=GpsFix.FIX_3D, gps_satellites=12, landed=landed, current_task_id=self.task_id,
            relative_altitude=self.position[2], heard=True)

    def step(self, dt: float) -> None:
        if self.link is LinkState.LOST:
            return
        if self.goal is None and self.route:
            self.goal = self.route.pop(0)
        if self.goal is None:
            if self.landing and self.position[2] > 0.0:
                self.position = (self.position[0], self.position[1], max(0.0, self.position[2] - CLIMB * dt))
                if self.position[2] == 0.0:
                    self.armed = False
            return
        x, y, z = self.position
        gx, gy, gz = self.goal
        if not self.drone:
            gz = z = 0.0
        if self.drone and z < gz - 0.5 and math.hypot(gx - x, gy - y) > 0.1:
            z = min(gz, z + CLIMB * dt)     # climb first, then go
        else:
            distance = math.hypot(gx - x, gy - y)
            step = min(distance, SPEED[self.asset.kind] * dt)
            if distance > 1e-9:
                x, y = x + (gx - x) / distance * step, y + (gy - y) / distance * step
            z = z + max(-CLIMB * dt, min(CLIMB * dt, gz - z))
            self.battery -= DRAIN_PER_S[self.asset.kind] * dt
        self.position = (x, y, z)
        if math.hypot(gx - x, gy - y) < 1e-6 and abs(gz - z) < 1e-6:
            self.goal = None


class FakeFleet:
    """Vehicles by id; ``execute`` plays an approved command, returning its result."""

    def __init__(self, vehicles: list[FakeVehicle], time_scale: float = 1.0) -> None:
        self.vehicles = {v.asset.vehicle_id: v for v in vehicles}
        self.time_scale = time_scale   # vehicles move as if this many seconds passed per second
        self.executed: list[Command] = []
        self.reject_vehicles: set[str] = set()   # vehicles that answer every command with DENIED

    def execute(self, command: Command) -> CommandResult:
        self.executed.append(command)
        v = self.vehicles[command.vehicle_id]
        if command.vehicle_id in self.reject_vehicles or v.link is LinkState.LOST:
            return CommandResult(command.command_id, command.vehicle_id, command.task_id, command.kind,
                                 Outcome.REJECTED if v.link is not LinkState.LOST else Outcome.TIMED_OUT,
                                 'MAV_RESULT_DENIED', 'denied')
        kind = command.kind
        v.landing = False
        if kind is CommandKind.GOTO:
            v.goal, v.route, v.armed, v.mode = command.target, [], True, 'GUIDED'
        elif kind is CommandKind.FOLLOW_ROUTE:
            v.goal, v.route, v.armed, v.mode = None, list(command.route), True, 'AUTO'
        elif kind is CommandKind.HOLD:
            v.goal, v.route, v.mode = None, [], 'LOITER'
        elif kind is CommandKind.RTL:
            home = v.asset.home
            v.goal, v.route, v.mode = (home[0], home[1], v.position[2]), [], 'RTL'
            v.landing = v.drone
        elif kind is CommandKind.LAND:
            v.goal, v.route, v.mode, v.landing = None, [], 'LAND', True
        if kind in (CommandKind.GOTO, CommandKind.FOLLOW_ROUTE, CommandKind.HOLD, CommandKind.RTL,
                    CommandKind.LAND):
            v.task_id = command.task_id
        return CommandResult(command.command_id, command.vehicle_id, command.task_id, kind, Outcome.ACCEPTED)

    def step(self, dt: float) -> None:
        for v in self.vehicles.values():
            v.step(dt * self.time_scale)

    def states(self) -> list[VehicleStateData]:
        return [v.state() for v in self.vehicles.values()]


def drone(vehicle_id: str, x: float, y: float, capabilities: frozenset[str] = frozenset({'camera'}),
          battery: float = 0.95) -> FakeVehicle:
    asset = Asset(vehicle_id, 'drone', capabilities, (x, y, 0.0), 90.0)
    return FakeVehicle(asset, (x, y, 0.0), battery)


def rover(vehicle_id: str, x: float, y: float, capabilities: frozenset[str] = frozenset({'camera'}),
          battery: float = 0.95) -> FakeVehicle:
    asset = Asset(vehicle_id, 'ground', capabilities, (x, y, 0.0), 500.0)
    return FakeVehicle(asset, (x, y, 0.0), battery)


def with_link(state: VehicleStateData, link: LinkState) -> VehicleStateData:
    return replace(state, link_state=link)
