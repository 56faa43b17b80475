"""The timeline of a run: what happened when, in simulated time, from the event log.

Only changes that matter to a reader are listed: scenario events, actors
coming into view, alerts raised and acknowledged (a recurring one once, with its
count), the e-stop, the nodes the watchdog counts down (once each, with a
count), node processes starting (and nodes reporting ERROR),
vehicles' mode and arming. Health and link states flicker on a loaded machine
and would bury the rest; the MCAP recording and events.jsonl hold everything.
Entries from before the simulator's first clock are marked as start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_scenarios.event_log import (HEALTH_NAMES, AlertRecord, ClockSample,
                                          EntitySample, EventLog, HeartbeatRecord,
                                          InjectionRecord, SafetyRecord, Sighting,
                                          VehicleRecord)
from sentinel_scenarios.metrics import MIN_VISIBLE

# sentinel_msgs/Alert state and severity names, by value.
ALERT_STATES = {0: 'raised', 1: 'acknowledged', 2: 'resolved'}
SEVERITY_NAMES = {0: 'info', 1: 'warning', 2: 'critical'}
# Ground-truth roles of scripted actors.
ACTOR_ROLES = frozenset({'intruder', 'authorized'})


# sentinel_msgs/NodeHeartbeat.HEALTH_ERROR
HEALTH_ERROR = 2
# Alert states worth a line (resolutions follow from the cause going away).
LISTED_ALERT_STATES = frozenset({0, 1})


@dataclass(frozen=True)
class Entry:
    t: float             # simulated seconds
    wall: float          # observer seconds, to tell start-up entries apart
    source: str          # scenario, alerts, safety, vehicles, nodes, ground truth
    text: str


def _injections(log: EventLog) -> list[Entry]:
    return [Entry(r.t, r.wall, 'scenario',
                  r.label if r.ok else f'{r.label}: FAILED ({r.detail})')
            for r in log.of(InjectionRecord)]


def _alerts(log: EventLog) -> list[Entry]:
    """Alerts raised and acknowledged; a condition that comes back (the same category and
    text under a new alert id) is listed once, with how many times it was raised."""
    firsts: dict[tuple[str, int, str], AlertRecord] = {}
    counts: dict[tuple[str, int, str], int] = {}
    states: dict[str, int] = {}
    for alert in log.of(AlertRecord):
        if states.get(alert.alert_id) == alert.state:
            continue
        states[alert.alert_id] = alert.state
        if alert.state in LISTED_ALERT_STATES:
            key = (alert.category, alert.state, alert.description)
            firsts.setdefault(key, alert)
            counts[key] = counts.get(key, 0) + 1
    entries = []
    for key, alert in firsts.items():
        severity = SEVERITY_NAMES.get(alert.severity, str(alert.severity))
        again = f' [{counts[key]} times in all]' if counts[key] > 1 else ''
        entries.append(Entry(alert.t, alert.wall, 'alerts',
                             f'{alert.category} alert {ALERT_STATES[alert.state]} ({severity}, '
                             f'{alert.alert_id}): {alert.description}{again}'))
    return entries


def _vehicles(log: EventLog) -> list[Entry]:
    entries, last = [], {}
    for state in log.of(VehicleRecord):
        summary = (state.mode, state.armed)
        if last.get(state.vehicle) == summary or not state.mode:
            continue
        last[state.vehicle] = summary
        entries.append(Entry(state.t, state.wall, 'vehicles', f'{state.vehicle}: {state.mode}, '
                             f'{"armed" if state.armed else "disarmed"}'))
    return entries


def _nodes(log: EventLog) -> list[Entry]:
    entries, pids = [], {}
    for beat in log.of(HeartbeatRecord):
        health = HEALTH_NAMES.get(beat.health, str(beat.health))
        status = f': {beat.status}' if beat.status else ''
        if pids.get(beat.node) != beat.pid:
            verb = 'started' if beat.node not in pids else 'restarted'
            entries.append(Entry(beat.t, beat.wall, 'nodes',
                                 f'{beat.node} {verb} (pid {beat.pid}, {health}{status})'))
        elif beat.health == HEALTH_ERROR:
            entries.append(Entry(beat.t, beat.wall, 'nodes', f'{beat.node} is {health}{status}'))
        pids[beat.node] = beat.pid
    return entries


def _safety(log: EventLog) -> list[Entry]:
    """E-stop changes; each node the watchdog counted down, once, with how often it was."""
    entries: list[Entry] = []
    last: SafetyRecord | None = None
    first_down: dict[str, SafetyRecord] = {}
    downs: dict[str, int] = {}
    for status in log.of(SafetyRecord):
        if last is None or status.estop != last.estop:
            entries.append(Entry(status.t, status.wall, 'safety',
                                 'e-stop engaged' if status.estop else 'e-stop released'))
        for node in set(status.degraded) - set(last.degraded if last else ()):
            first_down.setdefault(node, status)
            downs[node] = downs.get(node, 0) + 1
        last = status
    for node, status in first_down.items():
        again = f' [{downs[node]} times in all]' if downs[node] > 1 else ''
        entries.append(Entry(status.t, status.wall, 'safety',
                             f'{node} counted down by the watchdog{again}'))
    return entries


def _in_view(log: EventLog) -> list[Entry]:
    actors = {s.entity for s in log.of(EntitySample) if s.role in ACTOR_ROLES}
    first: dict[str, Sighting] = {}
    for sighting in log.of(Sighting):
        if sighting.visible >= MIN_VISIBLE and sighting.entity in actors \
                and sighting.entity not in first:
            first[sighting.entity] = sighting
    return [Entry(s.t, s.wall, 'ground truth', f'{s.entity} comes into view of {s.camera}')
            for s in first.values()]


def build_timeline(log: EventLog) -> list[Entry]:
    """Every change worth a line, in order of arrival."""
    entries = (_injections(log) + _in_view(log) + _alerts(log) + _safety(log) + _nodes(log)
               + _vehicles(log))
    return sorted(entries, key=lambda e: (e.t, e.wall))


def simulation_start(log: EventLog) -> float | None:
    """Observer seconds at the first simulation clock; None if it never came."""
    clock = log.of(ClockSample)
    return min(c.wall for c in clock) if clock else None
