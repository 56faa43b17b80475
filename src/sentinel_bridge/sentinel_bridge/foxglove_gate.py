"""Who may act from Foxglove: token checks for operator actions.

Foxglove has no login of its own and its WebSocket protocol carries no
credentials, so the bridge uses the operator API's tokens (HS256 JWTs from
``sentinel_bridge.auth``, one secret for both). An operator action is allowed
only when a valid, unexpired token whose role holds the action's permission
comes with it, either

* in the request itself (a ``token`` field in the JSON), or
* from a session: the client called ``/sentinel/login`` with its token on
  this connection. The bridge keeps the *token* (not a verdict) per
  connection and verifies it again on every action, so expiry and role are
  enforced exactly as for a token sent each time. A session belongs to one
  connection (the server numbers connections and never reuses a number), so
  reconnecting needs a new login; ``/sentinel/logout`` ends it earlier.

Viewing needs no token (the server binds to localhost by default; exposing
it is a deployment decision, see docs/foxglove.md). Without a token secret
the gate refuses every action: it fails closed. The identity written into
each ROS request (``requested_by``, ``operator_id``, ``issued_by``) is always
the token's subject, never a name the client typed.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass

from sentinel_bridge.auth import AuthError, Permission, Principal, TokenService

# Most concurrent sessions kept; the oldest is forgotten past this (a client
# that reconnects gets a new id, so old ids are never reused).
MAX_SESSIONS = 256


class Action(enum.Enum):
    """Operator actions offered as Foxglove services."""

    TRIGGER_ESTOP = 'trigger_estop'
    ACKNOWLEDGE_ALERT = 'acknowledge_alert'
    RESOLVE_ALERT = 'resolve_alert'
    COMMAND_VEHICLE = 'command_vehicle'


# The permission each action needs (the matrix itself lives in sentinel_bridge.auth).
ACTION_PERMISSIONS: dict[Action, Permission] = {
    Action.TRIGGER_ESTOP: Permission.ENGAGE_ESTOP,
    Action.ACKNOWLEDGE_ALERT: Permission.ACKNOWLEDGE_ALERT,
    Action.RESOLVE_ALERT: Permission.RESOLVE_ALERT,
    Action.COMMAND_VEHICLE: Permission.COMMAND_VEHICLE,
}

# What a session login itself requires: the right to watch live state.
LOGIN_PERMISSION = Permission.VIEW_LIVE


@dataclass(frozen=True)
class Decision:
    """The gate's answer; ``reason`` is safe to show the client."""

    allowed: bool
    principal: Principal | None
    reason: str


class OperatorGate:
    """Token verification, session binding and permission checks (thread-safe)."""

    def __init__(self, tokens: TokenService | None, disabled_reason: str = '') -> None:
        self._tokens = tokens
        self._disabled_reason = disabled_reason or 'no token secret is configured'
        self._sessions: dict[int, str] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._tokens is not None

    def _verify(self, token: str) -> Principal:
        if self._tokens is None:
            raise AuthError(f'operator actions are disabled: {self._disabled_reason}')
        return self._tokens.verify(token)

    def login(self, client_id: int, token: str) -> Principal:
        """Bind a verified token to a connection; raises AuthError when it is refused."""
        principal = self._verify(token)
        if not principal.can(LOGIN_PERMISSION):
            raise AuthError(f'role {principal.role.value!r} may not use the live view')
        with self._lock:
            self._sessions.pop(client_id, None)
            self._sessions[client_id] = token
            while len(self._sessions) > MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
        return principal

    def logout(self, client_id: int) -> bool:
        """End a connection's session; True when there was one."""
        with self._lock:
            return self._sessions.pop(client_id, None) is not None

    def decide(self, action: Action, client_id: int, token: str | None) -> Decision:
        """Whether ``action`` may run for this request, and as whom."""
        from_session = token is None
        if from_session:
            with self._lock:
                token = self._sessions.get(client_id)
        if not token:
            return Decision(False, None, 'not logged in: call /sentinel/login with the token '
                                         'from the operator API, or put "token" in the request')
        try:
            principal = self._verify(token)
        except AuthError as error:
            if from_session:
                with self._lock:
                    if self._sessions.get(client_id) == token:
                        del self._sessions[client_id]  # an expired session ends here
            return Decision(False, None, error.reason)
        permission = ACTION_PERMISSIONS[action]
        if not principal.can(permission):
            return Decision(False, principal,
                            f'{principal.user_id} (role {principal.role.value}) is not permitted '
                            f'to {action.value.replace("_", " ")}')
        return Decision(True, principal, 'allowed')
