"""ACKs, retries, timeouts and mission uploads with a fake clock; exactly one result per command."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control.command_mapping import AckedCommand, FireAndForget, MissionUpload, Plan, WaitUntil
from sentinel_control.command_tracker import CommandTracker, TrackerSettings
from sentinel_control.commands import Command, CommandKind, Outcome
from sentinel_control.telemetry import VehicleStateData, VehicleType

GCS = 255
STATE = VehicleStateData('v', VehicleType.DRONE, relative_altitude=0.0)
ARM = mavlink.MAV_CMD_COMPONENT_ARM_DISARM
TAKEOFF = mavlink.MAV_CMD_NAV_TAKEOFF


def acked(command: int) -> AckedCommand:
    return AckedCommand(mavlink.MAVLink_command_long_message(1, 1, command, 0, 1, 0, 0, 0, 0, 0, 0), command,
                        f'cmd {command}')


def ack(command: int, result: int, target: int = GCS) -> mavlink.MAVLink_message:
    return mavlink.MAVLink_command_ack_message(command, result, 0, 0, target, 190)


def tracker(**kw: float) -> CommandTracker:
    return CommandTracker(TrackerSettings(**kw), GCS, 190)


def cmd(command_id: str = 'c1') -> Command:
    return Command(command_id, 'v', CommandKind.GOTO, task_id='t')


def test_steps_advance_on_accepted_acks() -> None:
    t = tracker()
    target = mavlink.MAVLink_set_position_target_global_int_message(0, 1, 1, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                                    0, 0)
    out = t.start(cmd(), Plan((acked(ARM), acked(TAKEOFF), FireAndForget(target, 'target'))), 0.0, STATE)
    assert [m.command for m in out] == [ARM]
    assert [m.command for m in t.on_message(ack(ARM, 0), 0.1, STATE)] == [TAKEOFF]
    out = t.on_message(ack(TAKEOFF, 0), 0.3, STATE)
    assert out == [target]
    [result] = t.pop_results()
    assert (result.outcome, result.elapsed, result.task_id) == (Outcome.ACCEPTED, pytest.approx(0.3), 't')
    assert t.active is None


def test_silence_is_resent_with_confirmation_then_times_out() -> None:
    t = tracker(ack_timeout=1.0, attempts=3)
    [first] = t.start(cmd(), Plan((acked(ARM),)), 0.0, STATE)
    assert first.confirmation == 0
    assert t.tick(0.9, STATE) == []
    [second] = t.tick(1.0, STATE)
    assert second.confirmation == 1
    [third] = t.tick(2.0, STATE)
    assert third.confirmation == 2
    assert t.tick(3.0, STATE) == []
    [result] = t.pop_results()
    assert result.outcome is Outcome.TIMED_OUT and 'no answer after 3 sends' in result.reason


def test_a_refusal_names_the_mav_result() -> None:
    t = tracker()
    t.start(cmd(), Plan((acked(ARM), acked(TAKEOFF))), 0.0, STATE)
    t.on_message(ack(ARM, mavlink.MAV_RESULT_TEMPORARILY_REJECTED), 0.2, STATE)
    [result] = t.pop_results()
    assert result.outcome is Outcome.REJECTED and result.mav_result == 'MAV_RESULT_TEMPORARILY_REJECTED'
    assert 'cmd 400' in result.reason


def test_in_progress_extends_the_wait_and_other_gcs_acks_are_ignored() -> None:
    t = tracker(ack_timeout=1.0, in_progress_timeout=10.0)
    t.start(cmd(), Plan((acked(TAKEOFF),)), 0.0, STATE)
    assert t.on_message(ack(TAKEOFF, mavlink.MAV_RESULT_IN_PROGRESS), 0.5, STATE) == []
    assert t.tick(5.0, STATE) == [] and t.pop_results() == []
    t.on_message(ack(TAKEOFF, 0, target=42), 6.0, STATE)   # for another ground station
    assert t.pop_results() == []
    t.on_message(ack(ARM, 0), 6.0, STATE)                  # another command
    assert t.pop_results() == []
    t.on_message(ack(TAKEOFF, 0), 7.0, STATE)
    assert t.pop_results()[0].outcome is Outcome.ACCEPTED


def test_in_progress_without_final_answer_times_out() -> None:
    t = tracker(in_progress_timeout=2.0)
    t.start(cmd(), Plan((acked(TAKEOFF),)), 0.0, STATE)
    t.on_message(ack(TAKEOFF, mavlink.MAV_RESULT_IN_PROGRESS), 0.1, STATE)
    t.tick(2.2, STATE)
    assert t.pop_results()[0].outcome is Outcome.TIMED_OUT


def upload(n: int) -> MissionUpload:
    items = tuple(mavlink.MAVLink_mission_item_int_message(1, 1, i, 6, 16, 0, 1, 0, 0, 0, 0, i, i, 10, 0)
                  for i in range(n))
    return MissionUpload(mavlink.MAVLink_mission_count_message(1, 1, n, 0), items, 'upload')


def request(seq: int) -> mavlink.MAVLink_message:
    return mavlink.MAVLink_mission_request_int_message(GCS, 190, seq, 0)


def mission_ack(result: int) -> mavlink.MAVLink_message:
    return mavlink.MAVLink_mission_ack_message(GCS, 190, result, 0)


def test_mission_upload_protocol() -> None:
    t = tracker()
    step = upload(3)
    [count] = t.start(cmd(), Plan((step, acked(mavlink.MAV_CMD_MISSION_START))), 0.0, STATE)
    assert count is step.count
    assert t.on_message(mission_ack(0), 0.05, STATE) == [], 'a stale ACK before any item is ignored'
    for seq in range(3):
        assert t.on_message(request(seq), 0.1 * (seq + 1), STATE) == [step.items[seq]]
    assert t.on_message(request(1), 0.35, STATE) == [step.items[1]], 'a repeated request is answered again'
    [start] = t.on_message(mission_ack(mavlink.MAV_MISSION_ACCEPTED), 0.4, STATE)
    assert start.command == mavlink.MAV_CMD_MISSION_START


def test_mission_upload_refusal_and_silence() -> None:
    t = tracker(ack_timeout=1.0, attempts=2)
    step = upload(2)
    t.start(cmd(), Plan((step,)), 0.0, STATE)
    t.on_message(request(0), 0.1, STATE)
    t.on_message(mission_ack(mavlink.MAV_MISSION_NO_SPACE), 0.2, STATE)
    [result] = t.pop_results()
    assert result.outcome is Outcome.REJECTED and result.mav_result == 'MAV_MISSION_NO_SPACE'
    t.start(cmd('c2'), Plan((step,)), 1.0, STATE)
    t.on_message(request(0), 1.1, STATE)
    assert t.tick(2.1, STATE) == [step.items[0]], 'silence: the last item goes again'
    t.tick(3.2, STATE)
    assert t.pop_results()[0].outcome is Outcome.TIMED_OUT


def test_waits_and_supersession() -> None:
    t = tracker()
    wait = WaitUntil(lambda s: s.relative_altitude >= 9.0, 5.0, 'climb')
    assert t.start(cmd('c1'), Plan((wait, acked(ARM))), 0.0, STATE) == []
    assert t.tick(1.0, STATE) == []
    [arm] = t.tick(2.0, replace(STATE, relative_altitude=9.5))
    assert arm.command == ARM
    t.start(cmd('c2'), Plan((wait,)), 2.5, STATE)
    [cancelled] = t.pop_results()
    assert cancelled.command_id == 'c1' and cancelled.outcome is Outcome.CANCELLED and 'c2' in cancelled.reason
    t.tick(8.0, STATE)
    assert t.pop_results()[0].outcome is Outcome.TIMED_OUT


def test_empty_plan_is_accepted_at_once_and_rejects_are_recorded() -> None:
    t = tracker()
    t.start(cmd('c1'), Plan((), 'already landed'), 0.0, STATE)
    t.reject(cmd('c2'), 'no heartbeat', 0.0)
    results = t.pop_results()
    assert [(r.command_id, r.outcome) for r in results] == [('c1', Outcome.ACCEPTED), ('c2', Outcome.REJECTED)]
    assert results[0].reason == 'already landed'


# ---------------------------------------------------------------------- exactly one result each

STEPS = st.sampled_from(['arm', 'takeoff', 'fire', 'wait', 'upload'])
EVENTS = st.lists(st.one_of(
    st.tuples(st.just('start'), st.lists(STEPS, max_size=4)),
    st.tuples(st.just('ack'), st.sampled_from([ARM, TAKEOFF]), st.sampled_from([0, 1, 2, 4, 5])),
    st.tuples(st.just('request'), st.integers(0, 3)),
    st.tuples(st.just('mission_ack'), st.sampled_from([0, 1, 4])),
    st.tuples(st.just('climb'), st.booleans()),
    st.tuples(st.just('time'), st.floats(0.0, 3.0)),
    st.tuples(st.just('cancel'))), max_size=40)


def _plan(names: list[str]) -> Plan:
    build = {'arm': lambda: acked(ARM), 'takeoff': lambda: acked(TAKEOFF),
             'fire': lambda: FireAndForget(mavlink.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3), 'fire'),
             'wait': lambda: WaitUntil(lambda s: s.relative_altitude > 5.0, 4.0, 'climb'),
             'upload': lambda: upload(2)}
    return Plan(tuple(build[name]() for name in names))


@settings(max_examples=100, deadline=None)
@given(EVENTS)
def test_every_command_gets_exactly_one_result(events: list[tuple]) -> None:
    t = tracker(ack_timeout=0.5, attempts=2, in_progress_timeout=2.0)
    now, state, started, results = 0.0, STATE, [], []
    for event in events:
        kind = event[0]
        if kind == 'start':
            started.append(f'c{len(started)}')
            t.start(cmd(started[-1]), _plan(event[1]), now, state)
        elif kind == 'ack':
            t.on_message(ack(event[1], event[2]), now, state)
        elif kind == 'request':
            t.on_message(request(event[1]), now, state)
        elif kind == 'mission_ack':
            t.on_message(mission_ack(event[1]), now, state)
        elif kind == 'climb':
            state = replace(STATE, relative_altitude=10.0 if event[1] else 0.0)
        elif kind == 'cancel':
            t.cancel('test', now)
        else:
            now += event[1]
            t.tick(now, state)
        results += t.pop_results()
    for _ in range(20):   # let every timeout expire
        now += 1.0
        t.tick(now, state)
    results += t.pop_results()
    assert t.active is None
    assert sorted(r.command_id for r in results) == sorted(started)
