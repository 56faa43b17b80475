"""The task state machine: the transition table, and no illegal transition under any sequence of events."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel_control.commands import CommandResult, Outcome
from sentinel_control.mission import AlertData, MissionController, MissionSettings, TaskRequest
from sentinel_control.response_policy import load_response_policy
from sentinel_control.tasks import (FINAL, TRANSITIONS, IllegalTransition, Task, TaskBook, TaskState,
                                    TaskType)
from sentinel_control.telemetry import LinkState

POLICY = Path(__file__).resolve().parents[3] / 'config' / 'response_policy.yaml'


def _load(name: str) -> ModuleType:
    module_name = f'sentinel_control_test_{name}'
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, Path(__file__).with_name(f'{name}.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[module_name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[module_name])
    return sys.modules[module_name]


F = _load('fake_fleet')


def test_final_states_have_no_way_out_and_every_live_state_can_end() -> None:
    for state in FINAL:
        assert TRANSITIONS[state] == frozenset()
    for state in set(TaskState) - FINAL:
        assert TaskState.CANCELLED in TRANSITIONS[state] and TaskState.FAILED in TRANSITIONS[state]


@pytest.mark.parametrize('start,end', [(TaskState.PENDING, TaskState.ACTIVE),
                                       (TaskState.PENDING, TaskState.COMPLETED),
                                       (TaskState.PAUSED, TaskState.COMPLETED)])
def test_book_refuses_illegal_transitions(start: TaskState, end: TaskState) -> None:
    book = TaskBook()
    task = book.add(Task('t', TaskType.GOTO), 0.0)
    task.state = start
    with pytest.raises(IllegalTransition):
        book.transition(task, end, 1.0)


def test_requeue_clears_the_vehicle_and_revision_counts_changes() -> None:
    book = TaskBook()
    task = book.add(Task('t', TaskType.PATROL), 0.0)
    book.transition(task, TaskState.ASSIGNED, 1.0)
    task.vehicle_id = 'd'
    revision = book.revision
    book.transition(task, TaskState.PENDING, 2.0, 'preempted')
    assert task.vehicle_id == '' and task.pending_since == 2.0 and book.revision == revision + 1
    assert book.holding('d') is None


def test_archive_drops_old_finished_tasks_only() -> None:
    book = TaskBook()
    done = book.add(Task('done', TaskType.GOTO), 0.0)
    live = book.add(Task('live', TaskType.GOTO), 0.0)
    book.transition(done, TaskState.CANCELLED, 1.0)
    book.archive(10_000.0)
    assert book.get('done') is None and book.get('live') is live


# ---------------------------------------------------------------------- any sequence of events

EVENTS = st.lists(st.tuples(
    st.sampled_from(['alert', 'ack', 'resolve', 'goto', 'patrol', 'rtl', 'cancel', 'pause', 'resume',
                     'lose_link', 'restore_link', 'refuse_next', 'reject_next', 'tick', 'tick_long']),
    st.integers(min_value=0, max_value=5)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVENTS)
def test_no_sequence_of_events_makes_an_illegal_transition(events: list[tuple[str, int]]) -> None:
    """Alerts, operators, gate refusals, vehicle failures and time in any order: every change is legal.

    TaskBook.transition raises IllegalTransition on anything the table forbids,
    so a pass means no path through the controller attempted one; each task's
    recorded history is checked against the table as well.
    """
    fleet = F.FakeFleet([F.drone('d1', 0, 0), F.drone('d2', 50, 0), F.rover('r1', -50, 0)])
    mc = MissionController(load_response_policy(POLICY), [v.asset for v in fleet.vehicles.values()],
                           MissionSettings(pending_timeout=5.0), logging.getLogger('test_tasks'))
    history: dict[str, list[TaskState]] = {}
    original = mc.book.transition

    def recording(task: Task, new: TaskState, now: float, status_msg: str | None = None) -> None:
        history.setdefault(task.task_id, [TaskState.PENDING]).append(new)
        original(task, new, now, status_msg)

    mc.book.transition = recording   # type: ignore[method-assign]
    now = 0.0
    refuse = reject = False
    for kind, n in events:
        tasks = mc.book.tasks()
        some = tasks[n % len(tasks)].task_id if tasks else 'none'
        vid = ['d1', 'd2', 'r1'][n % 3]
        if kind in ('alert', 'ack', 'resolve'):
            state = {'alert': 0, 'ack': 1, 'resolve': 2}[kind]
            mc.on_alert(AlertData(f'a{n}', 2, ['intrusion', 'loitering', 'drone_incursion'][n % 3], 'r', '',
                                  (10.0 * n, 5.0, 0.0), state, 'op'), now)
        elif kind == 'goto':
            mc.create_task(TaskRequest(TaskType.GOTO, target=(5.0 * n, 5.0, 0.0)), now)
        elif kind == 'patrol':
            mc.create_task(TaskRequest(TaskType.PATROL, route=((0.0, 0.0, 0.0), (20.0, 0.0, 0.0))), now)
        elif kind == 'rtl':
            mc.create_task(TaskRequest(TaskType.RTL, vehicle_id=vid), now)
        elif kind == 'cancel':
            mc.cancel(some, 'op', now)
        elif kind in ('pause', 'resume'):
            mc.set_paused(some, kind == 'pause', 'op', now)
        elif kind in ('lose_link', 'restore_link'):
            fleet.vehicles[vid].link = LinkState.LOST if kind == 'lose_link' else LinkState.OK
        elif kind == 'refuse_next':
            refuse = True
        elif kind == 'reject_next':
            reject = True
        else:
            dt = 0.2 if kind == 'tick' else 7.0
            fleet.step(dt)
            now += dt
            for state_data in fleet.states():
                mc.update_vehicle(state_data, now)
            mc.tick(now)
        for command in mc.take_proposals():
            if refuse:
                refuse = False
                mc.on_gate_answer(command.command_id, False, ['test refusal'], now)
                continue
            mc.on_gate_answer(command.command_id, True, [], now)
            result = fleet.execute(command)
            if reject:
                reject = False
                result = CommandResult(result.command_id, result.vehicle_id, result.task_id, result.kind,
                                       Outcome.REJECTED, 'MAV_RESULT_DENIED', 'test')
            mc.on_result(result, now)
    for task_id, states in history.items():
        for before, after in zip(states, states[1:], strict=False):
            assert after in TRANSITIONS[before], f'{task_id}: {before.name} -> {after.name}'
    for vid in ('d1', 'd2', 'r1'):
        holders = [t for t in mc.book.tasks() if t.vehicle_id == vid
                   and t.state in (TaskState.ASSIGNED, TaskState.ACTIVE, TaskState.PAUSED)]
        assert len(holders) <= 1, f'{vid} is held by several tasks: {holders}'
