"""Operator actions that go through ROS: vehicle commands, alert acknowledgement, tasks.

Each handler follows the same order, so that nothing is half-done:
1. input validated (pydantic) and the database checked reachable (else 503,
   nothing sent to ROS);
2. the ROS service called and awaited with a timeout (504 on timeout);
3. the outcome and its audit entry written in one transaction before the
   answer; if the database failed in between, into the durable retry queue.
Service error codes map to HTTP statuses here and nowhere else.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool

from sentinel_bridge.auth import Permission, Principal
from sentinel_bridge.domain import (AlertAction, AlertState, AlertStateChange, CommandRecord,
                                    Decision, Point, TaskRecord, TaskState, TaskType)
from sentinel_bridge.operator_api.context import ApiContext, context
from sentinel_bridge.operator_api.gateway import GatewayTimeout, Reply
from sentinel_bridge.operator_api.responses import errors
from sentinel_bridge.operator_api.schemas import (OPERATOR_COMMANDS, AcknowledgeIn, AlertOut,
                                                  GotoCommandIn,
                                                  Identifier, PointOut, ResolveIn, TaskIn,
                                                  TaskOut, VehicleCommandIn, VehicleCommandOut,
                                                  alert_record_out, enum_name, task_record_out)
from sentinel_bridge.operator_api.security import RequirePermission

router = APIRouter()

# CommandVehicle.srv error codes.
CMD_REFUSED, CMD_UNKNOWN_VEHICLE, CMD_INVALID = 1, 2, 3
# AcknowledgeAlert.srv error codes.
ACK_UNKNOWN_ALERT, ACK_INVALID_STATE = 1, 2
# AssignTask.srv error codes.
ASSIGN_NO_VEHICLE, ASSIGN_INVALID = 1, 2
# CancelTask.srv / SetTaskPaused.srv error codes (same numbering).
TASK_UNKNOWN, TASK_WRONG_STATE = 1, 2


async def ensure_database(ctx: ApiContext) -> None:
    """Raise DatabaseUnavailable (answered 503) before anything is sent to ROS."""
    await run_in_threadpool(ctx.database.ping)


async def record_timeout(ctx: ApiContext, principal: Principal, action: str, target: str,
                         error: GatewayTimeout) -> HTTPException:
    """Audit a call that got no answer, and the 504 to raise."""
    await ctx.persist_after_effect([ctx.audit_record(
        principal.user_id, action, target, 'timeout', {'error': str(error)})])
    return HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, str(error))


def raise_for(reply: Reply[object], mapping: dict[int, int]) -> None:
    """HTTPException for a service error code listed in mapping."""
    code = mapping.get(reply.error_code)
    if code is not None:
        raise HTTPException(code, reply.error_msg or f'refused (error_code {reply.error_code})')


# ----------------------------------------------------------------------------- vehicle commands

@router.post('/vehicles/{vehicle_id}/commands', tags=['vehicles'],
             response_model=VehicleCommandOut, responses=errors(404, 422, 504),
             summary='Command a vehicle (goto, hold, return, land); answered with the safety verdict')
async def command_vehicle(
        request: Request, vehicle_id: Annotated[Identifier, Path()], body: VehicleCommandIn,
        principal: Annotated[Principal, Depends(RequirePermission(Permission.COMMAND_VEHICLE))],
) -> VehicleCommandOut:
    ctx = context(request)
    await ensure_database(ctx)
    goto = isinstance(body, GotoCommandIn)
    target = Point(body.target.x, body.target.y, body.target.z) if goto else Point()
    proposed = CommandRecord(
        command_id=uuid.uuid4().hex, vehicle_id=vehicle_id, command=OPERATOR_COMMANDS[body.command],
        issued_by=principal.user_id, requested_at=ctx.clock(), target=target,
        speed_limit=body.speed_limit, source='api')
    try:
        reply = await ctx.gateway.command_vehicle(proposed)
    except GatewayTimeout as error:
        raise await record_timeout(ctx, principal, 'command_vehicle', vehicle_id, error) from None
    # The gate answers with the command as it will be sent (possibly edited);
    # error answers may carry an empty command, so fall back to the proposal.
    answered = reply.value if reply.value is not None and reply.value.vehicle_id else proposed
    has_verdict = reply.error_code in (0, CMD_REFUSED)
    stored = CommandRecord(**{**vars(answered), 'command_id': proposed.command_id,
                              'issued_by': principal.user_id, 'requested_at': proposed.requested_at,
                              'source': 'api', 'error_code': reply.error_code,
                              'error_msg': reply.error_msg,
                              'verdict': answered.verdict if has_verdict else None})
    verdict = stored.verdict
    decision = None if verdict is None else enum_name(verdict.decision, Decision)
    await ctx.persist_after_effect([stored, ctx.audit_record(
        principal.user_id, 'command_vehicle', vehicle_id, decision or f'error {reply.error_code}',
        {'command_id': stored.command_id, 'command': body.command,
         'target': vars(target) if goto else None, 'speed_limit': body.speed_limit,
         'reasons': list(verdict.reasons) if verdict else [], 'error_msg': reply.error_msg})])
    raise_for(reply, {CMD_UNKNOWN_VEHICLE: status.HTTP_404_NOT_FOUND,
                      CMD_INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT})
    accepted = reply.error_code == 0 and verdict is not None and verdict.decision != Decision.REFUSED
    return VehicleCommandOut(
        command_id=stored.command_id, vehicle_id=vehicle_id, command=body.command,
        accepted=accepted, decision=decision,  # type: ignore[arg-type]
        reasons=list(verdict.reasons) if verdict else [],
        checks_failed=list(verdict.checks_failed) if verdict else [],
        target=PointOut(**vars(stored.target)), speed_limit=stored.speed_limit,
        error_code=reply.error_code, error_msg=reply.error_msg)


# ----------------------------------------------------------------------------- alerts

async def _alert_action(request: Request, alert_id: str, principal: Principal, resolve: bool,
                        note: str) -> AlertOut:
    ctx = context(request)
    action = 'resolve_alert' if resolve else 'acknowledge_alert'
    await ensure_database(ctx)
    try:
        reply = await ctx.gateway.acknowledge_alert(alert_id, principal.user_id, resolve, note)
    except GatewayTimeout as error:
        raise await record_timeout(ctx, principal, action, alert_id, error) from None
    audit = ctx.audit_record(principal.user_id, action, alert_id,
                             'ok' if reply.error_code == 0 else f'error {reply.error_code}',
                             {'note': note, 'error_msg': reply.error_msg})
    records: list[object] = [audit]
    if reply.error_code == 0 and reply.value is not None:
        state = AlertState.RESOLVED if resolve else AlertState.ACKNOWLEDGED
        change = AlertStateChange(alert_id, state, ctx.clock(), principal.user_id, note, 'api')
        records.insert(0, AlertAction(uuid.uuid4().hex, reply.value, change))
    await ctx.persist_after_effect(records)  # type: ignore[arg-type]
    raise_for(reply, {ACK_UNKNOWN_ALERT: status.HTTP_404_NOT_FOUND,
                      ACK_INVALID_STATE: status.HTTP_409_CONFLICT})
    if reply.value is None:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, 'the alert service answered without the alert')
    return alert_record_out(reply.value)


@router.post('/alerts/{alert_id}/acknowledge', tags=['alerts'], response_model=AlertOut,
             responses=errors(404, 409, 422, 504), summary='Acknowledge an alert (I am on it)')
async def acknowledge_alert(
        request: Request, alert_id: Annotated[Identifier, Path()], body: AcknowledgeIn,
        principal: Annotated[Principal, Depends(RequirePermission(Permission.ACKNOWLEDGE_ALERT))],
) -> AlertOut:
    return await _alert_action(request, alert_id, principal, False, body.note)


@router.post('/alerts/{alert_id}/resolve', tags=['alerts'], response_model=AlertOut,
             responses=errors(404, 409, 422, 504), summary='Resolve an alert with a note')
async def resolve_alert(
        request: Request, alert_id: Annotated[Identifier, Path()], body: ResolveIn,
        principal: Annotated[Principal, Depends(RequirePermission(Permission.RESOLVE_ALERT))],
) -> AlertOut:
    return await _alert_action(request, alert_id, principal, True, body.note)


# ----------------------------------------------------------------------------- tasks

async def _finish_task_action(ctx: ApiContext, principal: Principal, action: str, target: str,
                              reply: Reply[TaskRecord], detail: dict[str, object],
                              mapping: dict[int, int]) -> TaskOut:
    records: list[object] = [ctx.audit_record(
        principal.user_id, action, target,
        'ok' if reply.error_code == 0 else f'error {reply.error_code}',
        {**detail, 'error_msg': reply.error_msg})]
    if reply.error_code == 0 and reply.value is not None and reply.value.task_id:
        records.insert(0, reply.value)
    await ctx.persist_after_effect(records)  # type: ignore[arg-type]
    raise_for(reply, mapping)
    if reply.value is None:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, 'mission control answered without the task')
    return task_record_out(reply.value)


@router.post('/tasks', tags=['tasks'], response_model=TaskOut, status_code=status.HTTP_201_CREATED,
             responses=errors(409, 422, 504), summary='Create a task through mission control')
async def create_task(
        request: Request, body: TaskIn,
        principal: Annotated[Principal, Depends(RequirePermission(Permission.MANAGE_TASKS))],
) -> TaskOut:
    ctx = context(request)
    await ensure_database(ctx)
    target_in = getattr(body, 'target', None)
    target = Point(target_in.x, target_in.y, target_in.z) if target_in else Point()
    task = TaskRecord(
        task_id='', task_type=TaskType[body.task_type.upper()], state=TaskState.PENDING,
        updated_at=ctx.clock(), vehicle_id=body.vehicle_id or '', target=target,
        target_track_id=getattr(body, 'target_track_id', None) or '',
        route=tuple(Point(p.x, p.y, p.z) for p in getattr(body, 'route', ())),
        priority=body.priority, origin_alert_id=body.origin_alert_id or '',
        created_by=principal.user_id)
    try:
        reply = await ctx.gateway.assign_task(task)
    except GatewayTimeout as error:
        raise await record_timeout(ctx, principal, 'create_task', body.task_type, error) from None
    target_name = reply.value.task_id if reply.value and reply.value.task_id else body.task_type
    return await _finish_task_action(
        ctx, principal, 'create_task', target_name, reply, body.model_dump(mode='json'),
        {ASSIGN_NO_VEHICLE: status.HTTP_409_CONFLICT,
         ASSIGN_INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT})


async def _pause(request: Request, task_id: str, principal: Principal, paused: bool) -> TaskOut:
    ctx = context(request)
    action = 'pause_task' if paused else 'resume_task'
    await ensure_database(ctx)
    try:
        reply = await ctx.gateway.set_task_paused(task_id, paused, principal.user_id)
    except GatewayTimeout as error:
        raise await record_timeout(ctx, principal, action, task_id, error) from None
    return await _finish_task_action(ctx, principal, action, task_id, reply, {},
                                     {TASK_UNKNOWN: status.HTTP_404_NOT_FOUND,
                                      TASK_WRONG_STATE: status.HTTP_409_CONFLICT})


@router.post('/tasks/{task_id}/pause', tags=['tasks'], response_model=TaskOut,
             responses=errors(404, 409, 422, 504), summary='Pause a task (its vehicle holds)')
async def pause_task(
        request: Request, task_id: Annotated[Identifier, Path()],
        principal: Annotated[Principal, Depends(RequirePermission(Permission.MANAGE_TASKS))],
) -> TaskOut:
    return await _pause(request, task_id, principal, True)


@router.post('/tasks/{task_id}/resume', tags=['tasks'], response_model=TaskOut,
             responses=errors(404, 409, 422, 504), summary='Resume a paused task')
async def resume_task(
        request: Request, task_id: Annotated[Identifier, Path()],
        principal: Annotated[Principal, Depends(RequirePermission(Permission.MANAGE_TASKS))],
) -> TaskOut:
    return await _pause(request, task_id, principal, False)


@router.post('/tasks/{task_id}/cancel', tags=['tasks'], response_model=TaskOut,
             responses=errors(404, 409, 422, 504), summary='Cancel a task')
async def cancel_task(
        request: Request, task_id: Annotated[Identifier, Path()],
        principal: Annotated[Principal, Depends(RequirePermission(Permission.MANAGE_TASKS))],
) -> TaskOut:
    ctx = context(request)
    await ensure_database(ctx)
    try:
        reply = await ctx.gateway.cancel_task(task_id, principal.user_id)
    except GatewayTimeout as error:
        raise await record_timeout(ctx, principal, 'cancel_task', task_id, error) from None
    return await _finish_task_action(ctx, principal, 'cancel_task', task_id, reply, {},
                                     {TASK_UNKNOWN: status.HTTP_404_NOT_FOUND,
                                      TASK_WRONG_STATE: status.HTTP_409_CONFLICT})
