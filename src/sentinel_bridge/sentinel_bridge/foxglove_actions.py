"""Operator actions from Foxglove: parse, gate, build the ROS request, answer in JSON.

Each handler runs on a Foxglove server thread: it parses the JSON request,
asks the :class:`OperatorGate` who is acting and whether they may, builds the
ROS service request with the token's user as the actor, and turns the ROS
response into the JSON answer. The ROS call itself is injected (``call``), so
the handlers are tested without DDS; the node passes a function that calls
the real service and waits with a timeout. Refusals raise
:class:`ServiceRefused`, which the client sees as the call's failure, and are
logged (who, what, why).

Every action that reached the ROS graph (and every permission denial of a
known user) is also appended to the operator API's audit chain through the
injected :class:`AuditTrail` before the client is answered, with the same
action names, targets and outcomes as the API's entries and ``"via":
"foxglove"`` in the detail, so one audit log covers both doors.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from sentinel_msgs.msg import VehicleCommand
from sentinel_msgs.srv import AcknowledgeAlert, CommandVehicle, TriggerEstop

from sentinel_bridge.auth import AuthError
from sentinel_bridge.foxglove_domain import AlertState
from sentinel_bridge.foxglove_gate import ACTION_PERMISSIONS, Action, OperatorGate
from sentinel_bridge.foxglove_model import LogLevel
from sentinel_bridge.foxglove_requests import (CommandKind, EstopScope, RequestError, parse_acknowledge,
                                               parse_command, parse_estop, parse_login,
                                               response_bytes)
from sentinel_bridge.foxglove_ros import COMMAND_CODES, verdict_record
from sentinel_bridge.foxglove_server import ServiceRefused

# The ROS services operator actions become (docs/ros_graph.md).
ESTOP_SERVICE = '/safety/trigger_estop'
ACKNOWLEDGE_SERVICE = '/alerts/acknowledge'
COMMAND_SERVICE = '/safety/command_vehicle'
# Frame of commanded targets (site ENU).
TARGET_FRAME = 'site'
_NS_PER_S = 1_000_000_000


class Logger(Protocol):
    def info(self, message: str) -> Any: ...
    def warning(self, message: str) -> Any: ...


class AuditTrail(Protocol):
    """Where entries go (``audit_spool.AuditSpool``): durable before ``record`` returns."""

    def record(self, actor: str, action: str, target: str, outcome: str,
               detail: dict[str, object]) -> bool: ...


# call(service_name, request) -> response; raises ServiceRefused when unavailable or late.
ServiceCall = Callable[[str, Any], Any]
# record(level, message): the action also appears in Foxglove's log panel.
Recorder = Callable[[LogLevel, str], None]


class OperatorActions:
    """The Foxglove service handlers: ``handler(client_id, payload) -> response bytes``."""

    def __init__(self, gate: OperatorGate, call: ServiceCall, logger: Logger,
                 record: Recorder, audit: AuditTrail,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._gate = gate
        self._call = call
        self._logger = logger
        self._record = record
        self._audit = audit
        self._clock_ns = clock_ns

    def _authorize(self, action: Action, client_id: int, token: str | None) -> str:
        decision = self._gate.decide(action, client_id, token)
        if not decision.allowed or decision.principal is None:
            self._logger.warning(f'Foxglove client {client_id}: {action.value} refused: '
                                 f'{decision.reason}')
            principal = decision.principal
            if principal is not None:  # a valid token whose role lacks the permission
                self._audit_entry(client_id, principal.user_id, 'permission_denied',
                                  f'foxglove {action.value}', 'refused',
                                  {'role': principal.role.value,
                                   'permission': ACTION_PERMISSIONS[action].value})
            raise ServiceRefused(f'not authorized: {decision.reason}')
        return decision.principal.user_id

    def _audit_entry(self, client_id: int, user: str, action: str, target: str, outcome: str,
                     detail: dict[str, object]) -> None:
        self._audit.record(user, action, target, outcome,
                           {**detail, 'via': 'foxglove', 'client_id': client_id})

    def _audited_call(self, client_id: int, user: str, action: str, target: str,
                      service: str, request: Any) -> Any:
        """The ROS call; a call that got no answer is audited (outcome timeout) and refused."""
        try:
            return self._call(service, request)
        except ServiceRefused as error:
            self._audit_entry(client_id, user, action, target, 'timeout', {'error': str(error)})
            raise

    def login(self, client_id: int, payload: bytes) -> bytes:
        try:
            principal = self._gate.login(client_id, parse_login(payload).token)
        except (RequestError, AuthError) as error:
            self._logger.warning(f'Foxglove client {client_id}: login refused: {error}')
            raise ServiceRefused(f'login refused: {error}') from None
        self._logger.info(f'Foxglove client {client_id}: {principal.user_id} logged in as '
                          f'{principal.role.value}')
        return response_bytes({'ok': True, 'error_code': 0, 'error_msg': '',
                               'user_id': principal.user_id, 'role': principal.role.value,
                               'expires_at': principal.expires_at})

    def logout(self, client_id: int, payload: bytes) -> bytes:
        ended = self._gate.logout(client_id)
        return response_bytes({'ok': ended, 'error_code': 0,
                               'error_msg': '' if ended else 'no session to end'})

    def trigger_estop(self, client_id: int, payload: bytes) -> bytes:
        try:
            request = parse_estop(payload)
        except RequestError as error:
            raise ServiceRefused(f'bad request: {error}') from None
        user = self._authorize(Action.TRIGGER_ESTOP, client_id, request.token)
        scope = (TriggerEstop.Request.SCOPE_FLEET if request.scope is EstopScope.FLEET
                 else TriggerEstop.Request.SCOPE_VEHICLE)
        targets = ', '.join(request.vehicle_ids) or 'fleet'
        self._logger.warning(f'operator {user} triggers e-stop ({targets}) from Foxglove: '
                             f'{request.reason}')
        response = self._audited_call(
            client_id, user, 'engage_estop', request.scope.value, ESTOP_SERVICE,
            TriggerEstop.Request(scope=scope, vehicle_ids=list(request.vehicle_ids),
                                 requested_by=user, reason=request.reason))
        ok = response.error_code == TriggerEstop.Response.ERROR_NONE
        self._audit_entry(client_id, user, 'engage_estop', request.scope.value,
                          'engaged' if ok else f'error {response.error_code}',
                          {'vehicle_ids': list(request.vehicle_ids), 'reason': request.reason,
                           'error_msg': response.error_msg})
        self._record(LogLevel.ERROR, f'e-stop ({targets}) by {user}: {request.reason} -> '
                                     f'{response.error_msg or "engaged"}')
        return response_bytes({'ok': ok, 'error_code': response.error_code,
                               'error_msg': response.error_msg,
                               'estop_engaged': bool(response.status.estop_engaged),
                               'requested_by': user})

    def acknowledge_alert(self, client_id: int, payload: bytes) -> bytes:
        try:
            request = parse_acknowledge(payload)
        except RequestError as error:
            raise ServiceRefused(f'bad request: {error}') from None
        action = Action.RESOLVE_ALERT if request.resolve else Action.ACKNOWLEDGE_ALERT
        user = self._authorize(action, client_id, request.token)
        response = self._audited_call(
            client_id, user, action.value, request.alert_id, ACKNOWLEDGE_SERVICE,
            AcknowledgeAlert.Request(alert_id=request.alert_id, operator_id=user,
                                     resolve=request.resolve, note=request.note))
        verb = 'resolved' if request.resolve else 'acknowledged'
        ok = response.error_code == AcknowledgeAlert.Response.ERROR_NONE
        self._audit_entry(client_id, user, action.value, request.alert_id,
                          'ok' if ok else f'error {response.error_code}',
                          {'note': request.note, 'error_msg': response.error_msg})
        self._logger.info(f'operator {user} {verb} alert {request.alert_id}: '
                          f'{"ok" if ok else response.error_msg}')
        self._record(LogLevel.INFO, f'alert {request.alert_id} {verb} by {user}'
                                    f'{"" if ok else ": " + response.error_msg}')
        state = ''
        if ok:
            try:
                state = AlertState(response.alert.state).name.lower()
            except ValueError:
                state = str(response.alert.state)
        return response_bytes({'ok': ok, 'error_code': response.error_code,
                               'error_msg': response.error_msg, 'alert_id': request.alert_id,
                               'state': state})

    def command_vehicle(self, client_id: int, payload: bytes) -> bytes:
        try:
            request = parse_command(payload)
        except RequestError as error:
            raise ServiceRefused(f'bad request: {error}') from None
        user = self._authorize(Action.COMMAND_VEHICLE, client_id, request.token)
        command = VehicleCommand()
        now = self._clock_ns()
        command.header.stamp.sec, command.header.stamp.nanosec = divmod(now, _NS_PER_S)
        command.header.frame_id = TARGET_FRAME
        command.command_id = f'op-{uuid.uuid4().hex[:12]}'
        command.vehicle_id = request.vehicle_id
        command.command = COMMAND_CODES[request.command]
        command.target.x, command.target.y, command.target.z = request.target
        command.speed_limit = request.speed_limit
        command.issued_by = user
        response = self._audited_call(client_id, user, 'command_vehicle', request.vehicle_id,
                                      COMMAND_SERVICE, CommandVehicle.Request(command=command))
        judged = response.error_code in (CommandVehicle.Response.ERROR_NONE,
                                         CommandVehicle.Response.ERROR_REFUSED)
        if judged:
            verdict = verdict_record(response.command.verdict)
        else:  # unknown vehicle or malformed: the gate never judged it
            verdict = {'decision': 'not_checked', 'reasons': [response.error_msg],
                       'checks_failed': []}
        self._logger.info(f'operator {user} sent {request.command.value} to '
                          f'{request.vehicle_id} ({command.command_id}): {verdict["decision"]}'
                          f'{" " + response.error_msg if response.error_msg else ""}')
        goto = request.command is CommandKind.GOTO
        self._audit_entry(client_id, user, 'command_vehicle', request.vehicle_id,
                          verdict['decision'] if judged else f'error {response.error_code}',
                          {'command_id': command.command_id, 'command': request.command.value,
                           'target': dict(zip('xyz', request.target)) if goto else None,
                           'speed_limit': request.speed_limit,
                           'reasons': list(verdict['reasons']), 'error_msg': response.error_msg})
        self._record(LogLevel.INFO, f'{request.command.value} {request.vehicle_id} by {user}: '
                                    f'{verdict["decision"]}')
        sent = response.command
        return response_bytes({'ok': response.error_code == CommandVehicle.Response.ERROR_NONE,
                               'error_code': response.error_code,
                               'error_msg': response.error_msg,
                               'command_id': command.command_id, 'verdict': verdict,
                               'target': {'x': sent.target.x, 'y': sent.target.y,
                                          'z': sent.target.z},
                               'speed_limit': sent.speed_limit})
