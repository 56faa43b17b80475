"""The emergency stop over HTTP: engage by any operator, release by two supervisors."""

from __future__ import annotations

import pytest

from sentinel_bridge.auth import Role
from sentinel_bridge.domain import EstopScope
from sentinel_bridge.estop_release import ReleaseBook, ReleaseError

SUPERVISOR = Role.SUPERVISOR


def test_any_operator_engages_repeatedly_without_throttling(api):
    for _ in range(20):
        response = api.client.post('/estop', headers=api.headers(Role.OPERATOR),
                                   json={'reason': 'person on the runway'})
        assert response.status_code == 200 and response.json()['engaged']
    name, args = api.gateway.calls[0]
    assert name == 'trigger_estop'
    assert args == (EstopScope.FLEET, (), 'operator_user', 'person on the runway')
    events = api.client.get('/estop/events', headers=api.headers(Role.VIEWER)).json()
    assert len(events) == 20 and events[0]['kind'] == 'engage'


def test_vehicle_scope_names_vehicles_and_bad_scopes_are_422(api):
    response = api.client.post('/estop', headers=api.headers(Role.OPERATOR), json={
        'scope': 'vehicle', 'vehicle_ids': ['drone_1', 'drone_2'], 'reason': 'low battery'})
    assert response.json()['status']['estopped_vehicle_ids'] == ['drone_1', 'drone_2']
    for body in ({'scope': 'vehicle', 'reason': 'x'}, {'vehicle_ids': ['drone_1'], 'reason': 'x'},
                 {'reason': ''}, {'scope': 'everything', 'reason': 'x'}):
        assert api.client.post('/estop', headers=api.headers(), json=body).status_code == 422
    assert api.gateway.names() == ['trigger_estop']


def _second_supervisor(api, password_hash) -> dict[str, str]:
    api.add_user('supervisor_two', SUPERVISOR, password_hash)
    return api.headers(SUPERVISOR, user='supervisor_two')


def test_two_distinct_supervisors_release_and_both_reach_safety(api, password_hash):
    first, second = api.headers(SUPERVISOR), _second_supervisor(api, password_hash)
    created = api.client.post('/estop/release-requests', headers=first,
                              json={'reason': 'intruder detained', 'vehicle_ids': ['drone_1']})
    assert created.status_code == 201
    request_id = created.json()['request_id']
    pending = api.client.get('/estop/release-requests', headers=api.headers(Role.VIEWER)).json()
    assert [p['request_id'] for p in pending] == [request_id]
    assert api.gateway.calls == [], 'nothing is released on the first approval'
    confirmed = api.client.post(f'/estop/release-requests/{request_id}/confirm', headers=second)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()['released']
    assert api.gateway.calls == [('release_estop', (('drone_1',), 'supervisor_user',
                                                    'supervisor_two', 'intruder detained'))]
    kinds = [e['kind'] for e in api.client.get('/estop/events', headers=first).json()]
    assert kinds == ['release', 'release_requested']
    assert api.client.get('/estop/release-requests', headers=first).json() == []


def test_the_same_supervisor_cannot_confirm_their_own_request(api, password_hash):
    first = api.headers(SUPERVISOR)
    request_id = api.client.post('/estop/release-requests', headers=first,
                                 json={'reason': 'all clear'}).json()['request_id']
    refused = api.client.post(f'/estop/release-requests/{request_id}/confirm', headers=first)
    assert refused.status_code == 409 and 'different supervisor' in refused.json()['detail']
    assert api.gateway.calls == []
    # The request stays open for a real second approver.
    second = _second_supervisor(api, password_hash)
    assert api.client.post(f'/estop/release-requests/{request_id}/confirm',
                           headers=second).status_code == 200
    audit = api.client.get('/audit', params={'action': 'release_confirm'}, headers=first).json()
    assert audit[0]['outcome'] == 'refused: same_approver'


def test_operators_cannot_approve_and_unknown_requests_are_404(api):
    assert api.client.post('/estop/release-requests', headers=api.headers(Role.OPERATOR),
                           json={'reason': 'x'}).status_code == 403
    assert api.client.post('/estop/release-requests/abc/confirm',
                           headers=api.headers(SUPERVISOR)).status_code == 404


def test_withdrawn_request_cannot_be_confirmed(api, password_hash):
    first = api.headers(SUPERVISOR)
    request_id = api.client.post('/estop/release-requests', headers=first,
                                 json={'reason': 'x'}).json()['request_id']
    assert api.client.delete(f'/estop/release-requests/{request_id}', headers=first).status_code == 200
    second = _second_supervisor(api, password_hash)
    assert api.client.post(f'/estop/release-requests/{request_id}/confirm',
                           headers=second).status_code == 404


def test_safety_refusal_and_timeout_are_reported(api, password_hash):
    first, second = api.headers(SUPERVISOR), _second_supervisor(api, password_hash)
    api.gateway.release_error = 3
    request_id = api.client.post('/estop/release-requests', headers=first,
                                 json={'reason': 'x'}).json()['request_id']
    response = api.client.post(f'/estop/release-requests/{request_id}/confirm', headers=second)
    assert response.status_code == 409 and 'nothing to release' in response.json()['detail']
    api.gateway.release_error = 0
    api.gateway.timeout = True
    request_id = api.client.post('/estop/release-requests', headers=first,
                                 json={'reason': 'x'}).json()['request_id']
    assert api.client.post(f'/estop/release-requests/{request_id}/confirm',
                           headers=second).status_code == 504
    # Safety never answered, so the request is still pending for another try.
    pending = api.client.get('/estop/release-requests', headers=first).json()
    assert [p['request_id'] for p in pending] == [request_id]


def test_release_book_expires_requests_and_bounds_them():
    now = [1000.0]
    book = ReleaseBook(window_s=60.0, clock=lambda: now[0])
    entry = book.request('alice', [], 'clear')
    now[0] += 61.0
    with pytest.raises(ReleaseError) as caught:
        book.confirm(entry.request_id, 'bob')
    assert caught.value.code in ('expired', 'not_found')
    entry = book.request('alice', ['drone_1'], 'clear')
    with pytest.raises(ReleaseError, match='different supervisor'):
        book.confirm(entry.request_id, 'alice')
    assert book.confirm(entry.request_id, 'bob').vehicle_ids == ('drone_1',)
    for _ in range(16):
        book.request('alice', [], 'flood')
    with pytest.raises(ReleaseError, match='already pending'):
        book.request('alice', [], 'one too many')
    with pytest.raises(ValueError, match='window'):
        ReleaseBook(window_s=0.0)
