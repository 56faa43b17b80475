"""Tokens, roles, passwords and the signing secret: the pieces every endpoint relies on."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import time
from pathlib import Path

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_bridge import passwords
from sentinel_bridge.auth import (DEFAULT_AUDIENCE, ROLE_PERMISSIONS, SECRET_ENV_VAR, AuthError,
                                  Permission, Principal, Role, TokenService,
                                  load_or_create_secret, parse_role, role_allows)
from sentinel_bridge.login_throttle import LoginThrottle

SECRET = b's' * 64
DOCS = Path(__file__).resolve().parents[3] / 'docs' / 'operator_api.md'


def service(**kwargs: object) -> TokenService:
    return TokenService(SECRET, DEFAULT_AUDIENCE, 60.0, **kwargs)  # type: ignore[arg-type]


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(',', ':')).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b'=').decode()


def test_issued_token_verifies_to_its_principal():
    tokens = service()
    principal = tokens.verify(tokens.issue('alice', Role.SUPERVISOR))
    assert principal.user_id == 'alice'
    assert principal.role is Role.SUPERVISOR
    assert principal.expires_at == pytest.approx(time.time() + 60.0, abs=2.0)


def test_expired_token_is_refused():
    issued_long_ago = service(clock=lambda: time.time() - 3600.0).issue('alice', Role.ADMIN)
    with pytest.raises(AuthError, match='expired'):
        service().verify(issued_long_ago)


def test_a_verified_token_is_decoded_once_and_still_expires(monkeypatch):
    tokens = service(clock=lambda: time.time() - 58.5)   # expires in 1.5 s
    token = tokens.issue('alice', Role.OPERATOR)
    first = tokens.verify(token)
    decoded: list[str] = []
    monkeypatch.setattr(jwt, 'decode', lambda *args, **kwargs: decoded.append('again'))
    assert tokens.verify(token) == first and decoded == [], 'served from the cache'
    monkeypatch.setattr(time, 'time', lambda: first.expires_at)
    with pytest.raises(AuthError, match='expired'):
        tokens.verify(token)


def test_only_tokens_that_verified_are_remembered():
    tokens = service()
    forged = tokens.issue('alice', Role.VIEWER)[:-4] + 'AAAA'
    for _ in range(2):
        with pytest.raises(AuthError, match='signature'):
            tokens.verify(forged)


def test_token_for_another_audience_is_refused():
    other = TokenService(SECRET, 'some-other-system', 60.0).issue('alice', Role.ADMIN)
    with pytest.raises(AuthError, match='audience'):
        service().verify(other)


def test_alg_none_is_refused_before_the_signature_is_considered():
    claims = jwt.decode(service().issue('alice', Role.VIEWER), options={'verify_signature': False})
    claims['role'] = 'admin'
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(AuthError, match="'none' is not accepted"):
        service().verify(unsigned)


@pytest.mark.parametrize('algorithm', ['HS384', 'HS512'])
def test_other_algorithms_are_refused_even_with_the_right_key(algorithm):
    claims = jwt.decode(service().issue('alice', Role.VIEWER), options={'verify_signature': False})
    token = jwt.encode(claims, SECRET, algorithm=algorithm)
    with pytest.raises(AuthError, match='not accepted'):
        service().verify(token)


def test_tampered_payload_breaks_the_signature():
    header, payload, signature = service().issue('alice', Role.VIEWER).split('.')
    claims = json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))
    claims['role'] = 'admin'
    with pytest.raises(AuthError, match='signature'):
        service().verify(f'{header}.{_b64(claims)}.{signature}')


def test_token_signed_with_another_secret_is_refused():
    forged = TokenService(b'x' * 64, DEFAULT_AUDIENCE, 60.0).issue('alice', Role.ADMIN)
    with pytest.raises(AuthError, match='signature'):
        service().verify(forged)


@pytest.mark.parametrize('token', ['', 'garbage', 'a.b.c', 'a.b'])
def test_malformed_tokens_are_refused_with_a_reason(token):
    with pytest.raises(AuthError) as caught:
        service().verify(token)
    assert caught.value.reason


def test_missing_claims_and_unknown_roles_are_refused():
    now = int(time.time())
    base = {'sub': 'alice', 'aud': DEFAULT_AUDIENCE, 'iss': 'sentinel', 'iat': now,
            'exp': now + 60, 'jti': 'x'}
    with pytest.raises(AuthError, match="'role'"):
        service().verify(jwt.encode(base, SECRET, algorithm='HS256'))
    with pytest.raises(AuthError, match='unknown role'):
        service().verify(jwt.encode({**base, 'role': 'root'}, SECRET, algorithm='HS256'))


def test_weak_configuration_is_rejected():
    with pytest.raises(ValueError, match='at least 32 bytes'):
        TokenService(b'short', DEFAULT_AUDIENCE, 60.0)
    with pytest.raises(ValueError, match='ttl_s'):
        TokenService(SECRET, DEFAULT_AUDIENCE, 0.0)
    with pytest.raises(ValueError, match='audience'):
        TokenService(SECRET, '', 60.0)


def test_matrix_grows_with_trust_and_admin_holds_everything():
    order = [Role.VIEWER, Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN]
    for lower, higher in zip(order, order[1:]):
        assert ROLE_PERMISSIONS[lower] < ROLE_PERMISSIONS[higher]
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert role_allows(Role.OPERATOR, Permission.ENGAGE_ESTOP)
    assert not role_allows(Role.OPERATOR, Permission.RELEASE_ESTOP)
    assert not role_allows(Role.VIEWER, Permission.COMMAND_VEHICLE)
    assert Principal('bob', Role.SUPERVISOR).can(Permission.RELEASE_ESTOP)


def test_documented_matrix_is_the_enforced_one():
    """docs/operator_api.md's table must say exactly what ROLE_PERMISSIONS says."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        match = re.match(r'^\|\s*`(\w+)`\s*\|(.*)\|\s*$', line)
        if match and match.group(1) in {p.value for p in Permission}:
            cells = [c.strip() for c in match.group(2).split('|')]
            rows[Permission(match.group(1))] = cells[:4]
    assert set(rows) == set(Permission), 'every permission has a row in the docs table'
    order = [Role.VIEWER, Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN]
    for permission, cells in rows.items():
        documented = {role for role, cell in zip(order, cells) if cell == 'yes'}
        assert documented == {r for r in order if role_allows(r, permission)}, permission


def test_roles_parse_from_names_with_a_helpful_error():
    assert parse_role(' Supervisor ') is Role.SUPERVISOR
    with pytest.raises(ValueError, match='viewer, operator, supervisor, admin'):
        parse_role('root')


def test_secret_is_generated_once_private_and_stable(tmp_path):
    first = load_or_create_secret(tmp_path, environ={})
    second = load_or_create_secret(tmp_path, environ={})
    assert first == second and len(first) >= 32
    assert stat.S_IMODE((tmp_path / 'jwt_secret').stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [tmp_path / 'jwt_secret'], 'no temp files left behind'


def test_secret_file_readable_by_others_is_refused(tmp_path):
    load_or_create_secret(tmp_path, environ={})
    os.chmod(tmp_path / 'jwt_secret', 0o644)
    with pytest.raises(PermissionError, match='chmod 600'):
        load_or_create_secret(tmp_path, environ={})


def test_secret_from_environment_wins_and_must_be_long(tmp_path):
    assert load_or_create_secret(tmp_path, {SECRET_ENV_VAR: 'e' * 40}) == b'e' * 40
    assert not (tmp_path / 'jwt_secret').exists()
    with pytest.raises(ValueError, match=SECRET_ENV_VAR):
        load_or_create_secret(tmp_path, {SECRET_ENV_VAR: 'short'})


def test_password_hashes_verify_and_policy_is_enforced():
    hashed = passwords.hash_password('a long enough secret')
    assert hashed.startswith('$argon2id$')
    assert passwords.verify_password(hashed, 'a long enough secret')
    assert not passwords.verify_password(hashed, 'a long enough secreT')
    assert not passwords.verify_password('not a hash', 'whatever')
    for bad, reason in (('short', 'at least'), (' padded password ', 'whitespace'),
                        ('x' * 300, 'at most')):
        with pytest.raises(ValueError, match=reason):
            passwords.hash_password(bad)
    assert len(passwords.generate_password()) >= passwords.MIN_PASSWORD_LENGTH


@given(st.lists(st.sampled_from(['fail', 'ok', 'wait']), max_size=40))
def test_throttle_locks_out_after_repeated_failures_only(steps):
    now = [0.0]
    throttle = LoginThrottle(max_failures=3, window_s=10.0, lockout_s=30.0, clock=lambda: now[0])
    recent: list[float] = []
    locked_until = 0.0
    for step in steps:
        assert (throttle.retry_after('k') > 0) == (now[0] < locked_until)
        if step == 'fail' and now[0] >= locked_until:
            recent = [t for t in recent if now[0] - t < 10.0] + [now[0]]
            throttle.record_failure('k')
            if len(recent) >= 3:
                locked_until, recent = now[0] + 30.0, []
        elif step == 'ok' and now[0] >= locked_until:
            throttle.record_success('k')
            recent = []
        now[0] += 4.0
    assert throttle.retry_after('other') == 0.0
