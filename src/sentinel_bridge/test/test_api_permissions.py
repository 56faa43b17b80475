"""The permission matrix, walked: every endpoint x every role -> allowed or 403.

The permission each route enforces is read from the route itself (its
RequirePermission dependency), so a route added without one fails here, and
a route whose permission disagrees with the matrix answers wrongly for some
role and fails too.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from sentinel_bridge.auth import Permission, Role, role_allows
from sentinel_bridge.operator_api.security import RequireAuthenticated, RequirePermission


# Endpoints anyone may call without a token.
PUBLIC = {('POST', '/auth/token'), ('GET', '/health')}
# Values for path parameters.
PATH_VALUES = {'vehicle_id': 'drone_1', 'alert_id': 'alert-1', 'task_id': 'task-1',
               'request_id': 'abc123', 'version': 'v1'}
# A valid body or query for each endpoint that needs one.
BODIES = {
    ('POST', '/vehicles/{vehicle_id}/commands'): {'command': 'hold'},
    ('POST', '/alerts/{alert_id}/acknowledge'): {},
    ('POST', '/alerts/{alert_id}/resolve'): {'note': 'false alarm: a deer'},
    ('POST', '/tasks'): {'task_type': 'hold'},
    ('POST', '/estop'): {'scope': 'fleet', 'reason': 'drill'},
    ('POST', '/estop/release-requests'): {'reason': 'intruder detained'},
}
QUERIES = {('GET', '/vehicles/{vehicle_id}/telemetry'): {
    'start': '2026-01-01T00:00:00Z', 'end': '2026-01-01T01:00:00Z'}}


def _requirement(route: APIRoute) -> Permission | None | str:
    """The permission a route enforces, 'authenticated', or None (public)."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        call = dependant.call
        if isinstance(call, RequirePermission):
            return call.permission
        if isinstance(call, RequireAuthenticated):
            return 'authenticated'
        stack.extend(dependant.dependencies)
    return None


def _api_routes(routes) -> list[APIRoute]:
    """Every APIRoute, including those of included routers (no prefixes are used)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, 'original_router'):
            found.extend(_api_routes(route.original_router.routes))
    return found


def _operations(app) -> list[tuple[str, str, APIRoute]]:
    return [(method, route.path, route) for route in _api_routes(app.routes)
            for method in sorted(route.methods)]


def _call(api, method: str, path: str, headers: dict[str, str]):
    url = path.format(**PATH_VALUES)
    body = BODIES.get((method, path))
    return api.client.request(method, url, headers=headers, json=body,
                              params=QUERIES.get((method, path)))


def test_every_endpoint_is_either_public_by_design_or_guarded(api):
    operations = _operations(api.client.app)
    assert len(operations) >= 30
    unguarded = {(m, p) for m, p, route in operations if _requirement(route) is None}
    assert unguarded == PUBLIC


def test_every_endpoint_times_every_role_is_allowed_or_403(api):
    checked = 0
    for method, path, route in _operations(api.client.app):
        requirement = _requirement(route)
        if requirement is None:
            continue
        for role in Role:
            headers = api.headers(role)
            if path == '/stream':
                # The stream ends when its token expires: give it one that does at once.
                headers = api.headers(role, expires_in_s=1.0)
            allowed = requirement == 'authenticated' or role_allows(role, requirement)
            response = _call(api, method, path, headers)
            if allowed:
                assert response.status_code not in (401, 403), (
                    f'{method} {path} as {role.value}: {response.status_code} {response.text}')
            else:
                assert response.status_code == 403, (
                    f'{method} {path} as {role.value}: {response.status_code} {response.text}')
                assert requirement.value in response.json()['detail']
            checked += 1
    assert checked >= 30 * len(Role)


def test_denials_never_reach_ros_and_are_audited(api):
    assert _call(api, 'POST', '/estop', api.headers(Role.VIEWER)).status_code == 403
    assert _call(api, 'POST', '/vehicles/{vehicle_id}/commands',
                 api.headers(Role.VIEWER)).status_code == 403
    assert api.gateway.calls == []
    entries = api.client.get('/audit', params={'action': 'permission_denied'},
                             headers=api.headers(Role.ADMIN)).json()
    assert [e['target'] for e in entries] == ['POST /estop', 'POST /vehicles/drone_1/commands']
    assert {e['actor'] for e in entries} == {api.users[Role.VIEWER]}


@pytest.mark.parametrize('headers', [{}, {'Authorization': 'Bearer nonsense'},
                                     {'Authorization': 'Basic dXNlcjpwYXNz'}])
def test_guarded_endpoints_answer_401_without_a_valid_token(api, headers):
    for method, path, route in _operations(api.client.app):
        if _requirement(route) is None:
            continue
        response = _call(api, method, path, headers)
        assert response.status_code == 401, f'{method} {path}'
        assert response.headers['www-authenticate'] == 'Bearer'
