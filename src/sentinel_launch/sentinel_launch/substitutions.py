"""Parsing and evaluation of launch substitutions such as ``$(var robot)``.

This module is pure: everything it needs from the outside world (launch
variables, the environment, package share lookups) arrives through a
:class:`Context`.  Keeping it free of I/O lets the parser check every
attribute of a launch file for syntax errors before anything is evaluated,
including attributes in branches that a condition later switches off.

Only the substitutions Sentinel's launch files use are supported; anything
else is rejected instead of passed through, because a silently unexpanded
``$(...)`` would surface much later as a confusing node error.
"""

from __future__ import annotations

import os.path
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    'Context',
    'Substitution',
    'SubstitutionError',
    'Text',
    'evaluate',
    'parse',
    'parse_bool',
    'substitute',
]


class SubstitutionError(ValueError):
    """A substitution is malformed or cannot be evaluated.

    The message says what is wrong but not where: the caller knows the file,
    line and attribute and adds them.
    """


@dataclass(frozen=True)
class Text:
    """Literal text between substitutions."""

    value: str


@dataclass(frozen=True)
class Substitution:
    """One ``$(kind arg ...)`` expression."""

    kind: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return '$(' + ' '.join((self.kind, *self.args)) + ')'


Part = Text | Substitution

# kind -> (minimum, maximum) number of arguments.
_ARITY: Mapping[str, tuple[int, int]] = {
    'var': (1, 1),
    'env': (1, 2),
    'dirname': (0, 0),
    'find-pkg-share': (1, 1),
}

# Arguments are separated by whitespace; quotes allow empty or spaced values
# such as ``$(env CAMERA_URI '')``.
_TOKEN = re.compile(r"""'([^']*)'|"([^"]*)"|(\S+)""")


@dataclass(frozen=True)
class Context:
    """Everything a substitution may look at.

    ``package_share`` maps a package name to its share directory, or ``None``
    when the package is not installed; it is injected so this module stays
    free of file system access.
    """

    variables: Mapping[str, str]
    environ: Mapping[str, str]
    launch_file: str
    package_share: Callable[[str], str | None]


def _tokenize(body: str) -> tuple[str, ...]:
    tokens = []
    position = 0
    for match in _TOKEN.finditer(body):
        if body[position:match.start()].strip():
            raise SubstitutionError(f'cannot parse substitution $({body})')
        position = match.end()
        quoted_single, quoted_double, bare = match.groups()
        if bare is not None and ("'" in bare or '"' in bare):
            raise SubstitutionError(f'unbalanced quote in substitution $({body})')
        tokens.append(next(t for t in (quoted_single, quoted_double, bare) if t is not None))
    return tuple(tokens)


def parse(text: str) -> tuple[Part, ...]:
    """Split ``text`` into literal parts and substitutions.

    Raises :class:`SubstitutionError` for unknown substitution kinds, a wrong
    number of arguments, nesting, or a missing closing parenthesis.
    """
    parts: list[Part] = []
    position = 0
    while True:
        start = text.find('$(', position)
        if start < 0:
            break
        if start > position:
            parts.append(Text(text[position:start]))
        end = text.find(')', start + 2)
        if end < 0:
            raise SubstitutionError(f"unterminated substitution in '{text}' (missing ')')")
        body = text[start + 2:end]
        if '$(' in body:
            raise SubstitutionError(f"nested substitutions are not supported: '{text}'")
        tokens = _tokenize(body)
        if not tokens:
            raise SubstitutionError(f"empty substitution '$()' in '{text}'")
        kind, args = tokens[0], tokens[1:]
        if kind not in _ARITY:
            supported = ', '.join(sorted(_ARITY))
            raise SubstitutionError(
                f"unknown substitution '$({body})' (supported: {supported})")
        low, high = _ARITY[kind]
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f'{low} to {high}'
            raise SubstitutionError(
                f"substitution '$({body})' takes {expected} argument(s), got {len(args)}")
        parts.append(Substitution(kind, args))
        position = end + 1
    if position < len(text):
        parts.append(Text(text[position:]))
    return tuple(parts)


def _evaluate_one(sub: Substitution, context: Context) -> str:
    if sub.kind == 'var':
        name = sub.args[0]
        try:
            return context.variables[name]
        except KeyError:
            raise SubstitutionError(
                f"launch variable '{name}' is not defined "
                '(declare it with <arg> or <let> before using it)') from None
    if sub.kind == 'env':
        name = sub.args[0]
        if name in context.environ:
            return context.environ[name]
        if len(sub.args) == 2:
            return sub.args[1]
        raise SubstitutionError(
            f"environment variable '{name}' is not set "
            f"(use $(env {name} DEFAULT) to give a default)")
    if sub.kind == 'dirname':
        return os.path.dirname(context.launch_file)
    if sub.kind == 'find-pkg-share':
        package = sub.args[0]
        share = context.package_share(package)
        if share is None:
            raise SubstitutionError(
                f"package '{package}' not found: no share/{package} in any prefix of "
                'AMENT_PREFIX_PATH (is the workspace built and sourced?)')
        return share
    raise AssertionError(f'unhandled substitution kind {sub.kind}')  # parse() rejects others


def evaluate(parts: tuple[Part, ...], context: Context) -> str:
    """Concatenate literal parts and evaluated substitutions."""
    return ''.join(
        part.value if isinstance(part, Text) else _evaluate_one(part, context)
        for part in parts)


def substitute(text: str, context: Context) -> str:
    """Parse and evaluate ``text`` in one step."""
    return evaluate(parse(text), context)


_TRUE = frozenset({'true', '1'})
_FALSE = frozenset({'false', '0'})


def parse_bool(text: str) -> bool:
    """Interpret an evaluated ``if``/``unless``/``respawn``/``scoped`` value.

    Anything but true/false/1/0 (any case) is an error, so a typo such as
    ``if="$(var use_sim)"`` with ``use_sim:=ture`` fails loudly instead of
    quietly disabling part of the system.
    """
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SubstitutionError(f"expected a boolean (true, false, 1 or 0), got '{text}'")
