"""Flight and drive modes of ArduPilot (Copter, Rover) and PX4, by name and by number.

Why a table of our own: the mode an operator sees in VehicleState and the mode
number the vehicle interface puts in DO_SET_MODE must come from one place, and
the right table is chosen only at run time, from the heartbeat (autopilot
family and airframe type). pymavlink has similar tables, but they are keyed
differently per autopilot and do not encode PX4 main/sub modes the way
DO_SET_MODE needs them.

Pure logic: no sockets, no rclpy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink


class Autopilot(enum.Enum):
    """Autopilot family, as VehicleState.autopilot names it."""

    ARDUPILOT = 'ardupilot'
    PX4 = 'px4'
    UNKNOWN = 'unknown'


class Frame(enum.Enum):
    """What kind of vehicle a heartbeat's MAV_TYPE describes, as far as commands care."""

    MULTIROTOR = 'multirotor'   # hovers, takes off and lands vertically
    GROUND = 'ground'           # drives; "land" means stop
    OTHER = 'other'             # fixed wing, boats we do not steer, peripherals


class Intent(enum.Enum):
    """What the vehicle interface wants a mode to do, independent of its number."""

    GUIDED = 'guided'       # follows position targets sent by the ground station
    MISSION = 'mission'     # flies the uploaded mission
    HOLD = 'hold'           # stays where it is
    RTL = 'rtl'             # returns to launch
    LAND = 'land'           # lands where it is (drones)


# MAV_TYPEs that hover (multicopters and helicopters).
_MULTIROTOR_TYPES = frozenset({
    mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_TYPE_COAXIAL, mavlink.MAV_TYPE_HELICOPTER,
    mavlink.MAV_TYPE_HEXAROTOR, mavlink.MAV_TYPE_OCTOROTOR, mavlink.MAV_TYPE_TRICOPTER,
    mavlink.MAV_TYPE_DODECAROTOR, mavlink.MAV_TYPE_DECAROTOR,
})
# MAV_TYPEs that drive on the ground (ArduRover also runs boats; they steer the same way).
_GROUND_TYPES = frozenset({mavlink.MAV_TYPE_GROUND_ROVER, mavlink.MAV_TYPE_SURFACE_BOAT})

# ArduCopter custom_mode numbers (ArduCopter/mode.h, Mode::Number).
ARDUCOPTER_MODES: dict[int, str] = {
    0: 'STABILIZE', 1: 'ACRO', 2: 'ALT_HOLD', 3: 'AUTO', 4: 'GUIDED', 5: 'LOITER', 6: 'RTL',
    7: 'CIRCLE', 9: 'LAND', 11: 'DRIFT', 13: 'SPORT', 14: 'FLIP', 15: 'AUTOTUNE', 16: 'POSHOLD',
    17: 'BRAKE', 18: 'THROW', 19: 'AVOID_ADSB', 20: 'GUIDED_NOGPS', 21: 'SMART_RTL',
    22: 'FLOWHOLD', 23: 'FOLLOW', 24: 'ZIGZAG', 25: 'SYSTEMID', 26: 'AUTOROTATE', 27: 'AUTO_RTL',
    28: 'TURTLE',
}
# ArduRover custom_mode numbers (Rover/mode.h, Mode::Number).
ARDUROVER_MODES: dict[int, str] = {
    0: 'MANUAL', 1: 'ACRO', 3: 'STEERING', 4: 'HOLD', 5: 'LOITER', 6: 'FOLLOW', 7: 'SIMPLE',
    8: 'DOCK', 9: 'CIRCLE', 10: 'AUTO', 11: 'RTL', 12: 'SMART_RTL', 15: 'GUIDED',
    16: 'INITIALISING',
}

# Which ArduPilot mode serves each intent, per frame. Copter holds in LOITER (position
# hold that accepts a later GUIDED switch); Rover has a dedicated HOLD and no LAND,
# since stopping is all a ground vehicle can do.
_ARDUPILOT_INTENTS: dict[Frame, dict[Intent, int]] = {
    Frame.MULTIROTOR: {Intent.GUIDED: 4, Intent.MISSION: 3, Intent.HOLD: 5, Intent.RTL: 6,
                       Intent.LAND: 9},
    Frame.GROUND: {Intent.GUIDED: 15, Intent.MISSION: 10, Intent.HOLD: 4, Intent.RTL: 11,
                   Intent.LAND: 4},
}

# PX4 main modes (px4_custom_mode.h, PX4_CUSTOM_MAIN_MODE).
PX4_MAIN_MODES: dict[int, str] = {
    1: 'MANUAL', 2: 'ALTCTL', 3: 'POSCTL', 4: 'AUTO', 5: 'ACRO', 6: 'OFFBOARD', 7: 'STABILIZED',
    8: 'RATTITUDE', 9: 'SIMPLE', 10: 'TERMINATION',
}
PX4_MAIN_AUTO = 4      # the main mode whose sub modes are the autonomous behaviours
PX4_MAIN_POSCTL = 3    # position control; sub mode 1 is ORBIT
# PX4 AUTO sub modes (PX4_CUSTOM_SUB_MODE_AUTO).
PX4_AUTO_SUB_MODES: dict[int, str] = {
    1: 'READY', 2: 'TAKEOFF', 3: 'LOITER', 4: 'MISSION', 5: 'RTL', 6: 'LAND', 8: 'FOLLOW_TARGET',
    9: 'PRECLAND', 10: 'VTOL_TAKEOFF',
}
# PX4 POSCTL sub modes (PX4_CUSTOM_SUB_MODE_POSCTL).
PX4_POSCTL_SUB_MODES: dict[int, str] = {0: 'POSCTL', 1: 'ORBIT', 2: 'SLOW'}
PX4_MAIN_SHIFT = 16    # bit position of the main mode in HEARTBEAT.custom_mode
PX4_SUB_SHIFT = 24     # bit position of the sub mode in HEARTBEAT.custom_mode
BYTE_MASK = 0xFF       # one byte of custom_mode

# Which PX4 (main, sub) mode serves each intent. Position targets from a ground
# station are flown in AUTO.LOITER through DO_REPOSITION (OFFBOARD would need a
# setpoint stream faster than 2 Hz from a companion computer).
_PX4_INTENTS: dict[Intent, tuple[int, int]] = {
    Intent.GUIDED: (PX4_MAIN_AUTO, 3), Intent.MISSION: (PX4_MAIN_AUTO, 4),
    Intent.HOLD: (PX4_MAIN_AUTO, 3), Intent.RTL: (PX4_MAIN_AUTO, 5),
    Intent.LAND: (PX4_MAIN_AUTO, 6),
}


@dataclass(frozen=True)
class ModeRequest:
    """How to ask for a mode with MAV_CMD_DO_SET_MODE: its param1..param3."""

    base_mode: int      # param1: MAV_MODE_FLAG_CUSTOM_MODE_ENABLED (plus nothing else)
    custom_mode: int    # param2: ArduPilot mode number, PX4 main mode
    custom_sub_mode: int  # param3: PX4 sub mode; 0 for ArduPilot
    name: str           # the mode's name, as mode_name() reports it once engaged


class UnsupportedMode(ValueError):
    """The vehicle's autopilot or frame has no mode for what was asked."""


def autopilot_of(mav_autopilot: int) -> Autopilot:
    """Family from HEARTBEAT.autopilot."""
    if mav_autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        return Autopilot.ARDUPILOT
    if mav_autopilot == mavlink.MAV_AUTOPILOT_PX4:
        return Autopilot.PX4
    return Autopilot.UNKNOWN


def frame_of(mav_type: int) -> Frame:
    """Frame from HEARTBEAT.type."""
    if mav_type in _MULTIROTOR_TYPES:
        return Frame.MULTIROTOR
    if mav_type in _GROUND_TYPES:
        return Frame.GROUND
    return Frame.OTHER


def px4_custom_mode(main: int, sub: int) -> int:
    """HEARTBEAT.custom_mode for a PX4 (main, sub) mode."""
    return ((main & BYTE_MASK) << PX4_MAIN_SHIFT) | ((sub & BYTE_MASK) << PX4_SUB_SHIFT)


def px4_split(custom_mode: int) -> tuple[int, int]:
    """(main, sub) of a PX4 HEARTBEAT.custom_mode."""
    return (custom_mode >> PX4_MAIN_SHIFT) & BYTE_MASK, (custom_mode >> PX4_SUB_SHIFT) & BYTE_MASK


def _px4_name(custom_mode: int) -> str:
    main, sub = px4_split(custom_mode)
    main_name = PX4_MAIN_MODES.get(main)
    if main_name is None:
        return f'PX4_MODE_{custom_mode}'
    if main == PX4_MAIN_AUTO:
        return f'AUTO.{PX4_AUTO_SUB_MODES.get(sub, str(sub))}'
    if main == PX4_MAIN_POSCTL and sub != 0:
        return PX4_POSCTL_SUB_MODES.get(sub, f'POSCTL.{sub}')
    return main_name


def mode_name(autopilot: Autopilot, frame: Frame, base_mode: int, custom_mode: int) -> str:
    """Human-readable mode from a heartbeat; a numeric name when the table lacks it."""
    if not base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
        return f'BASE_MODE_{base_mode}'
    if autopilot is Autopilot.PX4:
        return _px4_name(custom_mode)
    if autopilot is Autopilot.ARDUPILOT:
        table = ARDUROVER_MODES if frame is Frame.GROUND else ARDUCOPTER_MODES
        return table.get(custom_mode, f'MODE_{custom_mode}')
    return f'MODE_{custom_mode}'


def mode_for(autopilot: Autopilot, frame: Frame, intent: Intent) -> ModeRequest:
    """The DO_SET_MODE parameters that make this vehicle do ``intent``.

    Raises UnsupportedMode for autopilots or frames Sentinel does not command
    (an unknown autopilot's custom modes mean nothing to us).
    """
    flag = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    if autopilot is Autopilot.ARDUPILOT:
        table = _ARDUPILOT_INTENTS.get(frame)
        if table is None:
            raise UnsupportedMode(f'no ArduPilot {intent.value} mode for a {frame.value} vehicle')
        number = table[intent]
        names = ARDUROVER_MODES if frame is Frame.GROUND else ARDUCOPTER_MODES
        return ModeRequest(flag, number, 0, names[number])
    if autopilot is Autopilot.PX4:
        if frame is Frame.OTHER:
            raise UnsupportedMode(f'no PX4 {intent.value} mode for this vehicle type')
        main, sub = _PX4_INTENTS[intent]
        return ModeRequest(flag, main, sub, _px4_name(px4_custom_mode(main, sub)))
    raise UnsupportedMode(f'autopilot {autopilot.value}: its custom modes are unknown')


def in_mode(autopilot: Autopilot, frame: Frame, base_mode: int, custom_mode: int,
            intent: Intent) -> bool:
    """Whether the heartbeat's mode already is the one ``mode_for`` would ask for.

    Used to skip needless mode changes: re-selecting a mode is harmless on the
    wire but costs a round trip per command.
    """
    if not base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
        return False
    try:
        wanted = mode_for(autopilot, frame, intent)
    except UnsupportedMode:
        return False
    if autopilot is Autopilot.PX4:
        return px4_split(custom_mode) == (wanted.custom_mode, wanted.custom_sub_mode)
    return custom_mode == wanted.custom_mode
