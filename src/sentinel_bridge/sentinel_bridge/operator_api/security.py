"""Authentication and the permission check every endpoint goes through.

`RequirePermission(p)` is the only way a route gets a Principal, so a route
cannot forget the matrix: the permission-matrix test finds the instance in
each route's dependencies and checks every role against it. Refusals of
authenticated users are audited (who tried what); unauthenticated requests
are not (there is no who).

Besides the signature, each request checks the account in the database: a
disabled account or a changed role invalidates outstanding tokens at once.
The e-stop is the exception when the database is down: the signed, unexpired
token is trusted on its own, because stopping vehicles must not depend on the
database.

Both checks run on the event loop without a thread of their own: the token
service remembers tokens it has verified (until they expire), and concurrent
requests share one account query (ApiContext.account_problem), so a request
for in-memory state never waits for a free worker thread.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer

from sentinel_bridge.auth import AuthError, Permission, Principal
from sentinel_bridge.operator_api.context import ApiContext, context
from sentinel_bridge.persistence import store
from sentinel_bridge.persistence.database import DatabaseUnavailable

# Where clients get tokens (the OAuth2 password flow endpoint).
TOKEN_URL = '/auth/token'

oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)

_CHALLENGE = {'WWW-Authenticate': 'Bearer'}


def unauthorized(reason: str) -> HTTPException:
    """401 with the Bearer challenge."""
    return HTTPException(status.HTTP_401_UNAUTHORIZED, reason, headers=_CHALLENGE)


def database_unavailable() -> HTTPException:
    """503 telling the client to retry."""
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                         'database unavailable; nothing was done, try again',
                         headers={'Retry-After': '5'})


async def authenticate(request: Request,
                       token: str | None = Depends(oauth2_scheme)) -> Principal:
    """The principal a bearer token proves (signature, algorithm, audience, expiry)."""
    if not token:
        raise unauthorized('not authenticated: send Authorization: Bearer <token>')
    try:
        return context(request).tokens.verify(token)
    except AuthError as error:
        raise unauthorized(error.reason) from None


def _audit_denial(ctx: ApiContext, principal: Principal, permission: Permission,
                  request: Request) -> None:
    record = ctx.audit_record(principal.user_id, 'permission_denied',
                              f'{request.method} {request.url.path}', 'refused',
                              {'role': principal.role.value, 'permission': permission.value})
    try:
        with ctx.database.write() as session:
            store.append_audit(session, record)
    except DatabaseUnavailable:
        ctx.log.warning(f'could not audit a permission denial for {principal.user_id} '
                        '(database unavailable)')


class RequirePermission:
    """Dependency: an authenticated, enabled principal whose role holds `permission`."""

    def __init__(self, permission: Permission, trust_token_without_database: bool = False) -> None:
        self.permission = permission
        self.trust_token_without_database = trust_token_without_database

    async def __call__(self, request: Request,
                       principal: Principal = Depends(authenticate)) -> Principal:
        ctx = context(request)
        try:
            problem = await ctx.account_problem(principal)
        except DatabaseUnavailable:
            if not self.trust_token_without_database:
                raise database_unavailable() from None
            ctx.log.warning(f'database unavailable: {principal.user_id} accepted on the token '
                            f'alone for {self.permission.value}')
            problem = None
        if problem is not None:
            raise unauthorized(problem)
        if not principal.can(self.permission):
            await run_in_threadpool(_audit_denial, ctx, principal, self.permission, request)
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f'role {principal.role.value!r} lacks permission '
                                f'{self.permission.value!r}')
        return principal


class RequireAuthenticated:
    """Dependency for endpoints every enabled account may use, whatever its role (/auth/me)."""

    async def __call__(self, request: Request,
                       principal: Principal = Depends(authenticate)) -> Principal:
        ctx = context(request)
        try:
            problem = await ctx.account_problem(principal)
        except DatabaseUnavailable:
            raise database_unavailable() from None
        if problem is not None:
            raise unauthorized(problem)
        return principal
