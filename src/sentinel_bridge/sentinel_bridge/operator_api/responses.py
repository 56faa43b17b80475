"""Documented error responses, so the OpenAPI document lists every status a route can answer."""

from __future__ import annotations

from typing import Any

from sentinel_bridge.operator_api.schemas import ErrorOut, ValidationErrorOut

_DESCRIPTIONS = {
    400: 'malformed request',
    401: 'missing, invalid or expired token, or the account is disabled',
    403: "the user's role lacks the permission this endpoint needs",
    404: 'no such resource',
    409: 'the request conflicts with the current state',
    410: 'the request expired',
    422: 'the request is malformed or out of range; detail says which field and why',
    429: 'too many failed logins; retry after the Retry-After seconds',
    503: 'the database is unavailable; nothing was done, retry',
    504: 'the ROS service did not answer in time',
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the given status codes (401, 403 and 503 always)."""
    return _entries(sorted({401, 403, 503, *codes}))


def public_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for endpoints without authentication."""
    return _entries(sorted(codes))


def _entries(codes: list[int]) -> dict[int | str, dict[str, Any]]:
    return {code: {'model': ValidationErrorOut if code == 422 else ErrorOut,
                   'description': _DESCRIPTIONS[code]} for code in codes}
