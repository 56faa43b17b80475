"""Builds the operator API application from an ApiContext.

No module-level app: the node (and each test) builds its own with its own
database, token service and ROS gateway, so nothing leaks between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from sentinel_bridge.operator_api import (routes_actions, routes_audit, routes_auth, routes_estop,
                                          routes_read, routes_system)
from sentinel_bridge.operator_api.context import ApiContext
from sentinel_bridge.operator_api.gateway import GatewayTimeout
from sentinel_bridge.persistence.database import DatabaseUnavailable

# API version shown in the OpenAPI document.
API_VERSION = '1.0.0'

DESCRIPTION = """\
Override and audit for Sentinel operators: fleet and vehicle state, alerts,
tasks, vehicle commands answered with the safety verdict, the emergency stop
and its two-supervisor release, telemetry history, the model registry and the
hash-chained audit log. Log in at `/auth/token` (OAuth2 password flow) and send
`Authorization: Bearer <token>`. Roles and permissions: docs/operator_api.md.
"""


def create_app(ctx: ApiContext) -> FastAPI:
    """The FastAPI application serving `ctx`."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.hub.bind(asyncio.get_running_loop())
        yield

    app = FastAPI(title='Sentinel operator API', version=API_VERSION, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.context = ctx

    @app.exception_handler(DatabaseUnavailable)
    async def _database_unavailable(_request: Request, error: DatabaseUnavailable) -> JSONResponse:
        ctx.log.warning(f'answering 503: database unavailable ({error})')
        return JSONResponse({'detail': 'database unavailable; nothing was done, try again'},
                            status.HTTP_503_SERVICE_UNAVAILABLE, headers={'Retry-After': '5'})

    @app.exception_handler(GatewayTimeout)
    async def _gateway_timeout(_request: Request, error: GatewayTimeout) -> JSONResponse:
        return JSONResponse({'detail': str(error)}, status.HTTP_504_GATEWAY_TIMEOUT)

    for module in (routes_auth, routes_read, routes_actions, routes_estop, routes_audit,
                   routes_system):
        app.include_router(module.router)
    return app
