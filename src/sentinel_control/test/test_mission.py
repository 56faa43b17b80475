"""Mission control logic with a pretend fleet and a fake clock: dispatch, preemption, reassignment."""

from __future__ import annotations

import importlib.util
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from sentinel_control.commands import Command, CommandKind
from sentinel_control.mission import (ALERT_ACKNOWLEDGED, ALERT_NEW, ALERT_RESOLVED, FAIL_NO_VEHICLE,
                                      FAIL_REFUSED, NO_VEHICLE, AlertData, MissionController, MissionSettings,
                                      TaskRequest)
from sentinel_control.response_policy import load_response_policy
from sentinel_control.standing_patrols import StandingPatrol
from sentinel_control.tasks import Phase, TaskState, TaskType
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
Gate = Callable[[Command], list[str] | None]   # None approves; a list of reasons refuses


def approve(_: Command) -> list[str] | None:
    return None


class Scenario:
    """A MissionController, a FakeFleet, a gate stub and a clock."""

    def __init__(self, vehicles: list, gate: Gate = approve, **settings: float) -> None:
        self.fleet = F.FakeFleet(vehicles)
        self.policy = load_response_policy(POLICY)
        self.mc = MissionController(self.policy, [v.asset for v in vehicles], MissionSettings(**settings),
                                    logging.getLogger('test_mission'))
        self.gate = gate
        self.now = 0.0
        self.proposed: list[Command] = []
        self.refused: list[Command] = []
        self.report()

    def report(self) -> None:
        for state in self.fleet.states():
            self.mc.update_vehicle(state, self.now)

    def pump(self) -> None:
        while True:
            proposals = self.mc.take_proposals()
            if not proposals:
                return
            for command in proposals:
                self.proposed.append(command)
                reasons = self.gate(command)
                if reasons is not None:
                    self.refused.append(command)
                    self.mc.on_gate_answer(command.command_id, False, reasons, self.now)
                    continue
                self.mc.on_gate_answer(command.command_id, True, [], self.now)
                self.mc.on_result(self.fleet.execute(command), self.now)

    def run(self, seconds: float, dt: float = 0.2, until: Callable[[], bool] | None = None) -> None:
        for _ in range(round(seconds / dt)):
            self.fleet.step(dt)
            self.now = round(self.now + dt, 6)
            self.report()
            self.mc.tick(self.now)
            self.pump()
            if until is not None and until():
                return

    def alert(self, alert_id: str, category: str = 'intrusion', position=(10.0, 60.0, 0.0),
              state: int = ALERT_NEW, severity: int = 1, track_id: str = '', by: str = ''):
        task = self.mc.on_alert(AlertData(alert_id, severity, category, 'rule_1', track_id, position, state, by),
                                self.now)
        self.pump()
        return task


def test_alert_dispatches_the_nearest_capable_drone_which_observes_then_returns() -> None:
    s = Scenario([F.drone('far', -140, -90), F.drone('near', 0, 30), F.rover('rover', 0, 20),
                  F.drone('blind', 5, 55, capabilities=frozenset())])
    task = s.alert('a1')
    assert task is not None and task.state is TaskState.ACTIVE and task.vehicle_id == 'near'
    assert task.priority == s.policy.categories['intrusion'].priority
    first = s.proposed[0]
    assert first.kind is CommandKind.GOTO and first.look_at == (10.0, 60.0, 0.0)
    assert first.target[2] == s.policy.profiles['drone'].altitude
    assert math.hypot(first.target[0] - 10.0, first.target[1] - 60.0) == pytest.approx(20.0)   # orbit radius
    s.run(400, until=lambda: task.final)
    assert task.state is TaskState.COMPLETED, task.status_msg
    assert task.time_on_target >= s.policy.categories['intrusion'].observe_duration
    orbit = [c for c in s.proposed if c.kind is CommandKind.GOTO and c.task_id == task.task_id]
    assert len(orbit) >= 12, 'the drone should have gone round the orbit'
    assert all(math.hypot(c.target[0] - 10, c.target[1] - 60) == pytest.approx(20.0) for c in orbit)
    s.run(2)
    assert s.proposed[-1].kind is CommandKind.RTL and s.proposed[-1].vehicle_id == 'near'
    assert s.mc.feedback(task.task_id).phase is Phase.RETURNING


def test_alert_below_min_severity_or_without_response_is_ignored() -> None:
    s = Scenario([F.drone('d', 0, 0)])
    assert s.alert('info', severity=0) is None
    assert s.alert('drift', category='drift', severity=2) is None
    assert s.alert('unknown', category='earthquake', severity=2) is None
    assert s.proposed == []


def test_repeated_alert_updates_the_same_task_and_resolution_cancels_it() -> None:
    s = Scenario([F.drone('d', 0, 0)])
    first = s.alert('a1')
    again = s.alert('a1', position=(20.0, 60.0, 0.0))
    assert again is first and first.target == (20.0, 60.0, 0.0)
    s.alert('a1', state=ALERT_RESOLVED, by='op1')
    assert first.state is TaskState.CANCELLED and 'op1' in first.status_msg
    assert s.proposed[-1].kind is CommandKind.HOLD


def test_operator_approval_waits_for_the_alert_acknowledgement() -> None:
    s = Scenario([F.rover('r', 0, 80), F.drone('d', 0, 0)])
    task = s.alert('gate1', category='loitering', position=(0.0, 105.0, 0.0))
    assert task.state is TaskState.PENDING and task.awaiting_approval
    s.run(2)
    assert s.proposed == [], 'nothing moves before an operator approves'
    s.alert('gate1', category='loitering', position=(0.0, 105.0, 0.0), state=ALERT_ACKNOWLEDGED, by='op7')
    assert task.state is TaskState.ACTIVE and task.vehicle_id == 'r'   # ground preferred for loitering
    assert 'op7' in task.status_msg or task.status_msg == 'under way'


def test_patrol_is_preempted_by_an_alert_and_resumed_by_another_vehicle() -> None:
    s = Scenario([F.drone('d1', 0, 0), F.drone('d2', -100, -80)])
    route = ((0.0, 0.0, 0.0), (60.0, 0.0, 0.0), (60.0, 60.0, 0.0))
    code, _, patrol = s.mc.create_task(TaskRequest(TaskType.PATROL, vehicle_kinds=('drone',), route=route), 0.0)
    s.pump()
    assert code == 0 and patrol.state is TaskState.ACTIVE and patrol.vehicle_id == 'd1'
    assert s.proposed[-1].kind is CommandKind.FOLLOW_ROUTE
    assert all(p[2] == s.policy.profiles['drone'].altitude for p in s.proposed[-1].route)
    s.run(15)
    task = s.alert('a1', position=(60.0, 40.0, 0.0))
    assert task.vehicle_id == 'd1', 'the patrolling drone is nearest'
    assert patrol.state is TaskState.PENDING and 'preempted' in patrol.status_msg
    s.run(0.2)   # the next tick finds the patrol another vehicle
    assert patrol.state is TaskState.ACTIVE and patrol.vehicle_id == 'd2', 'the patrol moved to the other drone'
    resume = [c for c in s.proposed if c.task_id == patrol.task_id][-1]
    assert resume.vehicle_id == 'd2' and resume.kind is CommandKind.FOLLOW_ROUTE
    assert len(resume.route) < len(route), 'the patrol resumes where it stopped'


def test_patrol_loops_lap_after_lap() -> None:
    s = Scenario([F.rover('r', 0, 0)])
    route = ((0.0, 0.0, 0.0), (20.0, 0.0, 0.0), (20.0, 20.0, 0.0))
    _, _, patrol = s.mc.create_task(TaskRequest(TaskType.PATROL, route=route), 0.0)
    s.pump()
    s.run(60)
    laps = [c for c in s.proposed if c.kind is CommandKind.FOLLOW_ROUTE]
    assert len(laps) >= 3 and patrol.state is TaskState.ACTIVE
    assert all(c.route == route for c in laps[1:])


def test_standing_patrol_starts_on_its_own_yields_to_an_alert_and_resumes_on_its_vehicle() -> None:
    s = Scenario([F.drone('p', 0, 0), F.drone('q', -140, -90)])
    route = ((0.0, 0.0, 20.0), (60.0, 0.0, 20.0), (60.0, 60.0, 20.0), (0.0, 60.0, 20.0))
    config = StandingPatrol('yard', route, 'p', ('drone',), frozenset({'camera'}), speed=4.0, priority=None)
    patrol = s.mc.add_standing_patrol(config.name, config.request(), s.now)
    s.pump()
    assert patrol.state is TaskState.ACTIVE and patrol.vehicle_id == 'p', patrol.status_msg
    assert patrol.priority == s.policy.patrol_priority and 'yard' in patrol.created_by
    first = s.proposed[-1]
    assert first.kind is CommandKind.FOLLOW_ROUTE and first.route == route and first.speed_limit == 4.0
    s.run(20)
    task = s.alert('a1', position=(80.0, 40.0, 0.0))
    assert task.vehicle_id == 'p' and patrol.state is TaskState.PENDING and 'preempted' in patrol.status_msg
    s.run(5)
    assert patrol.state is TaskState.PENDING, 'a patrol given to p waits for p, it does not move to q'
    s.run(400, until=lambda: task.final)
    assert task.state is TaskState.COMPLETED
    s.run(0.4)
    assert patrol.state is TaskState.ACTIVE and patrol.vehicle_id == 'p', patrol.status_msg
    resume = s.proposed[-1]
    assert resume.kind is CommandKind.FOLLOW_ROUTE and resume.task_id == patrol.task_id
    assert 0 < len(resume.route) < len(route), 'it resumes from the waypoint it had reached'
    assert resume.route == route[len(route) - len(resume.route):]


def test_standing_patrol_is_started_again_after_it_fails_but_not_after_a_cancel() -> None:
    refusing = {'on': True}

    def gate(command: Command) -> list[str] | None:
        return ['geofence: route leaves the flight area'] if refusing['on'] else None

    s = Scenario([F.drone('d1', 0, 0), F.drone('d2', 10, 0)], gate=gate, patrol_restart_delay=5.0)
    route = ((0.0, 0.0, 20.0), (50.0, 0.0, 20.0))
    config = StandingPatrol('line', route, '', ('drone',), frozenset(), speed=5.0, priority=12)
    first = s.mc.add_standing_patrol(config.name, config.request(), s.now)
    s.pump()
    assert first.state is TaskState.FAILED and 'leaves the flight area' in first.status_msg
    assert first.priority == 12
    refusing['on'] = False
    s.run(4)
    assert s.mc.book.live() == [], 'not before the restart delay'
    s.run(2)
    [second] = s.mc.book.live()
    assert second.task_id != first.task_id and second.state is TaskState.ACTIVE
    assert second.created_by == first.created_by
    assert s.mc.cancel(second.task_id, 'op1', s.now)[0] == 0
    s.run(20)
    assert s.mc.book.live() == [], 'a patrol an operator cancelled stays stopped'


def test_link_loss_reassigns_the_investigation_to_another_vehicle() -> None:
    s = Scenario([F.drone('d1', 0, 30), F.drone('d2', -60, -20)])
    task = s.alert('a1')
    assert task.vehicle_id == 'd1'
    s.run(3)
    s.fleet.vehicles['d1'].link = LinkState.LOST
    s.run(1)
    assert task.vehicle_id == 'd2' and task.state in (TaskState.ASSIGNED, TaskState.ACTIVE)
    assert 'd1' in task.excluded
    s.run(400, until=lambda: task.final)
    assert task.state is TaskState.COMPLETED


def test_refusal_replans_on_another_vehicle_then_fails_with_the_reason() -> None:
    def refuse_d1(command: Command) -> list[str] | None:
        return ['geofence: target in keep_out zone hv_bus'] if command.vehicle_id == 'd1' else None

    s = Scenario([F.drone('d1', 0, 30), F.drone('d2', -60, -20)], gate=refuse_d1)
    task = s.alert('a1')
    assert task.vehicle_id == 'd2' and task.state is TaskState.ACTIVE

    s2 = Scenario([F.drone('d1', 0, 30), F.drone('d2', -60, -20)], gate=lambda c: ['geofence: no'])
    task2 = s2.alert('a1')
    assert task2.state is TaskState.FAILED
    assert 'geofence: no' in task2.status_msg and s2.mc.execution_failure(task2.task_id) == FAIL_REFUSED


def test_vehicle_rejection_counts_as_failure_and_moves_the_task() -> None:
    s = Scenario([F.drone('d1', 0, 30), F.drone('d2', -60, -20)])
    s.fleet.reject_vehicles.add('d1')
    task = s.alert('a1')
    assert task.vehicle_id == 'd2' and 'd1' in task.excluded


def test_no_capable_vehicle_waits_then_fails() -> None:
    s = Scenario([F.rover('r', 0, 0)], pending_timeout=10.0)
    task = s.alert('p1', category='perimeter_crossing')
    assert task.state is TaskState.PENDING and 'waiting for a vehicle' in task.status_msg
    s.run(12)
    assert task.state is TaskState.FAILED and s.mc.execution_failure(task.task_id) == FAIL_NO_VEHICLE


def test_battery_too_low_for_trip_and_return_is_not_sent() -> None:
    s = Scenario([F.drone('weak', 0, 30, battery=0.35), F.drone('strong', -140, -90)])
    task = s.alert('a1')
    assert task.vehicle_id == 'strong'


def test_cancel_pause_resume_and_operator_tasks() -> None:
    s = Scenario([F.drone('d', 0, 0)])
    code, _, goto = s.mc.create_task(TaskRequest(TaskType.GOTO, target=(30.0, 0.0, 0.0)), 0.0)
    s.pump()
    assert code == 0 and goto.state is TaskState.ACTIVE
    assert s.mc.set_paused(goto.task_id, True, 'op', s.now)[0] == 0 and goto.state is TaskState.PAUSED
    s.pump()
    assert s.proposed[-1].kind is CommandKind.HOLD
    assert s.mc.set_paused(goto.task_id, True, 'op', s.now)[0] == 2   # already paused
    assert s.mc.set_paused(goto.task_id, False, 'op', s.now)[0] == 0
    s.pump()
    assert goto.state is TaskState.ACTIVE and s.proposed[-1].kind is CommandKind.GOTO
    s.run(30, until=lambda: goto.final)
    assert goto.state is TaskState.COMPLETED
    code, _, rtl = s.mc.create_task(TaskRequest(TaskType.RTL, vehicle_id='d'), s.now)
    s.pump()
    s.run(60, until=lambda: rtl.final)
    assert rtl.state is TaskState.COMPLETED
    assert s.mc.cancel(rtl.task_id, 'op', s.now)[0] == 2
    assert s.mc.cancel('nope', 'op', s.now)[0] == 1


def test_invalid_requests_are_refused_with_a_reason() -> None:
    s = Scenario([F.rover('r', 0, 0)])
    cases = [TaskRequest(TaskType.PATROL, route=((0.0, 0.0, 0.0),)),
             TaskRequest(TaskType.RTL),
             TaskRequest(TaskType.GOTO, target=(math.nan, 0.0, 0.0)),
             TaskRequest(TaskType.GOTO, vehicle_id='ghost')]
    for request in cases:
        code, message, task = s.mc.create_task(request, 0.0)
        assert code == 2 and message and task is None
    code, message, _ = s.mc.create_task(TaskRequest(TaskType.INVESTIGATE, vehicle_kinds=('drone',)), 0.0)
    assert code == 1 and 'r: a ground vehicle' in message


def test_a_stop_for_a_vehicle_that_cannot_be_commanded_is_answered_with_the_reason() -> None:
    s = Scenario([F.drone('d', 0, 0), F.drone('silent', 10, 0)])
    s.fleet.vehicles['d'].link = LinkState.LOST
    s.report()
    s.mc.registry.statuses['silent'].state = None   # as if never reported by the vehicle interface
    for vehicle, reason in (('d', 'link lost'), ('silent', 'no state from the vehicle interface yet')):
        code, message, task = s.mc.create_task(TaskRequest(TaskType.RTL, vehicle_id=vehicle), s.now)
        assert (code, message, task) == (NO_VEHICLE, f'{vehicle} cannot be commanded now: {reason}', None)
    assert s.mc.book.tasks() == [] and s.mc.take_proposals() == []


def test_investigation_follows_a_moving_track() -> None:
    s = Scenario([F.drone('d', 0, 0)])
    s.mc.update_tracks({'t1': (50.0, 0.0, 0.0)}, 0.0)
    task = s.alert('a1', category='drone_incursion', track_id='t1', position=(50.0, 0.0, 0.0),
                   state=ALERT_ACKNOWLEDGED, severity=2)
    assert task.state is TaskState.ACTIVE
    for second in range(20):
        s.mc.update_tracks({'t1': (50.0 + 2.0 * second, 0.0, 0.0)}, s.now)
        s.run(1)
    goals = [c for c in s.proposed if c.task_id == task.task_id and c.kind is CommandKind.GOTO]
    assert len(goals) >= 3, 'the goal follows the track'
    assert goals[-1].look_at[0] > 70.0


def test_gate_silence_counts_as_unavailable() -> None:
    s = Scenario([F.drone('d1', 0, 30)], gate_timeout=1.0)
    task = s.mc.create_task(TaskRequest(TaskType.GOTO, target=(30.0, 0.0, 0.0)), 0.0)[2]
    assert len(s.mc.take_proposals()) == 1   # the gate never answers
    for step in range(1, 30):
        s.now = step * 0.2
        s.report()
        s.mc.tick(s.now)
        s.mc.take_proposals()
    assert task.state is TaskState.FAILED and 'safety gate unavailable' in task.status_msg


def test_a_result_that_overtakes_the_gate_answer_still_counts() -> None:
    s = Scenario([F.drone('d', 0, 0)])
    task = s.mc.create_task(TaskRequest(TaskType.GOTO, target=(30.0, 0.0, 0.0)), 0.0)[2]
    [command] = s.mc.take_proposals()
    s.mc.on_result(s.fleet.execute(command), 0.1)        # the vehicle interface was quicker
    assert task.state is TaskState.ASSIGNED
    s.mc.on_gate_answer(command.command_id, True, [], 0.2)
    assert task.state is TaskState.ACTIVE


def test_a_patrol_waits_for_a_silent_gate_without_failing_or_flooding_it() -> None:
    s = Scenario([F.drone('d1', 0, 30)], gate_timeout=1.0)
    patrol = s.mc.create_task(TaskRequest(TaskType.PATROL, route=((0.0, 0.0, 0.0), (50.0, 0.0, 0.0))), 0.0)[2]
    sent = len(s.mc.take_proposals())
    for step in range(1, 101):   # 20 s of a gate that never answers
        s.now = step * 0.2
        s.report()
        s.mc.tick(s.now)
        sent += len(s.mc.take_proposals())
    assert not patrol.final and patrol.state in (TaskState.PENDING, TaskState.ASSIGNED)
    assert 5 <= sent <= 12, f'{sent} proposals: one per timeout and retry period, not one per tick'
