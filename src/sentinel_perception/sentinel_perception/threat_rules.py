"""Threat rules: which fused tracks, where and when, deserve an alert.

Why: detection and tracking say *what is where*; a security operator needs
*what is wrong*: somebody inside the transformer yard, a person climbing the
fence inwards, a foreign drone over the high-voltage bus, a car idling at the
gate. Each rule in ``config/threat_rules.yaml`` (format in
``docs/perception.md``) applies to zones of the site configuration and says
which classes count, how confident the track must be, how long it must stay
(dwell), and which severity the alert gets; the zone's own schedule (site
configuration) says when it applies.

Four rule kinds, one per zone kind:

* ``restricted_entry`` (restricted zones): a track inside for ``dwell`` s;
* ``perimeter_crossing`` (perimeter zones): a track's side of the boundary
  changes, in the configured direction. A side is only taken once the track is
  ``hysteresis`` m clear of the boundary, so geolocation jitter at the fence
  does not count as crossings;
* ``keep_out`` (keep-out zones): a drone that is not one of ours inside;
* ``loitering`` (gate zones): a track inside for ``dwell`` s.

A zone is left only when the track is ``exit_margin`` m outside it (same
reason as the hysteresis). Tracks marked authorized (see ``authorization``)
are exempt from the rules their authorization names.

The engine is a pure function of its inputs plus per-(rule, zone, track)
state; time comes in as arguments (``now`` in seconds for durations, an aware
``datetime`` for schedules), so tests drive it with a fake clock. No rclpy.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sentinel_sim.site_config import ScheduleWindow, SiteConfig, Zone, ZoneKind

# The format version this module reads (the YAML's top-level `version`).
FORMAT_VERSION = 1

_DAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
_CLOCK = re.compile(r'^([01]\d|2[0-4]):([0-5]\d)$')
_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')


class ThreatRulesError(ValueError):
    """A threat-rules file that cannot be used, naming file, key and reason."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file, self.key, self.reason = file, key, reason
        super().__init__(f'{file}: {key}: {reason}')


class RuleKind(enum.Enum):
    RESTRICTED_ENTRY = 'restricted_entry'
    PERIMETER_CROSSING = 'perimeter_crossing'
    KEEP_OUT = 'keep_out'
    LOITERING = 'loitering'


# The zone kind each rule kind applies to.
ZONE_KIND_OF_RULE = {
    RuleKind.RESTRICTED_ENTRY: ZoneKind.RESTRICTED,
    RuleKind.PERIMETER_CROSSING: ZoneKind.PERIMETER,
    RuleKind.KEEP_OUT: ZoneKind.KEEP_OUT,
    RuleKind.LOITERING: ZoneKind.GATE,
}
# Alert.category of each rule kind (see sentinel_msgs/Alert).
CATEGORY_OF_RULE = {
    RuleKind.RESTRICTED_ENTRY: 'intrusion',
    RuleKind.PERIMETER_CROSSING: 'perimeter_crossing',
    RuleKind.KEEP_OUT: 'drone_incursion',
    RuleKind.LOITERING: 'loitering',
}


class Severity(enum.IntEnum):
    """Mirror of Alert.SEVERITY_* so logic modules need not import messages."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


class Direction(enum.Enum):
    INBOUND = 'inbound'    # outside -> inside
    OUTBOUND = 'outbound'  # inside -> outside
    BOTH = 'both'


@dataclass(frozen=True)
class Rule:
    """One configured rule, resolved against the site's zones."""

    rule_id: str
    kind: RuleKind
    zones: tuple[str, ...]
    classes: frozenset[str]
    min_confidence: float         # 0..1, fused track confidence
    dwell: float                  # s inside before the alert (crossings: unused)
    severity: Severity
    cooldown: float               # s: a (rule, zone, track) re-triggering sooner updates its alert
    direction: Direction = Direction.INBOUND  # crossings only
    hysteresis: float = 2.0       # m clear of a boundary before a side counts (crossings)
    exit_margin: float = 1.0      # m outside a zone before a track has left it

    @property
    def category(self) -> str:
        return CATEGORY_OF_RULE[self.kind]


@dataclass(frozen=True)
class PatrolRoute:
    """A corridor along which a track counts as the patrolling guard (see authorization)."""

    route_id: str
    path: tuple[tuple[float, float], ...]   # m, site ENU polyline
    width: float                            # m, full corridor width
    classes: frozenset[str]
    min_time_on_route: float                # s observed on the route before recognised
    schedule: tuple[ScheduleWindow, ...]    # empty: always
    exempt_rules: frozenset[str]            # rule ids the authorization lifts


@dataclass(frozen=True)
class OwnVehicleMatching:
    """How a track is recognised as one of Sentinel's own vehicles."""

    match_radius: float                     # m, horizontal, plus two sigma of the track
    max_match_distance: float               # m, never farther, however uncertain the track
    classes: Mapping[str, frozenset[str]]   # vehicle kind -> track classes it may appear as
    exempt_rules: frozenset[str]            # empty: every rule


@dataclass(frozen=True)
class ThreatRulesConfig:
    file: str
    rules: tuple[Rule, ...]
    patrol_routes: tuple[PatrolRoute, ...]
    own_vehicles: OwnVehicleMatching
    timezone: str
    zones: Mapping[str, Zone]


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

class _StrictLoader(yaml.SafeLoader):
    """Safe loader that refuses duplicate keys (PyYAML would keep the last silently)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, f'duplicate key "{key}"',
                                                    key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


@dataclass
class _Reader:
    file: str

    def fail(self, key: str, reason: str) -> ThreatRulesError:
        return ThreatRulesError(self.file, key or '(top level)', reason)

    def mapping(self, value: Any, key: str, required: Sequence[str],
                optional: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f'expected a mapping, got {type(value).__name__}')
        for name in value:
            if name not in required and name not in optional:
                allowed = ', '.join([*required, *optional])
                raise self.fail(f'{key}.{name}' if key else str(name),
                                f'unknown key (expected one of: {allowed})')
        for name in required:
            if name not in value:
                raise self.fail(f'{key}.{name}' if key else name, 'missing required key')
        return value

    def sequence(self, value: Any, key: str, allow_empty: bool = True) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f'expected a list, got {type(value).__name__}')
        if not value and not allow_empty:
            raise self.fail(key, 'must not be empty')
        return value

    def name(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not _NAME.match(value):
            raise self.fail(key, f'expected a name (letters, digits, underscores), got {value!r}')
        return value

    def number(self, value: Any, key: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise self.fail(key, f'expected a finite number, got {value!r}')
        if not low <= value <= high:
            raise self.fail(key, f'{value:g} is outside [{low:g}, {high:g}]')
        return float(value)

    def choice(self, value: Any, key: str, enum_type: type[enum.Enum]) -> Any:
        try:
            return enum_type(value)
        except ValueError:
            allowed = ', '.join(str(m.value) for m in enum_type)
            raise self.fail(key, f'{value!r} is not one of: {allowed}') from None

    def names(self, value: Any, key: str) -> frozenset[str]:
        return frozenset(self.name(v, f'{key}[{i}]')
                         for i, v in enumerate(self.sequence(value, key, allow_empty=False)))


def _minute(reader: _Reader, value: Any, key: str, allow_24: bool) -> int:
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise reader.fail(key, f'{value!r} is not a quoted time of day "HH:MM"')
    minute = int(match.group(1)) * 60 + int(match.group(2))
    if minute > 1440 or (minute == 1440 and not allow_24):
        raise reader.fail(key, f'{value!r} is not a valid time here')
    return minute


def _schedule(reader: _Reader, value: Any, key: str) -> tuple[ScheduleWindow, ...]:
    """Weekly windows, in the same format (and meaning) as zone schedules in the site config."""
    windows = []
    for index, raw in enumerate(reader.sequence(value, key, allow_empty=False)):
        wkey = f'{key}[{index}]'
        entry = reader.mapping(raw, wkey, ('days', 'start', 'end'))
        days = set()
        for dindex, day in enumerate(reader.sequence(entry['days'], f'{wkey}.days', False)):
            if not isinstance(day, str) or day.lower() not in _DAYS:
                raise reader.fail(f'{wkey}.days[{dindex}]', f'{day!r} is not one of {_DAYS}')
            days.add(_DAYS.index(day.lower()))
        start = _minute(reader, entry['start'], f'{wkey}.start', allow_24=False)
        end = _minute(reader, entry['end'], f'{wkey}.end', allow_24=True)
        if start == end:
            raise reader.fail(f'{wkey}.end', 'empty window (end equals start)')
        windows.append(ScheduleWindow(frozenset(days), start, end))
    return tuple(windows)


# Limits on configured values (generous; they catch unit mistakes such as minutes for seconds).
_MAX_SECONDS = 86_400.0   # s, one day
_MAX_METRES = 10_000.0    # m


def _rule(reader: _Reader, raw: Any, key: str, defaults: Mapping[str, Any],
          site: SiteConfig) -> Rule:
    entry = reader.mapping(raw, key, ('id', 'kind', 'classes'),
                           ('zones', 'min_confidence', 'dwell', 'severity', 'cooldown',
                            'direction', 'hysteresis', 'exit_margin'))
    kind = reader.choice(entry['kind'], f'{key}.kind', RuleKind)
    zone_kind = ZONE_KIND_OF_RULE[kind]
    if 'zones' in entry:
        zones = []
        for index, name in enumerate(reader.sequence(entry['zones'], f'{key}.zones', False)):
            zkey = f'{key}.zones[{index}]'
            zone = next((z for z in site.zones if z.name == name), None)
            if zone is None:
                raise reader.fail(zkey, f'no zone {name!r} in site {site.name} ({site.file})')
            if zone.kind is not zone_kind:
                raise reader.fail(zkey, f'zone {name!r} is a {zone.kind.value} zone; a '
                                        f'{kind.value} rule needs {zone_kind.value} zones')
            zones.append(name)
    else:
        zones = [z.name for z in site.zones_of(zone_kind)]

    def value(name: str, low: float, high: float) -> float:
        source = entry if name in entry else defaults
        if name not in source:
            raise reader.fail(f'{key}.{name}', 'missing (and no value under defaults)')
        where = f'{key}.{name}' if name in entry else f'defaults.{name}'
        return reader.number(source[name], where, low, high)

    severity_text = entry.get('severity', defaults.get('severity', 'warning'))
    severity_map = {s.name.lower(): s for s in Severity}
    if severity_text not in severity_map:
        raise reader.fail(f'{key}.severity', f'{severity_text!r} is not one of: '
                                             f'{", ".join(severity_map)}')
    return Rule(
        rule_id=reader.name(entry['id'], f'{key}.id'), kind=kind, zones=tuple(zones),
        classes=reader.names(entry['classes'], f'{key}.classes'),
        min_confidence=value('min_confidence', 0.0, 1.0),
        dwell=value('dwell', 0.0, _MAX_SECONDS) if kind is not RuleKind.PERIMETER_CROSSING else 0.0,
        severity=severity_map[severity_text],
        cooldown=value('cooldown', 0.0, _MAX_SECONDS),
        direction=reader.choice(entry.get('direction', 'inbound'), f'{key}.direction', Direction),
        hysteresis=value('hysteresis', 0.0, _MAX_METRES),
        exit_margin=value('exit_margin', 0.0, _MAX_METRES))


def _route(reader: _Reader, raw: Any, key: str, rule_ids: set[str]) -> PatrolRoute:
    entry = reader.mapping(raw, key, ('id', 'path', 'width', 'classes'),
                           ('min_time_on_route', 'schedule', 'exempt_rules'))
    path = []
    for index, vertex in enumerate(reader.sequence(entry['path'], f'{key}.path', False)):
        vkey = f'{key}.path[{index}]'
        if not isinstance(vertex, list) or len(vertex) != 2:
            raise reader.fail(vkey, f'a vertex is [x, y] in metres, got {vertex!r}')
        path.append((reader.number(vertex[0], vkey, -1e6, 1e6),
                     reader.number(vertex[1], vkey, -1e6, 1e6)))
    if len(path) < 2:
        raise reader.fail(f'{key}.path', 'a route needs at least 2 vertices')
    exempt = frozenset(rule_ids)
    if 'exempt_rules' in entry:
        exempt = reader.names(entry['exempt_rules'], f'{key}.exempt_rules')
        unknown = sorted(exempt - rule_ids)
        if unknown:
            raise reader.fail(f'{key}.exempt_rules', f'no rule {unknown[0]!r}')
    return PatrolRoute(
        route_id=reader.name(entry['id'], f'{key}.id'), path=tuple(path),
        width=reader.number(entry['width'], f'{key}.width', 0.1, 1000.0),
        classes=reader.names(entry['classes'], f'{key}.classes'),
        min_time_on_route=reader.number(entry.get('min_time_on_route', 10.0),
                                        f'{key}.min_time_on_route', 0.0, _MAX_SECONDS),
        schedule=_schedule(reader, entry['schedule'], f'{key}.schedule')
        if 'schedule' in entry else (),
        exempt_rules=exempt)


def _own_vehicles(reader: _Reader, raw: Any, key: str, rule_ids: set[str]) -> OwnVehicleMatching:
    entry = reader.mapping(raw, key, (), ('match_radius', 'max_match_distance', 'classes',
                                          'exempt_rules'))
    classes: dict[str, frozenset[str]] = {'drone': frozenset({'drone'}),
                                          'ground': frozenset({'vehicle'})}
    if 'classes' in entry:
        mapping = reader.mapping(entry['classes'], f'{key}.classes', (), ('drone', 'ground'))
        for kind, names in mapping.items():
            classes[kind] = reader.names(names, f'{key}.classes.{kind}')
    exempt = frozenset(rule_ids)
    if 'exempt_rules' in entry:
        exempt = reader.names(entry['exempt_rules'], f'{key}.exempt_rules')
        unknown = sorted(exempt - rule_ids)
        if unknown:
            raise reader.fail(f'{key}.exempt_rules', f'no rule {unknown[0]!r}')
    return OwnVehicleMatching(
        match_radius=reader.number(entry.get('match_radius', 5.0), f'{key}.match_radius', 0.0,
                                   _MAX_METRES),
        max_match_distance=reader.number(entry.get('max_match_distance', 30.0),
                                         f'{key}.max_match_distance', 0.0, _MAX_METRES),
        classes=classes, exempt_rules=exempt)


def parse_threat_rules(text: str, file: str, site: SiteConfig) -> ThreatRulesConfig:
    """Validate threat rules (YAML text) against a site configuration."""
    reader = _Reader(file)
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        where = f'line {mark.line + 1}' if mark is not None else 'YAML'
        raise ThreatRulesError(file, where, f'invalid YAML: {getattr(error, "problem", error)}') \
            from None
    top = reader.mapping(document, '', ('version', 'rules'), ('defaults', 'authorized'))
    if top['version'] != FORMAT_VERSION:
        raise reader.fail('version', f'this Sentinel reads version {FORMAT_VERSION}, '
                                     f'got {top["version"]!r}')
    defaults = reader.mapping(top.get('defaults', {}), 'defaults', (),
                              ('min_confidence', 'dwell', 'severity', 'cooldown', 'hysteresis',
                               'exit_margin'))
    rules = tuple(_rule(reader, raw, f'rules[{i}]', defaults, site)
                  for i, raw in enumerate(reader.sequence(top['rules'], 'rules')))
    ids = [r.rule_id for r in rules]
    for index, rule_id in enumerate(ids):
        if ids.index(rule_id) != index:
            raise reader.fail(f'rules[{index}].id', f'duplicate rule id {rule_id!r}')
    authorized = reader.mapping(top.get('authorized', {}), 'authorized', (),
                                ('patrol_routes', 'own_vehicles'))
    routes = tuple(_route(reader, raw, f'authorized.patrol_routes[{i}]', set(ids))
                   for i, raw in enumerate(reader.sequence(authorized.get('patrol_routes', []),
                                                           'authorized.patrol_routes')))
    own = _own_vehicles(reader, authorized.get('own_vehicles', {}), 'authorized.own_vehicles',
                        set(ids))
    return ThreatRulesConfig(file=file, rules=rules, patrol_routes=routes, own_vehicles=own,
                             timezone=site.timezone, zones={z.name: z for z in site.zones})


def load_threat_rules(path: str | Path, site: SiteConfig) -> ThreatRulesConfig:
    """Read and validate ``config/threat_rules.yaml`` (or another file of that format)."""
    try:
        text = Path(path).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as error:
        raise ThreatRulesError(str(path), 'file', f'cannot read: {error}') from None
    return parse_threat_rules(text, str(path), site)


# --------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------

def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0.0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def boundary_distance(x: float, y: float, polygon: Sequence[tuple[float, float]]) -> float:
    """Distance (m) from a point to the nearest edge of a closed polygon."""
    count = len(polygon)
    return min(_segment_distance(x, y, *polygon[i], *polygon[(i + 1) % count])
               for i in range(count))


def path_distance(x: float, y: float, path: Sequence[tuple[float, float]]) -> float:
    """Distance (m) from a point to an open polyline."""
    return min(_segment_distance(x, y, *a, *b) for a, b in zip(path, path[1:], strict=False))


def signed_depth(zone: Zone, x: float, y: float, z: float | None = None) -> float:
    """How far inside (+) or outside (-) a zone's polygon a point is, in metres."""
    distance = boundary_distance(x, y, zone.polygon)
    return distance if zone.contains(x, y, z) else -distance


def _reached(start: float, end: float, threshold: float) -> float | None:
    """Fraction (0..1] of the way from depth ``start`` to ``end`` where ``threshold`` is met."""
    if not math.isfinite(start) or start == end:
        return None
    if start < threshold <= end or start > threshold >= end:
        return (threshold - start) / (end - start)
    return None


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class TrackView:
    """What the rules need to know about one confirmed track."""

    track_id: str
    class_name: str
    confidence: float                        # 0..1
    position: tuple[float, float, float]     # m, site ENU
    authorized: bool = False
    exempt_rules: frozenset[str] = frozenset()  # rules lifted by its authorization


@dataclass(frozen=True)
class RuleHit:
    """A rule's verdict on one track in one zone at one instant."""

    rule: Rule
    zone_id: str
    track_id: str
    class_name: str
    position: tuple[float, float, float]
    stamp: float        # s
    raised: bool        # True: condition holds (or a crossing happened); False: it ended
    instant: bool       # a one-off event (crossing) rather than a lasting condition
    description: str


@dataclass
class _ZoneState:
    inside: bool = False
    entered_at: float | None = None
    firing: bool = False
    side: bool | None = None   # perimeter: True inside, False outside, None undecided
    depth: float = math.nan    # m, signed depth at the last evaluation (+ inside)


@dataclass
class ThreatRules:
    """Evaluates every rule for every track; keeps the little state the rules need."""

    config: ThreatRulesConfig
    _state: dict[tuple[str, str, str], _ZoneState] = field(default_factory=dict)

    def evaluate(self, tracks: Sequence[TrackView], now: float, wall: datetime,
                 coasting: Collection[str] = ()) -> list[RuleHit]:
        """Rule hits at ``now`` (s) for the given confirmed tracks; ``wall`` drives schedules.

        ``coasting`` names tracks that exist but went unseen for a while: no rule is
        judged on a guess of where they are, and their state (the side of a fence,
        the time they entered a zone, a firing alert) waits for them. A camera
        that sees a walker only every second or two would otherwise make his track
        coast between sightings, and a fence he crossed meanwhile would never count.
        Only a track in neither list has gone, and its firing conditions end.
        """
        hits: list[RuleHit] = []
        seen: set[tuple[str, str, str]] = {key for key in self._state if key[2] in coasting}
        active_zones = {name: zone.active_at(wall, self.config.timezone)
                        for name, zone in self.config.zones.items()}
        for rule in self.config.rules:
            for zone_id in rule.zones:
                zone = self.config.zones[zone_id]
                for track in tracks:
                    key = (rule.rule_id, zone_id, track.track_id)
                    seen.add(key)
                    state = self._state.setdefault(key, _ZoneState())
                    hit = self._apply(rule, zone, active_zones[zone_id], track, state, now)
                    if hit is not None:
                        hits.append(hit)
        for key in [k for k in self._state if k not in seen]:
            hits.extend(self._vanished(key, now))
        return hits

    def next_due(self, tracks: Sequence[TrackView], ahead: Mapping[str, tuple[float, float, float]],
                 horizon: float, now: float) -> float | None:
        """Seconds after ``now`` until a rule's judgement may next change, if within ``horizon``.

        Why: the rules are judged cycle by cycle, and between two cycles a
        track's predicted position can reach a zone (or a fence's hysteresis
        line), or its dwell can run out; found only by the next periodic
        cycle, the alert would wait up to a whole period for it. So after each
        evaluation the caller asks when that moment comes and runs a cycle
        then. ``ahead`` is each track's position predicted to ``now + horizon``
        (s); over so short a way the signed depth is taken as linear between
        the last evaluation's depth and the depth there. Called after
        :meth:`evaluate` with the same tracks. A climb or descent into a
        height-limited zone is not foreseen (the depth is horizontal): the
        periodic cycles find it, as before.
        """
        moments: list[float] = []
        depth_ahead: dict[tuple[str, str], float] = {}
        for rule in self.config.rules:
            for zone_id in rule.zones:
                for track in tracks:
                    state = self._state.get((rule.rule_id, zone_id, track.track_id))
                    if state is None or track.track_id not in ahead \
                            or not self._eligible(rule, track):
                        continue
                    dwell = self._dwell_due(rule, state, now)
                    if dwell is not None:
                        moments.append(dwell)
                    # A point's distance to a boundary changes no faster than the point
                    # moves: thresholds farther than the way ahead need no depth computed.
                    reach = math.dist(track.position[:2], ahead[track.track_id][:2])
                    thresholds = [t for t in self._thresholds(rule, state)
                                  if abs(t - state.depth) <= reach]
                    if thresholds and (zone_id, track.track_id) not in depth_ahead:
                        depth_ahead[(zone_id, track.track_id)] = signed_depth(
                            self.config.zones[zone_id], *ahead[track.track_id])
                    reached = (_reached(state.depth, depth_ahead[(zone_id, track.track_id)], t)
                               for t in thresholds)
                    moments += [fraction * horizon for fraction in reached if fraction is not None]
        return min((moment for moment in moments if moment <= horizon), default=None)

    @staticmethod
    def _dwell_due(rule: Rule, state: _ZoneState, now: float) -> float | None:
        """Seconds until a track inside a zone has dwelt long enough; None if not waiting.

        A dwell already over (the zone is off duty, say) is not waiting for anything.
        """
        if rule.kind is RuleKind.PERIMETER_CROSSING or not state.inside or state.firing \
                or state.entered_at is None or state.entered_at + rule.dwell <= now:
            return None
        return state.entered_at + rule.dwell - now

    @staticmethod
    def _thresholds(rule: Rule, state: _ZoneState) -> tuple[float, ...]:
        """Signed depths (m) at which the rule's view of a track changes next."""
        if rule.kind is RuleKind.PERIMETER_CROSSING:
            return tuple(depth for side, depth in ((True, rule.hysteresis),
                                                   (False, -rule.hysteresis))
                         if state.side is not side)
        return () if state.inside else (0.0,)

    def _eligible(self, rule: Rule, track: TrackView) -> bool:
        return (track.class_name in rule.classes and track.confidence >= rule.min_confidence
                and not (track.authorized and rule.rule_id in track.exempt_rules))

    def _apply(self, rule: Rule, zone: Zone, zone_active: bool, track: TrackView,
               state: _ZoneState, now: float) -> RuleHit | None:
        x, y, z = track.position
        depth = signed_depth(zone, x, y, z)
        state.depth = depth
        if rule.kind is RuleKind.PERIMETER_CROSSING:
            return self._crossing(rule, zone, zone_active, track, state, depth, now)
        if depth >= 0.0:
            if not state.inside:
                state.inside, state.entered_at = True, now
        elif depth < -rule.exit_margin:
            state.inside, state.entered_at = False, None
        condition = (zone_active and state.inside and self._eligible(rule, track)
                     and state.entered_at is not None and now - state.entered_at >= rule.dwell)
        if condition:
            state.firing = True
            dwell = now - (state.entered_at or now)
            return self._hit(rule, zone, track, now, True, False,
                             f'{track.class_name} {track.track_id} in {zone.name} for {dwell:.0f} s')
        if state.firing:
            state.firing = False
            return self._hit(rule, zone, track, now, False, False,
                             f'{track.class_name} {track.track_id} no longer meets the rule in '
                             f'{zone.name}')
        return None

    def _crossing(self, rule: Rule, zone: Zone, zone_active: bool, track: TrackView,
                  state: _ZoneState, depth: float, now: float) -> RuleHit | None:
        side = True if depth >= rule.hysteresis else False if depth <= -rule.hysteresis else None
        if side is None or side == state.side:
            return None
        previous, state.side = state.side, side
        if previous is None or not zone_active or not self._eligible(rule, track):
            return None
        direction = Direction.INBOUND if side else Direction.OUTBOUND
        if rule.direction is not Direction.BOTH and rule.direction is not direction:
            return None
        return self._hit(rule, zone, track, now, True, True,
                         f'{track.class_name} {track.track_id} crossed {zone.name} '
                         f'{direction.value}')

    @staticmethod
    def _hit(rule: Rule, zone: Zone, track: TrackView, now: float, raised: bool, instant: bool,
             description: str) -> RuleHit:
        return RuleHit(rule, zone.name, track.track_id, track.class_name, track.position, now,
                       raised, instant, description)

    def _vanished(self, key: tuple[str, str, str], now: float) -> list[RuleHit]:
        """A track no longer confirmed: end its firing conditions and forget its state."""
        state = self._state.pop(key)
        if not state.firing:
            return []
        rule = next(r for r in self.config.rules if r.rule_id == key[0])
        return [RuleHit(rule, key[1], key[2], '', (math.nan, math.nan, math.nan), now, False,
                        False, f'track {key[2]} is no longer tracked')]

    def rename_track(self, old: str, new: str) -> None:
        """Carry rule state over when fusion merges track ``old`` into ``new``."""
        for key in [k for k in self._state if k[2] == old]:
            state = self._state.pop(key)
            self._state.setdefault((key[0], key[1], new), state)
