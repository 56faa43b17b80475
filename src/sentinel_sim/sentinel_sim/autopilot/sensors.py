"""The autopilot's own sensors that the physics does not provide: battery and GPS receiver.

Why: the failsafes need a battery that drains and a GPS fix that can be lost,
and the raw GPS report needs believable noise. These models are deliberately
simple and seeded, so a test run is the same every time.
"""

from __future__ import annotations

import itertools

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.config import AutopilotConfig
from sentinel_sim.autopilot.wire import MILLI
from sentinel_sim.vehicle_types import Vector3

SECONDS_PER_HOUR = 3600.0           # ampere-seconds -> ampere-hours
GPS_VERTICAL_NOISE_FACTOR = 1.5     # GPS vertical noise relative to horizontal
GPS_MIN_SATELLITES = 6              # fewer satellites than this give no 3D fix

# LiPo resting cell voltage against state of charge (fraction), piecewise linear.
CELL_CURVE: tuple[tuple[float, float], ...] = (
    (0.00, 3.30), (0.05, 3.50), (0.10, 3.60), (0.20, 3.70),
    (0.50, 3.80), (0.80, 3.95), (1.00, 4.20),
)


class BatteryModel:
    """Coulomb-counting battery: capacity, draw by activity and speed, LiPo voltage curve.

    Why so simple: the failsafes only need a remaining percentage that falls at a
    believable rate and a voltage that looks like a pack's, not electrochemistry.
    """

    def __init__(self, config: AutopilotConfig) -> None:
        self._capacity_mah = config.battery_capacity_mah
        self._cells = config.battery_cells
        self._resistance = config.battery_internal_resistance_ohm
        self._idle_a = config.idle_current_a
        self._motors_a = config.motors_current_a
        self._per_speed_a = config.current_per_speed_a
        self.consumed_mah = 0.0
        self.energy_wh = 0.0
        self.current_a = self._idle_a

    @property
    def remaining_fraction(self) -> float:
        return min(1.0, max(0.0, 1.0 - self.consumed_mah / self._capacity_mah))

    @property
    def remaining_pct(self) -> float:
        return 100.0 * self.remaining_fraction

    @property
    def cell_voltage(self) -> float:
        """Resting voltage of one cell at the present charge."""
        frac = self.remaining_fraction
        for (f0, v0), (f1, v1) in itertools.pairwise(CELL_CURVE):
            if frac <= f1:
                return v0 + (v1 - v0) * (frac - f0) / (f1 - f0)
        return CELL_CURVE[-1][1]

    @property
    def voltage(self) -> float:
        """Pack voltage under the present load."""
        return max(0.0, self.cell_voltage * self._cells - self.current_a * self._resistance)

    def update(self, dt: float, motors_on: bool, speed: float) -> None:
        """Integrate the draw over dt seconds."""
        self.current_a = self._idle_a + ((self._motors_a + self._per_speed_a * speed) if motors_on else 0.0)
        self.consumed_mah += self.current_a * dt * MILLI / SECONDS_PER_HOUR
        self.energy_wh += self.current_a * self.voltage * dt / SECONDS_PER_HOUR
        self.consumed_mah = min(self.consumed_mah, self._capacity_mah)

    def set_remaining(self, pct: float) -> None:
        """Fault injection: jump to the given remaining percentage."""
        pct = min(100.0, max(0.0, pct))
        self.consumed_mah = self._capacity_mah * (1.0 - pct / 100.0)

    def time_remaining_s(self) -> int:
        """Seconds until empty at the present draw."""
        if self.current_a <= 0.0:
            return 0
        return int(SECONDS_PER_HOUR * (self._capacity_mah - self.consumed_mah) / MILLI / self.current_a)


class GpsModel:
    """GPS receiver: fix state, satellite count, seeded white noise on the raw report."""

    def __init__(self, config: AutopilotConfig, rng: np.random.Generator) -> None:
        self._rng = rng
        self._noise = config.gps_noise_m
        self._satellites = config.gps_satellites
        self.lost = False

    @property
    def has_fix(self) -> bool:
        return not self.lost and self._satellites >= GPS_MIN_SATELLITES

    @property
    def fix_type(self) -> int:
        return mavlink.GPS_FIX_TYPE_3D_FIX if self.has_fix else mavlink.GPS_FIX_TYPE_NO_FIX

    @property
    def satellites(self) -> int:
        return 0 if self.lost else self._satellites

    @property
    def noise_m(self) -> float:
        return self._noise

    def measure(self, truth: Vector3) -> Vector3:
        """A noisy ENU reading of the true position."""
        if self._noise <= 0.0:
            return truth
        dx, dy, dz = self._rng.normal(0.0, self._noise, size=3)
        return Vector3(truth.x + float(dx), truth.y + float(dy), truth.z + float(dz) * GPS_VERTICAL_NOISE_FACTOR)
