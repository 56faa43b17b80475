"""The latched emergency stop: who may engage and release it, and what it covers.

Rules (the node adds persistence and the stop orders):

- One authorized principal engages (``authorization.estop_engage``). Engaging
  is idempotent: engaging what is already stopped succeeds and changes
  nothing, and the caller re-sends the stop orders anyway. It is never
  rate-limited.
- Scope is the whole fleet (every vehicle, including ones added later) or a
  list of vehicles. An unrecognised scope value is read as the fleet: when a
  stop request is ambiguous, stopping more is the safe reading.
- Release needs two *distinct* principals, both in
  ``authorization.estop_release``; names are compared trimmed and
  case-insensitively, so "ops" and " OPS" are one person. Releasing
  specific vehicles from a fleet stop keeps every other roster vehicle
  stopped. An empty vehicle list releases everything.

The state is immutable; each operation returns the new state and a result.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, replace

from sentinel_safety.config import AuthorizationConfig


class Scope(enum.IntEnum):
    """TriggerEstop.SCOPE_*."""

    FLEET = 0
    VEHICLE = 1


class EngageError(enum.IntEnum):
    """TriggerEstop.srv error codes."""

    NONE = 0
    NOT_AUTHORIZED = 1
    UNKNOWN_VEHICLE = 2


class ReleaseError(enum.IntEnum):
    """ReleaseEstop.srv error codes."""

    NONE = 0
    NOT_AUTHORIZED = 1
    SAME_APPROVER = 2
    NOT_ENGAGED = 3


@dataclass(frozen=True)
class EstopState:
    """What is stopped. ``engaged_at`` is wall-clock Unix time (s), for operators."""

    fleet: bool = False
    vehicles: frozenset[str] = frozenset()
    engaged_by: str = ''
    engaged_at: float = 0.0
    reason: str = ''

    @property
    def engaged(self) -> bool:
        return self.fleet or bool(self.vehicles)

    def stopped(self, vehicle_id: str) -> bool:
        return self.fleet or vehicle_id in self.vehicles

    def stopped_among(self, roster: Collection[str]) -> list[str]:
        return sorted(v for v in roster if self.stopped(v))


@dataclass(frozen=True)
class EngageResult:
    error: EngageError
    message: str
    newly_stopped: tuple[str, ...] = ()   # vehicles that were not stopped before


@dataclass(frozen=True)
class ReleaseResult:
    error: ReleaseError
    message: str
    released: tuple[str, ...] = ()


def same_principal(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def _authorized(principal: str, allowed: Collection[str]) -> bool:
    name = principal.strip()
    return bool(name) and any(same_principal(name, other) for other in allowed)


def engage(state: EstopState, scope: int, vehicle_ids: Collection[str], requested_by: str,
           reason: str, roster: Collection[str], authorization: AuthorizationConfig,
           now_unix: float) -> tuple[EstopState, EngageResult]:
    """Engage the stop for the fleet or for ``vehicle_ids``."""
    if not _authorized(requested_by, authorization.estop_engage):
        return state, EngageResult(EngageError.NOT_AUTHORIZED,
                                   f'"{requested_by}" may not engage the emergency stop')
    fleet = scope != Scope.VEHICLE
    if not fleet:
        if not vehicle_ids:
            return state, EngageResult(EngageError.UNKNOWN_VEHICLE,
                                       'scope VEHICLE needs at least one vehicle id')
        unknown = sorted(set(vehicle_ids) - set(roster))
        if unknown:
            return state, EngageResult(EngageError.UNKNOWN_VEHICLE,
                                       f'not in the fleet: {", ".join(unknown)}')
    targets = set(roster) if fleet else set(vehicle_ids)
    newly = tuple(sorted(v for v in targets if not state.stopped(v)))
    if (fleet and state.fleet) or (not fleet and not newly):
        return state, EngageResult(EngageError.NONE, 'already engaged')
    new_state = EstopState(fleet=state.fleet or fleet,
                           vehicles=frozenset() if fleet else state.vehicles | set(vehicle_ids),
                           engaged_by=requested_by.strip(), engaged_at=now_unix,
                           reason=reason.strip())
    what = 'fleet' if fleet else ', '.join(sorted(vehicle_ids))
    return new_state, EngageResult(EngageError.NONE, f'engaged for {what}', newly)


def release(state: EstopState, vehicle_ids: Collection[str], first: str, second: str,
            roster: Collection[str], authorization: AuthorizationConfig
            ) -> tuple[EstopState, ReleaseResult]:
    """Release the fleet (``vehicle_ids`` empty) or some vehicles, with two approvers."""
    if same_principal(first, second):
        return state, ReleaseResult(ReleaseError.SAME_APPROVER,
                                    'release needs two different approvers')
    for approver in (first, second):
        if not _authorized(approver, authorization.estop_release):
            return state, ReleaseResult(ReleaseError.NOT_AUTHORIZED,
                                        f'"{approver}" may not release the emergency stop')
    if not state.engaged:
        return state, ReleaseResult(ReleaseError.NOT_ENGAGED, 'the emergency stop is not engaged')
    if not vehicle_ids:
        released = tuple(state.stopped_among(set(roster) | state.vehicles))
        return EstopState(), ReleaseResult(ReleaseError.NONE, 'released for the fleet', released)
    requested = set(vehicle_ids)
    released = tuple(sorted(v for v in requested if state.stopped(v)))
    if not released:
        return state, ReleaseResult(ReleaseError.NOT_ENGAGED,
                                    f'not stopped: {", ".join(sorted(requested))}')
    remaining = (set(roster) | state.vehicles) - requested if state.fleet else \
        state.vehicles - requested
    new_state = replace(state, fleet=False, vehicles=frozenset(remaining))
    if not new_state.engaged:
        new_state = EstopState()
    return new_state, ReleaseResult(ReleaseError.NONE, f'released {", ".join(released)}',
                                    released)
