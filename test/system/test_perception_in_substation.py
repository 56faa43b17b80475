"""End to end: the substation's scripted intrusions through the whole perception chain.

The embedded simulator runs the substation world in lockstep through its
scripted timeline (intruder over the west fence and into the transformer
yard, car loitering at the north gate, rogue drone over the high-voltage bus,
guard on his round). Its five pole cameras are rendered at ``SAMPLE_RATE``
and every frame goes through the code the nodes run: the detector pipeline
with the shipped ONNX model (``models/det-v2``) on ONNX Runtime, per-camera
ByteTrack, geolocation with the site's camera poses and the simulator's
camera_info, the DetectionArray conversion, then fusion, authorization (the
guard's patrol route, our own vehicles from their true positions), the threat
rules of ``config/threat_rules.yaml`` and the alert book (``FusionCycle``),
and the drift monitor with its alerts.

What is expected comes from the simulator too: the same threat rules,
evaluated on the actors' true positions at every physics step, say which
rule each unauthorized actor triggers and when (entry + dwell). A chain alert
counts for an actor when its fused track is linked to camera tracks whose
boxes lie on that actor's true image box.

The site's cameras are placed so that every actor is larger than the
smallest object the model was trained on (the model card's dataset
``label_rule``) where its alert is due; a miss fails, naming the actor's pixel
sizes there. ``-s`` prints the per-actor figures.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sentinel_sim.ground_truth import ROLE_INTRUDER, ROLE_OWN
from sentinel_sim.simulation import Fault, Simulation, SimulationOptions
from sentinel_sim.site_config import load_site

from sentinel_perception import conversions
from sentinel_perception.alerts import AlertChange
from sentinel_perception.authorization import OwnVehicle
from sentinel_perception.camera_geometry import CameraRig
from sentinel_perception.detector_core import DetectorPipeline, FrameResult, PreparedFrame
from sentinel_perception.drift import Baseline, DriftMonitor, describe
from sentinel_perception.drift_alerts import DriftAlerts
from sentinel_perception.drift_baseline import build_baseline
from sentinel_perception.fusion import TrackStatus
from sentinel_perception.fusion_cycle import FusionCycle
from sentinel_perception.geolocation import LocatorSettings
from sentinel_perception.model_source import FileModelSource
from sentinel_perception.models import BACKEND_ONNXRUNTIME, ModelSlot, open_backend
from sentinel_perception.site import default_threat_rules, load_perception_site
from sentinel_perception.threat_rules import ThreatRules, TrackView, load_threat_rules
from sentinel_perception.tracking import MultiCameraTracker, TrackerSettings

# 520 instants of five cameras rendered and detected: 4 min on two idle cores, 12 at load 20.
pytestmark = pytest.mark.timeout(1800)

ROOT = Path(__file__).resolve().parents[2]
SITE_CONFIG = ROOT / 'config' / 'sites' / 'substation.yaml'
MODEL_DIR = ROOT / 'models' / 'det-v2'
SAMPLE_RATE = 5.0        # Hz per pole camera, as the site runs them (ByteTrack needs the overlap)
SCENARIO_END = 230.0     # s: intruder in the yard, car gone, drone flew both ways
ALERT_MARGIN = 5.0       # s after the rule's condition holds on the true positions (entry + dwell)
RESOLVE_LEAD = 10.0      # s before entry + dwell in which seeing an actor helps its alert
MIN_CONFIDENCE = 0.25    # the detector node's default
DRIFT_SAMPLE_PERIOD = 1.0     # s, the drift monitor's default sample_period
DRIFT_EVALUATION_PERIOD = 10.0  # s, its default evaluation_period
BASELINE_PERIOD = 5.0    # s between clean frames kept for a baseline built from this run
BASELINE_UNTIL = 170.0   # s: later clean frames are judged against it, never part of it
FOG_LEVEL = 0.5          # as /sim/inject_fault FAULT_FOG with magnitude 0.5
FOG_DURATION = 30.0      # s of foggy frames after the scenario
# Zone and route schedules follow the wall clock: a fixed weekday afternoon (the control
# building's out-of-hours zone is off; the transformer yard is always on).
WALL_START = datetime(2026, 11, 26, 14, 0, tzinfo=ZoneInfo('America/Denver'))
PORT_OFFSET = 5800       # first MAVLink port offset tried (clear of other tests' simulations)


@dataclass
class Expectation:
    """An alert an unauthorized actor must raise: when the rule holds on its true positions."""

    actor: str
    rule_id: str
    zone_id: str
    condition_time: float                 # s, sim time the rule fired on ground truth
    dwell: float                          # s
    alert_time: float | None = None       # s, first matching chain alert
    largest_px: float = 0.0               # px, tallest image of the actor in the model input nearby
    resolvable_frames: int = 0            # frames where it is at least the model's smallest object

    @property
    def deadline(self) -> float:
        return self.condition_time + ALERT_MARGIN

    @property
    def met(self) -> bool:
        return self.alert_time is not None and self.alert_time <= self.deadline

    def in_window(self, stamp: float) -> bool:
        return self.condition_time - self.dwell - RESOLVE_LEAD <= stamp <= self.deadline


@dataclass(frozen=True)
class Sighting:
    """An actor's true image in one frame, in pixels of the model's input."""

    stamp: float
    height: float
    width: float


@dataclass
class ActorLog:
    """What the chain made of one scripted actor."""

    actor: str
    entity_class: str
    role: str
    sightings: list[Sighting] = field(default_factory=list)   # frames showing it (visible)
    frames_detected: int = 0
    first_detection: float | None = None
    detected_classes: Counter[str] = field(default_factory=Counter)
    fused_ids: set[str] = field(default_factory=set)
    fused_spans: dict[str, tuple[float, float]] = field(default_factory=dict)  # first, last seen
    fused_classes: Counter[str] = field(default_factory=Counter)
    max_sensors: int = 0                        # most cameras on one of its fused tracks
    alerts: list[tuple[float, str, str]] = field(default_factory=list)  # (time, rule, zone)


@dataclass
class ScenarioResult:
    actors: dict[str, ActorLog]
    expectations: list[Expectation]
    unattributed_alerts: list[tuple[float, str, str, str]]   # (time, rule, zone, track)
    clean_drift: list[str]                      # verdicts that drifted on clean frames
    fog_start: float
    fog_alert_time: float | None
    baseline_source: str


@dataclass(frozen=True)
class LabelRule:
    """The smallest object the model was trained to find (its dataset card's label_rule)."""

    min_height: float      # px in the model's input
    min_width: float       # px
    min_visible: float     # share of the object not hidden or cut off

    @staticmethod
    def of_model() -> LabelRule:
        card = json.loads((MODEL_DIR / 'dataset_card.json').read_text(encoding='utf-8'))
        rule = card['label_rule']
        return LabelRule(float(rule['min_height_px']), float(rule['min_width_px']),
                         float(rule['min_visible_fraction']))

    def resolves(self, sighting: Sighting) -> bool:
        return sighting.height >= self.min_height and sighting.width >= self.min_width


def _model_source() -> FileModelSource:
    card = json.loads((MODEL_DIR / 'model_card.json').read_text(encoding='utf-8'))
    return FileModelSource(MODEL_DIR / card['file'], tuple(card['classes']),
                           int(card['input_size']), card['version'])


def _open_simulation(site, world):
    last_error: OSError | None = None
    for offset in range(PORT_OFFSET, PORT_OFFSET + 1000, 100):
        try:
            return Simulation(world, site, SimulationOptions(render=True, camera_rate_scale=0.0,
                                                             mavlink_port_offset=offset))
        except OSError as error:  # a port of this block is taken: try the next one
            last_error = error
    raise RuntimeError(f'no free MAVLink ports for the test simulation: {last_error}')


def _on_box(box, truth, pad: float = 2.0) -> bool:
    """A detection of an actor: its centre lies on the actor's true box (tiny boxes padded)."""
    cx, cy = (box.x_min + box.x_max) / 2.0, (box.y_min + box.y_max) / 2.0
    return (truth.x_min - pad <= cx <= truth.x_max + pad
            and truth.y_min - pad <= cy <= truth.y_max + pad)


def _wall(now: float) -> datetime:
    return WALL_START + timedelta(seconds=now)


class Scenario:
    """The simulator, the perception chain and the bookkeeping of one run."""

    def __init__(self, workdir: Path) -> None:
        self.site = load_perception_site(SITE_CONFIG)
        rules = load_threat_rules(default_threat_rules(SITE_CONFIG), self.site.config)
        sim_site, world = load_site(SITE_CONFIG)
        self.cameras = [c.name for c in self.site.config.cameras]
        spec = _model_source().resolve('')
        self.slot = ModelSlot()
        self.slot.swap(open_backend(spec, BACKEND_ONNXRUNTIME, MIN_CONFIDENCE))
        self.input_scale = spec.input_size / max(max(c.width, c.height) for c in world.cameras
                                                 if c.name in self.cameras)
        self.rig = CameraRig({c: self.site.fixed_poses[c] for c in self.cameras}, {})
        self.pipeline = DetectorPipeline(self.slot, MultiCameraTracker(TrackerSettings(
            frame_rate=SAMPLE_RATE)), LocatorSettings())
        self.cycle = FusionCycle(rules)
        self.oracle = ThreatRules(rules)
        self.label_rule = LabelRule.of_model()
        self.scripted = {a.name for a in world.actors}
        self.actors: dict[str, ActorLog] = {}
        self.expectations: dict[tuple[str, str, str], Expectation] = {}
        self.unattributed: list[tuple[float, str, str, str]] = []
        self.camera_track_actor: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
        self.fused_actor: dict[str, str] = {}
        self.baseline_dir = workdir / 'baseline'
        (self.baseline_dir / 'images').mkdir(parents=True)
        shipped = ROOT / 'config' / 'drift' / 'substation.json'   # what the launch file gives the monitor
        self.monitor = DriftMonitor(Baseline.load(shipped)) if shipped.is_file() else None
        self.baseline_source = str(shipped.relative_to(ROOT)) if self.monitor else ''
        self.drift_alerts = DriftAlerts()
        self._last_sample = -math.inf
        self._last_baseline = -math.inf
        self._last_evaluation = -math.inf
        self.sim = _open_simulation(sim_site, world)

    # ------------------------------------------------------------------ the run

    def run(self) -> ScenarioResult:
        try:
            self._advance_to(SCENARIO_END)
            assert self.monitor is not None
            clean = [describe(r) for r in self.monitor.evaluate(self.sim.time)
                     if r.drifted and self._judged(r)]
            fog_start = self.sim.time
            self.sim.inject(Fault.FOG, '', FOG_LEVEL, clear=False)
            fog_alert = self._advance_to(fog_start + FOG_DURATION, watch_drift=True)
        finally:
            self.sim.close()
        for expectation in self.expectations.values():
            sightings = [s for s in self.actors[expectation.actor].sightings
                         if expectation.in_window(s.stamp)]
            expectation.largest_px = max((s.height for s in sightings), default=0.0)
            expectation.resolvable_frames = sum(self.label_rule.resolves(s) for s in sightings)
        return ScenarioResult(self.actors, sorted(self.expectations.values(),
                                                  key=lambda e: e.condition_time),
                              self.unattributed, clean, fog_start, fog_alert,
                              self.baseline_source)

    def _advance_to(self, end: float, watch_drift: bool = False) -> float | None:
        """Step the simulation to ``end``; returns the first drift alert's time when watching."""
        next_frame = self.sim.time
        while self.sim.time < end:
            self.sim.step()
            now = self.sim.time
            entities = self.sim.entity_states()
            self._judge_truth(entities, now)
            if now + 1e-9 < next_frame:
                continue
            next_frame += 1.0 / SAMPLE_RATE
            self._perceive(entities, now)
            if watch_drift and now - self._last_evaluation >= DRIFT_EVALUATION_PERIOD - 1e-9:
                self._last_evaluation = now
                for result in filter(self._judged, self.monitor.evaluate(now)):
                    alert = self.drift_alerts.update(result, now, '')
                    if alert is not None and alert.active:
                        return now
        return None

    def _judged(self, result) -> bool:
        """Whether a drift verdict speaks about what this test renders.

        The site baseline's statistics over all cameras mix the pole cameras with the
        drones' and rovers' (the live monitor sees all nine); this test renders the pole
        cameras only, so it judges their per-camera verdicts, which the baseline has.
        """
        return bool(result.camera_id) or not self.monitor.baseline.cameras

    def _judge_truth(self, entities, now: float) -> None:
        """The threat rules on the unauthorized actors' true positions: what must happen, when."""
        views = [TrackView(e.entity_id, e.entity_class, 1.0, tuple(e.pose.position))
                 for e in entities if e.role == ROLE_INTRUDER]
        for hit in self.oracle.evaluate(views, now, _wall(now)):
            key = (hit.track_id, hit.rule.rule_id, hit.zone_id)
            if hit.raised and key not in self.expectations:
                expectation = Expectation(hit.track_id, hit.rule.rule_id, hit.zone_id, now,
                                          hit.rule.dwell)
                # The chain may be first: a geolocation a metre off puts a track inside early.
                log = self.actors.get(hit.track_id)
                early = [t for t, rule, zone in (log.alerts if log else ())
                         if (rule, zone) == key[1:] and expectation.in_window(t)]
                expectation.alert_time = min(early, default=None)
                self.expectations[key] = expectation

    def _perceive(self, entities, now: float) -> None:
        """One instant of the five pole cameras through detector, fusion, rules and drift."""
        frames, truths = [], {}
        for camera in self.cameras:
            image = self.sim.renderer.render(camera, self.sim.environment.effects(camera))
            info = self.sim.physics.camera_view(camera).info
            self.rig.update_info(camera, list(info.k), info.width, info.height)
            geometry = self.rig.geometry(camera, now, info.width, info.height)
            frames.append(PreparedFrame(camera, now, now, image, geometry))
            truths[camera] = self.sim.physics.ground_truth(camera)
        results = self.pipeline.process(frames)
        messages = [conversions.detection_array(r, conversions.time_message(now), r.camera_id,
                                                0.0, self.site.georef) for r in results]
        for result, message in zip(results, messages, strict=True):
            self._score_frame(result, truths[result.camera_id], now)
            self.cycle.ingest(conversions.observations(message, self.site.platforms))
        vehicles = {e.entity_id: OwnVehicle(e.entity_id, 'drone' if e.entity_class == 'drone'
                                            else 'ground', tuple(e.pose.position), now)
                    for e in entities if e.role == ROLE_OWN}
        cycle = self.cycle.tick(now, _wall(now), vehicles)
        for published in cycle.tracks:
            self._attribute_track(published.track, now)
        for change in cycle.changes:
            self._attribute_alert(change, now)
        self._settle_alerts()
        self._sample_drift(results, messages, now)

    # ------------------------------------------------------------------ bookkeeping

    def _score_frame(self, result: FrameResult, truths, now: float) -> None:
        for truth in truths:
            if truth.entity_id not in self.scripted or \
                    truth.visible_fraction < self.label_rule.min_visible:
                continue
            log = self.actors.setdefault(truth.entity_id, ActorLog(
                truth.entity_id, truth.entity_class, truth.role))
            log.sightings.append(Sighting(now, (truth.y_max - truth.y_min) * self.input_scale,
                                          (truth.x_max - truth.x_min) * self.input_scale))
            hits = [o for o in result.objects if _on_box(o.box, truth)]
            if not hits:
                continue
            log.frames_detected += 1
            log.first_detection = now if log.first_detection is None else log.first_detection
            for item in hits:
                log.detected_classes[item.box.class_name] += 1
                if item.track_id >= 0:
                    self.camera_track_actor[(result.camera_id, item.track_id)][truth.entity_id] += 1

    def _attribute_track(self, track, now: float) -> None:
        """A fused track belongs to the actor its camera tracks' boxes lay on most often."""
        votes: Counter[str] = Counter()
        for link in track.links:
            votes.update(self.camera_track_actor.get(link, Counter()))
        if not votes:
            return
        actor = votes.most_common(1)[0][0]
        self.fused_actor[track.track_id] = actor
        if track.status is TrackStatus.CONFIRMED:
            log = self.actors[actor]
            log.fused_ids.add(track.track_id)
            first, _ = log.fused_spans.get(track.track_id, (now, now))
            log.fused_spans[track.track_id] = (first, now)
            log.fused_classes[track.class_name] += 1
            log.max_sensors = max(log.max_sensors, len(track.sensor_ids))

    def _attribute_alert(self, change: AlertChange, now: float) -> None:
        if change.created:
            alert = change.alert
            self.unattributed.append((now, alert.rule_id, alert.zone_id, alert.track_id))

    def _settle_alerts(self) -> None:
        """Give each new alert to its track's actor, once the track has one: a track can
        raise an alert in the cycle that creates it, before its camera tracks carry votes."""
        waiting = []
        for stamp, rule_id, zone_id, track_id in self.unattributed:
            actor = self.fused_actor.get(track_id)
            if actor is None:
                waiting.append((stamp, rule_id, zone_id, track_id))
                continue
            self.actors[actor].alerts.append((stamp, rule_id, zone_id))
            expectation = self.expectations.get((actor, rule_id, zone_id))
            if expectation is not None and expectation.alert_time is None:
                expectation.alert_time = stamp
        self.unattributed = waiting

    # ------------------------------------------------------------------ drift

    def _sample_drift(self, results: list[FrameResult], messages, now: float) -> None:
        """Every camera once per sample period, as the drift monitor node samples them."""
        if now - self._last_sample < DRIFT_SAMPLE_PERIOD - 1e-9:
            return
        self._last_sample = now
        if self.monitor is None and now > BASELINE_UNTIL:
            self._build_baseline_monitor()
        if self.monitor is not None:
            for result, message in zip(results, messages, strict=True):
                self.monitor.add_frame(result.camera_id, now, result.image)
                self.monitor.add_detections(result.camera_id, now, [
                    (d.confidence, d.class_name) for d in message.detections])
        elif now - self._last_baseline >= BASELINE_PERIOD - 1e-9:
            self._last_baseline = now
            for result in results:
                name = f'{result.camera_id}_{now:07.2f}'
                Image.fromarray(result.image).save(self.baseline_dir / 'images' / f'{name}.png')

    def _build_baseline_monitor(self) -> None:
        """No shipped baseline: one from this run's clean frames, through the baseline builder."""
        baseline = build_baseline(self.baseline_dir, camera_regex=r'^(cam_[a-z]+)_',
                                  model=self.slot.get())
        self.monitor = DriftMonitor(baseline)
        self.baseline_source = (f'this run: {baseline.image_count} clean frames up to '
                                f'{BASELINE_UNTIL:g} s')


# --------------------------------------------------------------------------
# The run (once per module) and its summary
# --------------------------------------------------------------------------

def _time(value: float | None) -> str:
    return '-' if value is None else f'{value:.1f}'


def _summary(result: ScenarioResult) -> str:
    rule = LabelRule.of_model()
    lines = [f'substation, pole cameras at {SAMPLE_RATE:g} Hz, model det-v2; '
             f'sim times in s; image sizes in px of the model input (smallest trained object '
             f'{rule.min_height:g} x {rule.min_width:g})',
             f'{"actor":12} {"class":8} {"role":10} {"seen":>6} {"detected":>8} {"first det":>9} '
             f'{"tallest":>7} {"det classes":16} {"fused ids":>9} {"fused class":14} '
             f'{"cams":>4}  alerts']
    for log in sorted(result.actors.values(), key=lambda a: a.actor):
        alerts = ', '.join(f'{rule}@{zone} {t:.1f}' for t, rule, zone in log.alerts) or 'none'
        lines.append(
            f'{log.actor:12} {log.entity_class:8} {log.role:10} {len(log.sightings):6d} '
            f'{log.frames_detected:8d} {_time(log.first_detection):>9} '
            f'{max((s.height for s in log.sightings), default=0.0):7.1f} '
            f'{dict(log.detected_classes)!s:16} {len(log.fused_ids):9d} '
            f'{dict(log.fused_classes)!s:14} {log.max_sensors:4d}  {alerts}')
    lines.append('expected alerts (rule on true positions; due = that time + '
                 f'{ALERT_MARGIN:g} s):')
    for e in result.expectations:
        lines.append(f'  {e.actor:12} {e.rule_id:20} {e.zone_id:16} holds {e.condition_time:6.1f} '
                     f'due {e.deadline:6.1f} alert {_time(e.alert_time):>6}  tallest nearby '
                     f'{e.largest_px:4.1f} px, {e.resolvable_frames} frames resolvable')
    lines.append(f'alerts on no actor: {result.unattributed_alerts or "none"}')
    lines.append(f'drift baseline: {result.baseline_source}; drifted on clean frames: '
                 f'{result.clean_drift or "none"}; fog {FOG_LEVEL:g} from {result.fog_start:.1f}, '
                 f'drift alert at {_time(result.fog_alert_time)}')
    return '\n'.join(lines)


@pytest.fixture(scope='module')
def scenario(tmp_path_factory) -> ScenarioResult:
    result = Scenario(tmp_path_factory.mktemp('substation')).run()
    print('\n' + _summary(result))
    return result


def test_the_scripted_timeline_triggers_every_rule_on_true_positions(scenario):
    """The script and the rules agree on what should happen (else the test proves nothing)."""
    expected = {(e.actor, e.rule_id) for e in scenario.expectations}
    assert {('intruder', 'perimeter_crossing'), ('intruder', 'restricted_entry'),
            ('loiter_car', 'gate_loitering'), ('rogue_drone', 'drone_keep_out')} <= expected
    assert scenario.actors['guard'].role == 'authorized'


def test_every_unauthorized_actor_raises_its_alert_in_time(scenario):
    missed = [(e.actor, e.rule_id, round(e.condition_time, 1), e.alert_time,
               f'tallest {e.largest_px:.1f} px, {e.resolvable_frames} frames resolvable')
              for e in scenario.expectations if not e.met]
    assert not missed, missed


def test_the_guard_raises_no_alert(scenario):
    assert scenario.actors['guard'].alerts == []


def test_the_rogue_drone_is_tracked_as_a_drone(scenario):
    drone = scenario.actors['rogue_drone']
    assert drone.fused_ids, 'the rogue drone never had a confirmed fused track'
    assert set(drone.fused_classes) == {'drone'}, drone.fused_classes


def test_the_intruder_keeps_one_fused_id_across_cameras(scenario):
    """Two cameras that see the intruder at once share one fused track; a new id may start
    only after every camera lost it (no camera covers the middle of its walk)."""
    intruder = scenario.actors['intruder']
    assert intruder.max_sensors >= 2, 'no fused track of the intruder joined two cameras'
    spans = sorted(intruder.fused_spans.values())
    overlapping = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
    assert not overlapping, f'two fused ids for the intruder at once: {overlapping}'


def test_fog_raises_a_drift_alert_and_clean_frames_do_not(scenario):
    assert scenario.clean_drift == []
    assert scenario.fog_alert_time is not None
    assert scenario.fog_alert_time - scenario.fog_start <= FOG_DURATION
