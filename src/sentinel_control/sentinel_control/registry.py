"""The asset registry: every vehicle mission control may task, and whether it can be tasked now.

Why two sources: the site configuration says what a vehicle *is* (kind,
capabilities, home pad, battery capacity); the vehicle interface says what
it is *doing* (position, battery, link, landed). A vehicle the interface
reports but the configuration lacks is registered with no capabilities and
no known capacity, so it is visible but only taskable where neither matters.
Safety's e-stop list comes from /safety/status.

Pure logic with an explicit clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sentinel_control.telemetry import GpsFix, LinkState, VehicleStateData, VehicleType

STALE_AFTER = 3.0   # s without a state from the vehicle interface: the vehicle counts as unreachable


@dataclass(frozen=True)
class Asset:
    """What a vehicle is (from configuration)."""

    vehicle_id: str
    kind: str                        # 'drone' or 'ground'
    capabilities: frozenset[str]
    home: tuple[float, float, float]  # site ENU, m
    battery_capacity_wh: float       # 0 when unknown
    configured: bool = True


@dataclass
class AssetStatus:
    """What a vehicle is doing (from the vehicle interface and safety)."""

    asset: Asset
    state: VehicleStateData | None = None
    received_at: float = -math.inf
    estopped: bool = False


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ''   # why not, for logs and task status messages


@dataclass
class AssetRegistry:
    """Assets by vehicle id, updated from FleetState and SafetyStatus."""

    statuses: dict[str, AssetStatus] = field(default_factory=dict)
    reserve: dict[str, float] = field(default_factory=dict)   # kind -> battery fraction that must remain

    @classmethod
    def from_assets(cls, assets: list[Asset], reserve: dict[str, float]) -> AssetRegistry:
        return cls({a.vehicle_id: AssetStatus(a) for a in assets}, dict(reserve))

    def update(self, state: VehicleStateData, now: float) -> bool:
        """Take one VehicleState; True when the vehicle was not known before."""
        status = self.statuses.get(state.vehicle_id)
        new = status is None
        if status is None:
            kind = 'drone' if state.vehicle_type is VehicleType.DRONE else 'ground'
            home = state.position if state.known_position else (0.0, 0.0, 0.0)
            status = AssetStatus(Asset(state.vehicle_id, kind, frozenset(), home, 0.0, configured=False))
            self.statuses[state.vehicle_id] = status
        status.state = state
        status.received_at = now
        return new

    def set_estopped(self, vehicle_ids: set[str], fleet: bool) -> None:
        for vehicle_id, status in self.statuses.items():
            status.estopped = fleet or vehicle_id in vehicle_ids

    def asset(self, vehicle_id: str) -> Asset | None:
        status = self.statuses.get(vehicle_id)
        return status.asset if status is not None else None

    def state(self, vehicle_id: str) -> VehicleStateData | None:
        status = self.statuses.get(vehicle_id)
        return status.state if status is not None else None

    def ids(self) -> list[str]:
        return sorted(self.statuses)

    def availability(self, vehicle_id: str, now: float) -> Availability:
        """Whether a vehicle can take a task now, and if not, why."""
        status = self.statuses.get(vehicle_id)
        if status is None:
            return Availability(False, f'unknown vehicle {vehicle_id!r}')
        state = status.state
        if state is None:
            return Availability(False, 'no state from the vehicle interface yet')
        age = now - status.received_at
        if age > STALE_AFTER:
            return Availability(False, f'state {age:.1f} s old')
        if state.link_state is LinkState.LOST:
            return Availability(False, 'link lost')
        if status.estopped:
            return Availability(False, 'e-stopped')
        if not state.known_position or state.gps_fix is GpsFix.NO_FIX:
            return Availability(False, 'no position fix')
        battery = state.battery_remaining
        if not math.isfinite(battery):
            return Availability(False, 'battery level unknown')
        reserve = self.reserve.get(status.asset.kind, 0.0)
        if battery <= reserve:
            return Availability(False, f'battery {battery:.0%} at or below the {reserve:.0%} reserve')
        return Availability(True)
