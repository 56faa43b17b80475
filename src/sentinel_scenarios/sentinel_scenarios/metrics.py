"""Figures of a scenario run, computed from its event log alone (no ROS).

Definitions (docs/scenarios.md explains them for readers of the report):

- An intrusion's **onset** is the first ground-truth instant its actor is in
  view of any camera (a rendered frame shows at least ``MIN_VISIBLE`` of it):
  the earliest moment perception could possibly have seen it.
- **Time to detect**: from the onset to the first detection whose box overlaps
  the actor's ground-truth box in the same camera frame (IoU >= ``MIN_IOU``).
- **Time to alert**: from the onset to the first alert of an expected category
  raised within ``ALERT_RADIUS`` of the actor's true position.
- **Time to first vehicle on scene**: from the onset to the first report of an
  armed, airborne or driving own vehicle within ``ON_SCENE_RADIUS`` of the actor.
- A **false alert** is a threat alert (not ``system`` or ``drift``) that no
  unauthorized actor was near when it was raised.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sentinel_scenarios.event_log import (LINK_LOST, SCENARIO_ALERT_PREFIX, AlertRecord,
                                          ClockSample, CpuRecord, DetectionRecord,
                                          EntitySample, EventLog, HeartbeatRecord,
                                          InjectionRecord, SafetyRecord, Sighting,
                                          VehicleRecord)
from sentinel_scenarios.scenario import ALERT_CATEGORIES, Intrusion

# Fraction of an actor a frame must show before it counts as in view.
MIN_VISIBLE = 0.25
# Overlap of a detection box with the actor's true box for it to count as that actor.
MIN_IOU = 0.3
# Ground truth this close in time (simulated s) to a frame stamp still describes that frame.
STAMP_TOLERANCE = 0.02
# Metres (horizontal) between an alert's position and an actor for the alert to be about it:
# the fused position of a far object from a pole camera is off by up to about 20 m.
ALERT_RADIUS = 30.0
# Metres (horizontal): the response policy's largest standoff (40 m, drone incursion) plus 5.
ON_SCENE_RADIUS = 45.0
# Modes a vehicle reports once it has obeyed an e-stop (config/safety.yaml's categories:
# drones brake, ground vehicles hold; LOITER and LAND are the autopilots' fallbacks).
STOP_MODES = frozenset({'BRAKE', 'HOLD', 'LOITER', 'LAND'})
# Metres back towards home, from the farthest point reached after its link was cut, that
# count as a vehicle returning (it may coast on before its failsafe turns it round).
RETURN_PROGRESS = 5.0
# Metres below the highest point reached after the cut that count as a drone landing (an
# RTL started above home, or a LAND, goes down where it is).
DESCENT_PROGRESS = 3.0
# A vehicle moving less than this many metres over STOPPED_WINDOW simulated s has stopped.
STOPPED_DISTANCE = 0.5
STOPPED_WINDOW = 2.0
# Below this height (m, box centre) a vehicle is on the ground.
GROUND_HEIGHT = 1.0


@dataclass(frozen=True)
class IntrusionResult:
    actor: str
    expect: tuple[str, ...]
    onset: float | None              # simulated s; None: never in view of a camera
    detect: float | None             # seconds from the onset
    alert: float | None
    alert_category: str
    on_scene: float | None
    vehicle: str                     # first vehicle on scene

    @property
    def missed(self) -> bool:
        return self.onset is not None and self.alert is None


@dataclass(frozen=True)
class EstopResult:
    requested_at: float              # simulated s
    status_latency: float | None     # wall s until /safety/status reported it engaged
    stopped_latency: float | None    # wall s until every moving vehicle reported a stop mode
                                     # (0 when none was moving)
    moving: tuple[str, ...]          # vehicles armed and off the ground when it was requested


@dataclass(frozen=True)
class LinkCutResult:
    vehicle: str
    cut_at: float                    # simulated s
    reported_lost: float | None      # simulated s from the cut to a LINK_LOST state
    safe: float | None               # simulated s from the cut to returning, landing or stopped
    how: str                         # 'returning home', 'descending to land', ...


@dataclass(frozen=True)
class RestartResult:
    node: str
    killed_at: float                 # simulated s
    back_after: float | None         # wall s until a heartbeat from a new process


@dataclass(frozen=True)
class NodeCpu:
    node: str
    cpu: float                       # seconds over the run, every process of the node
    share: float                     # of one core over the run's wall time, 0..1
    processes: int


# ---------------------------------------------------------------- geometry and lookup

def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x_min, y_min, x_max, y_max) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Trajectories:
    """Ground-truth positions of each entity over simulated time."""

    def __init__(self, samples: Sequence[EntitySample]) -> None:
        by_entity: dict[str, list[EntitySample]] = defaultdict(list)
        for sample in samples:
            by_entity[sample.entity].append(sample)
        self._samples = {k: sorted(v, key=lambda s: s.t) for k, v in by_entity.items()}
        self._times = {k: [s.t for s in v] for k, v in self._samples.items()}

    def entities(self, role: str) -> list[str]:
        return sorted(k for k, v in self._samples.items() if v[0].role == role)

    def samples(self, entity: str) -> list[EntitySample]:
        return self._samples.get(entity, [])

    def at(self, entity: str, t: float) -> EntitySample | None:
        """The sample nearest in time to ``t``."""
        times = self._times.get(entity)
        if not times:
            return None
        i = bisect.bisect_left(times, t)
        candidates = [j for j in (i - 1, i) if 0 <= j < len(times)]
        return self._samples[entity][min(candidates, key=lambda j: abs(times[j] - t))]


def _distance(x: float, y: float, sample: EntitySample) -> float:
    return math.hypot(x - sample.x, y - sample.y)


# ---------------------------------------------------------------- intrusions and alerts

def first_alerts(log: EventLog) -> list[AlertRecord]:
    """Each alert as first raised (alerts are republished as their state changes)."""
    seen: dict[str, AlertRecord] = {}
    for alert in log.of(AlertRecord):
        seen.setdefault(alert.alert_id, alert)
    return sorted(seen.values(), key=lambda a: a.t)


def alert_subject(alert: AlertRecord, paths: Trajectories) -> str | None:
    """The actor (intruder or authorized) nearest to where the alert was raised, if close."""
    best: tuple[float, str] | None = None
    for role in ('intruder', 'authorized'):
        for actor in paths.entities(role):
            sample = paths.at(actor, alert.t)
            if sample is not None:
                distance = _distance(alert.x, alert.y, sample)
                if distance <= ALERT_RADIUS and (best is None or distance < best[0]):
                    best = (distance, actor)
    return best[1] if best else None


def _is_threat(alert: AlertRecord) -> bool:
    return alert.category in ALERT_CATEGORIES \
        and not alert.alert_id.startswith(SCENARIO_ALERT_PREFIX)


def false_alerts(log: EventLog) -> list[AlertRecord]:
    """Threat alerts raised with no unauthorized actor near (the guard included)."""
    paths = Trajectories(log.of(EntitySample))
    intruders = set(paths.entities('intruder'))
    return [a for a in first_alerts(log)
            if _is_threat(a) and alert_subject(a, paths) not in intruders]


def _onset(sightings: Sequence[Sighting], actor: str) -> float | None:
    times = [s.t for s in sightings if s.entity == actor and s.visible >= MIN_VISIBLE]
    return min(times) if times else None


def _first_detection(log: EventLog, sightings: Sequence[Sighting], actor: str,
                     onset: float) -> float | None:
    boxes: dict[str, list[Sighting]] = defaultdict(list)
    for sighting in sightings:
        if sighting.entity == actor:
            boxes[sighting.camera].append(sighting)
    for detection in sorted(log.of(DetectionRecord), key=lambda d: d.t):
        if detection.t < onset:
            continue
        for truth in boxes.get(detection.camera, ()):
            if abs(truth.stamp - detection.stamp) <= STAMP_TOLERANCE \
                    and iou(truth.box, detection.box) >= MIN_IOU:
                return detection.t
    return None


def _on_scene(log: EventLog, paths: Trajectories, actor: str,
              onset: float) -> tuple[float, str] | None:
    for state in sorted(log.of(VehicleRecord), key=lambda v: v.t):
        if state.t < onset or not state.armed or state.landed:
            continue
        truth = paths.at(actor, state.t)
        if truth is not None and _distance(state.x, state.y, truth) <= ON_SCENE_RADIUS:
            return state.t, state.vehicle
    return None


def intrusion_results(log: EventLog, intrusions: Sequence[Intrusion]) -> list[IntrusionResult]:
    """Time to detect, to alert and to the first vehicle on scene, per scored actor."""
    paths = Trajectories(log.of(EntitySample))
    sightings = log.of(Sighting)
    alerts = [a for a in first_alerts(log) if _is_threat(a)]
    results = []
    for intrusion in intrusions:
        onset = _onset(sightings, intrusion.actor)
        if onset is None:
            results.append(IntrusionResult(intrusion.actor, intrusion.expect, None, None, None,
                                           '', None, ''))
            continue
        detected = _first_detection(log, sightings, intrusion.actor, onset)
        alert = next((a for a in alerts if a.t >= onset and a.category in intrusion.expect
                      and alert_subject(a, paths) == intrusion.actor), None)
        scene = _on_scene(log, paths, intrusion.actor, onset)
        results.append(IntrusionResult(
            actor=intrusion.actor, expect=intrusion.expect, onset=onset,
            detect=None if detected is None else detected - onset,
            alert=None if alert is None else alert.t - onset,
            alert_category=alert.category if alert else '',
            on_scene=None if scene is None else scene[0] - onset,
            vehicle=scene[1] if scene else ''))
    return results


# ---------------------------------------------------------------- injected events

def estop_results(log: EventLog) -> list[EstopResult]:
    """For each e-stop the scenario requested: how long until it was in force."""
    states = sorted(log.of(VehicleRecord), key=lambda v: v.wall)
    safety = sorted(log.of(SafetyRecord), key=lambda s: s.wall)
    results = []
    for request in log.of(InjectionRecord):
        if request.kind != 'estop' or not request.ok:
            continue
        latest: dict[str, VehicleRecord] = {}
        for state in states:
            if state.wall > request.wall:
                break
            latest[state.vehicle] = state
        moving = tuple(sorted(v for v, s in latest.items() if s.armed and not s.landed))
        engaged = next((s.wall - request.wall for s in safety
                        if s.wall >= request.wall and s.estop), None)
        pending = set(moving)
        stopped: float | None = 0.0 if not pending else None
        for state in states:
            if state.wall < request.wall or state.vehicle not in pending:
                continue
            if state.mode in STOP_MODES or not state.armed:
                pending.discard(state.vehicle)
                if not pending:
                    stopped = state.wall - request.wall
                    break
        results.append(EstopResult(request.t, engaged, stopped, moving))
    return results


def _safe_after(samples: Sequence[EntitySample], cut_at: float) -> tuple[float, str] | None:
    if not samples:
        return None
    home = samples[0]
    after = [s for s in samples if s.t >= cut_at]
    if not after:
        return None
    farthest, highest = 0.0, after[0].z
    for index, sample in enumerate(after):
        distance = _distance(sample.x, sample.y, home)
        farthest, highest = max(farthest, distance), max(highest, sample.z)
        if farthest - distance >= RETURN_PROGRESS:
            return sample.t - cut_at, 'returning home'
        if highest - sample.z >= DESCENT_PROGRESS:
            return sample.t - cut_at, 'descending to land'
        window = [s for s in after[:index + 1] if sample.t - s.t <= STOPPED_WINDOW]
        if sample.t - window[0].t >= STOPPED_WINDOW * 0.75 and sample.z < GROUND_HEIGHT \
                and max(_distance(s.x, s.y, sample) for s in window) < STOPPED_DISTANCE:
            return sample.t - cut_at, 'stopped on the ground'
    return None


def link_cut_results(log: EventLog) -> list[LinkCutResult]:
    """For each cut vehicle link: when Sentinel noticed, and when the vehicle was safe."""
    paths = Trajectories(log.of(EntitySample))
    states = sorted(log.of(VehicleRecord), key=lambda v: v.t)
    results = []
    for cut in log.of(InjectionRecord):
        if cut.kind != 'fault' or not cut.ok or cut.fault != 'link_cut':
            continue
        lost = next((s.t - cut.t for s in states
                     if s.vehicle == cut.target and s.t >= cut.t and s.link == LINK_LOST), None)
        safe = _safe_after(paths.samples(cut.target), cut.t)
        results.append(LinkCutResult(cut.target, cut.t, lost, safe[0] if safe else None,
                                     safe[1] if safe else 'not observed'))
    return results


def restart_results(log: EventLog) -> list[RestartResult]:
    """For each killed node: how long until a new process of it heartbeat."""
    beats = sorted(log.of(HeartbeatRecord), key=lambda b: b.wall)
    results = []
    for kill in log.of(InjectionRecord):
        if kill.kind != 'kill_node' or not kill.ok:
            continue
        back = next((b.wall - kill.wall for b in beats if b.node == kill.target
                     and b.wall >= kill.wall and b.pid != kill.pid), None)
        results.append(RestartResult(kill.target, kill.t, back))
    return results


# ---------------------------------------------------------------- the machine

def real_time_factor(clock: Sequence[ClockSample]) -> float | None:
    """Simulated seconds per wall second over the whole run."""
    if len(clock) < 2 or clock[-1].wall <= clock[0].wall:
        return None
    return (clock[-1].sim - clock[0].sim) / (clock[-1].wall - clock[0].wall)


def cpu_per_node(records: Sequence[CpuRecord], wall_duration: float) -> list[NodeCpu]:
    """CPU seconds per node (respawned processes added up), busiest first."""
    total: dict[str, float] = defaultdict(float)
    pids: dict[str, set[int]] = defaultdict(set)
    for record in records:
        total[record.node] += record.cpu
        pids[record.node].add(record.pid)
    return sorted((NodeCpu(node, cpu, cpu / wall_duration if wall_duration > 0 else 0.0,
                           len(pids[node])) for node, cpu in total.items()),
                  key=lambda n: -n.cpu)
