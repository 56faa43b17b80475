"""Threat rules and alerts with a fake clock, on the substation's zones and rule file."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sentinel_sim.site_config import load_site_config

from sentinel_perception.alerts import AckError, AlertBook, AlertChange, AlertSettings, AlertState
from sentinel_perception.authorization import AuthorizationPolicy, OwnVehicle
from sentinel_perception.threat_rules import (ThreatRules, ThreatRulesError, TrackView,
                                              load_threat_rules, parse_threat_rules)

ROOT = Path(__file__).resolve().parents[3]
SITE_CONFIG = ROOT / 'config' / 'sites' / 'substation.yaml'
THREAT_RULES = ROOT / 'config' / 'threat_rules.yaml'

DENVER = ZoneInfo('America/Denver')
# A Wednesday at 20:00 local: the control building's schedule is active.
EVENING = datetime(2026, 11, 25, 20, 0, tzinfo=DENVER)
# The same Wednesday at noon: the control building is staffed, its zone inactive.
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=DENVER)
STEP = 0.2   # s between evaluations (the fusion node's 5 Hz)


@pytest.fixture(scope='module')
def site():
    return load_site_config(SITE_CONFIG)


@pytest.fixture(scope='module')
def rules_config(site):
    return load_threat_rules(THREAT_RULES, site)


class Scene:
    """Rules + alert book + authorization driven by a fake clock."""

    def __init__(self, config, wall: datetime = EVENING) -> None:
        self.rules = ThreatRules(config)
        self.book = AlertBook(AlertSettings(update_period=5.0), id_factory=self._ids())
        self.policy = AuthorizationPolicy(config)
        self.now = 0.0
        self.wall = wall
        self.published: list[AlertChange] = []
        self.vehicles: dict[str, OwnVehicle] = {}

    @staticmethod
    def _ids() -> Callable[[], str]:
        counter = iter(range(1, 10_000))
        return lambda: f'alert-{next(counter)}'

    def run(self, seconds: float, tracks: Callable[[float], Iterable[tuple]],
            coasting: frozenset[str] = frozenset()) -> list[AlertChange]:
        """Advance the clock, evaluating every STEP; tracks(t) -> (id, class, x, y[, conf]);
        ``coasting``: ids of tracks alive but unseen meanwhile."""
        out: list[AlertChange] = []
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = round(self.now + STEP, 6)
            views = []
            for item in tracks(self.now):
                track_id, cls, x, y = item[:4]
                confidence = item[4] if len(item) > 4 else 0.9
                verdict = self.policy.assess(track_id, cls, (x, y, 0.0), 1.0, self.now,
                                             self.wall + timedelta(seconds=self.now),
                                             self.vehicles)
                views.append(TrackView(track_id, cls, confidence, (x, y, 0.0), verdict.authorized,
                                       verdict.exempt_rules))
            hits = self.rules.evaluate(views, self.now, self.wall + timedelta(seconds=self.now),
                                       coasting)
            out.extend(self.book.apply(hits, self.now))
        self.published.extend(out)
        return out


def _ids(changes: Iterable[AlertChange], rule: str | None = None) -> set[str]:
    return {c.alert.alert_id for c in changes if rule is None or c.alert.rule_id == rule}


def test_restricted_entry_fires_once_and_updates_in_place(rules_config):
    scene = Scene(rules_config)
    inside = lambda t: [('T1', 'person', 30.0, 20.0)]  # noqa: E731  (transformer yard)
    changes = scene.run(1.8, inside)
    assert changes == []                                   # dwell 2 s not reached
    changes = scene.run(0.4, inside)
    assert [c.created for c in changes] == [True]
    alert = changes[0].alert
    assert (alert.rule_id, alert.zone_id, alert.track_id) == ('restricted_entry',
                                                              'transformer_yard', 'T1')
    assert alert.category == 'intrusion' and alert.severity == 2
    assert alert.state == AlertState.NEW
    updates = scene.run(30.0, inside)                      # 150 evaluations
    assert _ids(updates) == {alert.alert_id}               # the same alert, updated ...
    assert not any(c.created for c in updates)
    assert 5 <= len(updates) <= 7                          # ... every 5 s, not 150 times
    assert len(scene.book.alerts) == 1


def test_dwell_shorter_than_configured_raises_nothing(rules_config):
    scene = Scene(rules_config)
    assert scene.run(1.6, lambda t: [('T1', 'person', 30.0, 20.0)]) == []
    assert scene.run(5.0, lambda t: [('T1', 'person', 0.0, 0.0)]) == []   # left in time


def test_loitering_needs_a_minute_at_the_gate(rules_config):
    scene = Scene(rules_config)
    at_gate = lambda t: [('car', 'vehicle', 0.0, 110.0)]  # noqa: E731  (north gate)
    assert _ids(scene.run(59.0, at_gate), 'gate_loitering') == set()
    changes = scene.run(2.0, at_gate)
    assert [c.alert.rule_id for c in changes if c.created] == ['gate_loitering']
    assert changes[0].alert.severity == 1


def test_cool_down_updates_the_old_alert_then_a_new_one_after_it(rules_config):
    scene = Scene(rules_config)
    inside = lambda t: [('T1', 'person', 30.0, 20.0)]    # noqa: E731
    outside = lambda t: [('T1', 'person', 0.0, 0.0)]     # noqa: E731
    first = _ids(scene.run(3.0, inside))
    ended = scene.run(1.0, outside)
    assert _ids(ended) == first and 'ended' in ended[0].alert.description
    scene.run(60.0, outside)
    again = scene.run(3.0, inside)                       # back within the 300 s cool-down
    assert _ids(again) == first and not any(c.created for c in again)
    scene.run(1.0, outside)
    scene.run(300.0, outside)                            # cool-down over
    later = scene.run(3.0, inside)
    assert [c.created for c in later] == [True] and _ids(later).isdisjoint(first)


def test_a_resolved_alert_is_not_raised_again_within_the_cool_down(rules_config):
    scene = Scene(rules_config)
    inside = lambda t: [('T1', 'person', 30.0, 20.0)]    # noqa: E731
    (alert_id,) = _ids(scene.run(3.0, inside))
    code, _, record = scene.book.acknowledge(alert_id, 'op1', True, 'maintenance crew',
                                             scene.now)
    assert code is AckError.NONE and record.state == AlertState.RESOLVED
    assert scene.run(30.0, inside) == []


def test_a_reacquired_track_continues_the_same_incident(rules_config):
    scene = Scene(rules_config)
    (alert_id,) = _ids(scene.run(3.0, lambda t: [('T1', 'person', 30.0, 20.0)]))
    scene.run(0.4, lambda t: [])                         # the tracker lost the person ...
    changes = scene.run(3.0, lambda t: [('T9', 'person', 31.0, 21.0)])   # ... and found them
    assert _ids(changes) == {alert_id}
    assert scene.book.alerts[alert_id].track_id == 'T9'
    # a second person in the yard at the same time is another incident
    other = scene.run(3.0, lambda t: [('T9', 'person', 31.0, 21.0), ('T5', 'person', 33.0, 22.0)])
    assert any(c.created and c.alert.track_id == 'T5' for c in other)


def _judge(rules: ThreatRules, track: TrackView, now: float) -> None:
    rules.evaluate([track], now, EVENING + timedelta(seconds=now))


def test_the_moment_a_prediction_reaches_a_zone_is_due_within_the_lookahead(rules_config):
    """The yard's west edge is x = 15 m: a walker at 14.9 m doing 2 m/s reaches it in 50 ms."""
    rules = ThreatRules(rules_config)
    walker = TrackView('T1', 'person', 0.9, (14.9, 20.0, 0.0))
    _judge(rules, walker, 10.0)
    due = rules.next_due([walker], {'T1': (15.1, 20.0, 0.0)}, 0.1, 10.0)
    assert due == pytest.approx(0.05, abs=1e-6)
    assert rules.next_due([walker], {'T1': (14.95, 20.0, 0.0)}, 0.1, 10.0) is None  # not yet
    # Walking away, or a class no rule counts: nothing is due.
    assert rules.next_due([walker], {'T1': (14.7, 20.0, 0.0)}, 0.1, 10.0) is None
    bird = TrackView('B', 'bird', 0.9, (14.9, 20.0, 0.0))
    _judge(rules, bird, 10.0)
    assert rules.next_due([bird], {'B': (15.1, 20.0, 0.0)}, 0.1, 10.0) is None


def test_a_dwell_running_out_and_a_fence_hysteresis_line_are_due(rules_config):
    rules = ThreatRules(rules_config)
    inside = TrackView('T1', 'person', 0.9, (30.0, 20.0, 0.0))
    _judge(rules, inside, 10.0)                        # entered at 10 s; the yard's dwell is 2 s
    assert rules.next_due([inside], {'T1': inside.position}, 0.5, 11.7) == pytest.approx(0.3)
    assert rules.next_due([inside], {'T1': inside.position}, 0.2, 11.7) is None  # beyond the lookahead
    # Climbing in over the west fence (x = -150 m): the side counts 2 m inside, at x = -148 m.
    climber = TrackView('P', 'person', 0.9, (-160.0, 20.0, 0.0))
    _judge(rules, climber, 10.0)                       # outside: the side is taken
    near = TrackView('P', 'person', 0.9, (-148.5, 20.0, 0.0))
    _judge(rules, near, 20.0)
    assert rules.next_due([near], {'P': (-147.5, 20.0, 0.0)}, 0.2, 20.0) == pytest.approx(0.1)


def test_perimeter_crossing_inbound_only_and_jitter_is_not_a_crossing(rules_config):
    scene = Scene(rules_config)

    def walk(start: float, end: float, duration: float) -> Callable[[float], list[tuple]]:
        t0 = scene.now
        return lambda t: [('P', 'person', start + (end - start) * min(1.0, (t - t0) / duration), 20.0)]

    assert scene.run(10.0, walk(-170.0, -140.0, 10.0))[0].alert.rule_id == 'perimeter_crossing'
    crossing = scene.published[0].alert
    assert 'inbound' in crossing.description and crossing.category == 'perimeter_crossing'
    assert _ids(scene.run(10.0, walk(-140.0, -170.0, 10.0)), 'perimeter_crossing') <= \
        {crossing.alert_id}                              # outbound: nothing new
    jitter = Scene(rules_config)
    jitter.run(1.0, lambda t: [('J', 'person', -160.0, 0.0)])
    wobble = jitter.run(20.0, lambda t: [('J', 'person', -150.0 + math.sin(7 * t), 0.0)])
    assert _ids(wobble, 'perimeter_crossing') == set()


def test_a_fence_crossed_while_the_track_coasted_still_counts(rules_config):
    """Sparse sightings (a loaded detector, a slow camera) make a track coast between them."""
    outside = lambda t: [('P', 'person', -160.0, 20.0)]   # noqa: E731
    inside = lambda t: [('P', 'person', -140.0, 20.0)]    # noqa: E731
    scene = Scene(rules_config)
    scene.run(1.0, outside)
    assert scene.run(3.0, lambda t: [], coasting=frozenset({'P'})) == []
    assert [c.alert.rule_id for c in scene.run(1.0, inside) if c.created] == ['perimeter_crossing']
    gone = Scene(rules_config)                 # the same sightings of a track that had ended
    gone.run(1.0, outside)
    gone.run(3.0, lambda t: [])
    assert _ids(gone.run(1.0, inside), 'perimeter_crossing') == set()


def test_a_coasting_track_keeps_its_alert_and_a_vanished_one_ends_it(rules_config):
    scene = Scene(rules_config)
    (alert_id,) = _ids(scene.run(3.0, lambda t: [('T1', 'person', 30.0, 20.0)]))
    assert scene.run(5.0, lambda t: [], coasting=frozenset({'T1'})) == []
    ended = scene.run(0.2, lambda t: [])
    assert _ids(ended) == {alert_id} and 'no longer tracked' in ended[0].alert.description


def test_schedule_decides_whether_the_control_building_counts(rules_config):
    at_noon = Scene(rules_config, wall=NOON)
    building = lambda t: [('T1', 'person', -60.0, 40.0)]   # noqa: E731
    assert _ids(at_noon.run(10.0, building), 'restricted_entry') == set()
    evening = Scene(rules_config, wall=EVENING)
    changes = evening.run(10.0, building)
    assert {c.alert.zone_id for c in changes if c.created} == {'control_building'}


def test_foreign_drones_over_the_bus_alert_and_our_own_do_not(rules_config):
    scene = Scene(rules_config)
    scene.vehicles['drone_1'] = OwnVehicle('drone_1', 'drone', (100.0, 20.0, 20.0), 0.0)

    def ours(t: float) -> list[tuple]:
        scene.vehicles['drone_1'] = OwnVehicle('drone_1', 'drone', (100.0, 20.0, 20.0), t)
        return [('D1', 'drone', 101.0, 21.0)]

    assert scene.run(5.0, ours) == []
    foreign = scene.run(1.0, lambda t: [('D1', 'drone', 101.0, 21.0), ('R', 'drone', 95.0, 0.0)])
    assert {(c.alert.rule_id, c.alert.track_id) for c in foreign} == {('drone_keep_out', 'R')}
    assert foreign[0].alert.category == 'drone_incursion'


ROUTE_THROUGH_YARD = """
version: 1
rules:
  - {id: restricted_entry, kind: restricted_entry, zones: [transformer_yard],
     classes: [person], min_confidence: 0.4, dwell: 2.0, severity: critical, cooldown: 300,
     hysteresis: 2.0, exit_margin: 1.0}
authorized:
  patrol_routes:
    - id: inspection
      path: [[0, 20], [100, 20]]
      width: 6.0
      classes: [person]
      min_time_on_route: 5.0
"""


def test_the_guard_on_the_patrol_route_is_exempt_and_an_intruder_joining_it_is_not(site):
    config = parse_threat_rules(ROUTE_THROUGH_YARD, 'inline.yaml', site)
    scene = Scene(config)
    guard = lambda t: [('G', 'person', min(2.0 + 1.2 * t, 99.0), 20.0)]   # noqa: E731
    assert scene.run(60.0, guard) == []                     # walks through the yard, on the route
    intruder = Scene(config)

    def path(t: float) -> list[tuple]:
        # first seen off the route (west of the yard), joins it at (10, 20) after 5 s and
        # follows it into the yard like the guard would
        if t < 5.0:
            return [('X', 'person', 10.0, -5.0 + 5.0 * t)]
        return [('X', 'person', min(10.0 + 1.2 * (t - 5.0), 99.0), 20.0)]

    changes = intruder.run(30.0, path)
    assert [c.alert.track_id for c in changes if c.created] == ['X']


def test_low_confidence_and_other_classes_are_ignored(rules_config):
    scene = Scene(rules_config)
    assert scene.run(10.0, lambda t: [('T1', 'person', 30.0, 20.0, 0.2),
                                      ('T2', 'drone', 30.0, 20.0)]) == []


def test_acknowledge_and_resolve_answers(rules_config):
    scene = Scene(rules_config)
    (alert_id,) = _ids(scene.run(3.0, lambda t: [('T1', 'person', 30.0, 20.0)]))
    book = scene.book
    assert book.acknowledge('nope', 'op', False, '', 1.0)[0] is AckError.UNKNOWN_ALERT
    code, _, record = book.acknowledge(alert_id, 'op1', False, '', 1.0)
    assert code is AckError.NONE and record.state == AlertState.ACKNOWLEDGED
    assert record.acknowledged_by == 'op1'
    assert book.acknowledge(alert_id, 'op2', False, '', 2.0)[0] is AckError.NONE  # idempotent
    updated = scene.run(10.0, lambda t: [('T1', 'person', 30.0, 20.0)])
    assert all(c.alert.state == AlertState.ACKNOWLEDGED for c in updated)  # updates keep the state
    code, _, record = book.acknowledge(alert_id, 'op2', True, 'police on site', 3.0)
    assert code is AckError.NONE and record.resolution_note == 'police on site'
    assert book.acknowledge(alert_id, 'op2', True, 'again', 4.0)[0] is AckError.INVALID_STATE
    assert book.acknowledge(alert_id, 'op2', False, '', 4.0)[0] is AckError.INVALID_STATE


def test_the_alert_journal_survives_a_restart(rules_config, tmp_path):
    scene = Scene(rules_config)
    (alert_id,) = _ids(scene.run(3.0, lambda t: [('T1', 'person', 30.0, 20.0)]))
    scene.book.acknowledge(alert_id, 'op1', False, '', scene.now)
    journal = tmp_path / 'alerts.json'
    scene.book.save(journal)
    restored = AlertBook()
    assert restored.load(journal) == 1
    assert restored.alerts[alert_id].state == AlertState.ACKNOWLEDGED
    assert restored.alerts[alert_id].acknowledged_by == 'op1'
    journal.write_text('{"version": 1, "alerts": [{"alert_id": 3}]}')
    with pytest.raises(ValueError, match='not a readable alert journal'):
        AlertBook().load(journal)


@pytest.mark.parametrize('text, key, reason', [
    ('version: 1\nrules: [{id: r, kind: restricted_entry, classes: [person], zones: [nowhere], '
     'min_confidence: 0.5, dwell: 1, cooldown: 1, hysteresis: 1, exit_margin: 1}]',
     'rules[0].zones[0]', 'no zone'),
    ('version: 1\nrules: [{id: r, kind: loitering, classes: [person], zones: [transformer_yard], '
     'min_confidence: 0.5, dwell: 1, cooldown: 1, hysteresis: 1, exit_margin: 1}]',
     'rules[0].zones[0]', 'needs gate zones'),
    ('version: 1\nrules: [{id: r, kind: teleport, classes: [person]}]', 'rules[0].kind',
     'not one of'),
    ('version: 1\nrules: [{id: r, kind: keep_out, classes: [drone], severity: extreme, '
     'min_confidence: 0.5, dwell: 1, cooldown: 1, hysteresis: 1, exit_margin: 1}]',
     'rules[0].severity', 'not one of'),
    ('version: 1\nrules: [{id: r, kind: keep_out, classes: [drone], min_confidence: 5, dwell: 1, '
     'cooldown: 1, hysteresis: 1, exit_margin: 1}]', 'rules[0].min_confidence', 'outside'),
    ('version: 1\nrules: [{id: r, kind: keep_out, classes: [drone], colour: red}]',
     'rules[0].colour', 'unknown key'),
    ('version: 1\nversion: 2\nrules: []', 'line 2', 'duplicate key'),
    ('version: 2\nrules: []', 'version', 'reads version 1'),
])
def test_bad_rule_files_name_the_key_and_the_reason(site, text, key, reason):
    with pytest.raises(ThreatRulesError) as error:
        parse_threat_rules(text, 'bad.yaml', site)
    assert error.value.key == key
    assert reason in error.value.reason
    assert str(error.value).startswith('bad.yaml: ')


def test_the_shipped_rules_cover_every_zone_kind(rules_config):
    kinds = {r.kind.value: r.zones for r in rules_config.rules}
    assert kinds['restricted_entry'] == ('transformer_yard', 'control_building')
    assert kinds['perimeter_crossing'] == ('perimeter',)
    assert kinds['keep_out'] == ('hv_bus',)
    assert kinds['loitering'] == ('north_gate', 'east_gate')
