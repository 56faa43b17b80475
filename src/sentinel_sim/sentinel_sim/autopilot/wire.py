"""MAVLink field encoding shared by every part of the emulated autopilot.

Why a module of its own: telemetry, commands and the mission protocol all turn
physical quantities into fixed-width MAVLink fields and all check numbers a peer
sent before using them. One home for the scale factors, the "unknown" markers
and the clamps keeps those conversions identical everywhere.
"""

from __future__ import annotations

import math
from typing import TypeAlias

from pymavlink.dialects.v20 import ardupilotmega as mavlink

MavMessage: TypeAlias = mavlink.MAVLink_message

UINT16_MAX = 65535                  # MAVLink "unknown / not used" for uint16 fields
INT16_MAX = 32767                   # largest value of an int16 field
CENTI = 100.0                       # metres -> centimetres, m/s -> cm/s
MILLI = 1000.0                      # metres -> millimetres, seconds -> milliseconds, volts -> millivolts
MICRO = 1e6                         # seconds -> microseconds (message intervals, time_usec fields)
DEG_E7 = 1e7                        # degrees -> MAVLink int32 degE7
STATUSTEXT_MAX_LEN = 50             # STATUSTEXT.text field size in bytes
BATTERY_CELL_SLOTS = 10             # BATTERY_STATUS.voltages array length


def finite(value: object) -> bool:
    """A real, finite number (bools excluded): what a numeric field from a peer must be before use."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def message_name(msg_id: int) -> str:
    """MAVLink message name of an id, e.g. 30 -> 'ATTITUDE'."""
    return mavlink.mavlink_map[msg_id].msgname


def i16(value: float) -> int:
    """Round into an int16 field (telemetry must encode whatever the physics reports)."""
    return max(-INT16_MAX - 1, min(INT16_MAX, round(value)))


def u16(value: float) -> int:
    """Round into a uint16 field, keeping UINT16_MAX free for "unknown"."""
    return max(0, min(UINT16_MAX - 1, round(value)))
