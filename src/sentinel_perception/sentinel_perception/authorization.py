"""Which tracks are expected presences: Sentinel's own vehicles and the patrolling guard.

Why: the threat rules must not page an operator every time our own rover
drives through the transformer yard or the night guard walks the fence. The
site has no badge readers or radio check-in that perception could query, so
authorization is inferred from what the system itself knows, and this module
is deliberately explicit about how weak each inference is:

* **Own vehicles** (strong): a track of a compatible class (drone for drones,
  vehicle for rovers) within ``match_radius`` plus two sigma of the track's
  position error (capped at ``max_match_distance``) of a vehicle whose
  telemetry (``/vehicles/<id>/state``) says it is there. Once matched, the
  match is kept while the track stays within twice that radius (telemetry and
  camera fixes disagree by a few metres).
* **Patrol routes** (weak): a person track that has stayed inside a
  configured corridor around the guard's route, during the route's schedule,
  *since it was first seen*, for at least ``min_time_on_route`` s. Leaving the
  corridor (or the schedule ending) revokes the authorization for the rest of
  the track's life. Anybody who walks onto the route unseen and then follows
  it is taken for the guard: this is a convenience against nuisance alerts,
  not an identity check. Sites that need more should add an identity source
  (badge events, radio check-in, an operator confirming the track) and feed it
  here.

Authorization only lifts the rules each source lists (``exempt_rules``); a
merged track is authorized only if both of its parts were. No rclpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sentinel_perception.threat_rules import (OwnVehicleMatching, PatrolRoute, ThreatRulesConfig,
                                              path_distance)

# Factor on the match radius within which an own-vehicle match, once made, is kept.
OWN_MATCH_RELEASE_FACTOR = 2.0


@dataclass(frozen=True)
class OwnVehicle:
    """One of Sentinel's vehicles, as its telemetry last reported it."""

    vehicle_id: str
    kind: str                               # 'drone' or 'ground'
    position: tuple[float, float, float]    # m, site ENU
    stamp: float                            # s


@dataclass(frozen=True)
class Authorization:
    """The verdict on one track."""

    authorized: bool
    reason: str                             # e.g. 'own vehicle drone_1', 'patrol route guard_patrol'
    exempt_rules: frozenset[str]


UNAUTHORIZED = Authorization(False, '', frozenset())


@dataclass
class _RouteState:
    route_id: str | None      # the route the track has kept to, None once revoked
    since: float              # s, first seen on it


def _window_active(route: PatrolRoute, wall: datetime, timezone: str) -> bool:
    if not route.schedule:
        return True
    local = wall.astimezone(ZoneInfo(timezone))
    return any(window.contains(local) for window in route.schedule)


class AuthorizationPolicy:
    """Keeps per-track authorization state; ask it once per track per fusion cycle."""

    def __init__(self, config: ThreatRulesConfig, max_vehicle_age: float = 2.0) -> None:
        self.routes: Sequence[PatrolRoute] = config.patrol_routes
        self.own: OwnVehicleMatching = config.own_vehicles
        self.timezone = config.timezone
        self.max_vehicle_age = max_vehicle_age  # s, older telemetry does not authorize
        self._routes: dict[str, _RouteState] = {}
        self._own: dict[str, str] = {}          # track id -> vehicle id it was matched to

    def assess(self, track_id: str, class_name: str, position: tuple[float, float, float],
               sigma: float, now: float, wall: datetime,
               vehicles: Mapping[str, OwnVehicle]) -> Authorization:
        own = self._own_vehicle(track_id, class_name, position, sigma, now, vehicles)
        if own is not None:
            return Authorization(True, f'own vehicle {own}', self.own.exempt_rules)
        route = self._route(track_id, class_name, position, now, wall)
        if route is not None:
            return Authorization(True, f'patrol route {route.route_id}', route.exempt_rules)
        return UNAUTHORIZED

    def _own_vehicle(self, track_id: str, class_name: str, position: tuple[float, float, float],
                     sigma: float, now: float, vehicles: Mapping[str, OwnVehicle]) -> str | None:
        radius = min(self.own.max_match_distance,
                     self.own.match_radius + 2.0 * (sigma if math.isfinite(sigma) else math.inf))
        previous = self._own.get(track_id)
        best: tuple[float, str] | None = None
        for vehicle in vehicles.values():
            if now - vehicle.stamp > self.max_vehicle_age:
                continue
            if class_name not in self.own.classes.get(vehicle.kind, frozenset()):
                continue
            distance = math.hypot(position[0] - vehicle.position[0],
                                  position[1] - vehicle.position[1])
            limit = radius * (OWN_MATCH_RELEASE_FACTOR if vehicle.vehicle_id == previous else 1.0)
            if distance <= limit and (best is None or distance < best[0]):
                best = (distance, vehicle.vehicle_id)
        if best is None:
            self._own.pop(track_id, None)
            return None
        self._own[track_id] = best[1]
        return best[1]

    def _route(self, track_id: str, class_name: str, position: tuple[float, float, float],
               now: float, wall: datetime) -> PatrolRoute | None:
        state = self._routes.get(track_id)
        on_route = [r for r in self.routes
                    if class_name in r.classes and _window_active(r, wall, self.timezone)
                    and path_distance(position[0], position[1], r.path) <= r.width / 2.0]
        if state is None:
            # First time this track is assessed: it must start on a route.
            state = _RouteState(on_route[0].route_id if on_route else None, now)
            self._routes[track_id] = state
        elif state.route_id is not None and state.route_id not in {r.route_id for r in on_route}:
            state.route_id = None  # left the corridor (or its schedule ended): revoked for good
        if state.route_id is None or now - state.since < self._route_by_id(state.route_id) \
                .min_time_on_route:
            return None
        return self._route_by_id(state.route_id)

    def _route_by_id(self, route_id: str) -> PatrolRoute:
        return next(r for r in self.routes if r.route_id == route_id)

    def merged(self, kept: str, absorbed: str) -> None:
        """Fusion folded ``absorbed`` into ``kept``: authorized only if both were on the route."""
        a, b = self._routes.get(kept), self._routes.pop(absorbed, None)
        if a is not None and b is not None and a.route_id != b.route_id:
            a.route_id = None
        elif a is None and b is not None:
            self._routes[kept] = b
        self._own.pop(absorbed, None)

    def forget(self, track_id: str) -> None:
        self._routes.pop(track_id, None)
        self._own.pop(track_id, None)
