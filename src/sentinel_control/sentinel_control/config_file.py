"""Reading mission control's YAML files: every mistake names the file, the key and the reason.

Why shared: the response policy and the standing patrols are both files an
operator edits by hand, and both must stop mission control at start with the
same kind of message (``file: key: reason``) rather than misbehave later.
PyYAML silently keeps the last of two equal keys; the loader here refuses
them instead.

Pure logic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration file that cannot be used, with the file and key at fault."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        super().__init__(f'{file}: {key}: {reason}')


class _NoDuplicates(yaml.SafeLoader):
    """Safe loader that refuses duplicate keys."""


def _mapping_without_duplicates(loader: _NoDuplicates, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k) for k, _ in node.value]
    for index, key in enumerate(keys):
        if key in keys[:index]:
            raise yaml.constructor.ConstructorError(None, None, f'duplicate key "{key}"', node.start_mark)
    return loader.construct_mapping(node)


_NoDuplicates.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


class Reader:
    """Typed access to a parsed document; raises ``error_type`` naming the key."""

    def __init__(self, file: str, error_type: type[ConfigError] = ConfigError) -> None:
        self.file = file
        self.error_type = error_type

    def error(self, key: str, reason: str) -> ConfigError:
        return self.error_type(self.file, key or '(top level)', reason)

    def parse(self, text: str) -> Any:
        try:
            return yaml.load(text, Loader=_NoDuplicates)  # noqa: S506 (a SafeLoader subclass)
        except yaml.YAMLError as error:
            mark = getattr(error, 'problem_mark', None) or getattr(error, 'context_mark', None)
            where = f'line {mark.line + 1}' if mark is not None else 'YAML'
            raise self.error(where, f'invalid YAML: {getattr(error, "problem", None) or error}') from None

    def read(self, path: str | Path) -> Any:
        try:
            text = Path(path).read_text(encoding='utf-8')
        except (OSError, UnicodeDecodeError) as error:
            raise self.error('file', f'cannot read: {error}') from None
        return self.parse(text)

    def mapping(self, value: Any, key: str, required: Sequence[str],
                optional: Sequence[str] = ()) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f'expected a mapping, got {type(value).__name__}')
        for name in value:
            if name not in required and name not in optional:
                raise self.error(f'{key}.{name}' if key else str(name),
                                 f'unknown key (expected one of: {", ".join([*required, *optional])})')
        for name in required:
            if name not in value:
                raise self.error(f'{key}.{name}' if key else name, 'missing required key')
        return value

    def number(self, value: Any, key: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, f'expected a finite number, got {value!r}')
        if not low <= value <= high:
            raise self.error(key, f'{value:g} is out of range [{low:g}, {high:g}]')
        return float(value)

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f'expected an integer, got {value!r}')
        if not low <= value <= high:
            raise self.error(key, f'{value} is out of range [{low}, {high}]')
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f'expected true or false, got {value!r}')
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f'expected a non-empty string, got {value!r}')
        return value

    def names(self, value: Any, key: str, allowed: Sequence[str], allow_empty: bool) -> tuple[str, ...]:
        if not isinstance(value, list) or (not value and not allow_empty):
            raise self.error(key, 'expected a' + ('' if allow_empty else ' non-empty') + ' list')
        out: list[str] = []
        for index, item in enumerate(value):
            if item not in allowed:
                raise self.error(f'{key}[{index}]', f'{item!r} is not one of: {", ".join(allowed)}')
            if item in out:
                raise self.error(f'{key}[{index}]', f'{item!r} listed twice')
            out.append(item)
        return tuple(out)
