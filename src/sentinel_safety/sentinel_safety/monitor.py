"""Continuous monitoring of each vehicle: what is wrong, and the graded response.

Every monitoring cycle ``detect`` lists the violations of one vehicle (fence
breach or imminent breach, battery, GPS, link, stale state), each with its
rung from the config ladder: an action and a hold-then-act delay. A
``VehicleLadder`` turns them into orders, the PX4 way:

- a violation whose action is more than HOLD first holds the vehicle and
  warns the operator; only when ``delay`` has passed with the violation still
  present is the action itself taken. An operator command approved by the
  gate during that delay takes over: the action is cancelled for this episode
  (the violation is still reported);
- the most severe action among the live violations wins, and an order is
  sent only when that action rises: an automatic response never steps down;
- a vehicle reported disarmed gets warnings only (there is nothing to stop);
  a vehicle whose state is unknown or stale counts as armed.

No clock is read here: ``now`` is passed in (monotonic seconds), so tests
drive it with a fake clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sentinel_safety import battery, geofence
from sentinel_safety.config import Rung, TypeLimits
from sentinel_safety.domain import Action, LinkState, Vec3, VehicleSnapshot, VehicleType
from sentinel_safety.site import VehicleInfo

# Horizontal speeds below this (m/s) count as stationary: no stopping path is projected.
STATIONARY_SPEED = 0.05

# Violations judged from the reported position; carried over while it is unknown or stale.
_NEEDS_POSITION = ('fence_breach', 'fence_imminent', 'low_battery', 'battery_critical',
                   'battery_unknown')


@dataclass(frozen=True)
class Detected:
    """One violation found in one cycle."""

    key: str          # unique per vehicle: the violation, plus the zone for fence violations
    violation: str    # one of config.VIOLATIONS
    zone_id: str      # empty unless the violation concerns a zone
    rung: Rung
    detail: str       # human-readable, with units


@dataclass
class Episode:
    """A violation from the cycle it appeared until the cycle it cleared."""

    detected: Detected
    since: float                  # s, monotonic
    overridden: bool = False      # an operator took over during the hold delay

    def action(self, now: float) -> Action:
        """What this episode asks for at ``now``."""
        rung = self.detected.rung
        if self.overridden:
            return Action.WARN
        if rung.action <= Action.HOLD or now - self.since >= rung.delay:
            return rung.action
        return Action.HOLD

    def waiting(self, now: float) -> bool:
        """Whether the episode is holding before its action (the operator's window)."""
        rung = self.detected.rung
        return not self.overridden and rung.action > Action.HOLD and now - self.since < rung.delay


@dataclass(frozen=True)
class LadderUpdate:
    """What changed in one cycle for one vehicle."""

    started: tuple[Episode, ...]
    ended: tuple[Episode, ...]
    order: Action | None          # an action to send now, if the effective action rose
    reason: str                   # which violations drive the order


@dataclass
class VehicleLadder:
    """The live episodes of one vehicle and the action last ordered for them."""

    episodes: dict[str, Episode] = field(default_factory=dict)
    commanded: Action = Action.NONE
    failsafe_since: float | None = None

    def effective(self, now: float, armed: bool) -> Action:
        """The most severe action of the live episodes (WARN at most when disarmed)."""
        action = max((episode.action(now) for episode in self.episodes.values()),
                     default=Action.NONE)
        return min(action, Action.WARN) if not armed else action

    def waiting(self, now: float) -> bool:
        return any(episode.waiting(now) for episode in self.episodes.values())

    def override(self, now: float) -> bool:
        """An operator takes over: cancel every action still in its hold delay."""
        taken = False
        for episode in self.episodes.values():
            if episode.waiting(now):
                episode.overridden = True
                taken = True
        return taken

    def update(self, detected: Sequence[Detected], now: float, armed: bool) -> LadderUpdate:
        current = {item.key: item for item in detected}
        ended = tuple(self.episodes.pop(key) for key in list(self.episodes) if key not in current)
        started = []
        for key, item in current.items():
            episode = self.episodes.get(key)
            if episode is None:
                episode = Episode(item, now)
                self.episodes[key] = episode
                started.append(episode)
            else:
                episode.detected = item
        effective = self.effective(now, armed)
        order: Action | None = None
        if effective <= Action.WARN:
            self.commanded = effective
            self.failsafe_since = None
        elif effective > self.commanded:
            order = effective
            self.commanded = effective
            if self.failsafe_since is None:
                self.failsafe_since = now
        drivers = sorted(e.detected.key for e in self.episodes.values()
                         if order is not None and e.action(now) == order)
        return LadderUpdate(tuple(started), ended, order, ', '.join(drivers))

    def violations(self) -> list[str]:
        """Distinct violation ids of the live episodes, for VehicleSafety."""
        return sorted({episode.detected.violation for episode in self.episodes.values()})


# ----------------------------------------------------------------------------------
# Detection
# ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class VehicleView:
    """What the monitor knows about one vehicle this cycle."""

    vehicle: VehicleInfo
    limits: TypeLimits
    state: VehicleSnapshot | None
    fresh: bool                   # state arrived within the stale timeout
    past_grace: bool              # the watchdog has run long enough to expect state
    mavlink_silent: bool          # the watchdog's own MAVLink path has not heard it in time
    mavlink_armed: bool | None    # armed flag of a recent heartbeat on that path; None: unknown


def _rung(limits: TypeLimits, zone_actions: Mapping[str, Mapping[str, Rung]], violation: str,
          zone_id: str = '') -> Rung:
    override = zone_actions.get(zone_id, {}).get(violation)
    return override if override is not None else limits.ladder[violation]


def stopping_point(state: VehicleSnapshot, limits: TypeLimits) -> Vec3:
    """Where the vehicle would stop if it started braking now (along its velocity).

    An unknown (non-finite) velocity is taken as zero: the position uncertainty
    margin still applies, and a fast unknown motion shows up as a breach next cycle.
    """
    velocity = state.velocity if state.velocity.is_finite() else Vec3(0.0, 0.0, 0.0)
    speed = velocity.horizontal_norm()
    offset = Vec3(0.0, 0.0, 0.0)
    if speed > STATIONARY_SPEED:
        distance = geofence.stopping_distance(speed, limits.max_horizontal_deceleration,
                                              limits.reaction_time)
        offset = Vec3(velocity.x / speed * distance, velocity.y / speed * distance, 0.0)
    if limits.vehicle_type is VehicleType.DRONE and abs(velocity.z) > STATIONARY_SPEED:
        rise = geofence.stopping_distance(velocity.z, limits.max_vertical_deceleration,
                                          limits.reaction_time)
        offset = offset + Vec3(0.0, 0.0, math.copysign(rise, velocity.z))
    return state.position + offset


def detect_fence(view: VehicleView, inclusions: Sequence[geofence.FenceZone],
                 exclusions: Sequence[geofence.FenceZone],
                 zone_actions: Mapping[str, Mapping[str, Rung]]) -> list[Detected]:
    """Breaches of the reported position, and breaches predicted within the stopping path."""
    assert view.state is not None
    limits = view.limits
    drone = limits.vehicle_type is VehicleType.DRONE
    here = view.state.position
    exact = geofence.Margins(0.0, 0.0, limits.vertical_uncertainty, drone)
    found: list[Detected] = []
    breached: set[str] = set()
    for conflict in geofence.position_conflicts(here, inclusions, exclusions, exact):
        breached.add(conflict.zone_id)
        found.append(Detected(f'fence_breach:{conflict.zone_id}', 'fence_breach', conflict.zone_id,
                              _rung(limits, zone_actions, 'fence_breach', conflict.zone_id),
                              conflict.reason))
    uncertain = geofence.Margins(limits.position_uncertainty, limits.vertical_uncertainty,
                                 limits.vertical_uncertainty, drone)
    stop = stopping_point(view.state, limits)
    for conflict in geofence.check_path(here, stop, inclusions, exclusions, uncertain):
        if conflict.zone_id in breached:
            continue
        found.append(Detected(
            f'fence_imminent:{conflict.zone_id}', 'fence_imminent', conflict.zone_id,
            _rung(limits, zone_actions, 'fence_imminent', conflict.zone_id),
            f'stopping from {view.state.velocity.horizontal_norm():.1f} m/s would end within '
            f'{limits.position_uncertainty:g} m of zone {conflict.zone_id}'))
    return found


def detect_battery(view: VehicleView) -> list[Detected]:
    """Low (cannot return and keep the reserve) and critical (cannot return at all)."""
    assert view.state is not None
    limits, vehicle = view.limits, view.vehicle
    model = limits.battery.model
    needed = battery.leg_energy(model, view.state.position, vehicle.home, model.cruise_speed)
    check = battery.reserve_check(view.state.battery_remaining, vehicle.battery_capacity_wh,
                                  limits.battery.reserve, needed)
    if check is None:
        return [Detected('battery_unknown', 'battery_unknown', '', limits.ladder['battery_unknown'],
                         'the vehicle does not report its battery charge')]
    if check.available < check.needed:
        return [Detected('battery_critical', 'battery_critical', '',
                         limits.ladder['battery_critical'],
                         f'{check.available:.1f} Wh left, {check.needed:.1f} Wh needed to get '
                         'home')]
    if not check.ok:
        return [Detected('low_battery', 'low_battery', '', limits.ladder['low_battery'],
                         f'{check.available:.1f} Wh left: home takes {check.needed:.1f} Wh and the '
                         f'reserve is {check.reserve:.1f} Wh')]
    return []


def detect(view: VehicleView, inclusions: Sequence[geofence.FenceZone],
           exclusions: Sequence[geofence.FenceZone],
           zone_actions: Mapping[str, Mapping[str, Rung]],
           previous: Sequence[Detected]) -> list[Detected]:
    """Every violation of one vehicle this cycle.

    Position-based violations (fence, battery) need fresh state; while the
    state is stale the ones found last are carried over unchanged, so a
    breach is not reported resolved just because the data stopped.
    """
    limits = view.limits
    found: list[Detected] = []
    state = view.state
    if view.fresh and state is not None:
        if state.position.is_finite():
            found += detect_fence(view, inclusions, exclusions, zone_actions)
            found += detect_battery(view)
        else:   # no position estimate: keep what was known, and say so
            found += [item for item in previous if item.violation in _NEEDS_POSITION]
        if state.gps_fix < limits.min_gps_fix or not state.position.is_finite():
            found.append(Detected('gps_lost', 'gps_lost', '', limits.ladder['gps_lost'],
                                  f'GPS fix {state.gps_fix.name}, {limits.min_gps_fix.name} needed'
                                  if state.gps_fix < limits.min_gps_fix else
                                  'no position estimate reported'))
        if state.link is LinkState.LOST:
            found.append(Detected('link_lost', 'link_lost', '', limits.ladder['link_lost'],
                                  'the vehicle interface reports the link lost'))
        return found
    if not view.past_grace and state is None:
        return found
    found += [item for item in previous if item.violation in _NEEDS_POSITION + ('gps_lost',)]
    found.append(Detected('stale_state', 'stale_state', '', limits.ladder['stale_state'],
                          'no VehicleState yet' if state is None else
                          f'no VehicleState for more than {limits.stale_state_timeout:g} s'))
    if view.mavlink_silent:
        found.append(Detected('link_lost', 'link_lost', '', limits.ladder['link_lost'],
                              f'silent on every path for more than {limits.link_loss_timeout:g} s'))
    return found


def armed_for_ladder(view: VehicleView) -> bool:
    """Disarmed only when a fresh state, or a recent heartbeat on the watchdog's own
    MAVLink path, says so; unknown counts as armed."""
    if view.fresh and view.state is not None:
        return view.state.armed
    return view.mavlink_armed is not False
