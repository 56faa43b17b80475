"""Scenario files: what to run, for how long, and what to do to the system when.

A scenario is data (``scenarios/*.yaml``, format in docs/scenarios.md): the
world, the seed, the simulated duration, the actors scored as intrusions and a
list of timed events (simulator faults, killed nodes, e-stops, published
alerts, markers). It is checked completely when loaded, so a typo fails before
minutes of system start-up rather than in the middle of a run; every error
names the file, the key and the reason. Checking targets against a world
(vehicle, camera and actor names) and a launch file (node names) is a second
step, :func:`check_targets`, because it needs those files.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The only format version this reader understands.
FORMAT_VERSION = 1
# Alert categories a scenario may expect or publish (sentinel_msgs/Alert.category).
ALERT_CATEGORIES = ('intrusion', 'perimeter_crossing', 'loitering', 'drone_incursion')
# Alert severities by name (sentinel_msgs/Alert.SEVERITY_*).
SEVERITIES = {'info': 0, 'warning': 1, 'critical': 2}


class ScenarioError(ValueError):
    """A scenario that cannot be run, with the file and key at fault."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        super().__init__(f'{file}: {key}: {reason}')


class Fault(enum.Enum):
    """Simulator faults by name; values are sentinel_msgs/InjectFault.FAULT_*."""

    LINK_CUT = 0
    LINK_DEGRADE = 1
    GPS_LOSS = 2
    BATTERY_DROP = 3
    MOTOR_FAILURE = 4
    CAMERA_BLACKOUT = 5
    FOG = 6
    NIGHT = 7

    @property
    def target_kind(self) -> str | None:
        """What the fault's target names: a vehicle, a camera, or nothing (site-wide)."""
        if self in (Fault.FOG, Fault.NIGHT):
            return None
        return 'camera' if self is Fault.CAMERA_BLACKOUT else 'vehicle'

    @property
    def needs_magnitude(self) -> bool:
        return self in (Fault.LINK_DEGRADE, Fault.BATTERY_DROP, Fault.FOG, Fault.NIGHT)


class EventKind(enum.Enum):
    """What a scenario can do to the running system."""

    FAULT = 'fault'                  # simulator fault through /sim/inject_fault
    KILL_NODE = 'kill_node'          # SIGKILL the process of one node (the launcher respawns it)
    ESTOP = 'estop'                  # fleet e-stop through /safety/trigger_estop
    RELEASE_ESTOP = 'release_estop'  # two-person release through /safety/release_estop
    ALERT = 'alert'                  # publish an Alert on /alerts, as a guard's radio report would
    MARK = 'mark'                    # a note on the timeline only


@dataclass(frozen=True)
class Event:
    """One timed action. Fields not used by ``kind`` keep their defaults."""

    at: float                           # simulated seconds from the start of the simulation
    kind: EventKind
    fault: Fault | None = None
    target: str = ''                    # vehicle, camera or node name
    magnitude: float = 0.0
    duration: float | None = None       # fault: simulated seconds until it is cleared
    note: str = ''                      # reason, description or marker text
    category: str = ''                  # alert: its category
    severity: int = SEVERITIES['critical']
    position: tuple[float, float] = (0.0, 0.0)   # alert: site ENU, metres
    key: str = ''                       # where it is in its file, e.g. events[3]

    @property
    def label(self) -> str:
        """One line for the timeline."""
        if self.kind is EventKind.FAULT:
            assert self.fault is not None
            parts = [self.fault.name.lower()]
            parts += [self.target] if self.target else []
            parts += [f'magnitude {self.magnitude:g}'] if self.fault.needs_magnitude else []
            parts += [f'for {self.duration:g} s'] if self.duration is not None else []
            return 'fault ' + ' '.join(parts)
        if self.kind is EventKind.KILL_NODE:
            return f'kill -9 {self.target}'
        if self.kind is EventKind.ALERT:
            x, y = self.position
            return f'published {self.category} alert at ({x:.0f}, {y:.0f})'
        return f'{self.kind.value}: {self.note}' if self.note else self.kind.value


@dataclass(frozen=True)
class Intrusion:
    """A scripted actor of the world that the report scores as an intrusion."""

    actor: str
    expect: tuple[str, ...]        # alert categories a correct system raises for it


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    description: str
    world: str
    seed: int
    duration: float                 # simulated seconds
    real_time_factor: float
    camera_rate_scale: float
    intrusions: tuple[Intrusion, ...]
    events: tuple[Event, ...]       # sorted by time


class _Reader:
    """Typed access to one mapping of the file, naming the key path in every error."""

    def __init__(self, file: str, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ScenarioError(file, path or '(top level)',
                                f'expected a mapping, got {type(data).__name__}')
        self.file = file
        self.data = data
        self.path = path

    def key(self, name: str) -> str:
        return f'{self.path}.{name}' if self.path else name

    def only(self, allowed: Collection[str]) -> None:
        for name in self.data:
            if name not in allowed:
                raise ScenarioError(self.file, self.key(str(name)),
                                    f'unknown key (allowed: {", ".join(sorted(allowed))})')

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str) -> Any:
        if name not in self.data:
            raise ScenarioError(self.file, self.key(name), 'required key is missing')
        return self.data[name]

    def text(self, name: str, default: str | None = None) -> str:
        if default is not None and name not in self.data:
            return default
        value = self.raw(name)
        if not isinstance(value, str) or not value.strip():
            raise ScenarioError(self.file, self.key(name), 'expected a non-empty string')
        return value.strip()

    def number(self, name: str, low: float, high: float = math.inf,
               default: float | None = None, low_open: bool = False) -> float:
        if default is not None and name not in self.data:
            return default
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise ScenarioError(self.file, self.key(name), f'expected a number, got {value!r}')
        if value < low or (low_open and value == low) or value > high:
            bound = f'({low:g}' if low_open else f'[{low:g}'
            raise ScenarioError(self.file, self.key(name),
                                f'{value:g} is outside {bound}, {high:g}]')
        return float(value)

    def integer(self, name: str, low: int, high: int) -> int:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ScenarioError(self.file, self.key(name),
                                f'expected an integer in [{low}, {high}], got {value!r}')
        return value

    def items(self, name: str) -> list[Any]:
        value = self.raw(name)
        if not isinstance(value, list):
            raise ScenarioError(self.file, self.key(name), 'expected a list')
        return value

    def choice(self, name: str, choices: Collection[str]) -> str:
        value = self.text(name)
        if value not in choices:
            raise ScenarioError(self.file, self.key(name),
                                f'{value!r} is not one of {", ".join(sorted(choices))}')
        return value


_EVENT_KEYS = {
    EventKind.FAULT: {'fault', 'target', 'magnitude', 'duration'},
    EventKind.KILL_NODE: {'node'},
    EventKind.ESTOP: {'reason'},
    EventKind.RELEASE_ESTOP: {'reason'},
    EventKind.ALERT: {'category', 'severity', 'position', 'description'},
    EventKind.MARK: {'note'},
}


def _event(file: str, data: Any, path: str, duration: float) -> Event:
    reader = _Reader(file, data, path)
    kind = EventKind(reader.choice('kind', [k.value for k in EventKind]))
    reader.only({'at', 'kind'} | _EVENT_KEYS[kind])
    at = reader.number('at', 0.0, duration)
    if kind is EventKind.FAULT:
        fault = Fault[reader.choice('fault', [f.name.lower() for f in Fault]).upper()]
        target = ''
        if fault.target_kind is not None:
            target = reader.text('target')
        elif reader.has('target'):
            raise ScenarioError(file, reader.key('target'),
                                f'{fault.name.lower()} is site-wide and takes no target')
        magnitude = reader.number('magnitude', 0.0, 1.0) if fault.needs_magnitude else 0.0
        if not fault.needs_magnitude and reader.has('magnitude'):
            raise ScenarioError(file, reader.key('magnitude'),
                                f'{fault.name.lower()} takes no magnitude')
        lasting = reader.number('duration', 0.0, low_open=True) if reader.has('duration') \
            else None
        return Event(at, kind, fault=fault, target=target, magnitude=magnitude,
                     duration=lasting, key=path)
    if kind is EventKind.KILL_NODE:
        node = reader.text('node')
        if not node.startswith('/'):
            raise ScenarioError(file, reader.key('node'),
                                f'{node!r}: give the fully qualified name, e.g. /perception/detector')
        return Event(at, kind, target=node, key=path)
    if kind in (EventKind.ESTOP, EventKind.RELEASE_ESTOP):
        return Event(at, kind, note=reader.text('reason', default='scenario drill'), key=path)
    if kind is EventKind.ALERT:
        position = reader.items('position')
        if len(position) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                         for v in position):
            raise ScenarioError(file, reader.key('position'), 'expected [x, y] in metres')
        return Event(at, kind, category=reader.choice('category', ALERT_CATEGORIES),
                     severity=SEVERITIES[reader.choice('severity', SEVERITIES)]
                     if reader.has('severity') else SEVERITIES['critical'],
                     position=(float(position[0]), float(position[1])),
                     note=reader.text('description', default='reported by the scenario'),
                     key=path)
    return Event(at, kind, note=reader.text('note'), key=path)


def _intrusion(file: str, data: Any, path: str) -> Intrusion:
    reader = _Reader(file, data, path)
    reader.only({'actor', 'expect'})
    expect = reader.items('expect')
    for index, category in enumerate(expect):
        if category not in ALERT_CATEGORIES:
            raise ScenarioError(file, f'{reader.key("expect")}[{index}]',
                                f'{category!r} is not one of {", ".join(ALERT_CATEGORIES)}')
    if not expect:
        raise ScenarioError(file, reader.key('expect'), 'name at least one alert category')
    return Intrusion(actor=reader.text('actor'), expect=tuple(expect))


def parse_scenario(text: str, file: str) -> Scenario:
    """A validated scenario from YAML text; ``file`` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(file, '(syntax)', str(error).replace('\n', ' ')) from None
    top = _Reader(file, data, '')
    top.only({'version', 'name', 'description', 'world', 'seed', 'duration',
              'real_time_factor', 'camera_rate_scale', 'intrusions', 'events'})
    if top.raw('version') != FORMAT_VERSION:
        raise ScenarioError(file, 'version', f'expected {FORMAT_VERSION}, got '
                                             f'{top.raw("version")!r}')
    duration = top.number('duration', 0.0, 24 * 3600.0, low_open=True)
    intrusions = tuple(_intrusion(file, item, f'intrusions[{i}]')
                       for i, item in enumerate(top.items('intrusions')))
    actors = [i.actor for i in intrusions]
    for index, actor in enumerate(actors):
        if actors.index(actor) != index:
            raise ScenarioError(file, f'intrusions[{index}].actor', f'{actor!r} is listed twice')
    events = tuple(_event(file, item, f'events[{i}]', duration)
                   for i, item in enumerate(top.items('events') if top.has('events') else []))
    return Scenario(
        name=top.text('name'), file=file, description=top.text('description', default=''),
        world=top.text('world'), seed=top.integer('seed', 0, 2**31 - 1), duration=duration,
        real_time_factor=top.number('real_time_factor', 0.0, 100.0, default=1.0),
        camera_rate_scale=top.number('camera_rate_scale', 0.0, 10.0, default=1.0,
                                     low_open=True),
        intrusions=intrusions, events=tuple(sorted(events, key=lambda e: e.at)))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as error:
        raise ScenarioError(str(path), '(file)', error.strerror or str(error)) from None
    return parse_scenario(text, str(path))


def check_targets(scenario: Scenario, *, vehicles: Collection[str], cameras: Collection[str],
                  actors: Collection[str], nodes: Collection[str]) -> None:
    """Every name the scenario uses exists in its world and launch file; raises ScenarioError."""
    def known(name: str, names: Collection[str], key: str, what: str) -> None:
        if name not in names:
            raise ScenarioError(scenario.file, key, f'no {what} {name!r} in world '
                                f'{scenario.world} (known: {", ".join(sorted(names))})')

    for index, intrusion in enumerate(scenario.intrusions):
        known(intrusion.actor, actors, f'intrusions[{index}].actor', 'actor')
    for event in scenario.events:
        if event.kind is EventKind.FAULT and event.fault is not None \
                and event.fault.target_kind is not None:
            names = vehicles if event.fault.target_kind == 'vehicle' else cameras
            known(event.target, names, f'{event.key}.target', event.fault.target_kind)
        elif event.kind is EventKind.KILL_NODE and event.target not in nodes:
            raise ScenarioError(scenario.file, f'{event.key}.node',
                                f'no node {event.target!r} in the launch file '
                                f'(nodes: {", ".join(sorted(nodes))})')
