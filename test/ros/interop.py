"""Deterministic, fully populated instances of any ROS 2 interface type.

The cross-process tests send such instances through DDS and compare what comes
back field by field. Every field gets a value that differs from its default
and depends on the seed, so a field that is dropped, truncated or mis-typed
anywhere on the way makes the comparison fail.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any

from rosidl_parser import definition as idl

_INTEGER_BITS = {
    'int8': (8, True), 'uint8': (8, False), 'int16': (16, True), 'uint16': (16, False),
    'int32': (32, True), 'uint32': (32, False), 'int64': (64, True), 'uint64': (64, False),
}
# Elements in each generated unbounded sequence: more than one, so ordering is checked.
SEQUENCE_LENGTH = 2


def interface_classes(module: ModuleType) -> list[type]:
    """Every generated message/service/action class in `sentinel_msgs.msg` (or srv, action)."""
    return sorted(
        (obj for name, obj in inspect.getmembers(module, inspect.isclass)
         # Generated helper classes (Foo_Request, Foo_Event, Foo_Goal...) carry an
         # underscore; the interface itself does not.
         if obj.__module__.startswith(module.__name__) and '_' not in name),
        key=lambda cls: cls.__name__)


def _value(slot: Any, seed: int, path: str) -> Any:
    """A seed-dependent, non-default value for one rosidl slot type."""
    salt = sum(ord(c) for c in path)
    if isinstance(slot, idl.BasicType):
        name = slot.typename
        if name == 'boolean':
            return (seed + salt) % 2 == 0
        if name in ('float', 'double'):
            return float((seed * 7 + salt) % 1000) + 0.5
        if name in ('octet', 'byte'):
            return bytes([(seed + salt) % 256])
        if name not in _INTEGER_BITS:
            raise TypeError(f'unsupported basic type {name} at {path}')
        bits, signed = _INTEGER_BITS[name]
        value = (seed * 31 + salt) % (2 ** (bits - 1) - 1) + 1
        return -value if signed and seed % 2 else value
    if isinstance(slot, (idl.UnboundedString, idl.BoundedString)):
        return f'{path}#{seed}'
    if isinstance(slot, (idl.UnboundedWString, idl.BoundedWString)):
        return f'{path}~{seed}'
    if isinstance(slot, idl.NamespacedType):
        module = importlib.import_module('.'.join(slot.namespaces))
        return populated(getattr(module, slot.name), seed + salt)
    if isinstance(slot, idl.Array):
        return [_value(slot.value_type, seed + i, f'{path}[{i}]') for i in range(slot.size)]
    if isinstance(slot, idl.AbstractSequence):
        count = SEQUENCE_LENGTH
        if isinstance(slot, idl.BoundedSequence):
            count = min(count, slot.maximum_size)
        return [_value(slot.value_type, seed + i, f'{path}[{i}]') for i in range(count)]
    raise TypeError(f'unsupported slot type {slot!r} at {path}')


def populated(cls: type, seed: int) -> Any:
    """An instance of message class `cls` with every field set from `seed`."""
    message = cls()
    for field_name, slot in zip(message.get_fields_and_field_types(), cls.SLOT_TYPES):
        setattr(message, field_name, _value(slot, seed, f'{cls.__name__}.{field_name}'))
    return message


def type_topic(prefix: str, cls: type) -> str:
    """The topic or service name a test uses for one interface type."""
    return f'/interop/{prefix}/{cls.__name__}'
