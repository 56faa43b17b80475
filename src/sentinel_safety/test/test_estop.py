"""E-stop rules (who, what, idempotence, two-person release) and its persistence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_safety import estop_store
from sentinel_safety.config import AuthorizationConfig
from sentinel_safety.estop import (EngageError, EstopState, ReleaseError, Scope, engage, release,
                                   same_principal)

# Who may do what in these tests.
AUTH = AuthorizationConfig(
    estop_engage=frozenset({'operator_console', 'mission_control', 'safety_officer'}),
    estop_release=frozenset({'shift_supervisor', 'safety_officer', 'site_manager'}),
    override=frozenset({'operator_console'}), terminate=frozenset())
ROSTER = ['drone_1', 'drone_2', 'rover_1']   # the fleet


def engaged(scope: int = Scope.FLEET, ids: tuple[str, ...] = ()) -> EstopState:
    state, result = engage(EstopState(), scope, ids, 'operator_console', 'intruder', ROSTER, AUTH,
                           1000.0)
    assert result.error is EngageError.NONE
    return state


def test_engage_fleet_and_vehicles() -> None:
    state = engaged()
    assert state.fleet and all(state.stopped(v) for v in ROSTER) and state.stopped('drone_9')
    assert (state.engaged_by, state.engaged_at, state.reason) == ('operator_console', 1000.0,
                                                                  'intruder')
    some = engaged(Scope.VEHICLE, ('drone_2',))
    assert some.stopped_among(ROSTER) == ['drone_2'] and not some.fleet


def test_engage_refusals() -> None:
    state, result = engage(EstopState(), Scope.FLEET, (), 'visitor', 'x', ROSTER, AUTH, 0.0)
    assert result.error is EngageError.NOT_AUTHORIZED and not state.engaged
    state, result = engage(EstopState(), Scope.VEHICLE, ('drone_7',), 'safety_officer', 'x',
                           ROSTER, AUTH, 0.0)
    assert result.error is EngageError.UNKNOWN_VEHICLE and 'drone_7' in result.message
    state, result = engage(EstopState(), Scope.VEHICLE, (), 'safety_officer', 'x', ROSTER, AUTH,
                           0.0)
    assert result.error is EngageError.UNKNOWN_VEHICLE


def test_engage_is_idempotent_and_an_unknown_scope_stops_the_fleet() -> None:
    state = engaged()
    again, result = engage(state, Scope.FLEET, (), 'safety_officer', 'again', ROSTER, AUTH, 2000.0)
    assert result.error is EngageError.NONE and again == state and not result.newly_stopped
    odd, _ = engage(EstopState(), 7, ('drone_1',), 'safety_officer', 'x', ROSTER, AUTH, 0.0)
    assert odd.fleet


def test_release_rules() -> None:
    state = engaged()
    for first, second, error in [
            ('shift_supervisor', 'shift_supervisor', ReleaseError.SAME_APPROVER),
            ('Shift_Supervisor ', 'shift_supervisor', ReleaseError.SAME_APPROVER),
            ('shift_supervisor', 'operator_console', ReleaseError.NOT_AUTHORIZED),
            ('', 'safety_officer', ReleaseError.NOT_AUTHORIZED)]:
        after, result = release(state, (), first, second, ROSTER, AUTH)
        assert result.error is error and after == state
    after, result = release(state, (), 'shift_supervisor', 'safety_officer', ROSTER, AUTH)
    assert result.error is ReleaseError.NONE and not after.engaged
    assert set(result.released) == set(ROSTER)
    _, result = release(after, (), 'shift_supervisor', 'safety_officer', ROSTER, AUTH)
    assert result.error is ReleaseError.NOT_ENGAGED


def test_releasing_one_vehicle_from_a_fleet_stop_keeps_the_others_stopped() -> None:
    after, result = release(engaged(), ('drone_1',), 'site_manager', 'safety_officer', ROSTER,
                            AUTH)
    assert result.released == ('drone_1',)
    assert after.stopped_among(ROSTER) == ['drone_2', 'rover_1'] and not after.fleet
    _, result = release(after, ('drone_1',), 'site_manager', 'safety_officer', ROSTER, AUTH)
    assert result.error is ReleaseError.NOT_ENGAGED


principals = st.sampled_from(['shift_supervisor', 'safety_officer', 'site_manager',
                              'operator_console', 'SAFETY_OFFICER', ' site_manager', 'nobody', ''])
operations = st.lists(st.one_of(
    st.tuples(st.just('engage'), st.sampled_from([Scope.FLEET, Scope.VEHICLE]),
              st.lists(st.sampled_from(ROSTER), max_size=2), principals),
    st.tuples(st.just('release'), st.lists(st.sampled_from(ROSTER), max_size=2), principals,
              principals)), max_size=25)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_no_vehicle_is_ever_released_without_two_distinct_authorized_principals(ops: list) -> None:
    state = EstopState()
    for op in ops:
        before = state
        if op[0] == 'engage':
            _, scope, ids, who = op
            state, _ = engage(state, scope, ids, who, 'drill', ROSTER, AUTH, 0.0)
            assert all(state.stopped(v) for v in ROSTER if before.stopped(v))   # never releases
            continue
        _, ids, first, second = op
        state, result = release(state, ids, first, second, ROSTER, AUTH)
        freed = [v for v in ROSTER if before.stopped(v) and not state.stopped(v)]
        if freed:
            assert result.error is ReleaseError.NONE
            assert not same_principal(first, second)
            assert any(same_principal(first, p) for p in AUTH.estop_release)
            assert any(same_principal(second, p) for p in AUTH.estop_release)
        if not state.engaged:
            assert state == EstopState()


@settings(max_examples=100, deadline=None)
@given(principals)
def test_one_principal_can_never_release(who: str) -> None:
    _, result = release(engaged(), (), who, who, ROSTER, AUTH)
    assert result.error is not ReleaseError.NONE


# ----------------------------------------------------------------------------------
# Persistence
# ----------------------------------------------------------------------------------

def test_state_round_trips_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / 'deep' / 'estop.json'
    assert estop_store.load(path) == EstopState()
    state = engaged(Scope.VEHICLE, ('drone_1', 'rover_1'))
    estop_store.save(path, state)
    assert estop_store.load(path) == state
    assert json.loads(path.read_text())['vehicles'] == ['drone_1', 'rover_1']
    estop_store.save(path, EstopState())
    assert estop_store.load(path) == EstopState()
    assert os.listdir(path.parent) == ['estop.json']   # no temporary left behind


@pytest.mark.parametrize('content', ['', '{', '[]', '{"version": 1}',
                                     '{"version": 1, "fleet": "yes", "vehicles": [], '
                                     '"engaged_by": "", "engaged_at": 0, "reason": ""}',
                                     '{"version": 9}'])
def test_a_damaged_file_is_an_error_not_a_release(tmp_path: Path, content: str) -> None:
    path = tmp_path / 'estop.json'
    path.write_text(content)
    with pytest.raises(estop_store.EstopStoreError) as caught:
        estop_store.load(path)
    assert str(path) in str(caught.value)


def test_a_failed_write_leaves_the_old_state(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / 'estop.json'
    estop_store.save(path, engaged())

    def broken_replace(src: str, dst: str) -> None:
        raise OSError('disk full')
    monkeypatch.setattr(estop_store.os, 'replace', broken_replace)
    with pytest.raises(OSError):
        estop_store.save(path, EstopState())
    assert estop_store.load(path).fleet
    assert os.listdir(tmp_path) == ['estop.json']
