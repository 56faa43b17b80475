"""Token gating of operator actions, request checks, and the action handlers (no DDS)."""

import json

import pytest
from sentinel_msgs.msg import SafetyVerdict
from sentinel_msgs.srv import AcknowledgeAlert, CommandVehicle, TriggerEstop

from sentinel_bridge.auth import DEFAULT_AUDIENCE, Role, TokenService
from sentinel_bridge.foxglove_actions import (ACKNOWLEDGE_SERVICE, COMMAND_SERVICE,
                                              ESTOP_SERVICE, OperatorActions)
from sentinel_bridge.foxglove_gate import Action, OperatorGate
from sentinel_bridge.foxglove_requests import (CommandKind, EstopScope, RequestError,
                                               parse_acknowledge, parse_command, parse_estop)
from sentinel_bridge.foxglove_server import ServiceRefused

SECRET = b'0123456789abcdef0123456789abcdef-test'
TOKENS = TokenService(SECRET, DEFAULT_AUDIENCE, 600.0)


class FakeLogger:
    def __init__(self):
        self.lines = []

    def info(self, message):
        self.lines.append(('info', message))

    def warning(self, message):
        self.lines.append(('warning', message))


class FakeAudit:
    """Collects audit entries as the spool would append them."""

    def __init__(self):
        self.entries = []

    def record(self, actor, action, target, outcome, detail):
        self.entries.append((actor, action, target, outcome, detail))
        return True


class FakeGraph:
    """Stands in for the ROS services: records requests, answers like the real servers."""

    def __init__(self):
        self.calls = []

    def __call__(self, service, request):
        self.calls.append((service, request))
        if service == ESTOP_SERVICE:
            response = TriggerEstop.Response()
            response.status.estop_engaged = True
            return response
        if service == ACKNOWLEDGE_SERVICE:
            response = AcknowledgeAlert.Response()
            response.alert.alert_id = request.alert_id
            response.alert.state = 2 if request.resolve else 1
            return response
        response = CommandVehicle.Response(command=request.command)
        response.command.verdict.decision = SafetyVerdict.APPROVED_WITH_CHANGES
        response.command.verdict.reasons = ['speed clamped to 8 m/s']
        response.command.speed_limit = 8.0
        return response


@pytest.fixture
def world():
    graph, logger, recorded, audit = FakeGraph(), FakeLogger(), [], FakeAudit()
    actions = OperatorActions(OperatorGate(TOKENS), graph, logger,
                              lambda level, message: recorded.append(message), audit)
    return actions, graph, logger, recorded


def _body(**fields):
    return json.dumps(fields).encode()


def test_viewer_token_is_refused_and_nothing_reaches_ros(world):
    actions, graph, logger, _ = world
    token = TOKENS.issue('vic', Role.VIEWER)
    with pytest.raises(ServiceRefused, match='not permitted'):
        actions.trigger_estop(1, _body(token=token, reason='test'))
    assert graph.calls == []
    assert any('refused' in line for level, line in logger.lines if level == 'warning')


def test_operator_token_engages_estop_as_the_token_user_not_a_typed_name(world):
    actions, graph, _, recorded = world
    token = TOKENS.issue('alice', Role.OPERATOR)
    answer = json.loads(actions.trigger_estop(1, _body(token=token, reason='intruder')))
    assert answer == {'ok': True, 'error_code': 0, 'error_msg': '', 'estop_engaged': True,
                      'requested_by': 'alice'}
    (service, request), = graph.calls
    assert service == ESTOP_SERVICE and request.requested_by == 'alice'
    assert request.scope == TriggerEstop.Request.SCOPE_FLEET and request.reason == 'intruder'
    assert any('alice' in line for line in recorded)


def test_session_login_lets_later_calls_omit_the_token_on_that_connection_only(world):
    actions, graph, _, _ = world
    answer = json.loads(actions.login(7, _body(token=TOKENS.issue('bob', Role.SUPERVISOR))))
    assert answer['user_id'] == 'bob' and answer['role'] == 'supervisor'
    actions.acknowledge_alert(7, _body(alert_id='A-1', resolve=True, note='false alarm'))
    assert graph.calls[0][1].operator_id == 'bob' and graph.calls[0][1].resolve
    with pytest.raises(ServiceRefused, match='not logged in'):
        actions.acknowledge_alert(8, _body(alert_id='A-1'))
    assert json.loads(actions.logout(7, b''))['ok']
    with pytest.raises(ServiceRefused, match='not logged in'):
        actions.acknowledge_alert(7, _body(alert_id='A-1'))


def test_expired_forged_and_missing_tokens_are_refused():
    gate = OperatorGate(TOKENS)
    expired = TokenService(SECRET, DEFAULT_AUDIENCE, 1.0, clock=lambda: 1000.0).issue(
        'alice', Role.OPERATOR)
    forged = TokenService(b'another-secret-of-at-least-32-bytes!', DEFAULT_AUDIENCE,
                          60.0).issue('alice', Role.ADMIN)
    assert 'expired' in gate.decide(Action.TRIGGER_ESTOP, 1, expired).reason
    assert not gate.decide(Action.TRIGGER_ESTOP, 1, forged).allowed
    assert not gate.decide(Action.TRIGGER_ESTOP, 1, None).allowed
    assert gate.decide(Action.COMMAND_VEHICLE, 1,
                       TOKENS.issue('op', Role.OPERATOR)).allowed


def test_a_gate_without_secret_refuses_everything():
    gate = OperatorGate(None, 'no secret file')
    decision = gate.decide(Action.TRIGGER_ESTOP, 1, TOKENS.issue('admin', Role.ADMIN))
    assert not decision.allowed and 'disabled' in decision.reason and not gate.enabled


def test_command_goes_to_the_safety_gate_and_the_verdict_comes_back(world):
    actions, graph, _, _ = world
    token = TOKENS.issue('carol', Role.OPERATOR)
    answer = json.loads(actions.command_vehicle(3, _body(token=token, vehicle_id='drone_1',
                                                         command='goto', x=10, y=-5, z=20,
                                                         speed_limit=12)))
    (service, request), = graph.calls
    command = request.command
    assert service == COMMAND_SERVICE and command.issued_by == 'carol'
    assert (command.target.x, command.target.y, command.target.z) == (10, -5, 20)
    assert command.command == 0 and command.command_id.startswith('op-')
    assert answer['verdict']['decision'] == 'approved_with_changes'
    assert answer['verdict']['reasons'] == ['speed clamped to 8 m/s']
    assert answer['speed_limit'] == 8.0 and answer['ok']


def test_every_action_and_denial_is_audited_with_the_token_user_via_foxglove():
    graph, audit = FakeGraph(), FakeAudit()
    actions = OperatorActions(OperatorGate(TOKENS), graph, FakeLogger(), lambda *_: None, audit)
    operator = TOKENS.issue('olga', Role.OPERATOR)
    with pytest.raises(ServiceRefused):
        actions.trigger_estop(1, _body(token=TOKENS.issue('vic', Role.VIEWER)))
    with pytest.raises(ServiceRefused):  # no token: nobody to name, nothing audited
        actions.trigger_estop(1, _body(reason='anonymous'))
    actions.trigger_estop(2, _body(token=operator, scope='vehicle', vehicle_ids=['drone_1'],
                                   reason='intruder'))
    actions.acknowledge_alert(2, _body(token=operator, alert_id='A-9', note='seen'))
    actions.command_vehicle(2, _body(token=operator, vehicle_id='drone_1', command='goto',
                                     x=1, y=2, z=3))

    def no_answer(service, request):
        raise ServiceRefused(f'{service} did not answer within 5 s')

    silent = OperatorActions(OperatorGate(TOKENS), no_answer, FakeLogger(), lambda *_: None,
                             audit)
    with pytest.raises(ServiceRefused, match='did not answer'):
        silent.command_vehicle(3, _body(token=operator, vehicle_id='drone_2', command='hold'))

    assert [entry[:4] for entry in audit.entries] == [
        ('vic', 'permission_denied', 'foxglove trigger_estop', 'refused'),
        ('olga', 'engage_estop', 'vehicle', 'engaged'),
        ('olga', 'acknowledge_alert', 'A-9', 'ok'),
        ('olga', 'command_vehicle', 'drone_1', 'approved_with_changes'),
        ('olga', 'command_vehicle', 'drone_2', 'timeout')]
    details = [entry[4] for entry in audit.entries]
    assert all(d['via'] == 'foxglove' for d in details)
    assert details[0]['permission'] == 'engage_estop' and details[0]['client_id'] == 1
    assert details[1]['vehicle_ids'] == ['drone_1'] and details[1]['reason'] == 'intruder'
    assert details[3]['target'] == {'x': 1, 'y': 2, 'z': 3}
    assert details[3]['command_id'] == graph.calls[-1][1].command.command_id


def test_bad_requests_name_the_key_and_never_reach_ros(world):
    actions, graph, _, _ = world
    token = TOKENS.issue('carol', Role.OPERATOR)
    with pytest.raises(ServiceRefused, match='vehical_id: unknown key'):
        actions.command_vehicle(1, _body(token=token, vehical_id='drone_1'))
    with pytest.raises(ServiceRefused, match='x: missing'):
        actions.command_vehicle(1, _body(token=token, vehicle_id='drone_1', command='goto'))
    with pytest.raises(ServiceRefused, match='not valid JSON'):
        actions.trigger_estop(1, b'{oops')
    assert graph.calls == []


@pytest.mark.parametrize('payload, message', [
    (b'[]', 'JSON object'),
    (_body(scope='vehicle'), 'at least one vehicle'),
    (_body(scope='fleet', vehicle_ids=['drone_1']), 'must be empty'),
    (_body(scope='moon'), 'not one of'),
    (_body(vehicle_ids='drone_1', scope='vehicle'), 'list'),
    (_body(reason=5), 'expected a string'),
    (b'x' * 20000, 'at most'),
])
def test_estop_request_validation(payload, message):
    with pytest.raises(RequestError, match=message):
        parse_estop(payload)


def test_valid_requests_parse_with_defaults():
    assert parse_estop(b'').scope is EstopScope.FLEET
    request = parse_estop(_body(scope='vehicle', vehicle_ids=['drone_2', 'rover_1']))
    assert request.vehicle_ids == ('drone_2', 'rover_1')
    assert parse_acknowledge(_body(alert_id=' A-9 ')).alert_id == 'A-9'
    hold = parse_command(_body(vehicle_id='rover_1', command='HOLD'))
    assert hold.command is CommandKind.HOLD and hold.target == (0.0, 0.0, 0.0)
    for bad in (_body(vehicle_id='rover_1', command='hold', x=1),
                _body(vehicle_id='1rover'), _body(vehicle_id='d', x=1e9, y=0, z=0),
                _body(vehicle_id='d', x=1, y=2, z=3, speed_limit=-1),
                _body(vehicle_id='d', x=True, y=2, z=3),
                _body(alert_id='', resolve=False)):
        with pytest.raises(RequestError):
            parse_command(bad) if b'alert_id' not in bad else parse_acknowledge(bad)
