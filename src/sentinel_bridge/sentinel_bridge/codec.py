"""JSON encoding of the domain records, for the on-disk retry queue.

A record that waits out a database outage is written to disk as one JSON line
and read back after a restart, so the encoding must round-trip every field
exactly: datetimes as ISO 8601 with offset, enums as their integer values,
nested records as objects, tuples as arrays. Driven by the dataclasses' type
hints, so a new field needs no codec change. Pure logic.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

T = TypeVar('T')


def encode(value: object) -> Any:
    """A JSON-ready structure for a domain record (or any value inside one)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError('naive datetimes cannot be encoded')
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(cls: type[T], data: Any) -> T:
    """Rebuild a record of type `cls` from what `encode` produced."""
    return _decode(cls, data)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(hint: Any, data: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(options[0], data)
    if origin is tuple:
        (item, *_rest) = typing.get_args(hint)
        return tuple(_decode(item, v) for v in data)
    if origin is dict:
        _key, item = typing.get_args(hint)
        return {k: _decode(item, v) for k, v in data.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        return hint(**{f.name: _decode(hints[f.name], data[f.name])
                       for f in dataclasses.fields(hint) if f.name in data})
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(data)
    if hint is datetime:
        return datetime.fromisoformat(data)
    if hint is float and isinstance(data, int):
        return float(data)
    return data
