"""Battery reserve: will the vehicle finish what it is asked and still get home?

The model is deliberately simple and conservative, with every coefficient in
the config (``vehicle_types.<type>.battery``):

    energy (Wh) = idle_power (W) * time (h)
                + travel_energy (Wh/m) * horizontal distance
                + climb_energy (Wh/m) * height gained

where time is the horizontal distance at the planning speed plus the height
change at the maximum vertical speed (drones). The idle power is what the
vehicle draws while armed and not moving (a multicopter's hover), so a drone
is charged for every second it flies. The return leg is planned straight home
at the configured cruise speed. A command passes when the energy left after
the command and the return is at least ``reserve`` times the capacity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sentinel_safety.domain import Vec3

# Seconds per hour, to turn W x s into Wh.
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class EnergyModel:
    """Consumption coefficients of one vehicle type."""

    idle_power: float        # W drawn while armed (hover for drones)
    travel_energy: float     # Wh per metre travelled horizontally
    climb_energy: float      # Wh per metre of height gained
    cruise_speed: float      # m/s used to plan the way home
    vertical_speed: float    # m/s climb/descent rate; 0 for ground vehicles (no vertical time)


def leg_energy(model: EnergyModel, start: Vec3, end: Vec3, speed: float) -> float:
    """Energy (Wh) to go straight from start to end at ``speed`` (m/s, horizontal)."""
    if speed <= 0.0:
        raise ValueError(f'speed must be positive, got {speed!r} m/s')
    horizontal = math.hypot(end.x - start.x, end.y - start.y)
    rise = end.z - start.z
    seconds = horizontal / speed
    if model.vertical_speed > 0.0:
        seconds += abs(rise) / model.vertical_speed
    return (model.idle_power * seconds / SECONDS_PER_HOUR
            + model.travel_energy * horizontal
            + model.climb_energy * max(0.0, rise))


def route_energy(model: EnergyModel, points: Sequence[Vec3], speed: float) -> float:
    """Energy (Wh) to visit ``points`` in order, straight legs, at ``speed``."""
    return sum(leg_energy(model, a, b, speed) for a, b in zip(points, points[1:]))


@dataclass(frozen=True)
class ReserveCheck:
    """The energy balance of one plan, in Wh."""

    available: float   # energy in the battery now
    needed: float      # energy the plan and the return home take
    reserve: float     # energy that must be left at the end

    @property
    def ok(self) -> bool:
        return self.available - self.needed >= self.reserve

    @property
    def shortfall(self) -> float:
        return max(0.0, self.reserve + self.needed - self.available)


def reserve_check(remaining_fraction: float, capacity_wh: float, reserve_fraction: float,
                  needed_wh: float) -> ReserveCheck | None:
    """The balance for a plan needing ``needed_wh``; None when the charge is unknown (NaN)."""
    if not math.isfinite(remaining_fraction):
        return None
    remaining = min(1.0, max(0.0, remaining_fraction))
    return ReserveCheck(remaining * capacity_wh, needed_wh, reserve_fraction * capacity_wh)
