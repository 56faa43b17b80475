"""Turn a ROS 2 XML launch file into a flat, fully resolved list of processes.

Work happens in two passes.  The first parses each file with expat (so every
element knows its line) and checks it against a fixed schema: unknown tags,
unknown or missing attributes and malformed substitutions are errors even
inside branches that a condition later disables, because a typo in a rarely
used branch should not wait for the day that branch is switched on.  The
second pass evaluates the tree in document order the way ``ros2 launch``
does: launch arguments, ``let`` variables, ``set_env`` and
``push-ros-namespace`` flow down the tree and are scoped by ``group`` and
``include``; conditions prune branches; nodes and executables become
:class:`ProcessSpec` values with a complete command line.

Everything that can be checked before starting a process is checked here,
executables included, so ``--print`` shows exactly what would run and a
broken launch file never starts half of the system.
"""

from __future__ import annotations

import collections
import importlib.metadata
import logging
import os
import shlex
import shutil
import sys
import sysconfig
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.parsers import expat

from .substitutions import Context, SubstitutionError, parse, parse_bool, substitute

__all__ = [
    'ArgumentError',
    'ArgumentSpec',
    'LaunchDescription',
    'LaunchError',
    'LaunchFileError',
    'Location',
    'ProcessSpec',
    'compose_namespace',
    'describe_arguments',
    'find_package_share',
    'load',
    'resolve_node_executable',
]

_LOG = logging.getLogger(__name__)

OUTPUT_MODES = ('screen', 'log', 'both')
DEFAULT_OUTPUT = 'log'  # what ros2 launch does when output is not given


class LaunchError(Exception):
    """An error in a launch file or its arguments, reported without a traceback."""


@dataclass(frozen=True)
class Location:
    """Where an element starts: absolute file path and 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f'{self.file}:{self.line}'


class LaunchFileError(LaunchError):
    """A launch file element is invalid; the message names file, line and tag."""

    def __init__(self, location: Location, tag: str, reason: str,
                 attribute: str | None = None) -> None:
        self.location = location
        self.tag = tag
        self.attribute = attribute
        self.reason = reason
        where = f'<{tag}>' if attribute is None else f"<{tag}> attribute '{attribute}'"
        super().__init__(f'{location}: {where}: {reason}')


@dataclass(frozen=True)
class ArgumentSpec:
    """A declared launch argument, as shown by ``--show-args``.

    ``default`` is the unevaluated text of the ``default`` attribute, or
    ``None`` for a required argument.
    """

    name: str
    default: str | None
    description: str
    location: Location

    @property
    def required(self) -> bool:
        return self.default is None


class ArgumentError(LaunchError):
    """A command line argument is unknown, or a required one is missing.

    Carries the declared arguments so the command line tool can list them.
    """

    def __init__(self, message: str, available: tuple[ArgumentSpec, ...]) -> None:
        super().__init__(message)
        self.available = available


@dataclass(frozen=True)
class ProcessSpec:
    """One process to supervise, fully resolved.

    ``env`` holds only the variables set by ``set_env``; the supervisor
    layers them over its own environment.
    """

    name: str
    cmd: tuple[str, ...]
    kind: str = 'executable'  # 'node' or 'executable'
    namespace: str = ''
    env: tuple[tuple[str, str], ...] = ()
    output: str = DEFAULT_OUTPUT
    respawn: bool = False
    respawn_delay: float = 0.0
    location: Location | None = None


@dataclass(frozen=True)
class LaunchDescription:
    """The result of :func:`load`."""

    file: str
    arguments: tuple[ArgumentSpec, ...]
    processes: tuple[ProcessSpec, ...]


# ---------------------------------------------------------------------------
# Parsing and schema validation
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Element:
    tag: str
    attributes: Mapping[str, str]
    children: tuple[_Element, ...]
    location: Location


@dataclass(frozen=True)
class _Rule:
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    children: frozenset[str] = frozenset()

    @property
    def allowed(self) -> frozenset[str]:
        return self.required | self.optional


def _rule(required: Iterable[str] = (), optional: Iterable[str] = (),
          children: Iterable[str] = ()) -> _Rule:
    return _Rule(frozenset(required), frozenset(optional), frozenset(children))


_CONDITIONS = ('if', 'unless')
_ACTIONS = ('arg', 'let', 'node', 'include', 'group', 'set_env', 'executable')

_RULES: Mapping[str, _Rule] = {
    'launch': _rule(optional=('version',), children=_ACTIONS),
    'arg': _rule(('name',), ('default', 'description', *_CONDITIONS)),
    'let': _rule(('name', 'value'), _CONDITIONS),
    'node': _rule(('pkg', 'exec'),
                  ('name', 'namespace', 'output', 'respawn', 'respawn_delay', 'args',
                   *_CONDITIONS),
                  ('param', 'remap')),
    'param': _rule((), ('name', 'value', 'from')),
    'remap': _rule(('from', 'to')),
    'include': _rule(('file',), _CONDITIONS, ('arg',)),
    'group': _rule((), ('scoped', *_CONDITIONS), (*_ACTIONS, 'push-ros-namespace')),
    'push-ros-namespace': _rule(('namespace',)),
    'set_env': _rule(('name', 'value')),
    'executable': _rule(('cmd',), ('name', 'output', 'respawn', 'respawn_delay',
                                   *_CONDITIONS)),
}
# <arg> means something else inside <include>: a value handed to the included file.
_INCLUDE_ARG_RULE = _rule(('name', 'value'))

# Attributes taken literally, never substituted.
_LITERAL = frozenset({('arg', 'description')})


def _rule_for(tag: str, parent: str) -> _Rule:
    if parent == 'include' and tag == 'arg':
        return _INCLUDE_ARG_RULE
    return _RULES[tag]


def _parse_xml(path: str) -> _Element:
    """Build an element tree that remembers line numbers, or raise LaunchFileError."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LaunchError(f'{path}: cannot read launch file: {exc.strerror}') from None

    parser = expat.ParserCreate()
    # (tag, attributes, children, location) while open; frozen on close.
    stack: list[tuple[str, dict[str, str], list[_Element], Location]] = []
    roots: list[_Element] = []

    def start(tag: str, attributes: dict[str, str]) -> None:
        stack.append((tag, dict(attributes), [], Location(path, parser.CurrentLineNumber)))

    def end(_tag: str) -> None:
        tag, attributes, children, location = stack.pop()
        element = _Element(tag, attributes, tuple(children), location)
        (stack[-1][2] if stack else roots).append(element)

    def text(data: str) -> None:
        if data.strip() and stack:
            tag = stack[-1][0]
            raise LaunchFileError(Location(path, parser.CurrentLineNumber), tag,
                                  f'unexpected text content {data.strip()!r} '
                                  '(values go in attributes)')

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise LaunchError(f'{path}:{exc.lineno}: invalid XML: '
                          f'{expat.ErrorString(exc.code)}') from None
    root = roots[0]
    if root.tag != 'launch':
        raise LaunchFileError(root.location, root.tag,
                              'the root element of a launch file must be <launch>')
    _validate(root, parent='')
    return root


def _validate(element: _Element, parent: str) -> None:
    rule = _rule_for(element.tag, parent)
    attributes = element.attributes
    for name, value in attributes.items():
        if name not in rule.allowed:
            allowed = ', '.join(sorted(rule.allowed)) or 'none'
            raise LaunchFileError(element.location, element.tag,
                                  f'unknown attribute (allowed: {allowed})', name)
        if (element.tag, name) not in _LITERAL:
            try:
                parse(value)
            except SubstitutionError as exc:
                raise LaunchFileError(element.location, element.tag, str(exc), name) from None
    missing = sorted(rule.required - attributes.keys())
    if missing:
        raise LaunchFileError(element.location, element.tag,
                              'required attribute is missing', missing[0])
    if 'if' in attributes and 'unless' in attributes:
        raise LaunchFileError(element.location, element.tag,
                              "'if' and 'unless' cannot both be given")
    if element.tag == 'param':
        has_value = 'name' in attributes or 'value' in attributes
        if 'from' in attributes and has_value:
            raise LaunchFileError(element.location, element.tag,
                                  "give either 'from' (a parameter file) or "
                                  "'name' and 'value', not both")
        if 'from' not in attributes and not {'name', 'value'} <= attributes.keys():
            raise LaunchFileError(element.location, element.tag,
                                  "needs 'name' and 'value', or 'from' (a parameter file)")
    for child in element.children:
        if child.tag not in rule.children:
            allowed = ', '.join(f'<{tag}>' for tag in sorted(rule.children)) or 'nothing'
            raise LaunchFileError(child.location, child.tag,
                                  f'unknown or misplaced tag inside <{element.tag}> '
                                  f'(allowed there: {allowed})')
        _validate(child, parent=element.tag)


# ---------------------------------------------------------------------------
# Look-ups in the installation
# ---------------------------------------------------------------------------

def _prefixes(environ: Mapping[str, str]) -> list[str]:
    return [p for p in environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]


def find_package_share(package: str, environ: Mapping[str, str]) -> str | None:
    """Return ``<prefix>/share/<package>`` for the first prefix that has it."""
    for prefix in _prefixes(environ):
        candidate = os.path.join(prefix, 'share', package)
        if os.path.isdir(candidate):
            return candidate
    return None


def _is_executable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _entry_point_code(module: str, attribute: str) -> str:
    return (
        'import sys\n'
        'from importlib import import_module\n'
        f'target = import_module({module!r})\n'
        f'for part in {attribute!r}.split("."):\n'
        '    target = getattr(target, part)\n'
        'sys.exit(target())\n')


def _console_script(package: str, executable: str) -> tuple[str, ...] | None:
    """Find ``executable`` among the console scripts of distribution ``package``.

    This is how a ``pip install -e`` of an ament_python package exposes its
    nodes in a virtual environment.  The generated wrapper script is used
    when it can be found next to the interpreter (nicer process names);
    otherwise the entry point is imported by the launcher's own interpreter,
    which by construction can import it.
    """
    for name in dict.fromkeys((package, package.replace('_', '-'))):
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for entry_point in distribution.entry_points:
            if entry_point.group != 'console_scripts' or entry_point.name != executable:
                continue
            module, _, attribute = entry_point.value.partition(':')
            module = module.strip()
            attribute = attribute.split('[')[0].strip()
            for directory in dict.fromkeys((sysconfig.get_path('scripts'),
                                            os.path.dirname(sys.executable),
                                            os.path.join(sys.prefix, 'lib', package))):
                script = Path(directory, executable)
                if _is_executable_file(script) and _script_runs(
                        script, (module, distribution.metadata['Name'] or name)):
                    return (str(script),)
            if attribute:
                return (sys.executable, '-c', _entry_point_code(module, attribute))
    return None


def _script_runs(script: Path, markers: tuple[str, ...]) -> bool:
    """Guard against a same-named script that belongs to another distribution.

    pip's wrappers import the entry point's module; setuptools' develop
    wrappers name the distribution instead.  Either will do.
    """
    try:
        with script.open('rb') as handle:
            head = handle.read(8192)
    except OSError:
        return False
    return any(marker.encode() in head for marker in markers)


def resolve_node_executable(package: str, executable: str,
                            environ: Mapping[str, str]) -> tuple[str, ...] | None:
    """Return the command that starts ``executable`` of ``package``, or None.

    ``<prefix>/lib/<package>/<executable>`` for each AMENT_PREFIX_PATH prefix
    comes first (a colcon install), then console scripts of an installed
    distribution (a pip install into a virtual environment).
    """
    for prefix in _prefixes(environ):
        candidate = Path(prefix, 'lib', package, executable)
        if _is_executable_file(candidate):
            return (str(candidate),)
    return _console_script(package, executable)


Resolver = Callable[[str, str, Mapping[str, str]], 'tuple[str, ...] | None']


def compose_namespace(base: str, namespace: str) -> str:
    """Combine a pushed namespace with a node's own, as ros2 launch does.

    An empty string means "no namespace".  A relative ``namespace`` is
    appended to ``base``; an absolute one replaces it.  The result is
    normalised to a leading slash, no trailing slash and no empty segments.
    """
    if not namespace:
        return base
    combined = namespace if namespace.startswith('/') else f'{base}/{namespace}'
    return '/' + '/'.join(segment for segment in combined.split('/') if segment)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

@dataclass
class _Scope:
    """What flows down the tree; copied where ros2 launch opens a scope."""

    variables: dict[str, str]
    environ: dict[str, str]
    env_overrides: dict[str, str] = field(default_factory=dict)
    namespace: str = ''

    def copy(self) -> _Scope:
        return _Scope(dict(self.variables), dict(self.environ), dict(self.env_overrides),
                      self.namespace)


class _MissingArgument(LaunchError):
    pass


class _Evaluator:
    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self._trees: dict[str, _Element] = {}
        self.processes: list[ProcessSpec] = []
        self.declared: set[str] = set()

    # -- helpers -----------------------------------------------------------

    def tree(self, path: str) -> _Element:
        if path not in self._trees:
            self._trees[path] = _parse_xml(path)
        return self._trees[path]

    @staticmethod
    def _context(element: _Element, scope: _Scope) -> Context:
        environ = scope.environ
        return Context(scope.variables, environ, element.location.file,
                       lambda package: find_package_share(package, environ))

    def _attr(self, element: _Element, name: str, scope: _Scope,
              default: str | None = None) -> str | None:
        raw = element.attributes.get(name)
        if raw is None:
            return default
        try:
            return substitute(raw, self._context(element, scope))
        except SubstitutionError as exc:
            raise LaunchFileError(element.location, element.tag, str(exc), name) from None

    def _required(self, element: _Element, name: str, scope: _Scope) -> str:
        value = self._attr(element, name, scope)
        assert value is not None  # the schema guarantees required attributes
        return value

    def _bool(self, element: _Element, name: str, scope: _Scope, default: bool) -> bool:
        value = self._attr(element, name, scope)
        if value is None:
            return default
        try:
            return parse_bool(value)
        except SubstitutionError as exc:
            raise LaunchFileError(element.location, element.tag, str(exc), name) from None

    def _enabled(self, element: _Element, scope: _Scope) -> bool:
        if 'if' in element.attributes:
            return self._bool(element, 'if', scope, True)
        if 'unless' in element.attributes:
            return not self._bool(element, 'unless', scope, False)
        return True

    def _split(self, element: _Element, name: str, scope: _Scope) -> list[str]:
        value = self._attr(element, name, scope, '')
        try:
            return shlex.split(value or '')
        except ValueError as exc:
            raise LaunchFileError(element.location, element.tag,
                                  f'cannot split into words: {exc}', name) from None

    def _output(self, element: _Element, scope: _Scope) -> str:
        output = self._attr(element, 'output', scope, DEFAULT_OUTPUT)
        if output not in OUTPUT_MODES:
            raise LaunchFileError(element.location, element.tag,
                                  f"unsupported value '{output}' "
                                  f"(supported: {', '.join(OUTPUT_MODES)})", 'output')
        return output

    def _respawn_delay(self, element: _Element, scope: _Scope) -> float:
        text = self._attr(element, 'respawn_delay', scope, '0')
        try:
            delay = float(text or '0')
        except ValueError:
            delay = -1.0
        if not delay >= 0.0 or delay == float('inf'):
            raise LaunchFileError(element.location, element.tag,
                                  f"expected a number of seconds >= 0, got '{text}'",
                                  'respawn_delay')
        return delay

    # -- traversal ---------------------------------------------------------

    def run_file(self, path: str, scope: _Scope, stack: tuple[str, ...]) -> None:
        self.run_children(self.tree(path), scope, stack)

    def run_children(self, parent: _Element, scope: _Scope, stack: tuple[str, ...]) -> None:
        for element in parent.children:
            if element.tag == 'push-ros-namespace':
                namespace = self._required(element, 'namespace', scope)
                scope.namespace = compose_namespace(scope.namespace, namespace)
                continue
            if not self._enabled(element, scope):
                continue
            handler = getattr(self, '_do_' + element.tag.replace('-', '_'))
            handler(element, scope, stack)

    def _do_arg(self, element: _Element, scope: _Scope, _stack: tuple[str, ...]) -> None:
        name = self._required(element, 'name', scope)
        self.declared.add(name)
        if name in scope.variables:
            return
        default = self._attr(element, 'default', scope)
        if default is None:
            raise _MissingArgument(
                f"{element.location}: <arg> '{name}' is required but was not given "
                f'(pass {name}:=VALUE)')
        scope.variables[name] = default

    def _do_let(self, element: _Element, scope: _Scope, _stack: tuple[str, ...]) -> None:
        name = self._required(element, 'name', scope)
        scope.variables[name] = self._required(element, 'value', scope)

    def _do_set_env(self, element: _Element, scope: _Scope, _stack: tuple[str, ...]) -> None:
        name = self._required(element, 'name', scope)
        if not name or '=' in name:
            raise LaunchFileError(element.location, element.tag,
                                  f"invalid environment variable name '{name}'", 'name')
        value = self._required(element, 'value', scope)
        scope.environ[name] = value
        scope.env_overrides[name] = value

    def _do_group(self, element: _Element, scope: _Scope, stack: tuple[str, ...]) -> None:
        scoped = self._bool(element, 'scoped', scope, True)
        self.run_children(element, scope.copy() if scoped else scope, stack)

    def _do_include(self, element: _Element, scope: _Scope, stack: tuple[str, ...]) -> None:
        path = self._include_path(element, scope, stack)
        # Argument values are evaluated in the including file, before any is applied.
        values = {self._required(arg, 'name', scope): self._required(arg, 'value', scope)
                  for arg in element.children}
        # An included file runs in its own scope, as if wrapped in a scoped group.
        inner = scope.copy()
        inner.variables.update(values)
        self.run_file(path, inner, (*stack, path))

    def _include_path(self, element: _Element, scope: _Scope,
                      stack: tuple[str, ...]) -> str:
        value = self._required(element, 'file', scope)
        path = os.path.abspath(value)
        if not os.path.isfile(path):
            raise LaunchFileError(element.location, element.tag,
                                  f"launch file '{path}' not found (a relative path is "
                                  'taken from the current directory; use $(dirname) or '
                                  '$(find-pkg-share PKG) to be independent of it)', 'file')
        if not path.endswith('.xml'):
            raise LaunchFileError(element.location, element.tag,
                                  f"'{path}' is not an XML launch file; only XML launch "
                                  'files can be included', 'file')
        if path in stack:
            chain = ' -> '.join((*stack, path))
            raise LaunchFileError(element.location, element.tag,
                                  f'include cycle: {chain}', 'file')
        return path

    def _do_node(self, element: _Element, scope: _Scope, _stack: tuple[str, ...]) -> None:
        package = self._required(element, 'pkg', scope)
        executable = self._required(element, 'exec', scope)
        command = self._resolver(package, executable, scope.environ)
        if command is None:
            prefixes = os.pathsep.join(_prefixes(scope.environ)) or '<unset>'
            raise LaunchFileError(
                element.location, element.tag,
                f"executable '{executable}' of package '{package}' not found: no "
                f'lib/{package}/{executable} under AMENT_PREFIX_PATH ({prefixes}) and no '
                f"console script '{executable}' in an installed distribution '{package}'",
                'exec')
        name = self._attr(element, 'name', scope)
        namespace = compose_namespace(scope.namespace,
                                      self._attr(element, 'namespace', scope, '') or '')
        ros_arguments: list[str] = []
        if name:
            ros_arguments += ['-r', f'__node:={name}']
        if namespace:
            ros_arguments += ['-r', f'__ns:={namespace}']
        for child in element.children:
            ros_arguments += self._node_child(child, scope)
        cmd = [*command, *self._split(element, 'args', scope)]
        if ros_arguments:
            cmd += ['--ros-args', *ros_arguments]
        self._add(element, scope, ProcessSpec(
            name=name or executable, cmd=tuple(cmd), kind='node', namespace=namespace))

    def _node_child(self, child: _Element, scope: _Scope) -> list[str]:
        if child.tag == 'remap':
            source = self._required(child, 'from', scope)
            target = self._required(child, 'to', scope)
            return ['-r', f'{source}:={target}']
        if 'from' in child.attributes:
            path = os.path.abspath(self._required(child, 'from', scope))
            if not os.path.isfile(path):
                raise LaunchFileError(child.location, child.tag,
                                      f"parameter file '{path}' not found", 'from')
            return ['--params-file', path]
        name = self._required(child, 'name', scope)
        if not name:
            raise LaunchFileError(child.location, child.tag, 'must not be empty', 'name')
        return ['-p', f'{name}:={self._required(child, "value", scope)}']

    def _do_executable(self, element: _Element, scope: _Scope,
                       _stack: tuple[str, ...]) -> None:
        words = self._split(element, 'cmd', scope)
        if not words:
            raise LaunchFileError(element.location, element.tag, 'is empty', 'cmd')
        program = words[0]
        if os.sep in program:
            found = os.path.abspath(program) if _is_executable_file(Path(program)) else None
        else:
            found = shutil.which(program, path=scope.environ.get('PATH', os.defpath))
        if found is None:
            raise LaunchFileError(element.location, element.tag,
                                  f"program '{program}' not found or not executable", 'cmd')
        name = self._attr(element, 'name', scope) or os.path.basename(program)
        self._add(element, scope, ProcessSpec(name=name, cmd=(found, *words[1:])))

    def _add(self, element: _Element, scope: _Scope, spec: ProcessSpec) -> None:
        self.processes.append(replace(
            spec,
            env=tuple(scope.env_overrides.items()),
            output=self._output(element, scope),
            respawn=self._bool(element, 'respawn', scope, False),
            respawn_delay=self._respawn_delay(element, scope),
            location=element.location))

    # -- static argument scan ----------------------------------------------

    def scan_arguments(self, path: str, variables: dict[str, str], environ: Mapping[str, str],
                       stack: tuple[str, ...] = (), fixed: frozenset[str] = frozenset(),
                       ) -> tuple[list[ArgumentSpec], set[str]]:
        """List the arguments a file declares, ignoring conditions.

        Includes are followed where their path can be worked out from what is
        known without running anything (argument defaults, overrides, the
        environment); arguments an include sets explicitly are not offered.
        Returns the offered arguments and every argument name seen.
        """
        offered: list[ArgumentSpec] = []
        seen: set[str] = set()
        scope = _Scope(variables, dict(environ))

        def attempt(element: _Element, name: str) -> str | None:
            try:
                return self._attr(element, name, scope)
            except LaunchError:
                return None

        def walk(parent: _Element) -> None:
            for element in parent.children:
                if element.tag == 'group':
                    walk(element)
                elif element.tag in ('arg', 'let'):
                    name = attempt(element, 'name')
                    if name is None:
                        continue
                    if element.tag == 'arg':
                        seen.add(name)
                        if name not in fixed and all(a.name != name for a in offered):
                            offered.append(ArgumentSpec(
                                name, element.attributes.get('default'),
                                element.attributes.get('description', ''), element.location))
                    value = attempt(element, 'default' if element.tag == 'arg' else 'value')
                    if value is not None:
                        scope.variables.setdefault(name, value)
                elif element.tag == 'include':
                    target = attempt(element, 'file')
                    if target is None:
                        continue
                    target = os.path.abspath(target)
                    if (not target.endswith('.xml') or not os.path.isfile(target)
                            or target in stack):
                        continue
                    names = {child.attributes['name'] for child in element.children}
                    seen.update(names)
                    try:
                        more, more_seen = self.scan_arguments(
                            target, dict(scope.variables), scope.environ,
                            (*stack, target), frozenset(names))
                    except LaunchError:
                        continue
                    seen.update(more_seen)
                    offered.extend(a for a in more if all(b.name != a.name for b in offered))

        walk(self.tree(path))
        return offered, seen


def _unique_names(specs: list[ProcessSpec]) -> list[ProcessSpec]:
    """Give every process a distinct label for output prefixes and log files.

    Duplicates are told apart by namespace first (``robot1/camera``), then
    by a counter, as ros2 launch does.
    """
    counts = collections.Counter(spec.name for spec in specs)
    qualified = [
        replace(spec, name=f'{spec.namespace.strip("/")}/{spec.name}')
        if counts[spec.name] > 1 and spec.namespace.strip('/') else spec
        for spec in specs]
    counts = collections.Counter(spec.name for spec in qualified)
    numbers: dict[str, int] = collections.defaultdict(int)
    taken = set(counts)
    result = []
    for spec in qualified:
        if counts[spec.name] > 1:
            while True:
                numbers[spec.name] += 1
                candidate = f'{spec.name}-{numbers[spec.name]}'
                if candidate not in taken:
                    break
            taken.add(candidate)
            spec = replace(spec, name=candidate)
        result.append(spec)
    return result


def describe_arguments(path: str | os.PathLike[str],
                       arguments: Mapping[str, str] | None = None, *,
                       environ: Mapping[str, str] | None = None) -> tuple[ArgumentSpec, ...]:
    """The arguments a user can pass to the launch file at ``path``."""
    environ = os.environ if environ is None else environ
    evaluator = _Evaluator(resolve_node_executable)
    offered, _ = evaluator.scan_arguments(os.path.abspath(path), dict(arguments or {}),
                                          environ)
    return tuple(offered)


def load(path: str | os.PathLike[str], arguments: Mapping[str, str] | None = None, *,
         environ: Mapping[str, str] | None = None,
         resolver: Resolver | None = None) -> LaunchDescription:
    """Parse, validate and evaluate the launch file at ``path``.

    ``arguments`` are the ``name:=value`` overrides from the command line and
    ``environ`` the environment the file is evaluated in (``os.environ`` by
    default).  Raises :class:`LaunchError` (and subclasses) on any problem.
    """
    root = os.path.abspath(path)
    environ = dict(os.environ if environ is None else environ)
    overrides = dict(arguments or {})
    evaluator = _Evaluator(resolver or resolve_node_executable)
    offered, seen = evaluator.scan_arguments(root, dict(overrides), environ)
    available = tuple(offered)
    scope = _Scope(dict(overrides), environ)
    try:
        evaluator.run_file(root, scope, (root,))
    except _MissingArgument as exc:
        message = str(exc)
        unknown = sorted(set(overrides) - seen - evaluator.declared)
        if unknown:
            message += f"; unknown launch argument(s): {', '.join(unknown)}"
        raise ArgumentError(message, available) from None
    unknown = sorted(set(overrides) - seen - evaluator.declared)
    if unknown:
        raise ArgumentError(f"{root}: unknown launch argument(s): {', '.join(unknown)}",
                            available)
    processes = tuple(_unique_names(evaluator.processes))
    _LOG.debug('%s: %d process(es) to launch', root, len(processes))
    return LaunchDescription(root, available, processes)
