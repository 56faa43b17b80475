"""Which telemetry messages the autopilot streams, how often, and when each is next due.

Why a module of its own: ground stations tune rates at run time (SET_MESSAGE_INTERVAL,
REQUEST_DATA_STREAM) and several of them may ask for different things; keeping the
schedule apart from the message builders lets it be reasoned about, and tested, as
plain bookkeeping on a clock.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.wire import MICRO, message_name

STREAM_SLACK_S = 1e-6              # a stream message due within this much of now is sent now (float drift)

# MAVLink message ids the autopilot can stream, and their default rates (Hz). They
# resemble SITL answering MAVProxy's default stream request; 0 means "on event or
# request only". SET_MESSAGE_INTERVAL and REQUEST_DATA_STREAM change them at run time.
DEFAULT_RATES_HZ: dict[int, float] = {
    mavlink.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
    mavlink.MAVLINK_MSG_ID_SYS_STATUS: 2.0,
    mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: 2.0,
    mavlink.MAVLINK_MSG_ID_ATTITUDE: 4.0,
    mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 4.0,
    mavlink.MAVLINK_MSG_ID_VFR_HUD: 4.0,
    mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
    mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    mavlink.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
    mavlink.MAVLINK_MSG_ID_HOME_POSITION: 0.0,
}

# REQUEST_DATA_STREAM groups, as ArduPilot maps them onto the messages above.
DATA_STREAMS: dict[int, tuple[int, ...]] = {
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS: (
        mavlink.MAVLINK_MSG_ID_SYS_STATUS, mavlink.MAVLINK_MSG_ID_GPS_RAW_INT,
        mavlink.MAVLINK_MSG_ID_MISSION_CURRENT, mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE),
    mavlink.MAV_DATA_STREAM_POSITION: (mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,),
    mavlink.MAV_DATA_STREAM_EXTRA1: (mavlink.MAVLINK_MSG_ID_ATTITUDE,),
    mavlink.MAV_DATA_STREAM_EXTRA2: (mavlink.MAVLINK_MSG_ID_VFR_HUD,),
    mavlink.MAV_DATA_STREAM_EXTRA3: (mavlink.MAVLINK_MSG_ID_BATTERY_STATUS,),
}


def streamable_names() -> set[str]:
    """Names of the messages a configuration may give a rate for."""
    return {message_name(i) for i in DEFAULT_RATES_HZ}


class StreamSchedule:
    """Per-message stream intervals (seconds, 0 = off) and the time each message is next due."""

    def __init__(self, rates_hz: Mapping[str, float]) -> None:
        """Start from DEFAULT_RATES_HZ with the configured per-name overrides applied."""
        self._defaults: dict[int, float] = {}
        for msg_id, rate in DEFAULT_RATES_HZ.items():
            rate = rates_hz.get(message_name(msg_id), rate)
            self._defaults[msg_id] = 1.0 / rate if rate > 0 else 0.0
        self._intervals = dict(self._defaults)
        self._next_due: dict[int, float] = {}

    def interval(self, msg_id: int) -> float:
        """Current interval in seconds; 0 when not streamed (or not streamable)."""
        return max(0.0, self._intervals.get(msg_id, 0.0))

    def set_interval(self, msg_id: int, interval_us: float, now: float) -> None:
        """SET_MESSAGE_INTERVAL semantics: -1 stops, 0 restores the default, else microseconds.

        The message is due at once, so a GCS sees the new rate take effect immediately.
        """
        if interval_us == -1.0:
            self._intervals[msg_id] = 0.0
        elif interval_us == 0.0:
            self._intervals[msg_id] = self._defaults[msg_id]
        else:
            self._intervals[msg_id] = interval_us / MICRO
        self._next_due[msg_id] = now

    def request_data_stream(self, stream: int, rate_hz: int, start: bool, now: float) -> None:
        """REQUEST_DATA_STREAM: set (or stop) every message of a group, or of all groups."""
        if stream == mavlink.MAV_DATA_STREAM_ALL:
            ids = tuple(i for group in DATA_STREAMS.values() for i in group)
        else:
            ids = DATA_STREAMS.get(stream, ())
        for msg_id in ids:
            if not start or rate_hz <= 0:
                self.set_interval(msg_id, -1.0, now)
            else:
                self.set_interval(msg_id, MICRO / rate_hz, now)

    def due(self, now: float, unavailable: Container[int] = ()) -> list[int]:
        """Ids to send now, in a fixed order, and advance their next due times.

        ``unavailable`` messages (e.g. HOME_POSITION before home is known) are
        skipped without losing their place. A stream that fell behind (a long
        step) restarts from now instead of sending a burst to catch up.
        """
        ready = []
        for msg_id, interval in self._intervals.items():
            if interval <= 0.0 or msg_id in unavailable:
                continue
            due = self._next_due.get(msg_id, now)
            if now < due - STREAM_SLACK_S:
                continue
            ready.append(msg_id)
            due += interval
            self._next_due[msg_id] = due if due > now else now + interval
        return ready
