"""Choosing the vehicle for a task: capable, enough battery for the trip and return, soonest there.

Why this rule: a responder that arrives first is worth most, but only if it
can also come back with its reserve intact, and only if taking it does not
abandon something more important. So a vehicle is *eligible* when it is
available, of an allowed kind, has every required capability, is not busy
with a task of equal or higher priority, and would keep at least its
profile's reserve after going there, observing and returning home. Among the
eligible, the lowest score wins:

    score = ETA + PREEMPT_PENALTY (if it drops a task) + KIND_PREFERENCE * rank of its kind
            - BATTERY_WEIGHT * battery fraction left after the trip

ties broken by vehicle id, so the choice is deterministic.

Pure logic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sentinel_control.response_policy import VehicleProfile

Point = tuple[float, float, float]
PREEMPT_PENALTY = 30.0     # s: taking a busy vehicle must save at least this much time over an idle one
KIND_PREFERENCE = 20.0     # s per rank down the policy's preferred-kinds list
BATTERY_WEIGHT = 30.0      # s a full battery's worth of margin is worth


@dataclass(frozen=True)
class Candidate:
    """A vehicle as allocation sees it."""

    vehicle_id: str
    kind: str                           # 'drone' or 'ground'
    capabilities: frozenset[str]
    position: Point                     # site ENU, m
    home: Point                         # where it returns, site ENU, m
    battery: float                      # fraction remaining, 0..1 (NaN unknown)
    capacity_wh: float                  # usable energy when full, Wh (0 unknown)
    landed: bool
    available: bool
    unavailable_reason: str = ''
    busy_priority: int | None = None    # priority of the task it holds; None when idle


@dataclass(frozen=True)
class Requirement:
    """What a task needs from its vehicle."""

    kinds: tuple[str, ...]              # allowed kinds, preferred first
    capabilities: frozenset[str]
    target: Point
    on_target: float                    # s spent at the target (observation, one patrol lap)
    priority: int
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Assessment:
    vehicle_id: str
    eligible: bool
    reason: str = ''                    # why not eligible
    eta: float = math.inf               # s to the target
    battery_after: float = math.nan     # fraction left after trip, time on target and return
    preempts: bool = False
    score: float = math.inf


def _horizontal(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def travel_time(profile: VehicleProfile, start: Point, end: Point, airborne_at_start: bool) -> float:
    """Seconds from start to end: path length at cruise speed, plus a climb from the ground for drones."""
    time = _horizontal(start, end) * profile.path_factor / profile.cruise_speed
    if profile.climb_rate > 0.0 and not airborne_at_start:
        time += profile.altitude / profile.climb_rate
    return time


def mission_energy_wh(profile: VehicleProfile, candidate: Candidate, target: Point, on_target: float) -> float:
    """Energy to go to the target, stay ``on_target`` seconds and return home (and land)."""
    there = travel_time(profile, candidate.position, target, not candidate.landed)
    back = travel_time(profile, target, candidate.home, airborne_at_start=True)
    if profile.climb_rate > 0.0:
        back += profile.altitude / profile.climb_rate   # descent at home
    return profile.power * (there + on_target + back) / 3600.0


def assess(candidate: Candidate, requirement: Requirement,
           profiles: Mapping[str, VehicleProfile]) -> Assessment:
    """Eligibility and score of one vehicle for one requirement."""
    vid = candidate.vehicle_id
    if vid in requirement.excluded:
        return Assessment(vid, False, 'failed or was refused for this task before')
    if not candidate.available:
        return Assessment(vid, False, candidate.unavailable_reason or 'unavailable')
    if candidate.kind not in requirement.kinds:
        return Assessment(vid, False, f'a {candidate.kind} vehicle; this needs {"/".join(requirement.kinds)}')
    missing = requirement.capabilities - candidate.capabilities
    if missing:
        return Assessment(vid, False, f'lacks {", ".join(sorted(missing))}')
    if candidate.busy_priority is not None and candidate.busy_priority >= requirement.priority:
        return Assessment(vid, False, f'busy with a task of priority {candidate.busy_priority}')
    profile = profiles.get(candidate.kind)
    if profile is None:
        return Assessment(vid, False, f'no vehicle profile for kind {candidate.kind}')
    if not (math.isfinite(candidate.battery) and candidate.capacity_wh > 0.0):
        return Assessment(vid, False, 'battery level or capacity unknown')
    needed = mission_energy_wh(profile, candidate, requirement.target, requirement.on_target)
    after = candidate.battery - needed / candidate.capacity_wh
    eta = travel_time(profile, candidate.position, requirement.target, not candidate.landed)
    if after < profile.battery_reserve:
        return Assessment(vid, False, f'battery: {after:.0%} would remain, reserve is '
                                      f'{profile.battery_reserve:.0%}', eta, after)
    preempts = candidate.busy_priority is not None
    score = (eta + (PREEMPT_PENALTY if preempts else 0.0)
             + KIND_PREFERENCE * requirement.kinds.index(candidate.kind) - BATTERY_WEIGHT * after)
    return Assessment(vid, True, '', eta, after, preempts, score)


def choose(requirement: Requirement, candidates: Sequence[Candidate],
           profiles: Mapping[str, VehicleProfile]) -> tuple[Assessment | None, list[Assessment]]:
    """The best eligible vehicle (or None) and every assessment, for logs and status messages."""
    assessments = [assess(c, requirement, profiles) for c in candidates]
    eligible = [a for a in assessments if a.eligible]
    if not eligible:
        return None, assessments
    return min(eligible, key=lambda a: (a.score, a.vehicle_id)), assessments


def summary(assessments: Sequence[Assessment]) -> str:
    """One line: why each vehicle was not chosen."""
    return '; '.join(f'{a.vehicle_id}: {a.reason}' for a in assessments if not a.eligible) or 'no vehicles'
