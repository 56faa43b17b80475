"""Who may do what: roles, permissions and the signed tokens that carry them.

Shared by every operator-facing surface of the bridge (the HTTP operator API and
the Foxglove bridge), so that one login gives the same rights everywhere and the
permission matrix is written down exactly once. Pure logic: no rclpy, no
database; user lookup and password checks live elsewhere.

Tokens are JWTs signed with HS256 only. The algorithm is pinned on both sides:
a token whose header names any other algorithm (`none` included) is refused
before its signature is even looked at, which closes the classic
algorithm-confusion holes.
"""

from __future__ import annotations

import enum
import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt

# The only signing algorithm issued or accepted.
JWT_ALGORITHM = 'HS256'
# Audience every Sentinel operator token is issued for; both the operator API
# and the Foxglove bridge verify it, so a token minted for another system
# sharing the secret is refused.
DEFAULT_AUDIENCE = 'sentinel-operator'
# Issuer claim written into every token (informational, also checked).
TOKEN_ISSUER = 'sentinel'
# Shortest HMAC key accepted, bytes: RFC 7518 section 3.2 asks for a key at
# least as long as the hash output (256 bits for HS256).
MIN_SECRET_BYTES = 32
# Length of a generated secret, bytes.
GENERATED_SECRET_BYTES = 48
# Environment variable that, when set, supplies the signing secret.
SECRET_ENV_VAR = 'SENTINEL_JWT_SECRET'
# File in the data directory holding the generated secret.
SECRET_FILE_NAME = 'jwt_secret'
# The secret file must be readable by its owner only.
SECRET_FILE_MODE = 0o600
# Longest token lifetime accepted, seconds: operator tokens are meant to be
# short-lived; anything longer is a configuration mistake.
MAX_TTL_S = 24 * 3600.0
# Claims a token must carry to be considered at all.
REQUIRED_CLAIMS = ('sub', 'role', 'aud', 'iss', 'iat', 'exp', 'jti')
# Verified tokens remembered per TokenService (the least recently used go first);
# a few per logged-in client is plenty.
VERIFIED_CACHE_SIZE = 1024


class Role(str, enum.Enum):
    """Operator roles, from least to most trusted (order is documentation only)."""

    VIEWER = 'viewer'
    OPERATOR = 'operator'
    SUPERVISOR = 'supervisor'
    ADMIN = 'admin'


class Permission(str, enum.Enum):
    """One kind of action an authenticated user may be allowed to take."""

    VIEW_FLEET = 'view_fleet'                # fleet, vehicle and safety state
    VIEW_ALERTS = 'view_alerts'
    VIEW_TASKS = 'view_tasks'
    VIEW_TELEMETRY = 'view_telemetry'        # stored telemetry history
    VIEW_MODELS = 'view_models'              # model registry
    VIEW_LIVE = 'view_live'                  # live stream of alerts and state
    ACKNOWLEDGE_ALERT = 'acknowledge_alert'
    RESOLVE_ALERT = 'resolve_alert'
    MANAGE_TASKS = 'manage_tasks'            # create, pause, resume, cancel
    COMMAND_VEHICLE = 'command_vehicle'      # goto, hold, return, land
    ENGAGE_ESTOP = 'engage_estop'
    RELEASE_ESTOP = 'release_estop'          # one of the two approvals
    MANAGE_RECORDINGS = 'manage_recordings'  # start/stop recordings
    VIEW_AUDIT = 'view_audit'
    VERIFY_AUDIT = 'verify_audit'
    EXPORT_AUDIT = 'export_audit'
    MANAGE_USERS = 'manage_users'


_P = Permission
_VIEW = frozenset({_P.VIEW_FLEET, _P.VIEW_ALERTS, _P.VIEW_TASKS, _P.VIEW_TELEMETRY,
                   _P.VIEW_MODELS, _P.VIEW_LIVE})
_OPERATE = _VIEW | {_P.ACKNOWLEDGE_ALERT, _P.RESOLVE_ALERT, _P.MANAGE_TASKS,
                    _P.COMMAND_VEHICLE, _P.ENGAGE_ESTOP, _P.MANAGE_RECORDINGS}
_SUPERVISE = _OPERATE | {_P.RELEASE_ESTOP, _P.VIEW_AUDIT, _P.VERIFY_AUDIT}

# The permission matrix, written out role by role so a reviewer can read it in
# one place; docs/operator_api.md carries the same table and a test checks that
# every endpoint enforces it. Admin holds every permission: an admin can create
# supervisor accounts anyway, so withholding release would add no security.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEW,
    Role.OPERATOR: frozenset(_OPERATE),
    Role.SUPERVISOR: frozenset(_SUPERVISE),
    Role.ADMIN: frozenset(Permission),
}


def role_allows(role: Role, permission: Permission) -> bool:
    """True when `role` holds `permission` in the matrix above."""
    return permission in ROLE_PERMISSIONS[Role(role)]


def parse_role(text: str) -> Role:
    """Role from its name, with an error that lists the valid names."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ', '.join(r.value for r in Role)
        raise ValueError(f'unknown role {text!r}; expected one of {names}') from None


@dataclass(frozen=True)
class Principal:
    """An authenticated user as a verified token describes them."""

    user_id: str
    role: Role
    # Expiry of the token that proved it, seconds since the epoch; None when
    # the principal was not built from a token.
    expires_at: float | None = None

    def can(self, permission: Permission) -> bool:
        """Shorthand for role_allows on this principal's role."""
        return role_allows(self.role, permission)


class AuthError(Exception):
    """A token or credential was refused; `reason` says why, safe to show the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenService:
    """Issues and verifies short-lived HS256 JWTs for one audience.

    `clock` returns seconds since the epoch and is used when issuing, so tests
    can mint tokens that are already expired; verification uses the wall
    clock through PyJWT.

    A token that verified is remembered until it expires: decoding and checking
    a JWT costs a quarter of a millisecond, several times what a request for
    in-memory state costs otherwise, and clients send the same token with
    every request. Only tokens that passed every check are remembered (an
    unsigned token can never be looked up into the cache), and their expiry
    is still checked on every use.
    """

    def __init__(self, secret: bytes, audience: str, ttl_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f'token secret must be at least {MIN_SECRET_BYTES} bytes, got {len(secret)}')
        if not audience:
            raise ValueError('token audience must not be empty')
        if not 0.0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f'token ttl_s must be in (0, {MAX_TTL_S:.0f}] s, got {ttl_s!r}')
        self._secret = secret
        self.audience = audience
        self.ttl_s = float(ttl_s)
        self._clock = clock
        self._verified: OrderedDict[str, Principal] = OrderedDict()
        self._verified_lock = threading.Lock()

    def issue(self, user_id: str, role: Role) -> str:
        """A signed token saying `user_id` holds `role` until now + ttl_s."""
        if not user_id:
            raise ValueError('user_id must not be empty')
        now = self._clock()
        claims = {
            'sub': user_id,
            'role': Role(role).value,
            'aud': self.audience,
            'iss': TOKEN_ISSUER,
            'iat': int(now),
            'exp': int(now + self.ttl_s),
            'jti': uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)

    def verify(self, token: str) -> Principal:
        """The principal a token proves, or AuthError saying why it is refused."""
        if not token:
            raise AuthError('missing token')
        with self._verified_lock:
            known = self._verified.get(token)
            if known is not None:
                self._verified.move_to_end(token)
        if known is None:
            known = self._decode(token)
            with self._verified_lock:
                self._verified[token] = known
                if len(self._verified) > VERIFIED_CACHE_SIZE:
                    self._verified.popitem(last=False)
        assert known.expires_at is not None
        if time.time() >= known.expires_at:
            with self._verified_lock:
                self._verified.pop(token, None)
            raise AuthError('token expired')
        return known

    def _decode(self, token: str) -> Principal:
        """Every check of a token the cache does not know."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthError('malformed token') from None
        algorithm = header.get('alg')
        if algorithm != JWT_ALGORITHM:
            raise AuthError(f'token algorithm {algorithm!r} is not accepted (only {JWT_ALGORITHM})')
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[JWT_ALGORITHM], audience=self.audience,
                issuer=TOKEN_ISSUER, options={'require': list(REQUIRED_CLAIMS)})
        except jwt.ExpiredSignatureError:
            raise AuthError('token expired') from None
        except jwt.InvalidAudienceError:
            raise AuthError('token audience is wrong') from None
        except jwt.InvalidIssuerError:
            raise AuthError('token issuer is wrong') from None
        except jwt.InvalidSignatureError:
            raise AuthError('token signature does not match') from None
        except jwt.MissingRequiredClaimError as error:
            raise AuthError(f'token lacks the {error.claim!r} claim') from None
        except jwt.ImmatureSignatureError:
            raise AuthError('token is not valid yet') from None
        except jwt.InvalidTokenError as error:
            raise AuthError(f'invalid token: {error}') from None
        subject = claims['sub']
        if not isinstance(subject, str) or not subject:
            raise AuthError('token subject is empty')
        try:
            role = Role(claims['role'])
        except ValueError:
            raise AuthError(f'token names an unknown role {claims["role"]!r}') from None
        return Principal(user_id=subject, role=role, expires_at=float(claims['exp']))


def load_or_create_secret(data_dir: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The token signing secret: from SENTINEL_JWT_SECRET, else a file in data_dir.

    The file is created once (random, mode 0600) and shared by every bridge
    process on the host, so the Foxglove bridge accepts the operator API's
    tokens. Creation is race-free: the secret is written to a private temp
    file and hard-linked into place, so two processes starting together end up
    with the same secret. A file readable by others is refused rather than
    silently trusted or fixed.
    """
    env = os.environ if environ is None else environ
    from_env = env.get(SECRET_ENV_VAR, '')
    if from_env:
        secret = from_env.encode('utf-8')
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f'{SECRET_ENV_VAR} must hold at least {MIN_SECRET_BYTES} bytes, got {len(secret)}')
        return secret
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE_NAME
    if not path.exists():
        _create_secret_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(
            f'{path} has mode {mode:04o}; the token secret must be private '
            f'(run: chmod 600 {path})')
    secret = path.read_text(encoding='ascii').strip().encode('ascii')
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f'{path} holds a secret shorter than {MIN_SECRET_BYTES} bytes')
    return secret


def _create_secret_file(path: Path) -> None:
    """Write a fresh random secret to `path` unless another process won the race."""
    temp = path.with_name(f'.{path.name}.{os.getpid()}.{uuid.uuid4().hex}')
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    try:
        with os.fdopen(fd, 'w', encoding='ascii') as handle:
            handle.write(secrets.token_hex(GENERATED_SECRET_BYTES) + '\n')
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process created it first; theirs is the one to use
    finally:
        temp.unlink(missing_ok=True)
