"""Stop commands in standard MAVLink, and when to (re)send them: pure logic.

Why separate from the sockets: what to send, when to resend, when to fall
back and when a stop counts as done are the safety-relevant decisions; they
are tested here with a fake clock, and ``mavlink_path`` only moves bytes.

Mapping (ArduPilot custom modes through MAV_CMD_DO_SET_MODE; PX4 main/sub
modes through the same command; termination through
MAV_CMD_DO_FLIGHTTERMINATION). Each stop has a fallback chain, used when the
autopilot refuses a step (e.g. BRAKE needs a position estimate, LAND does
not) or does not acknowledge it within ``command_timeout``:

    stop       ArduCopter        ArduRover     PX4 (both)
    hold       LOITER -> LAND    HOLD          AUTO.LOITER -> AUTO.LAND (drones)
    brake      BRAKE  -> LAND    HOLD          AUTO.LOITER -> AUTO.LAND (drones)
    land       LAND              HOLD          AUTO.LAND (drones) / AUTO.LOITER
    return     RTL    -> LAND    RTL -> HOLD   AUTO.RTL -> AUTO.LAND / AUTO.LOITER
    terminate  TERMINATE -> LAND TERMINATE -> HOLD  same

A stop is done when its command is acknowledged ACCEPTED or a heartbeat
shows the vehicle in an accepted mode (several ground stations may talk to
one autopilot, and the acknowledgement can go to another one). A *latched*
stop (the e-stop) never gives up: after the chain is exhausted it starts
again, and if the vehicle later leaves the stop (another station changed its
mode while armed) the stop is sent again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_safety.domain import Action, EstopCategory, VehicleType


class StopKind(enum.Enum):
    HOLD = 'hold'
    BRAKE = 'brake'
    LAND = 'land'
    RETURN = 'return'
    TERMINATE = 'terminate'


class Family(enum.Enum):
    """Autopilot firmware family, from HEARTBEAT.autopilot; ArduPilot until heard otherwise."""

    ARDUPILOT = 'ardupilot'
    PX4 = 'px4'


# ArduCopter and ArduRover custom_mode numbers used for stops.
COPTER_LOITER = 5
COPTER_RTL = 6
COPTER_LAND = 9
COPTER_BRAKE = 17
ROVER_HOLD = 4
ROVER_RTL = 11

# PX4 custom_mode: main mode in bits 16-23, sub mode in bits 24-31.
PX4_MAIN_AUTO = 4
PX4_SUB_LOITER = 3
PX4_SUB_RTL = 5
PX4_SUB_LAND = 6


def px4_mode(main: int, sub: int) -> int:
    return (main << 16) | (sub << 24)


@dataclass(frozen=True)
class MavCommand:
    """One COMMAND_LONG to send, and the heartbeat custom_mode that confirms it."""

    label: str
    command: int
    params: tuple[float, float, float, float, float, float, float]
    mode: int | None        # custom_mode the vehicle reports once it obeyed; None: ack only


def _set_mode(label: str, custom_mode: int) -> MavCommand:
    return MavCommand(label, mavlink.MAV_CMD_DO_SET_MODE,
                      (float(mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), float(custom_mode),
                       0.0, 0.0, 0.0, 0.0, 0.0), custom_mode)


def _px4_set_mode(label: str, sub: int) -> MavCommand:
    return MavCommand(label, mavlink.MAV_CMD_DO_SET_MODE,
                      (float(mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), float(PX4_MAIN_AUTO),
                       float(sub), 0.0, 0.0, 0.0, 0.0), px4_mode(PX4_MAIN_AUTO, sub))


# Flight termination (param1 = 1): confirmed by its acknowledgement only.
TERMINATE = MavCommand('TERMINATE', mavlink.MAV_CMD_DO_FLIGHTTERMINATION,
                       (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), None)

# The mode commands each family's chains are built from.
_COPTER = {'LOITER': _set_mode('LOITER', COPTER_LOITER), 'BRAKE': _set_mode('BRAKE', COPTER_BRAKE),
           'LAND': _set_mode('LAND', COPTER_LAND), 'RTL': _set_mode('RTL', COPTER_RTL)}
_ROVER = {'HOLD': _set_mode('HOLD', ROVER_HOLD), 'RTL': _set_mode('RTL', ROVER_RTL)}
_PX4 = {'LOITER': _px4_set_mode('AUTO.LOITER', PX4_SUB_LOITER),
        'LAND': _px4_set_mode('AUTO.LAND', PX4_SUB_LAND),
        'RTL': _px4_set_mode('AUTO.RTL', PX4_SUB_RTL)}

# (family, type) -> stop -> fallback chain, best first.
CHAINS: dict[tuple[Family, VehicleType], dict[StopKind, tuple[MavCommand, ...]]] = {
    (Family.ARDUPILOT, VehicleType.DRONE): {
        StopKind.HOLD: (_COPTER['LOITER'], _COPTER['LAND']),
        StopKind.BRAKE: (_COPTER['BRAKE'], _COPTER['LAND']),
        StopKind.LAND: (_COPTER['LAND'],),
        StopKind.RETURN: (_COPTER['RTL'], _COPTER['LAND']),
        StopKind.TERMINATE: (TERMINATE, _COPTER['LAND']),
    },
    (Family.ARDUPILOT, VehicleType.GROUND): {
        StopKind.HOLD: (_ROVER['HOLD'],),
        StopKind.BRAKE: (_ROVER['HOLD'],),
        StopKind.LAND: (_ROVER['HOLD'],),
        StopKind.RETURN: (_ROVER['RTL'], _ROVER['HOLD']),
        StopKind.TERMINATE: (TERMINATE, _ROVER['HOLD']),
    },
    (Family.PX4, VehicleType.DRONE): {
        StopKind.HOLD: (_PX4['LOITER'], _PX4['LAND']),
        StopKind.BRAKE: (_PX4['LOITER'], _PX4['LAND']),
        StopKind.LAND: (_PX4['LAND'],),
        StopKind.RETURN: (_PX4['RTL'], _PX4['LAND']),
        StopKind.TERMINATE: (TERMINATE, _PX4['LAND']),
    },
    (Family.PX4, VehicleType.GROUND): {
        StopKind.HOLD: (_PX4['LOITER'],),
        StopKind.BRAKE: (_PX4['LOITER'],),
        StopKind.LAND: (_PX4['LOITER'],),
        StopKind.RETURN: (_PX4['RTL'], _PX4['LOITER']),
        StopKind.TERMINATE: (TERMINATE, _PX4['LOITER']),
    },
}


def accepted_modes(kind: StopKind, family: Family, vehicle_type: VehicleType) -> frozenset[int]:
    """Heartbeat custom_modes in which a vehicle satisfies a stop (its modes or stricter ones)."""
    chain = CHAINS[(family, vehicle_type)][kind]
    return frozenset(step.mode for step in chain if step.mode is not None)


def stop_kind(action: Action, category: EstopCategory | None = None) -> StopKind:
    """The MAVLink stop for a monitoring action, or for an e-stop category."""
    if category is not None:
        return StopKind(category.value)
    table = {Action.HOLD: StopKind.HOLD, Action.RETURN: StopKind.RETURN,
             Action.LAND: StopKind.LAND, Action.TERMINATE: StopKind.TERMINATE}
    if action not in table:
        raise ValueError(f'{action.name} is not a stopping action')
    return table[action]


def family_of(autopilot: int) -> Family:
    return Family.PX4 if autopilot == mavlink.MAV_AUTOPILOT_PX4 else Family.ARDUPILOT


# ----------------------------------------------------------------------------------
# Scheduling
# ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StopEvent:
    """Something the operator log should hear about (the node logs it)."""

    vehicle_id: str
    level: str          # 'info', 'warning' or 'error'
    message: str
    done: bool = False  # this event completes a stop


@dataclass
class _Pending:
    kind: StopKind
    latched: bool
    reason: str
    requested_at: float
    step: int = 0
    step_started: float | None = None   # first send of the current step
    last_sent: float | None = None
    attempts: int = 0                   # sends of the current step (the confirmation field)
    done: bool = False


@dataclass(frozen=True)
class Send:
    vehicle_id: str
    command: MavCommand
    confirmation: int   # 0 for the first send, then 1, 2, ... (COMMAND_LONG.confirmation)


class StopScheduler:
    """One stop per vehicle at a time; a new request replaces the old one."""

    def __init__(self, vehicle_types: Mapping[str, VehicleType], resend_interval: float,
                 command_timeout: float) -> None:
        self._types = dict(vehicle_types)
        self._resend = resend_interval
        self._timeout = command_timeout
        self._pending: dict[str, _Pending] = {}
        self._families: dict[str, Family] = {}

    def request(self, vehicle_id: str, kind: StopKind, latched: bool, reason: str,
                now: float) -> None:
        if vehicle_id not in self._types:
            raise KeyError(f'unknown vehicle {vehicle_id!r}')
        self._pending[vehicle_id] = _Pending(kind, latched, reason, now)

    def release(self, vehicle_id: str) -> None:
        """Stop re-asserting a latched stop (the e-stop was released)."""
        pending = self._pending.get(vehicle_id)
        if pending is not None and pending.latched:
            del self._pending[vehicle_id]

    def pending(self, vehicle_id: str) -> StopKind | None:
        item = self._pending.get(vehicle_id)
        return None if item is None or item.done else item.kind

    def latched(self, vehicle_id: str) -> StopKind | None:
        item = self._pending.get(vehicle_id)
        return item.kind if item is not None and item.latched else None

    def _chain(self, vehicle_id: str, kind: StopKind) -> tuple[MavCommand, ...]:
        family = self._families.get(vehicle_id, Family.ARDUPILOT)
        return CHAINS[(family, self._types[vehicle_id])][kind]

    def _advance(self, vehicle_id: str, item: _Pending, why: str, now: float) -> StopEvent:
        chain = self._chain(vehicle_id, item.kind)
        failed = chain[item.step].label
        item.step += 1
        item.step_started = None
        item.last_sent = None
        item.attempts = 0
        if item.step < len(chain):
            return StopEvent(vehicle_id, 'warning', f'{failed} {why}; falling back to '
                                                    f'{chain[item.step].label}')
        if item.latched:
            item.step = 0
            return StopEvent(vehicle_id, 'error', f'{failed} {why}; every {item.kind.value} '
                                                  'command failed, starting the chain again')
        item.done = True
        return StopEvent(vehicle_id, 'error', f'{failed} {why}; {item.kind.value} stop abandoned '
                                              f'after {now - item.requested_at:.1f} s', done=True)

    def due(self, now: float) -> tuple[list[Send], list[StopEvent]]:
        """Commands to send now, and what happened (timeouts, fallbacks)."""
        sends: list[Send] = []
        events: list[StopEvent] = []
        for vehicle_id, item in self._pending.items():
            if item.done:
                continue
            if item.step_started is not None and now - item.step_started >= self._timeout:
                events.append(self._advance(vehicle_id, item,
                                            f'not acknowledged within {self._timeout:g} s', now))
                if item.done:
                    continue
            if item.last_sent is not None and now - item.last_sent < self._resend:
                continue
            command = self._chain(vehicle_id, item.kind)[item.step]
            sends.append(Send(vehicle_id, command, min(item.attempts, 255)))
            if item.step_started is None:
                item.step_started = now
            item.last_sent = now
            item.attempts += 1
        return sends, events

    def on_ack(self, vehicle_id: str, command: int, result: int, now: float) -> list[StopEvent]:
        item = self._pending.get(vehicle_id)
        if item is None or item.done or item.step_started is None:
            return []
        current = self._chain(vehicle_id, item.kind)[item.step]
        if command != current.command:
            return []
        if result in (mavlink.MAV_RESULT_ACCEPTED, mavlink.MAV_RESULT_IN_PROGRESS):
            item.done = True
            return [StopEvent(vehicle_id, 'info', f'{current.label} acknowledged after '
                                                  f'{now - item.requested_at:.3f} s', done=True)]
        if result == mavlink.MAV_RESULT_TEMPORARILY_REJECTED:
            return []   # resent at the next interval
        return [self._advance(vehicle_id, item, f'refused (MAV_RESULT {result})', now)]

    def on_heartbeat(self, vehicle_id: str, autopilot: int, custom_mode: int, armed: bool,
                     now: float) -> list[StopEvent]:
        if vehicle_id not in self._types:
            return []
        self._families[vehicle_id] = family_of(autopilot)
        item = self._pending.get(vehicle_id)
        if item is None:
            return []
        family = self._families[vehicle_id]
        accepted = accepted_modes(item.kind, family, self._types[vehicle_id])
        satisfied = custom_mode in accepted or (item.kind is StopKind.TERMINATE and not armed)
        if not item.done:
            if satisfied and item.step_started is not None:
                item.done = True
                return [StopEvent(vehicle_id, 'info', f'{item.kind.value} confirmed by heartbeat '
                                                      f'after {now - item.requested_at:.3f} s',
                                  done=True)]
            return []
        if item.latched and armed and not satisfied:
            self._pending[vehicle_id] = _Pending(item.kind, True, item.reason, now)
            return [StopEvent(vehicle_id, 'warning',
                              f'vehicle left the latched {item.kind.value} stop (mode '
                              f'{custom_mode}); sending it again')]
        return []
