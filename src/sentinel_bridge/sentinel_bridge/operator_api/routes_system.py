"""Health (unauthenticated, for probes) and the live stream of alerts and state (SSE).

The stream is server-sent events: one HTTP response that stays open, which
browsers (EventSource, or fetch with an Authorization header) and curl read
directly. It starts with the current state, then carries `alert`,
`fleet_state` (at most once a second), `safety_status` and `tasks` events. It
ends when the token expires (the client logs in again and reconnects) or the
client goes away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent

from sentinel_bridge.auth import Permission, Principal
from sentinel_bridge.operator_api.context import context
from sentinel_bridge.operator_api.live import TooManySubscribers
from sentinel_bridge.operator_api.responses import errors
from sentinel_bridge.operator_api.schemas import (FleetOut, HealthOut, QueueOut, SafetyStatusOut,
                                                  VehicleOut)
from sentinel_bridge.operator_api.security import RequirePermission
from sentinel_bridge.persistence.database import DatabaseUnavailable

router = APIRouter(tags=['system'])

# How often a waiting stream checks its token's expiry, seconds.
STREAM_POLL_S = 1.0


@router.get('/health', response_model=HealthOut, summary='Liveness, database and retry queue')
async def health(request: Request) -> HealthOut:
    ctx = context(request)
    try:
        await run_in_threadpool(ctx.database.ping)
        database = 'ok'
    except DatabaseUnavailable:
        database = 'unavailable'
    stats = ctx.worker.stats()
    degraded = database != 'ok' or stats.refused > 0
    return HealthOut(status='degraded' if degraded else 'ok', database=database,  # type: ignore[arg-type]
                     queue=QueueOut(pending=stats.pending, evicted=stats.evicted,
                                    refused=stats.refused, max_records=stats.max_records),
                     live_streams=ctx.hub.subscriber_count)


@router.get('/stream', response_class=EventSourceResponse, responses=errors(409),
            summary='Live alerts and state as server-sent events')
async def stream(request: Request, principal: Annotated[Principal, Depends(
        RequirePermission(Permission.VIEW_LIVE))]) -> AsyncIterator[ServerSentEvent]:
    ctx = context(request)
    try:
        subscription = ctx.hub.subscribe()
    except TooManySubscribers as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    try:
        stamp, vehicles = ctx.live.fleet()
        yield ServerSentEvent(event='fleet_state', data=FleetOut(
            stamp=stamp, vehicles=[VehicleOut.of(v) for v in vehicles]).model_dump(mode='json'))
        safety = ctx.live.safety()
        if safety is not None:
            yield ServerSentEvent(event='safety_status',
                                  data=SafetyStatusOut.of(safety).model_dump(mode='json'))
        while True:
            if principal.expires_at is not None and time.time() >= principal.expires_at:
                yield ServerSentEvent(event='token_expired', data={'detail': 'log in again'})
                return
            wait_s = STREAM_POLL_S if principal.expires_at is None else max(
                0.0, min(STREAM_POLL_S, principal.expires_at - time.time()))
            try:
                event = await asyncio.wait_for(subscription.queue.get(), wait_s)
            except TimeoutError:
                continue
            if subscription.missed:
                yield ServerSentEvent(event='missed', data={'count': subscription.missed})
                subscription.missed = 0
            yield ServerSentEvent(event=event.kind, data=event.data, id=str(event.seq))
    finally:
        ctx.hub.unsubscribe(subscription)
