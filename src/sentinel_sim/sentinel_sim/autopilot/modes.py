"""Flight modes: ArduPilot's numbers on the wire and what each mode does.

Why a module of its own: the numbers are ArduPilot's (a GCS's mode menu and
Sentinel's vehicle interface depend on them), while the behaviour behind a mode
is shared between kinds (Copter LOITER and Rover HOLD both keep position). This
table is the one place that maps one onto the other, and says which modes a
failsafe may switch to.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sentinel_sim.autopilot.config import FailsafeAction
from sentinel_sim.vehicle_types import VehicleKind


class CopterMode(enum.IntEnum):
    """ArduCopter custom_mode numbers (the subset this emulation flies)."""

    STABILIZE = 0
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    LAND = 9
    BRAKE = 17


class RoverMode(enum.IntEnum):
    """ArduRover custom_mode numbers (the subset this emulation drives)."""

    MANUAL = 0
    HOLD = 4
    AUTO = 10
    RTL = 11
    GUIDED = 15


class Behaviour(enum.Enum):
    """What a mode does, independent of its number on the wire."""

    MANUAL = 'manual'   # no RC in the simulator: sticks centred, the vehicle keeps still
    GUIDED = 'guided'
    AUTO = 'auto'
    RTL = 'rtl'
    LAND = 'land'
    HOLD = 'hold'       # LOITER, BRAKE, HOLD: keep the current position


@dataclass(frozen=True)
class ModeSpec:
    """One mode of one vehicle kind."""

    name: str
    behaviour: Behaviour
    needs_position: bool   # refuses to engage without a GPS fix
    armable: bool          # ArduPilot's Mode::allows_arming


# Every mode each kind offers, by custom_mode number; a number missing here is refused.
MODES: dict[VehicleKind, dict[int, ModeSpec]] = {
    VehicleKind.DRONE: {
        CopterMode.STABILIZE: ModeSpec('STABILIZE', Behaviour.MANUAL, False, True),
        CopterMode.GUIDED: ModeSpec('GUIDED', Behaviour.GUIDED, True, True),
        CopterMode.AUTO: ModeSpec('AUTO', Behaviour.AUTO, True, False),
        CopterMode.RTL: ModeSpec('RTL', Behaviour.RTL, True, False),
        CopterMode.LAND: ModeSpec('LAND', Behaviour.LAND, False, False),
        CopterMode.LOITER: ModeSpec('LOITER', Behaviour.HOLD, True, True),
        CopterMode.BRAKE: ModeSpec('BRAKE', Behaviour.HOLD, True, False),
    },
    VehicleKind.GROUND: {
        RoverMode.MANUAL: ModeSpec('MANUAL', Behaviour.MANUAL, False, True),
        RoverMode.HOLD: ModeSpec('HOLD', Behaviour.HOLD, False, True),
        RoverMode.GUIDED: ModeSpec('GUIDED', Behaviour.GUIDED, True, True),
        RoverMode.AUTO: ModeSpec('AUTO', Behaviour.AUTO, True, True),
        RoverMode.RTL: ModeSpec('RTL', Behaviour.RTL, True, False),
    },
}

# The mode at boot: ArduPilot's defaults, both "manual" (no RC here, so the vehicle keeps still).
INITIAL_MODE = {VehicleKind.DRONE: int(CopterMode.STABILIZE), VehicleKind.GROUND: int(RoverMode.MANUAL)}

# Modes a failsafe action tries, best first (ArduPilot falls back to LAND / HOLD).
_FAILSAFE_MODES: dict[VehicleKind, dict[FailsafeAction, tuple[int, ...]]] = {
    VehicleKind.DRONE: {FailsafeAction.RTL: (CopterMode.RTL, CopterMode.LAND),
                        FailsafeAction.LAND: (CopterMode.LAND,),
                        FailsafeAction.HOLD: (CopterMode.LOITER, CopterMode.LAND),
                        FailsafeAction.NONE: ()},
    VehicleKind.GROUND: {FailsafeAction.RTL: (RoverMode.RTL, RoverMode.HOLD),
                         FailsafeAction.LAND: (RoverMode.HOLD,),
                         FailsafeAction.HOLD: (RoverMode.HOLD,),
                         FailsafeAction.NONE: ()},
}

# The mode a behaviour-level request selects (a command asks for "RTL", not for mode 6 or 11).
_MODE_FOR: dict[VehicleKind, dict[Behaviour, int]] = {
    VehicleKind.DRONE: {Behaviour.GUIDED: CopterMode.GUIDED, Behaviour.AUTO: CopterMode.AUTO,
                        Behaviour.RTL: CopterMode.RTL, Behaviour.LAND: CopterMode.LAND},
    VehicleKind.GROUND: {Behaviour.GUIDED: RoverMode.GUIDED, Behaviour.AUTO: RoverMode.AUTO,
                         Behaviour.RTL: RoverMode.RTL},
}

# The mode a fence breach brakes in before returning (Rover has no BRAKE: HOLD stops it).
BRAKE_MODE = {VehicleKind.DRONE: int(CopterMode.BRAKE), VehicleKind.GROUND: int(RoverMode.HOLD)}


def mode_names(kind: VehicleKind) -> dict[str, int]:
    """Mode name -> custom_mode number for a vehicle kind (what a GCS mode menu offers)."""
    return {spec.name: number for number, spec in MODES[kind].items()}


def mode_for(kind: VehicleKind, behaviour: Behaviour) -> int:
    """The custom_mode selected by a command that asks for a behaviour (GUIDED, AUTO, RTL, LAND)."""
    return int(_MODE_FOR[kind][behaviour])


def failsafe_modes(kind: VehicleKind, action: FailsafeAction) -> list[int]:
    """Modes to try for a failsafe action, best first."""
    return [int(mode) for mode in _FAILSAFE_MODES[kind][action]]


def mode_rank(kind: VehicleKind, mode: int) -> int:
    """How far a mode already goes towards safety; failsafes never step down."""
    behaviour = MODES[kind][mode].behaviour
    if behaviour is Behaviour.LAND or (kind is VehicleKind.GROUND and behaviour is Behaviour.HOLD):
        return 3
    if behaviour is Behaviour.RTL:
        return 2
    return 0
