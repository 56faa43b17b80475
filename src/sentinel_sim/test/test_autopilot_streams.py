"""Emulated autopilot: telemetry stream rates, set by default, by configuration and by ground stations."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import DATA_STREAMS
from sentinel_sim.autopilot.streams import StreamSchedule
from sentinel_sim.vehicle_types import VehicleKind


def _harness() -> ModuleType:
    """The shared harness, loaded by path: pytest's importlib mode puts no test folder on sys.path."""
    name = 'sentinel_sim_autopilot_harness'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name('test_autopilot_harness.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


H = _harness()
ACCEPTED = mavlink.MAV_RESULT_ACCEPTED
DENIED = mavlink.MAV_RESULT_DENIED
UNSUPPORTED = mavlink.MAV_RESULT_UNSUPPORTED


def drone(**overrides: object) -> H.Sim:
    return H.Sim(H.make_config(VehicleKind.DRONE, **overrides))


def test_default_stream_rates_resemble_sitl() -> None:
    sim = drone()
    mark = len(sim.messages)
    sim.run(10.0)
    counts = {t: len(sim.of_type(t, mark)) for t in
              ('HEARTBEAT', 'GLOBAL_POSITION_INT', 'ATTITUDE', 'SYS_STATUS', 'GPS_RAW_INT', 'BATTERY_STATUS',
               'VFR_HUD', 'EXTENDED_SYS_STATE', 'MISSION_CURRENT')}
    assert counts['HEARTBEAT'] == 10
    assert counts['GLOBAL_POSITION_INT'] == 40 and counts['ATTITUDE'] == 40 and counts['VFR_HUD'] == 40
    assert counts['SYS_STATUS'] == 20 and counts['GPS_RAW_INT'] == 20
    assert counts['BATTERY_STATUS'] == 10 and counts['EXTENDED_SYS_STATE'] == 10


def test_set_message_interval_changes_disables_and_restores_a_stream() -> None:
    sim = drone()
    ack = sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, 500_000)
    assert ack.result == ACCEPTED
    mark = len(sim.messages)
    sim.run(10.0)
    assert len(sim.of_type('ATTITUDE', mark)) == 20
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, -1).result == ACCEPTED
    mark = len(sim.messages)
    sim.run(3.0)
    assert sim.of_type('ATTITUDE', mark) == []
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, 0).result == ACCEPTED
    mark = len(sim.messages)
    sim.run(5.0)
    assert len(sim.of_type('ATTITUDE', mark)) == 20
    # HOME_POSITION is event-only by default but can be streamed
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_HOME_POSITION,
                       1_000_000).result == ACCEPTED
    mark = len(sim.messages)
    sim.run(3.0)
    assert len(sim.of_type('HOME_POSITION', mark)) == 3


def test_message_interval_bad_requests_are_refused() -> None:
    sim = drone()
    unknown = sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_SCALED_IMU, 100_000)
    assert unknown.result == UNSUPPORTED
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, math.nan, 100).result == DENIED
    assert sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, -5).result == DENIED
    mark = len(sim.messages)
    ack = sim.command(mavlink.MAV_CMD_GET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT)
    assert ack.result == ACCEPTED
    reply = sim.of_type('MESSAGE_INTERVAL', mark)[-1]
    assert (reply.message_id, reply.interval_us) == (mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 250_000)


def test_request_data_stream_sets_group_rates() -> None:
    sim = drone()
    sim.send(sim.gcs.request_data_stream_encode(1, 1, mavlink.MAV_DATA_STREAM_POSITION, 10, 1))
    mark = len(sim.messages)
    sim.run(2.0)
    assert len(sim.of_type('GLOBAL_POSITION_INT', mark)) == 20
    sim.send(sim.gcs.request_data_stream_encode(1, 1, mavlink.MAV_DATA_STREAM_ALL, 0, 0))
    mark = len(sim.messages)
    sim.run(2.0)
    assert sim.of_type('GLOBAL_POSITION_INT', mark) == [] and sim.of_type('ATTITUDE', mark) == []
    assert len(sim.of_type('HEARTBEAT', mark)) == 2  # heartbeats are not part of any data stream


def test_configured_stream_rate_is_used() -> None:
    sim = drone(stream_rates_hz={'ATTITUDE': 10.0})
    mark = len(sim.messages)
    sim.run(2.0)
    assert len(sim.of_type('ATTITUDE', mark)) == 20


# ------------------------------------------------------------------ the schedule alone

ATTITUDE = mavlink.MAVLINK_MSG_ID_ATTITUDE
HEARTBEAT = mavlink.MAVLINK_MSG_ID_HEARTBEAT
HOME = mavlink.MAVLINK_MSG_ID_HOME_POSITION


def sent_per_second(schedule: StreamSchedule, start: float, seconds: float, dt: float = 0.05) -> dict[int, int]:
    counts: dict[int, int] = {}
    for i in range(round(seconds / dt)):
        for msg_id in schedule.due(start + i * dt):
            counts[msg_id] = counts.get(msg_id, 0) + 1
    return {msg_id: round(n / seconds) for msg_id, n in counts.items()}


def test_schedule_follows_defaults_and_configured_rates() -> None:
    schedule = StreamSchedule({'ATTITUDE': 10.0, 'VFR_HUD': 0.0})
    rates = sent_per_second(schedule, 0.0, 10.0)
    assert rates[HEARTBEAT] == 1 and rates[ATTITUDE] == 10
    assert mavlink.MAVLINK_MSG_ID_VFR_HUD not in rates and HOME not in rates   # off, and event-only
    assert schedule.interval(ATTITUDE) == 0.1 and schedule.interval(mavlink.MAVLINK_MSG_ID_SCALED_IMU) == 0.0


def test_schedule_interval_changes_take_effect_at_once() -> None:
    schedule = StreamSchedule({})
    schedule.due(0.0)
    schedule.set_interval(ATTITUDE, 100_000, 0.01)            # 10 Hz, due now rather than at 0.25 s
    assert ATTITUDE in schedule.due(0.01)
    schedule.set_interval(ATTITUDE, -1, 0.02)
    assert schedule.interval(ATTITUDE) == 0.0
    schedule.set_interval(ATTITUDE, 0, 0.03)                  # back to the default 4 Hz
    assert schedule.interval(ATTITUDE) == 0.25
    schedule.request_data_stream(mavlink.MAV_DATA_STREAM_ALL, 0, False, 0.04)
    assert all(schedule.interval(i) == 0.0 for group in DATA_STREAMS.values() for i in group)
    assert schedule.interval(HEARTBEAT) == 1.0                # in no data stream group


def test_schedule_skips_unavailable_messages_and_does_not_burst_after_a_stall() -> None:
    schedule = StreamSchedule({'HOME_POSITION': 1.0})
    assert HOME not in schedule.due(0.0, unavailable=(HOME,))
    assert HOME in schedule.due(0.5)                          # kept its place: due as soon as available
    assert HEARTBEAT in schedule.due(100.0)                   # after a long pause (a slow step)...
    assert HEARTBEAT not in schedule.due(100.5)               # ...it restarts from now instead of catching up
    assert HEARTBEAT in schedule.due(101.0)
