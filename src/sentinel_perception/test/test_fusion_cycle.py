"""The fusion cycle on simulated time: an intruder and the guard, seen by two biased cameras."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from sentinel_perception.fusion import Observation
from sentinel_perception.fusion_cycle import CyclePacer, FusionCycle
from sentinel_perception.site import default_threat_rules, load_perception_site
from sentinel_perception.threat_rules import load_threat_rules

ROOT = Path(__file__).resolve().parents[3]
SITE_CONFIG = ROOT / 'config' / 'sites' / 'substation.yaml'
WALL = datetime(2026, 11, 26, 21, 0, tzinfo=timezone.utc)
RATE = 5.0   # Hz per camera
# Each camera puts everybody a little off, in its own direction (calibration, uneven ground).
BIAS = {'cam_nw': (1.5, -1.0), 'cam_se': (-1.5, 1.0)}


def _intruder(t: float) -> tuple[float, float]:
    """Walks east along y = 10 into the transformer yard (x >= 15) at t = 10 s, then stands."""
    return (min(5.0 + t, 25.0), 10.0)


def _guard(t: float) -> tuple[float, float]:
    """Walks the guard_round's north side (y = 65), west from x = 95."""
    return (95.0 - 1.2 * t, 65.0)


def _frame(camera: str, t: float) -> list[Observation]:
    bx, by = BIAS[camera]
    out = []
    for local_id, (x, y) in enumerate((_intruder(t), _guard(t))):
        out.append(Observation(camera, t, 'person', 0.8, (x + bx, y + by, 0.0), 1.0,
                               local_track_id=local_id))
    return out


def test_one_track_per_person_an_alert_for_the_intruder_none_for_the_guard():
    site = load_perception_site(SITE_CONFIG)
    cycle = FusionCycle(load_threat_rules(default_threat_rules(SITE_CONFIG), site.config))
    alerts = []
    ids_near_intruder: set[str] = set()
    for step in range(int(30.0 * RATE)):
        t = step / RATE
        for camera in BIAS:
            cycle.ingest(_frame(camera, t))
        result = cycle.tick(t, WALL + timedelta(seconds=t), {})
        alerts += [(t, c.alert) for c in result.changes if c.created]
        x, y = _intruder(t)
        ids_near_intruder |= {p.track.track_id for p in result.tracks
                              if abs(p.position[0] - x) < 4.0 and abs(p.position[1] - y) < 4.0}
        guard = [p for p in result.tracks if abs(p.position[1] - 65.0) < 4.0]
        if t >= 12.0:   # the route's min_time_on_route (10 s) plus confirmation
            assert guard and all(p.verdict.authorized for p in guard)

    assert len(ids_near_intruder) == 1, ids_near_intruder
    assert [(a.rule_id, a.zone_id) for _, a in alerts] == [('restricted_entry', 'transformer_yard')]
    raised, alert = alerts[0]
    assert alert.track_id in ids_near_intruder
    assert 12.0 <= raised <= 13.0   # entered at 10 s, dwell 2 s, one cycle of slack


def test_pacer_runs_at_once_then_not_again_within_the_interval():
    pacer = CyclePacer(0.05)
    assert pacer.delay(100.0) == 0.0           # nothing ran yet: at once
    pacer.ran(100.0)
    assert abs(pacer.delay(100.01) - 0.04) < 1e-9
    assert pacer.delay(100.05) == 0.0
    pacer.ran(100.2)                           # a periodic cycle counts too
    assert abs(pacer.delay(100.2) - 0.05) < 1e-9


def test_a_cycle_says_when_the_intruders_prediction_reaches_the_yard():
    """The due moment is when the track enters: its 2 s dwell counts from there, to the ms."""
    site = load_perception_site(SITE_CONFIG)
    rules = load_threat_rules(default_threat_rules(SITE_CONFIG), site.config)
    cycle = FusionCycle(rules)
    lookahead = 0.2
    due_at = None
    for step in range(int(20.0 * RATE)):
        t = step / RATE
        cycle.ingest(_frame('cam_nw', t))
        result = cycle.tick(t, WALL + timedelta(seconds=t), {}, lookahead)
        assert not [c for c in result.changes if c.alert.rule_id == 'restricted_entry']
        if result.due is not None:
            assert 0.0 < result.due <= lookahead
            due_at = t + result.due
            break
    assert due_at is not None, 'the walker approaching the yard never made a cycle due'
    entered = due_at + 1e-3
    assert not cycle.tick(entered, WALL + timedelta(seconds=entered), {}, lookahead).changes
    t = entered
    while t + 1.0 / RATE < entered + 2.0:     # he walks on, in view
        t += 1.0 / RATE
        cycle.ingest(_frame('cam_nw', t))
        assert not cycle.tick(t, WALL + timedelta(seconds=t), {}).changes
    before = entered + 2.0 - 0.01
    result = cycle.tick(before, WALL + timedelta(seconds=before), {}, lookahead)
    assert not result.changes and abs(result.due - 0.01) < 1e-6   # the dwell's end is due next
    after = entered + 2.0
    created = [c.alert for c in cycle.tick(after, WALL + timedelta(seconds=after), {}).changes
               if c.created]
    assert [(a.rule_id, a.zone_id) for a in created] == [('restricted_entry', 'transformer_yard')]
