"""The JSON requests operators send from Foxglove's Call Service panel, checked.

Every request is a small JSON object. Unknown keys are refused (a typo such
as ``"vehical_id"`` must not silently become a default), values are type- and
range-checked, and a bad request is answered with a message naming the key
and the reason; nothing reaches the ROS graph unless it parsed cleanly. The
JSON Schemas below are advertised with the services, so Foxglove shows the
expected fields.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Largest request accepted, bytes (a request is a few hundred bytes; this stops abuse).
MAX_REQUEST_BYTES = 16 * 1024
# Longest free-text field (reason, note), characters.
MAX_TEXT = 500
# Longest id (alert ids are generated strings), characters.
MAX_ID = 128
# Most vehicles one e-stop request may name.
MAX_VEHICLE_IDS = 64
# Farthest a commanded target may lie from the site origin, metres (a typo guard;
# the safety gate applies the real geofence).
MAX_TARGET_DISTANCE = 50_000.0
# Fastest speed limit an operator may request, m/s (the safety gate clamps further).
MAX_SPEED_LIMIT = 50.0

# Vehicle ids follow the site-config naming rule.
_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*')


class RequestError(ValueError):
    """A request that cannot be used; the message names the key and is safe to show."""


class EstopScope(enum.Enum):
    FLEET = 'fleet'
    VEHICLE = 'vehicle'


class CommandKind(enum.Enum):
    """Commands an operator may send from Foxglove (no arm, takeoff or terminate here)."""

    GOTO = 'goto'
    HOLD = 'hold'
    RTL = 'rtl'
    LAND = 'land'


@dataclass(frozen=True)
class LoginRequest:
    token: str


@dataclass(frozen=True)
class EstopRequest:
    token: str | None
    scope: EstopScope
    vehicle_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class AcknowledgeRequest:
    token: str | None
    alert_id: str
    resolve: bool
    note: str


@dataclass(frozen=True)
class CommandRequest:
    token: str | None
    vehicle_id: str
    command: CommandKind
    target: tuple[float, float, float]   # site ENU m; zeros unless goto
    speed_limit: float                   # m/s; 0 = vehicle default


def _object(payload: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    if len(payload) > MAX_REQUEST_BYTES:
        raise RequestError(f'request is {len(payload)} bytes; at most {MAX_REQUEST_BYTES}')
    try:
        document = json.loads(payload.decode('utf-8')) if payload.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(f'request is not valid JSON: {error}') from None
    if not isinstance(document, dict):
        raise RequestError(f'request must be a JSON object, got {type(document).__name__}')
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise RequestError(f'{unknown[0]}: unknown key (expected one of: '
                           f'{", ".join(sorted(allowed))})')
    return document


def _text(document: Mapping[str, Any], key: str, default: str | None = None,
          limit: int = MAX_TEXT) -> str:
    value = document.get(key, default)
    if value is None:
        raise RequestError(f'{key}: missing required key')
    if not isinstance(value, str):
        raise RequestError(f'{key}: expected a string, got {type(value).__name__}')
    value = value.strip()
    if len(value) > limit:
        raise RequestError(f'{key}: at most {limit} characters, got {len(value)}')
    return value


def _token(document: Mapping[str, Any]) -> str | None:
    if 'token' not in document:
        return None
    return _text(document, 'token', limit=MAX_REQUEST_BYTES) or None


def _name(document: Mapping[str, Any], key: str) -> str:
    value = _text(document, key, limit=MAX_ID)
    if not _NAME.fullmatch(value):
        raise RequestError(f'{key}: "{value}" is not a valid id (letters, digits, underscores, '
                           'starting with a letter)')
    return value


def _number(document: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = document.get(key, default)
    if value is None:
        raise RequestError(f'{key}: missing required key')
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f'{key}: expected a number, got {type(value).__name__}')
    if not math.isfinite(value):
        raise RequestError(f'{key}: must be finite')
    return float(value)


def _choice(document: Mapping[str, Any], key: str, kind: type[enum.Enum], default: str) -> Any:
    text = _text(document, key, default).lower()
    try:
        return kind(text)
    except ValueError:
        names = ', '.join(str(member.value) for member in kind)
        raise RequestError(f'{key}: "{text}" is not one of: {names}') from None


def parse_login(payload: bytes) -> LoginRequest:
    document = _object(payload, frozenset({'token'}))
    token = _token(document)
    if token is None:
        raise RequestError('token: missing required key')
    return LoginRequest(token)


def parse_estop(payload: bytes) -> EstopRequest:
    """``{"scope": "fleet"|"vehicle", "vehicle_ids": [...], "reason": "..."}``, all optional."""
    document = _object(payload, frozenset({'token', 'scope', 'vehicle_ids', 'reason'}))
    scope = _choice(document, 'scope', EstopScope, EstopScope.FLEET.value)
    raw_ids = document.get('vehicle_ids', [])
    if not isinstance(raw_ids, list):
        raise RequestError('vehicle_ids: expected a list of vehicle ids')
    if len(raw_ids) > MAX_VEHICLE_IDS:
        raise RequestError(f'vehicle_ids: at most {MAX_VEHICLE_IDS} ids')
    ids = tuple(_name({'vehicle_ids': v}, 'vehicle_ids') for v in raw_ids)
    if scope is EstopScope.VEHICLE and not ids:
        raise RequestError('vehicle_ids: a vehicle-scoped e-stop needs at least one vehicle id')
    if scope is EstopScope.FLEET and ids:
        raise RequestError('vehicle_ids: must be empty for a fleet e-stop (it stops every '
                           'vehicle); use "scope": "vehicle" to stop only some')
    reason = _text(document, 'reason', '') or 'e-stop from the Foxglove live view'
    return EstopRequest(_token(document), scope, ids, reason)


def parse_acknowledge(payload: bytes) -> AcknowledgeRequest:
    """``{"alert_id": "...", "resolve": false, "note": "..."}``."""
    document = _object(payload, frozenset({'token', 'alert_id', 'resolve', 'note'}))
    alert_id = _text(document, 'alert_id', limit=MAX_ID)
    if not alert_id:
        raise RequestError('alert_id: must not be empty')
    resolve = document.get('resolve', False)
    if not isinstance(resolve, bool):
        raise RequestError(f'resolve: expected true or false, got {type(resolve).__name__}')
    return AcknowledgeRequest(_token(document), alert_id, resolve, _text(document, 'note', ''))


def parse_command(payload: bytes) -> CommandRequest:
    """``{"vehicle_id": "drone_1", "command": "goto", "x": 10, "y": 5, "z": 20}``.

    x, y, z (site ENU metres) are required for ``goto`` and refused otherwise.
    """
    document = _object(payload, frozenset({'token', 'vehicle_id', 'command', 'x', 'y', 'z',
                                           'speed_limit'}))
    vehicle_id = _name(document, 'vehicle_id')
    command = _choice(document, 'command', CommandKind, CommandKind.GOTO.value)
    given = [key for key in ('x', 'y', 'z') if key in document]
    if command is CommandKind.GOTO:
        target = (_number(document, 'x'), _number(document, 'y'), _number(document, 'z'))
        if math.hypot(*target) > MAX_TARGET_DISTANCE:
            raise RequestError(f'x, y, z: target is more than {MAX_TARGET_DISTANCE:.0f} m from '
                               'the site origin')
    elif given:
        raise RequestError(f'{given[0]}: a {command.value} command takes no target')
    else:
        target = (0.0, 0.0, 0.0)
    speed = _number(document, 'speed_limit', 0.0)
    if not 0.0 <= speed <= MAX_SPEED_LIMIT:
        raise RequestError(f'speed_limit: must be in [0, {MAX_SPEED_LIMIT:g}] m/s, got {speed:g}')
    return CommandRequest(_token(document), vehicle_id, command, target, speed)


def response_bytes(document: Mapping[str, Any]) -> bytes:
    """A service response as compact JSON."""
    return json.dumps(document, separators=(',', ':'), allow_nan=False).encode('utf-8')


# --------------------------------------------------------------------------
# JSON Schemas advertised with the services
# --------------------------------------------------------------------------

_TOKEN_PROPERTY = {'type': 'string', 'description': 'operator API token (optional after '
                                                    '/sentinel/login on this connection)'}

LOGIN_SCHEMA: dict[str, Any] = {
    'type': 'object', 'additionalProperties': False, 'required': ['token'],
    'properties': {'token': {'type': 'string', 'description': 'token from the operator API'}},
}
LOGOUT_SCHEMA: dict[str, Any] = {'type': 'object', 'additionalProperties': False,
                                 'properties': {}}
ESTOP_SCHEMA: dict[str, Any] = {
    'type': 'object', 'additionalProperties': False,
    'properties': {
        'token': _TOKEN_PROPERTY,
        'scope': {'type': 'string', 'enum': [s.value for s in EstopScope], 'default': 'fleet'},
        'vehicle_ids': {'type': 'array', 'items': {'type': 'string'},
                        'maxItems': MAX_VEHICLE_IDS},
        'reason': {'type': 'string', 'maxLength': MAX_TEXT},
    },
}
ACKNOWLEDGE_SCHEMA: dict[str, Any] = {
    'type': 'object', 'additionalProperties': False, 'required': ['alert_id'],
    'properties': {
        'token': _TOKEN_PROPERTY,
        'alert_id': {'type': 'string', 'maxLength': MAX_ID},
        'resolve': {'type': 'boolean', 'default': False},
        'note': {'type': 'string', 'maxLength': MAX_TEXT},
    },
}
COMMAND_SCHEMA: dict[str, Any] = {
    'type': 'object', 'additionalProperties': False, 'required': ['vehicle_id'],
    'properties': {
        'token': _TOKEN_PROPERTY,
        'vehicle_id': {'type': 'string'},
        'command': {'type': 'string', 'enum': [c.value for c in CommandKind], 'default': 'goto'},
        'x': {'type': 'number', 'description': 'site east, m (goto only)'},
        'y': {'type': 'number', 'description': 'site north, m (goto only)'},
        'z': {'type': 'number', 'description': 'site up, m (goto only)'},
        'speed_limit': {'type': 'number', 'minimum': 0, 'maximum': MAX_SPEED_LIMIT,
                        'description': 'm/s; 0 = vehicle default'},
    },
}
RESPONSE_SCHEMA: dict[str, Any] = {
    'type': 'object',
    'properties': {'ok': {'type': 'boolean'}, 'error_code': {'type': 'integer'},
                   'error_msg': {'type': 'string'}},
}
