"""Patrol progress: which waypoint comes next and when a lap is done.

Why mission control tracks this itself: the route is flown by the autopilot
as an uploaded mission (one safety check per lap, and the vehicle keeps
flying it if mission control restarts), but the emulated and many real
autopilots have no "loop forever" item, and a preempted patrol should resume
where it stopped. So progress is judged from the vehicle's reported position:
a waypoint is passed when the vehicle comes within ``radius`` of it (or of
any later one, if it cut a corner), the lap ends at the last waypoint, and
the next lap is a fresh FOLLOW_ROUTE from the first.

Pure logic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[float, float, float]
WAYPOINT_RADIUS = 5.0   # m, horizontal: a waypoint counts as passed this close


def horizontal_distance(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def route_length(route: Sequence[Point], closed: bool = True) -> float:
    """Horizontal length of a route in metres; closed adds the leg back to the start."""
    legs = sum(horizontal_distance(a, b) for a, b in zip(route, route[1:], strict=False))
    if closed and len(route) > 1:
        legs += horizontal_distance(route[-1], route[0])
    return legs


@dataclass
class PatrolProgress:
    route: tuple[Point, ...]
    next_index: int = 0
    laps: int = 0
    radius: float = WAYPOINT_RADIUS

    def __post_init__(self) -> None:
        if not self.route:
            raise ValueError('a patrol needs at least one waypoint')

    def update(self, position: Point) -> bool:
        """Note the vehicle's position; True when this completes a lap."""
        for index in range(self.next_index, len(self.route)):
            if horizontal_distance(position, self.route[index]) <= self.radius:
                self.next_index = index + 1
                if self.next_index >= len(self.route):
                    self.next_index = 0
                    self.laps += 1
                    return True
                return False
        return False

    def remaining(self) -> tuple[Point, ...]:
        """The waypoints still to fly this lap (the whole route at a lap's start)."""
        return self.route[self.next_index:]
