"""The audit log: query, verify the hash chain, export as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from sentinel_bridge.audit_chain import ChainedEntry
from sentinel_bridge.auth import Permission, Principal
from sentinel_bridge.operator_api.context import ApiContext, context
from sentinel_bridge.operator_api.responses import errors
from sentinel_bridge.operator_api.routes_read import MAX_PAGE, _aware
from sentinel_bridge.operator_api.schemas import AuditEntryOut, AuditVerifyOut
from sentinel_bridge.operator_api.security import RequirePermission
from sentinel_bridge.persistence import store

router = APIRouter(tags=['audit'])

# Media type of the export: one JSON object per line.
JSON_LINES = 'application/x-ndjson'
# Longest actor/action filter accepted, characters.
MAX_FILTER = 128


def entry_out(entry: ChainedEntry) -> AuditEntryOut:
    """The API view of a chained entry."""
    return AuditEntryOut(seq=entry.seq, at=entry.at, actor=entry.actor, action=entry.action,
                         target=entry.target, outcome=entry.outcome,
                         detail=json.loads(entry.detail_json), prev_hash=entry.prev_hash,
                         entry_hash=entry.entry_hash)


def _criteria(actor: str | None, action: str | None, since: datetime | None,
              until: datetime | None, after_seq: int, limit: int) -> store.AuditFilter:
    return store.AuditFilter(actor=actor, action=action, since=_aware(since, 'since'),
                             until=_aware(until, 'until'), after_seq=after_seq, limit=limit)


Actor = Annotated[str | None, Query(max_length=MAX_FILTER, description='exact user name')]
Action = Annotated[str | None, Query(max_length=MAX_FILTER, description='exact action name')]
Since = Annotated[datetime | None, Query(description='at or after, with time zone')]
Until = Annotated[datetime | None, Query(description='before, with time zone')]
AfterSeq = Annotated[int, Query(ge=0, le=2**62, description='page: entries after this seq')]


@router.get('/audit', response_model=list[AuditEntryOut], responses=errors(422),
            summary='Audit entries in chain order, filtered; page with after_seq')
def audit(request: Request,
          _: Annotated[Principal, Depends(RequirePermission(Permission.VIEW_AUDIT))],
          actor: Actor = None, action: Action = None, since: Since = None, until: Until = None,
          after_seq: AfterSeq = 0,
          limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> list[AuditEntryOut]:
    criteria = _criteria(actor, action, since, until, after_seq, limit)
    with context(request).database.read() as session:
        return [entry_out(e) for e in store.query_audit(session, criteria)]


@router.get('/audit/verify', response_model=AuditVerifyOut, responses=errors(),
            summary='Check the whole hash chain; names the first broken entry')
def verify(request: Request, principal: Annotated[Principal, Depends(
        RequirePermission(Permission.VERIFY_AUDIT))]) -> AuditVerifyOut:
    ctx = context(request)
    with ctx.database.read() as session:
        report = store.verify_audit(session)
    if not report.ok:
        ctx.log.error(f'audit chain broken at seq {report.first_broken_seq}: {report.reason}')
    with ctx.database.write() as session:
        store.append_audit(session, ctx.audit_record(
            principal.user_id, 'verify_audit', 'audit_entries', 'ok' if report.ok else 'broken',
            {'checked': report.checked, 'first_broken_seq': report.first_broken_seq}))
    return AuditVerifyOut(ok=report.ok, checked=report.checked, head_hash=report.head_hash,
                          first_broken_seq=report.first_broken_seq, reason=report.reason)


def _lines(ctx: ApiContext, criteria: store.AuditFilter) -> Iterator[str]:
    with ctx.database.read() as session:
        for entry in store.iter_audit(session, criteria):
            yield entry_out(entry).model_dump_json() + '\n'


@router.get('/audit/export', response_class=StreamingResponse, responses={
    **errors(422), 200: {'content': {JSON_LINES: {'schema': {'type': 'string'}}},
                         'description': 'one AuditEntryOut JSON object per line, in chain order'}},
    summary='Export audit entries as JSON lines (for archiving and offline verification)')
def export(request: Request,
           principal: Annotated[Principal, Depends(RequirePermission(Permission.EXPORT_AUDIT))],
           actor: Actor = None, action: Action = None, since: Since = None, until: Until = None,
           after_seq: AfterSeq = 0) -> StreamingResponse:
    ctx = context(request)
    criteria = _criteria(actor, action, since, until, after_seq, MAX_PAGE)
    with ctx.database.write() as session:
        store.append_audit(session, ctx.audit_record(
            principal.user_id, 'export_audit', 'audit_entries', 'ok',
            {'actor': actor, 'action': action, 'after_seq': after_seq}))
    return StreamingResponse(_lines(ctx, criteria), media_type=JSON_LINES,
                             headers={'Content-Disposition': 'attachment; filename="audit.jsonl"'})
