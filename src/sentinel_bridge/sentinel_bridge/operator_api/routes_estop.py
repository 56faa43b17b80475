"""The emergency stop: engage (any operator, always) and the two-supervisor release.

Engaging is never throttled, is idempotent (the watchdog treats engaging an
engaged stop as success), and does not wait for the database: stopping
vehicles must work while PostgreSQL is down, so its record goes through the
durable retry queue if needed. Releasing follows estop_release.py: a first
supervisor files a request, a different one confirms it within the window,
and only then is /safety/release_estop called with both names.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status

from sentinel_bridge.auth import Permission, Principal
from sentinel_bridge.domain import EstopEvent, EstopScope, SafetySnapshot
from sentinel_bridge.estop_release import ReleaseError, ReleaseRequest
from sentinel_bridge.operator_api.context import ApiContext, context
from sentinel_bridge.operator_api.gateway import GatewayTimeout, Reply
from sentinel_bridge.operator_api.responses import errors
from sentinel_bridge.operator_api.routes_actions import ensure_database, raise_for, record_timeout
from sentinel_bridge.operator_api.schemas import (EstopIn, EstopOut, ReleaseOut,
                                                  ReleaseRequestIn, ReleaseRequestOut,
                                                  SafetyStatusOut)
from sentinel_bridge.operator_api.security import RequirePermission
from sentinel_bridge.persistence import store

router = APIRouter(tags=['estop'])

# TriggerEstop.srv error codes.
TRIGGER_NOT_AUTHORIZED, TRIGGER_UNKNOWN_VEHICLE = 1, 2
# ReleaseEstop.srv error codes.
RELEASE_NOT_AUTHORIZED, RELEASE_SAME_APPROVER, RELEASE_NOT_ENGAGED = 1, 2, 3
# HTTP status for each release-book refusal.
RELEASE_ERROR_STATUS = {'not_found': status.HTTP_404_NOT_FOUND, 'expired': status.HTTP_410_GONE,
                        'same_approver': status.HTTP_409_CONFLICT,
                        'too_many': status.HTTP_409_CONFLICT}

RequestId = Annotated[str, Path(min_length=1, max_length=64, pattern=r'^[0-9a-f]+$')]


def _status_out(reply: Reply[SafetySnapshot]) -> SafetyStatusOut | None:
    return None if reply.value is None else SafetyStatusOut.of(reply.value)


@router.post('/estop', response_model=EstopOut, responses=errors(404, 422, 504),
             summary='Engage the emergency stop (fleet or named vehicles); idempotent')
async def engage_estop(
        request: Request, body: EstopIn,
        principal: Annotated[Principal, Depends(RequirePermission(
            Permission.ENGAGE_ESTOP, trust_token_without_database=True))],
) -> EstopOut:
    ctx = context(request)
    scope = EstopScope.FLEET if body.scope == 'fleet' else EstopScope.VEHICLE
    vehicle_ids = list(getattr(body, 'vehicle_ids', []))
    ctx.log.warning(f'e-stop ({body.scope}) requested by {principal.user_id}: {body.reason}')
    try:
        reply = await ctx.gateway.trigger_estop(scope, vehicle_ids, principal.user_id,
                                                body.reason)
    except GatewayTimeout as error:
        raise await record_timeout(ctx, principal, 'engage_estop', body.scope, error) from None
    outcome = 'engaged' if reply.error_code == 0 else f'error {reply.error_code}'
    event = EstopEvent(key=uuid.uuid4().hex, kind='engage', occurred_at=ctx.clock(),
                       actor=principal.user_id, scope=body.scope,
                       vehicle_ids=tuple(vehicle_ids), reason=body.reason,
                       outcome=f'{outcome} {reply.error_msg}'.strip())
    await ctx.persist_after_effect([event, ctx.audit_record(
        principal.user_id, 'engage_estop', body.scope, outcome,
        {'vehicle_ids': vehicle_ids, 'reason': body.reason, 'error_msg': reply.error_msg})])
    raise_for(reply, {TRIGGER_NOT_AUTHORIZED: status.HTTP_403_FORBIDDEN,
                      TRIGGER_UNKNOWN_VEHICLE: status.HTTP_404_NOT_FOUND})
    return EstopOut(engaged=reply.error_code == 0, error_code=reply.error_code,
                    error_msg=reply.error_msg, status=_status_out(reply))


def _release_error(error: ReleaseError) -> HTTPException:
    return HTTPException(RELEASE_ERROR_STATUS.get(error.code, status.HTTP_409_CONFLICT),
                         error.message)


def _step_records(ctx: ApiContext, principal: Principal, kind: str, entry: ReleaseRequest,
                  outcome: str, second: str = '') -> list[store.IngestRecord]:
    """The e-stop event and audit entry that record one release step."""
    return [
        EstopEvent(key=uuid.uuid4().hex, kind=kind, occurred_at=ctx.clock(),
                   actor=entry.requested_by, second_actor=second,
                   scope='vehicle' if entry.vehicle_ids else 'fleet',
                   vehicle_ids=entry.vehicle_ids, reason=entry.reason, outcome=outcome),
        ctx.audit_record(principal.user_id, kind, entry.request_id, outcome,
                         {'vehicle_ids': list(entry.vehicle_ids), 'reason': entry.reason,
                          'first_approver': entry.requested_by, 'second_approver': second})]


def _record_step(ctx: ApiContext, records: list[store.IngestRecord]) -> None:
    """Store a release step that has no effect yet: one transaction, or 503."""
    with ctx.database.write() as session:
        for record in records:
            store.ingest(session, record)


@router.get('/estop/release-requests', response_model=list[ReleaseRequestOut], responses=errors(),
            summary='Release requests waiting for their second approver')
def pending_releases(request: Request, _: Annotated[Principal, Depends(
        RequirePermission(Permission.VIEW_FLEET))]) -> list[ReleaseRequestOut]:
    return [ReleaseRequestOut.of(r) for r in context(request).release_book.pending()]


@router.post('/estop/release-requests', response_model=ReleaseRequestOut,
             status_code=status.HTTP_201_CREATED, responses=errors(409, 422),
             summary='First approval of an e-stop release (a second supervisor must confirm)')
def request_release(
        request: Request, body: ReleaseRequestIn,
        principal: Annotated[Principal, Depends(RequirePermission(Permission.RELEASE_ESTOP))],
) -> ReleaseRequestOut:
    ctx = context(request)
    try:
        entry = ctx.release_book.request(principal.user_id, body.vehicle_ids, body.reason)
    except ReleaseError as error:
        raise _release_error(error) from None
    try:
        _record_step(ctx, _step_records(ctx, principal, 'release_requested', entry,
                                        'waiting for a second supervisor'))
    except BaseException:
        ctx.release_book.cancel(entry.request_id)   # not recorded, so not pending either
        raise
    return ReleaseRequestOut.of(entry)


@router.post('/estop/release-requests/{request_id}/confirm', response_model=ReleaseOut,
             responses=errors(404, 409, 410, 422, 504),
             summary='Second approval: a different supervisor confirms, and the e-stop is released')
async def confirm_release(
        request: Request, request_id: RequestId,
        principal: Annotated[Principal, Depends(RequirePermission(Permission.RELEASE_ESTOP))],
) -> ReleaseOut:
    ctx = context(request)
    await ensure_database(ctx)
    try:
        entry = ctx.release_book.confirm(request_id, principal.user_id)
    except ReleaseError as error:
        await ctx.persist_after_effect([ctx.audit_record(
            principal.user_id, 'release_confirm', request_id, f'refused: {error.code}',
            {'reason': error.message})])
        raise _release_error(error) from None
    try:
        reply = await ctx.gateway.release_estop(entry.vehicle_ids, entry.requested_by,
                                                principal.user_id, entry.reason)
    except GatewayTimeout as error:
        ctx.release_book.restore(entry)
        raise await record_timeout(ctx, principal, 'release_estop', request_id, error) from None
    outcome = 'released' if reply.error_code == 0 else f'refused by safety: {reply.error_msg}'
    await ctx.persist_after_effect(_step_records(
        ctx, principal, 'release', entry, outcome, principal.user_id))
    raise_for(reply, {RELEASE_NOT_AUTHORIZED: status.HTTP_403_FORBIDDEN,
                      RELEASE_SAME_APPROVER: status.HTTP_409_CONFLICT,
                      RELEASE_NOT_ENGAGED: status.HTTP_409_CONFLICT})
    ctx.log.warning(f'e-stop released by {entry.requested_by} and {principal.user_id}: '
                    f'{entry.reason}')
    return ReleaseOut(released=True, first_approver=entry.requested_by,
                      second_approver=principal.user_id, error_code=reply.error_code,
                      error_msg=reply.error_msg, status=_status_out(reply))


@router.delete('/estop/release-requests/{request_id}', response_model=ReleaseRequestOut,
               responses=errors(404, 410, 422), summary='Withdraw a pending release request')
def cancel_release(
        request: Request, request_id: RequestId,
        principal: Annotated[Principal, Depends(RequirePermission(Permission.RELEASE_ESTOP))],
) -> ReleaseRequestOut:
    ctx = context(request)
    ctx.database.ping()
    try:
        entry = ctx.release_book.cancel(request_id)
    except ReleaseError as error:
        raise _release_error(error) from None
    try:
        _record_step(ctx, _step_records(ctx, principal, 'release_cancelled', entry,
                                        f'withdrawn by {principal.user_id}'))
    except BaseException:
        ctx.release_book.restore(entry)   # not recorded, so still pending
        raise
    return ReleaseRequestOut.of(entry)
