"""Each endpoint's happy path and its refusal of bad input (over a stub ROS gateway)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest
from sentinel_msgs.msg import Alert

from sentinel_bridge import ros_convert
from sentinel_bridge.auth import Role
from sentinel_bridge.domain import (AlertState, CommandKind, Decision, GeoPoint, Point,
                                    VehicleSnapshot)
from sentinel_bridge.operator_api.schemas import alert_record_out
from sentinel_bridge.persistence import schema, store

ADMIN = Role.ADMIN


def _vehicle(vehicle_id: str, at: datetime, x: float = 0.0, battery: float | None = 0.8):
    return VehicleSnapshot(vehicle_id=vehicle_id, stamp=at, vehicle_type=0, armed=True,
                           mode='GUIDED', position=Point(x, 2.0, 30.0),
                           geo_position=GeoPoint(51.0, 4.0, 80.0), velocity=Point(1.0, 0.0, 0.0),
                           heading_deg=90.0, battery_voltage=15.2, battery_remaining=battery,
                           link_state=0, link_quality=1.0, gps_fix=3, landed=False,
                           current_task_id='')


# ----------------------------------------------------------------------------- auth

def test_login_issues_a_token_that_opens_the_api(api, helpers):
    response = api.client.post('/auth/token', data={'username': api.users[Role.OPERATOR],
                                                    'password': helpers.password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body['token_type'] == 'bearer' and body['role'] == 'operator'
    me = api.client.get('/auth/me', headers={'Authorization': f"Bearer {body['access_token']}"})
    assert me.json()['user_id'] == 'operator_user'
    assert 'engage_estop' in me.json()['permissions']
    assert 'release_estop' not in me.json()['permissions']


@pytest.mark.parametrize('username,password', [('operator_user', 'wrong password!!'),
                                               ('nobody', 'correct horse battery staple')])
def test_bad_credentials_get_the_same_401_and_are_audited(api, username, password):
    response = api.client.post('/auth/token', data={'username': username, 'password': password})
    assert response.status_code == 401
    assert response.json()['detail'] == 'invalid user name or password'
    logins = api.client.get('/audit', params={'action': 'login'}, headers=api.headers()).json()
    assert logins[-1]['actor'] == username and logins[-1]['outcome'].startswith('refused')


def test_repeated_failed_logins_are_throttled(api, helpers):
    for _ in range(5):
        api.client.post('/auth/token', data={'username': 'viewer_user', 'password': 'x' * 12})
    response = api.client.post('/auth/token', data={'username': 'viewer_user',
                                                    'password': helpers.password})
    assert response.status_code == 429
    assert int(response.headers['retry-after']) > 0


def test_disabled_account_and_changed_role_invalidate_tokens(api):
    headers = api.headers(Role.OPERATOR)
    with api.database.write() as session:
        store.set_user_disabled(session, 'operator_user', True, datetime.now(timezone.utc))
    response = api.client.get('/fleet', headers=headers)
    assert response.status_code == 401 and 'disabled' in response.json()['detail']
    stale = api.headers(Role.ADMIN, user='viewer_user')   # the account is a viewer
    response = api.client.get('/fleet', headers=stale)
    assert response.status_code == 401 and 'role changed' in response.json()['detail']


def test_login_form_without_fields_is_422(api):
    assert api.client.post('/auth/token', data={}).status_code == 422


# ----------------------------------------------------------------------------- fleet

def test_fleet_vehicle_and_safety_status_come_from_live_state(api, helpers):
    assert api.client.get('/fleet', headers=api.headers(Role.VIEWER)).json() == {
        'stamp': None, 'vehicles': []}
    now = datetime.now(timezone.utc)
    api.context.live.update_fleet(now, [_vehicle('drone_1', now), _vehicle('rover_1', now)])
    api.context.live.update_safety(helpers.safety(True, ['drone_1']))
    fleet = api.client.get('/fleet', headers=api.headers(Role.VIEWER)).json()
    assert [v['vehicle_id'] for v in fleet['vehicles']] == ['drone_1', 'rover_1']
    vehicle = api.client.get('/vehicles/drone_1', headers=api.headers(Role.VIEWER)).json()
    assert vehicle['position'] == {'x': 0.0, 'y': 2.0, 'z': 30.0} and vehicle['link_state'] == 'ok'
    status = api.client.get('/safety/status', headers=api.headers(Role.VIEWER)).json()
    assert status['estop_engaged'] and status['estopped_vehicle_ids'] == ['drone_1']
    assert api.client.get('/vehicles/drone_9', headers=api.headers()).status_code == 404
    assert api.client.get('/vehicles/bad id!', headers=api.headers()).status_code == 422


# ----------------------------------------------------------------------------- commands

def test_goto_is_answered_with_the_safety_verdict_and_stored(api):
    api.gateway.decision = Decision.REFUSED
    response = api.client.post('/vehicles/drone_1/commands', headers=api.headers(Role.OPERATOR),
                               json={'command': 'goto', 'target': {'x': 500, 'y': 20, 'z': 30},
                                     'speed_limit': 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body['decision'] == 'refused' and not body['accepted']
    assert body['reasons'] == ['geofence: target outside the inclusion zone']
    name, (sent,) = api.gateway.calls[-1]
    assert name == 'command_vehicle' and sent.command == CommandKind.GOTO
    assert sent.issued_by == 'operator_user' and sent.target == Point(500, 20, 30)
    history = api.client.get('/vehicles/drone_1/commands', headers=api.headers()).json()
    assert history[0]['command_id'] == body['command_id'] and history[0]['decision'] == 'refused'
    audit = api.client.get('/audit', params={'action': 'command_vehicle'}, headers=api.headers())
    assert audit.json()[-1]['outcome'] == 'refused'


@pytest.mark.parametrize('command,kind', [('hold', CommandKind.HOLD), ('return', CommandKind.RTL),
                                          ('land', CommandKind.LAND)])
def test_hold_return_land_are_approved(api, command, kind):
    response = api.client.post('/vehicles/rover_1/commands', headers=api.headers(Role.OPERATOR),
                               json={'command': command})
    assert response.json()['accepted'] and response.json()['decision'] == 'approved'
    assert api.gateway.calls[-1][1][0].command == kind


@pytest.mark.parametrize('body,fragment', [
    ({'command': 'goto'}, '"loc":["body","goto","target"],"msg":"Field required"'),
    ({'command': 'hold', 'target': {'x': 1, 'y': 2}}, 'Extra inputs'),
    ({'command': 'terminate'}, "'goto', 'hold', 'return', 'land'"),
    ({'command': 'goto', 'target': {'x': 1e9, 'y': 0}}, 'less than or equal'),
    ({'command': 'goto', 'target': {'x': 'NaN', 'y': 0}}, 'finite'),
    ({'command': 'hold', 'speed_limit': -1}, 'greater than or equal'),
    ({'command': 'hold', 'extra': 1}, 'Extra inputs'),
])
def test_bad_commands_are_422_and_never_reach_safety(api, body, fragment):
    response = api.client.post('/vehicles/drone_1/commands', headers=api.headers(), json=body)
    assert response.status_code == 422
    assert fragment in response.text
    assert api.gateway.calls == []


def test_unknown_vehicle_and_timeout_map_to_404_and_504(api):
    api.gateway.command_error = 2
    assert api.client.post('/vehicles/drone_9/commands', headers=api.headers(),
                           json={'command': 'hold'}).status_code == 404
    api.gateway.timeout = True
    response = api.client.post('/vehicles/drone_1/commands', headers=api.headers(),
                               json={'command': 'hold'})
    assert response.status_code == 504 and 'did not answer' in response.json()['detail']
    audit = api.client.get('/audit', params={'action': 'command_vehicle'}, headers=api.headers())
    assert [e['outcome'] for e in audit.json()] == ['error 2', 'timeout']


# ----------------------------------------------------------------------------- alerts

def _store_alerts(api, helpers):
    base = datetime(2026, 3, 1, tzinfo=timezone.utc)
    with api.database.write() as session:
        for index, (state, severity) in enumerate([(0, 2), (1, 1), (2, 0), (0, 1)]):
            store.ingest_alert(session, helpers.make_alert(
                f'alert-{index}', AlertState(state), severity, base + timedelta(minutes=index)))


def test_alerts_filter_by_state_severity_and_time(api, helpers):
    _store_alerts(api, helpers)
    get = lambda **params: [a['alert_id'] for a in api.client.get(  # noqa: E731
        '/alerts', params=params, headers=api.headers(Role.VIEWER)).json()]
    assert get() == ['alert-3', 'alert-2', 'alert-1', 'alert-0']
    assert get(state='new') == ['alert-3', 'alert-0']
    assert get(state=['new', 'resolved'], severity='warning') == ['alert-3']
    assert get(since='2026-03-01T00:01:00Z', until='2026-03-01T00:03:00Z') == ['alert-2', 'alert-1']
    assert get(limit=1, offset=1) == ['alert-2']
    detail = api.client.get('/alerts/alert-0', headers=api.headers(Role.VIEWER)).json()
    assert [h['state'] for h in detail['history']] == ['new']


@pytest.mark.parametrize('params', [{'state': 'open'}, {'severity': 'huge'}, {'limit': 0},
                                    {'since': 'yesterday'}, {'since': '2026-03-01T00:00:00'}])
def test_bad_alert_filters_are_422(api, params):
    response = api.client.get('/alerts', params=params, headers=api.headers())
    assert response.status_code == 422, params


def _drift_alert_msg() -> Alert:
    """An alert as the perception drift monitor publishes it: about every camera, no place."""
    msg = Alert()
    msg.alert_id = 'drift-f496d8982fbf4e2d'
    msg.severity = Alert.SEVERITY_WARNING
    msg.category = 'drift'
    msg.rule_id = 'input_drift'
    msg.description = 'all cameras: drift from the training data'
    msg.position.x = msg.position.y = msg.position.z = math.nan
    geo = msg.geo_position
    geo.latitude_deg = geo.longitude_deg = geo.altitude = math.nan
    return msg


def test_an_alert_without_a_location_is_stored_and_served_with_a_null_position(api):
    record = ros_convert.alert_from_msg(_drift_alert_msg(), datetime.now(timezone.utc))
    worker = api.context.worker
    assert worker.submit(record) and worker.wait_idle(5.0)
    assert worker.rejected == 0
    listed = api.client.get('/alerts', headers=api.headers(Role.VIEWER))
    detail = api.client.get(f'/alerts/{record.alert_id}', headers=api.headers(Role.VIEWER))
    streamed = alert_record_out(record).model_dump_json()   # what GET /stream sends
    for body in (listed.text, detail.text, streamed):
        assert 'NaN' not in body
    for alert in (listed.json()[0], detail.json(), json.loads(streamed)):
        assert alert['alert_id'] == record.alert_id and alert['category'] == 'drift'
        assert alert['position'] is None
        assert (alert['latitude_deg'], alert['longitude_deg'], alert['altitude']) == (
            None, None, None)


@pytest.mark.parametrize('location,coordinate', [
    ('position', 'x'), ('position', 'y'), ('position', 'z'), ('geo_position', 'latitude_deg'),
    ('geo_position', 'longitude_deg'), ('geo_position', 'altitude')])
def test_one_non_finite_coordinate_makes_its_location_absent(location, coordinate):
    msg = Alert()
    setattr(getattr(msg, location), coordinate, math.inf)
    record = ros_convert.alert_from_msg(msg, datetime.now(timezone.utc))
    other = 'geo_position' if location == 'position' else 'position'
    assert getattr(record, location) is None and getattr(record, other) is not None


def test_acknowledge_and_resolve_go_through_the_owner_and_are_recorded(api, helpers):
    _store_alerts(api, helpers)
    operator = api.headers(Role.OPERATOR)
    response = api.client.post('/alerts/alert-0/acknowledge', headers=operator, json={})
    assert response.status_code == 200 and response.json()['state'] == 'acknowledged'
    assert api.gateway.calls[-1] == ('acknowledge_alert', ('alert-0', 'operator_user', False, ''))
    response = api.client.post('/alerts/alert-0/resolve', headers=operator,
                               json={'note': '  fox on camera 3  '})
    assert response.json()['state'] == 'resolved'
    assert api.gateway.calls[-1][1][3] == 'fox on camera 3'
    detail = api.client.get('/alerts/alert-0', headers=operator).json()
    assert detail['state'] == 'resolved'
    assert [(h['state'], h['changed_by'], h['source']) for h in detail['history']] == [
        ('new', '', 'ros'), ('acknowledged', 'operator_user', 'api'),
        ('resolved', 'operator_user', 'api')]


def test_resolving_needs_a_note_and_errors_map_to_404_409(api):
    assert api.client.post('/alerts/alert-0/resolve', headers=api.headers(),
                           json={'note': '   '}).status_code == 422
    assert api.gateway.calls == []
    api.gateway.ack_error = 1
    assert api.client.post('/alerts/nope/acknowledge', headers=api.headers(),
                           json={}).status_code == 404
    api.gateway.ack_error = 2
    assert api.client.post('/alerts/alert-0/acknowledge', headers=api.headers(),
                           json={}).status_code == 409
    assert api.client.get('/alerts/alert-0', headers=api.headers()).status_code == 404


# ----------------------------------------------------------------------------- tasks

def test_task_lifecycle_through_mission_control(api):
    operator = api.headers(Role.OPERATOR)
    created = api.client.post('/tasks', headers=operator, json={
        'task_type': 'patrol', 'route': [{'x': 0, 'y': 0}, {'x': 50, 'y': 0}], 'priority': 3})
    assert created.status_code == 201, created.text
    task_id = created.json()['task_id']
    assert created.json()['created_by'] == 'operator_user'
    assert api.client.get(f'/tasks/{task_id}', headers=operator).json()['task_type'] == 'patrol'
    assert api.client.post(f'/tasks/{task_id}/pause', headers=operator).json()['state'] == 'paused'
    assert api.client.post(f'/tasks/{task_id}/resume', headers=operator).json()['state'] == 'active'
    assert api.client.post(f'/tasks/{task_id}/cancel', headers=operator).json()['state'] == 'cancelled'
    assert api.gateway.names() == ['assign_task', 'set_task_paused', 'set_task_paused',
                                   'cancel_task']
    listed = api.client.get('/tasks', params={'state': 'cancelled'}, headers=operator).json()
    assert [t['task_id'] for t in listed] == [task_id]


@pytest.mark.parametrize('body', [
    {'task_type': 'patrol', 'route': [{'x': 0, 'y': 0}]},
    {'task_type': 'goto'},
    {'task_type': 'investigate'},
    {'task_type': 'hold', 'target': {'x': 1, 'y': 1}},
    {'task_type': 'hold', 'priority': 256},
    {'task_type': 'fly_away'},
    {'task_type': 'goto', 'target': {'x': 1, 'y': 1}, 'vehicle_id': '../etc'},
])
def test_bad_tasks_are_422(api, body):
    assert api.client.post('/tasks', headers=api.headers(), json=body).status_code == 422
    assert api.gateway.calls == []


def test_task_errors_map_to_http_statuses(api):
    api.gateway.task_error = 1
    assert api.client.post('/tasks', headers=api.headers(),
                           json={'task_type': 'hold'}).status_code == 409
    assert api.client.post('/tasks/task-9/pause', headers=api.headers()).status_code == 404
    api.gateway.task_error = 2
    assert api.client.post('/tasks/task-9/cancel', headers=api.headers()).status_code == 409
    assert api.client.get('/tasks/task-9', headers=api.headers()).status_code == 404


# ----------------------------------------------------------------------------- telemetry, models, users

def test_telemetry_history_is_downsampled(api):
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    with api.database.write() as session:
        for second in range(600):
            store.add_telemetry(session, _vehicle('drone_1', start + timedelta(seconds=second),
                                                  x=float(second)))
    response = api.client.get('/vehicles/drone_1/telemetry', headers=api.headers(Role.VIEWER),
                              params={'start': '2026-03-01T00:00:00Z',
                                      'end': '2026-03-01T00:10:00Z', 'max_points': 10})
    body = response.json()
    assert body['bucket_s'] == 60.0 and len(body['points']) == 10
    assert [p['count'] for p in body['points']] == [60] * 10
    assert body['points'][0]['x'] == pytest.approx(29.5)
    assert body['points'][0]['mode'] == 'GUIDED'


@pytest.mark.parametrize('params,fragment', [
    ({'start': '2026-03-01T01:00:00Z', 'end': '2026-03-01T00:00:00Z'}, 'after start'),
    ({'start': '2026-03-01T00:00:00Z', 'end': '2026-03-20T00:00:00Z'}, '7 days'),
    ({'start': '2026-03-01T00:00:00', 'end': '2026-03-01T01:00:00Z'}, 'time zone'),
    ({'start': '2026-03-01T00:00:00Z'}, 'end'),
    ({'start': '2026-03-01T00:00:00Z', 'end': '2026-03-01T01:00:00Z', 'max_points': 0}, 'max_points'),
])
def test_bad_telemetry_ranges_are_422(api, params, fragment):
    response = api.client.get('/vehicles/drone_1/telemetry', headers=api.headers(), params=params)
    assert response.status_code == 422 and fragment in response.text


def test_models_are_read_from_the_registry_table(api):
    with api.database.write() as session:
        session.add(schema.Model(version='v2', parent_version='v1', status='active',
                                 class_names_json='["person", "vehicle"]', input_size_px=320,
                                 dataset_hash='abc', map50=0.8, map50_95=0.5,
                                 file_uri='file:///models/v2.onnx',
                                 created_at=datetime.now(timezone.utc)))
    listed = api.client.get('/models', headers=api.headers(Role.VIEWER)).json()
    assert [(m['version'], m['status'], m['class_names']) for m in listed] == [
        ('v2', 'active', ['person', 'vehicle'])]
    assert api.client.get('/models/v2', headers=api.headers()).json()['map50'] == 0.8
    assert api.client.get('/models/v9', headers=api.headers()).status_code == 404


def test_users_are_listed_without_secrets(api):
    users = api.client.get('/users', headers=api.headers(Role.ADMIN)).json()
    assert {u['name'] for u in users} == set(api.users.values())
    assert all('hash' not in str(u) for u in users)


def test_health_reports_database_and_queue(api):
    body = api.client.get('/health').json()
    assert body['status'] == 'ok' and body['database'] == 'ok'
    assert body['queue']['max_records'] > 0


def test_openapi_document_describes_every_operation_with_schemas(api):
    document = api.client.get('/openapi.json').json()
    for path, operations in document['paths'].items():
        for method, operation in operations.items():
            assert operation.get('summary'), f'{method} {path} has no summary'
            assert '200' in operation['responses'] or '201' in operation['responses']
            if path not in ('/auth/token', '/health'):
                assert '401' in operation['responses'], f'{method} {path}'
            if path not in ('/auth/token', '/health', '/auth/me'):
                assert '403' in operation['responses'], f'{method} {path}'
    assert 'OAuth2PasswordBearer' in document['components']['securitySchemes']
