"""Login (OAuth2 password flow) and who-am-I.

Logins are throttled per client address and user name; an unknown user name
costs the same hashing work as a wrong password, so timing does not reveal
which names exist. Every attempt is audited.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm

from sentinel_bridge import passwords
from sentinel_bridge.auth import ROLE_PERMISSIONS, Principal, Role
from sentinel_bridge.operator_api.context import ApiContext, context
from sentinel_bridge.operator_api.responses import public_errors
from sentinel_bridge.operator_api.schemas import MeOut, TokenOut
from sentinel_bridge.operator_api.security import RequireAuthenticated, unauthorized
from sentinel_bridge.persistence import store

router = APIRouter(tags=['auth'])

# The same message for every failed login, whatever the cause.
BAD_CREDENTIALS = 'invalid user name or password'


def _check_credentials(ctx: ApiContext, name: str, password: str) -> tuple[Role | None, str]:
    """(role, '') when the login is good, else (None, why) for the audit log only."""
    with ctx.database.read() as session:
        user = store.find_user(session, name)
        password_hash = user.password_hash if user is not None else passwords.DUMMY_HASH
        role = Role(user.role) if user is not None else None
        disabled = user is not None and user.disabled
    matches = passwords.verify_password(password_hash, password)
    if user is None:
        return None, 'unknown user'
    if not matches:
        return None, 'wrong password'
    if disabled:
        return None, 'account disabled'
    return role, ''


def _audit_login(ctx: ApiContext, name: str, outcome: str, client: str) -> None:
    with ctx.database.write() as session:
        store.append_audit(session, ctx.audit_record(name, 'login', name, outcome,
                                                     {'client': client}))


@router.post('/auth/token', response_model=TokenOut, responses=public_errors(401, 422, 429, 503),
             summary='Log in (OAuth2 password flow) and get a short-lived bearer token')
async def login(request: Request,
                form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    ctx = context(request)
    client = request.client.host if request.client else 'unknown'
    key = f'{client}|{form.username.lower()}'
    wait_s = ctx.throttle.retry_after(key)
    if wait_s > 0.0:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f'too many failed logins; retry in {wait_s:.0f} s',
                            headers={'Retry-After': str(int(wait_s) + 1)})
    role, why = await run_in_threadpool(_check_credentials, ctx, form.username, form.password)
    if role is None:
        ctx.throttle.record_failure(key)
        await run_in_threadpool(_audit_login, ctx, form.username, f'refused: {why}', client)
        raise unauthorized(BAD_CREDENTIALS)
    ctx.throttle.record_success(key)
    await run_in_threadpool(_audit_login, ctx, form.username, 'ok', client)
    token = ctx.tokens.issue(form.username, role)
    return TokenOut(access_token=token, expires_in=int(ctx.tokens.ttl_s), role=role.value)


@router.get('/auth/me', response_model=MeOut, responses=public_errors(401, 503),
            summary='The authenticated user, their role and permissions')
def me(principal: Annotated[Principal, Depends(RequireAuthenticated())]) -> MeOut:
    expires = (None if principal.expires_at is None
               else datetime.fromtimestamp(principal.expires_at, timezone.utc))
    return MeOut(user_id=principal.user_id, role=principal.role.value,
                 permissions=sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
                 expires_at=expires)
