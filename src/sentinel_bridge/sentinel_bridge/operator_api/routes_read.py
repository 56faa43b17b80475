"""Read-only endpoints: fleet and vehicle state, alerts, tasks, telemetry, models, users.

Live state (fleet, safety status) comes from memory, fed by ROS, and is served
by `async def` handlers on the event loop: no thread hop, no query. Everything
else comes from the database through plain `def` handlers, which FastAPI runs
in its thread pool, so database reads never block the event loop.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from sentinel_bridge import downsample
from sentinel_bridge.auth import Permission, Principal
from sentinel_bridge.domain import AlertSeverity, AlertState, TaskState
from sentinel_bridge.operator_api.context import context
from sentinel_bridge.operator_api.responses import errors
from sentinel_bridge.operator_api.schemas import (AlertDetailOut, AlertHistoryOut, AlertOut,
                                                  AlertStateName, CommandHistoryOut,
                                                  EstopEventOut, FleetOut, Identifier, ModelOut,
                                                  SafetyStatusOut, SeverityName, TaskOut,
                                                  TaskStateName, TelemetryOut,
                                                  TelemetryPointOut, UserOut, VehicleOut,
                                                  enum_name)
from sentinel_bridge.operator_api.security import RequirePermission
from sentinel_bridge.persistence import store

router = APIRouter()

# Longest telemetry range one request may cover (7 days at 1 Hz is about
# 600k samples per vehicle, a few seconds of aggregation).
MAX_TELEMETRY_RANGE = timedelta(days=7)
# Most points a telemetry request may ask for.
MAX_TELEMETRY_POINTS = 5000
# Default number of telemetry points.
DEFAULT_TELEMETRY_POINTS = 500
# Largest page of list endpoints.
MAX_PAGE = 1000

VehicleId = Annotated[Identifier, Path(description='vehicle id, as in the site configuration')]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description='most items returned')]


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f'{name} must carry a time zone (e.g. 2026-01-01T00:00:00Z)')
    return value


@router.get('/fleet', tags=['fleet'], response_model=FleetOut, responses=errors(),
            summary='Every vehicle in the newest fleet state')
async def fleet(request: Request, _: Annotated[Principal, Depends(
        RequirePermission(Permission.VIEW_FLEET))]) -> FleetOut:
    stamp, vehicles = context(request).live.fleet()
    return FleetOut(stamp=stamp, vehicles=[VehicleOut.of(v) for v in vehicles])


@router.get('/vehicles/{vehicle_id}', tags=['fleet'], response_model=VehicleOut,
            responses=errors(404), summary="One vehicle's newest state")
async def vehicle(request: Request, vehicle_id: VehicleId, _: Annotated[Principal, Depends(
        RequirePermission(Permission.VIEW_FLEET))]) -> VehicleOut:
    snapshot = context(request).live.vehicle(vehicle_id)
    if snapshot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f'no vehicle {vehicle_id!r} in the fleet state')
    return VehicleOut.of(snapshot)


@router.get('/safety/status', tags=['fleet'], response_model=SafetyStatusOut,
            responses=errors(404), summary="The safety watchdog's newest status")
async def safety_status(request: Request, _: Annotated[Principal, Depends(
        RequirePermission(Permission.VIEW_FLEET))]) -> SafetyStatusOut:
    status_now = context(request).live.safety()
    if status_now is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, 'no safety status received yet')
    return SafetyStatusOut.of(status_now)


@router.get('/vehicles/{vehicle_id}/commands', tags=['vehicles'],
            response_model=list[CommandHistoryOut], responses=errors(),
            summary="A vehicle's recent commands and the safety verdicts on them")
def vehicle_commands(request: Request, vehicle_id: VehicleId,
                     _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_FLEET))],
                     limit: Limit = 100) -> list[CommandHistoryOut]:
    with context(request).database.read() as session:
        return [CommandHistoryOut.of(r) for r in store.list_commands(session, vehicle_id, limit)]


@router.get('/vehicles/{vehicle_id}/telemetry', tags=['vehicles'], response_model=TelemetryOut,
            responses=errors(422), summary="A vehicle's stored telemetry over a time range, downsampled")
def telemetry(request: Request, vehicle_id: VehicleId,
              _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_TELEMETRY))],
              start: Annotated[datetime, Query(description='range start (inclusive), with time zone')],
              end: Annotated[datetime, Query(description='range end (exclusive), with time zone')],
              max_points: Annotated[int, Query(ge=1, le=MAX_TELEMETRY_POINTS)] = DEFAULT_TELEMETRY_POINTS,
              ) -> TelemetryOut:
    _aware(start, 'start')
    _aware(end, 'end')
    if end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, 'end must be after start')
    if end - start > MAX_TELEMETRY_RANGE:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f'range longer than {MAX_TELEMETRY_RANGE.days} days; ask for less')
    with context(request).database.read() as session:
        points = downsample.downsample(store.iter_telemetry(session, vehicle_id, start, end),
                                       start, end, max_points)
    width = downsample.bucket_width(start, end, max_points)
    return TelemetryOut(vehicle_id=vehicle_id, start=start, end=end,
                        bucket_s=width.total_seconds(),
                        points=[TelemetryPointOut.of(p) for p in points])


@router.get('/alerts', tags=['alerts'], response_model=list[AlertOut], responses=errors(422),
            summary='Alerts filtered by state, severity and time raised, newest first')
def alerts(request: Request,
           _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_ALERTS))],
           state: Annotated[list[AlertStateName] | None, Query(description='repeatable')] = None,
           severity: Annotated[list[SeverityName] | None, Query(description='repeatable')] = None,
           since: Annotated[datetime | None, Query(description='raised at or after')] = None,
           until: Annotated[datetime | None, Query(description='raised before')] = None,
           limit: Limit = 100,
           offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[AlertOut]:
    criteria = store.AlertFilter(
        states=tuple(AlertState[s.upper()] for s in state or ()),
        severities=tuple(AlertSeverity[s.upper()] for s in severity or ()),
        since=_aware(since, 'since'), until=_aware(until, 'until'), limit=limit, offset=offset)
    with context(request).database.read() as session:
        return [AlertOut.of(r) for r in store.query_alerts(session, criteria)]


@router.get('/alerts/{alert_id}', tags=['alerts'], response_model=AlertDetailOut,
            responses=errors(404), summary='One alert with its state history')
def alert(request: Request, alert_id: Annotated[Identifier, Path()],
          _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_ALERTS))]) -> AlertDetailOut:
    with context(request).database.read() as session:
        row = store.get_alert(session, alert_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f'no alert {alert_id!r}')
        history = [AlertHistoryOut(state=enum_name(h.state, AlertState),  # type: ignore[arg-type]
                                   changed_at=h.changed_at, changed_by=h.changed_by, note=h.note,
                                   source=h.source)  # type: ignore[arg-type]
                   for h in store.alert_history(session, alert_id)]
        return AlertDetailOut(**AlertOut.of(row).model_dump(), history=history)


@router.get('/tasks', tags=['tasks'], response_model=list[TaskOut], responses=errors(),
            summary='Tasks, most recently updated first')
def tasks(request: Request,
          _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_TASKS))],
          state: TaskStateName | None = None, vehicle_id: Identifier | None = None,
          limit: Limit = 200) -> list[TaskOut]:
    wanted = None if state is None else TaskState[state.upper()]
    with context(request).database.read() as session:
        return [TaskOut.of(r) for r in store.list_tasks(session, wanted, vehicle_id, limit)]


@router.get('/tasks/{task_id}', tags=['tasks'], response_model=TaskOut, responses=errors(404),
            summary='One task')
def task(request: Request, task_id: Annotated[Identifier, Path()],
         _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_TASKS))]) -> TaskOut:
    with context(request).database.read() as session:
        row = store.get_task(session, task_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f'no task {task_id!r}')
        return TaskOut.of(row)


@router.get('/estop/events', tags=['estop'], response_model=list[EstopEventOut],
            responses=errors(), summary='Recent e-stop events, newest first')
def estop_events(request: Request,
                 _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_FLEET))],
                 limit: Limit = 100) -> list[EstopEventOut]:
    with context(request).database.read() as session:
        return [EstopEventOut.of(r) for r in store.list_estop_events(session, limit)]


@router.get('/models', tags=['models'], response_model=list[ModelOut], responses=errors(),
            summary='Every model version in the registry, newest first')
def models(request: Request,
           _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_MODELS))]) -> list[ModelOut]:
    with context(request).database.read() as session:
        return [ModelOut.of(r) for r in store.list_models(session)]


@router.get('/models/{version}', tags=['models'], response_model=ModelOut, responses=errors(404),
            summary='One model version')
def model(request: Request, version: Annotated[Identifier, Path()],
          _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_MODELS))]) -> ModelOut:
    with context(request).database.read() as session:
        row = store.get_model(session, version)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f'no model version {version!r}')
        return ModelOut.of(row)


@router.get('/users', tags=['users'], response_model=list[UserOut], responses=errors(),
            summary='Operator accounts (managed with the sentinel-users command)')
def users(request: Request,
          _: Annotated[Principal, Depends(RequirePermission(Permission.MANAGE_USERS))]) -> list[UserOut]:
    with context(request).database.read() as session:
        return [UserOut(name=u.name, role=u.role.value, disabled=u.disabled,
                        created_at=u.created_at, updated_at=u.updated_at)
                for u in store.list_users(session)]
