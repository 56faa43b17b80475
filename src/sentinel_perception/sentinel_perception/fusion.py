"""Site-level multi-sensor tracking: one track per real object across every camera.

Why: a person walking past two pole cameras while a drone films them is one
intruder. Operators, threat rules and dispatch must see one track with one
id, whatever the number of sensors; and the id must survive a sensor losing
sight of the object for a few seconds.

How (a textbook single-hypothesis tracker, kept small):

* Each track is a constant-velocity Kalman filter on the ground plane
  (state x, y, vx, vy; white-noise acceleration), plus a smoothed height and
  per-class evidence (summed confidences: the class is the best-supported one).
* The detections of one camera frame are distinct objects, so they are
  associated with the tracks one-to-one (Hungarian assignment, scipy) on the
  Mahalanobis distance of the innovation. Only the same class may match and a
  chi-square gate (plus an absolute distance cap) bounds every match. A
  camera's own tracker id is remembered per fused track ("link"): a detection
  whose camera track is already linked to a fused track is strongly preferred
  for it, with a wider gate, which keeps ids stable through crossings.
* Lifecycle: tentative (new, hidden) -> confirmed after enough updates ->
  lost when nothing updated it for a while (coasting, still published with a
  growing uncertainty) -> deleted. A lost track that is updated again is
  confirmed again with the same id.
* Sensor bias: a camera's geolocation is off by a systematic error as well as
  its per-detection one (calibration, uneven ground), and two cameras see the
  same person a few metres apart. Every observation's error therefore adds a
  per-sensor bias term (``sensor_bias_sigma``) to the sigma it reports.
* Duplicates: two tracks of one class whose positions agree within their
  combined uncertainty (two sensors' biases included) are merged into the
  older one (ids, sensors and links kept), so a biased camera cannot keep a
  second confirmed track of the same object alive. Two tracks that one camera
  frame saw side by side are different objects and are never merged.

Times are the sensors' capture stamps in seconds; observations may arrive a
little out of order across cameras (an older one is applied without
prediction). No rclpy.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

# Cost standing for "not allowed" in the assignment matrix (finite, so scipy
# always finds an assignment; such pairs are discarded afterwards).
_FORBIDDEN = 1e9
# Measurement matrix of the ground-plane position (x, y) in state (x, y, vx, vy).
_H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])


class TrackStatus(enum.Enum):
    TENTATIVE = 'tentative'   # seen too few times to be trusted; not published
    CONFIRMED = 'confirmed'   # published and used by the threat rules
    LOST = 'lost'             # confirmed once, not updated lately; coasting


@dataclass(frozen=True)
class Observation:
    """One geolocated detection from one camera frame."""

    sensor_id: str                        # camera id
    stamp: float                          # s, capture time
    class_name: str
    confidence: float                     # 0..1
    position: tuple[float, float, float]  # m, site ENU
    sigma: float                          # m, 1-sigma horizontal error
    local_track_id: int = -1              # the camera tracker's id, -1 when none
    platform_id: str = ''                 # vehicle carrying the camera, '' for fixed ones
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # px, for evidence


@dataclass(frozen=True)
class FusionSettings:
    """Filter and lifecycle constants (SI units)."""

    acceleration_sigma: float = 1.5      # m/s^2, white-noise acceleration of the CV model
    initial_speed_sigma: float = 5.0     # m/s, prior on a new track's speed
    gate_chi2: float = 13.8              # chi-square (2 dof) gate: 99.9 %
    link_gate_scale: float = 4.0         # wider gate for a detection whose camera track is linked
    link_bonus: float = 50.0             # assignment cost taken off for a linked pair
    max_gate_distance: float = 25.0      # m, never associate farther than this
    confirm_hits: int = 3                # updates before a track is confirmed
    tentative_timeout: float = 1.5       # s without update before a tentative track is dropped
    lost_after: float = 2.0              # s without update before a confirmed track is lost
    delete_after: float = 15.0           # s without update before a lost track is deleted
    merge_chi2: float = 9.21             # chi-square (2 dof) gate for merging duplicates: 99 %
    merge_max_distance: float = 10.0     # m, never merge tracks farther apart
    min_new_track_confidence: float = 0.3  # weaker detections update tracks but start none
    height_smoothing: float = 0.3        # weight of a new height in the track's running height
    confidence_smoothing: float = 0.3    # weight of a new confidence in the fused confidence
    max_sigma: float = 100.0             # m, observations less certain than this are ignored
    sensor_bias_sigma: float = 2.0       # m, systematic geolocation error of one sensor (1 sigma)

    def __post_init__(self) -> None:
        for name in ('acceleration_sigma', 'initial_speed_sigma', 'gate_chi2', 'max_gate_distance',
                     'tentative_timeout', 'lost_after', 'delete_after', 'merge_chi2',
                     'merge_max_distance', 'max_sigma'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f'FusionSettings.{name} must be > 0, got {value!r}')
        if self.confirm_hits < 1:
            raise ValueError('FusionSettings.confirm_hits must be >= 1')
        if self.delete_after < self.lost_after:
            raise ValueError('FusionSettings.delete_after must be >= lost_after')


@dataclass
class FusedTrack:
    """A site-level track; mutable, owned by :class:`Fusion`."""

    track_id: str
    state: np.ndarray            # (4,) x, y, vx, vy in m and m/s
    covariance: np.ndarray       # (4, 4)
    height: float                # m, smoothed z
    time: float                  # s, the filter's time
    first_seen: float            # s
    last_seen: float             # s, latest update
    status: TrackStatus = TrackStatus.TENTATIVE
    hits: int = 1
    confidence: float = 0.0
    class_scores: dict[str, float] = field(default_factory=dict)
    sensors: dict[str, float] = field(default_factory=dict)        # sensor or platform -> last time
    links: set[tuple[str, int]] = field(default_factory=set)       # (camera, camera track id)
    last_observation: Observation | None = None

    @property
    def class_name(self) -> str:
        return max(self.class_scores.items(), key=lambda item: (item[1], item[0]))[0]

    @property
    def position(self) -> tuple[float, float, float]:
        return (float(self.state[0]), float(self.state[1]), self.height)

    @property
    def velocity(self) -> tuple[float, float, float]:
        return (float(self.state[2]), float(self.state[3]), 0.0)

    @property
    def position_sigma(self) -> float:
        """1-sigma horizontal error (m): root of the larger eigenvalue of the position covariance."""
        return math.sqrt(max(0.0, float(np.linalg.eigvalsh(self.covariance[:2, :2])[-1])))

    @property
    def sensor_ids(self) -> list[str]:
        return sorted(self.sensors)


def _transition(dt: float, acceleration_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """State transition F and process noise Q of the constant-velocity model over dt (s)."""
    f = np.eye(4)
    f[0, 2] = f[1, 3] = dt
    a2 = acceleration_sigma * acceleration_sigma
    pp, pv, vv = a2 * dt ** 4 / 4.0, a2 * dt ** 3 / 2.0, a2 * dt * dt
    q = np.array([[pp, 0.0, pv, 0.0], [0.0, pp, 0.0, pv], [pv, 0.0, vv, 0.0], [0.0, pv, 0.0, vv]])
    return f, q


def _mahalanobis2(dx: float, dy: float, covariance: np.ndarray, extra_variance: float) -> float:
    """Squared Mahalanobis length of (dx, dy) under covariance[:2, :2] + extra_variance * I."""
    a = float(covariance[0, 0]) + extra_variance
    b = float(covariance[0, 1])
    d = float(covariance[1, 1]) + extra_variance
    determinant = a * d - b * b
    if determinant <= 0.0:
        return math.inf
    return (d * dx * dx - 2.0 * b * dx * dy + a * dy * dy) / determinant


class Fusion:
    """All site tracks; feed it camera frames' observations, read confirmed tracks."""

    def __init__(self, settings: FusionSettings | None = None, id_prefix: str = 'T') -> None:
        self.settings = settings or FusionSettings()
        self.tracks: dict[str, FusedTrack] = {}
        self._ids = itertools.count(1)
        self._prefix = id_prefix
        self.merged: list[tuple[str, str]] = []  # (kept, absorbed) since the last drain
        self.deleted: list[str] = []             # ids deleted since the last drain
        self._distinct: set[frozenset[str]] = set()  # pairs one camera frame saw side by side

    # ------------------------------------------------------------------ filter

    def _predicted(self, track: FusedTrack, stamp: float) -> tuple[np.ndarray, np.ndarray]:
        dt = stamp - track.time
        if dt <= 0.0:  # an older observation: applied at the track's time, without prediction
            return track.state, track.covariance
        f, q = _transition(dt, self.settings.acceleration_sigma)
        return f @ track.state, f @ track.covariance @ f.T + q

    def _gate_cost(self, track: FusedTrack, obs: Observation,
                   predicted: tuple[np.ndarray, np.ndarray]) -> float:
        if track.class_name != obs.class_name:
            return _FORBIDDEN
        state, covariance = predicted
        dx, dy = obs.position[0] - float(state[0]), obs.position[1] - float(state[1])
        if math.hypot(dx, dy) > self.settings.max_gate_distance:
            return _FORBIDDEN
        d2 = _mahalanobis2(dx, dy, covariance, self._variance(obs))
        linked = (obs.sensor_id, obs.local_track_id) in track.links and obs.local_track_id >= 0
        gate = self.settings.gate_chi2 * (self.settings.link_gate_scale if linked else 1.0)
        if d2 > gate:
            return _FORBIDDEN
        cost = d2
        if linked:
            cost -= self.settings.link_bonus
        if track.status is TrackStatus.TENTATIVE:
            cost += self.settings.gate_chi2  # prefer established tracks
        return cost

    def _update(self, track: FusedTrack, obs: Observation,
                predicted: tuple[np.ndarray, np.ndarray]) -> None:
        state, covariance = predicted
        r = np.eye(2) * self._variance(obs)
        s = _H @ covariance @ _H.T + r
        gain = covariance @ _H.T @ np.linalg.inv(s)
        innovation = np.asarray(obs.position[:2]) - _H @ state
        track.state = state + gain @ innovation
        joseph = np.eye(4) - gain @ _H  # Joseph form keeps the covariance symmetric positive
        track.covariance = joseph @ covariance @ joseph.T + gain @ r @ gain.T
        track.time = max(track.time, obs.stamp)
        cfg = self.settings
        track.height += cfg.height_smoothing * (obs.position[2] - track.height)
        track.confidence += cfg.confidence_smoothing * (obs.confidence - track.confidence)
        track.class_scores[obs.class_name] = track.class_scores.get(obs.class_name, 0.0) + obs.confidence
        track.last_seen = max(track.last_seen, obs.stamp)
        track.hits += 1
        self._note_sensor(track, obs)
        if track.status is TrackStatus.LOST or (track.status is TrackStatus.TENTATIVE
                                                and track.hits >= cfg.confirm_hits):
            track.status = TrackStatus.CONFIRMED

    def _variance(self, obs: Observation) -> float:
        """Horizontal error variance of an observation (m^2): its own plus its sensor's bias."""
        return obs.sigma ** 2 + self.settings.sensor_bias_sigma ** 2

    def _note_sensor(self, track: FusedTrack, obs: Observation) -> None:
        track.sensors[obs.sensor_id] = obs.stamp
        if obs.platform_id:
            track.sensors[obs.platform_id] = obs.stamp
        if obs.local_track_id >= 0:
            link = (obs.sensor_id, obs.local_track_id)
            for other in self.tracks.values():
                other.links.discard(link)
            track.links.add(link)
        if track.last_observation is None or obs.stamp >= track.last_observation.stamp:
            track.last_observation = obs

    def _create(self, obs: Observation) -> FusedTrack:
        cfg = self.settings
        variance = self._variance(obs)
        covariance = np.diag([variance, variance,
                              cfg.initial_speed_sigma ** 2, cfg.initial_speed_sigma ** 2])
        track = FusedTrack(
            track_id=f'{self._prefix}{next(self._ids):06d}',
            state=np.array([obs.position[0], obs.position[1], 0.0, 0.0]),
            covariance=covariance, height=obs.position[2], time=obs.stamp,
            first_seen=obs.stamp, last_seen=obs.stamp, confidence=obs.confidence,
            class_scores={obs.class_name: obs.confidence})
        if cfg.confirm_hits <= 1:
            track.status = TrackStatus.CONFIRMED
        self.tracks[track.track_id] = track
        self._note_sensor(track, obs)
        return track

    # ------------------------------------------------------------------ API

    def update(self, observations: Sequence[Observation]) -> list[str]:
        """Fuse the observations of one camera frame; returns the track id each one went to.

        An observation that is too uncertain (or whose confidence is too low
        to start a track and matches none) maps to ''.
        """
        usable = [i for i, o in enumerate(observations) if self._usable(o)]
        result = [''] * len(observations)
        if not usable:
            return result
        tracks = list(self.tracks.values())
        stamp = max(observations[i].stamp for i in usable)
        predicted = [self._predicted(t, stamp) for t in tracks]
        cost = np.full((len(usable), len(tracks)), _FORBIDDEN)
        for row, index in enumerate(usable):
            for col, track in enumerate(tracks):
                cost[row, col] = self._gate_cost(track, observations[index], predicted[col])
        matched: set[int] = set()
        if tracks:
            rows, cols = linear_sum_assignment(cost)
            for row, col in zip(rows, cols, strict=True):
                if cost[row, col] >= _FORBIDDEN:
                    continue
                index = usable[row]
                obs = observations[index]
                self._update(tracks[col], obs, predicted[col] if obs.stamp == stamp
                             else self._predicted(tracks[col], obs.stamp))
                result[index] = tracks[col].track_id
                matched.add(row)
        for row, index in enumerate(usable):
            obs = observations[index]
            if row in matched or obs.confidence < self.settings.min_new_track_confidence:
                continue
            result[index] = self._create(obs).track_id
        seen_together = sorted({r for r in result if r})
        for a, b in itertools.combinations(seen_together, 2):
            self._distinct.add(frozenset((a, b)))
        self._merge_duplicates()
        return result

    def _usable(self, obs: Observation) -> bool:
        values = (*obs.position, obs.sigma, obs.stamp, obs.confidence)
        return all(math.isfinite(v) for v in values) and 0.0 < obs.sigma <= self.settings.max_sigma

    def maintain(self, now: float) -> None:
        """Advance the lifecycle to time ``now`` (s): lose, drop and delete stale tracks."""
        cfg = self.settings
        for track in list(self.tracks.values()):
            idle = now - track.last_seen
            if track.status is TrackStatus.TENTATIVE:
                if idle > cfg.tentative_timeout:
                    self._delete(track.track_id)
                continue
            if track.status is TrackStatus.CONFIRMED and idle > cfg.lost_after:
                track.status = TrackStatus.LOST
            if track.status is TrackStatus.LOST and idle > cfg.delete_after:
                self._delete(track.track_id)

    def _delete(self, track_id: str) -> None:
        del self.tracks[track_id]
        self.deleted.append(track_id)
        self._distinct = {pair for pair in self._distinct if track_id not in pair}

    def _merge_duplicates(self) -> None:
        """Fold tracks that are the same object into the older one (repeat until none)."""
        cfg = self.settings
        while True:
            pair = None
            candidates = sorted(self.tracks.values(), key=lambda t: (t.first_seen, t.track_id))
            for older, newer in itertools.combinations(candidates, 2):
                if TrackStatus.TENTATIVE in (older.status, newer.status) and \
                        older.status is newer.status:
                    continue  # two tentative tracks: let them prove themselves first
                if older.class_name != newer.class_name or \
                        frozenset((older.track_id, newer.track_id)) in self._distinct:
                    continue
                dx = float(older.state[0] - newer.state[0])
                dy = float(older.state[1] - newer.state[1])
                if math.hypot(dx, dy) > cfg.merge_max_distance:
                    continue
                # Tracks fed by different sensors differ by those sensors' biases too.
                bias = 0.0 if set(older.sensors) == set(newer.sensors) \
                    else 2.0 * cfg.sensor_bias_sigma ** 2
                if _mahalanobis2(dx, dy, older.covariance + newer.covariance, bias) <= cfg.merge_chi2:
                    keep, drop = ((older, newer) if older.status is not TrackStatus.TENTATIVE
                                  or newer.status is TrackStatus.TENTATIVE else (newer, older))
                    pair = (keep, drop)
                    break
            if pair is None:
                return
            self._absorb(*pair)

    def _absorb(self, keep: FusedTrack, drop: FusedTrack) -> None:
        """Information-weighted fusion of two estimates of one object; ``drop`` disappears."""
        if drop.status is not TrackStatus.TENTATIVE:
            info_keep = np.linalg.inv(keep.covariance)
            info_drop = np.linalg.inv(drop.covariance)
            covariance = np.linalg.inv(info_keep + info_drop)
            keep.state = covariance @ (info_keep @ keep.state + info_drop @ drop.state)
            keep.covariance = (covariance + covariance.T) / 2.0
            keep.hits += drop.hits
        for name, score in drop.class_scores.items():
            keep.class_scores[name] = keep.class_scores.get(name, 0.0) + score
        for sensor, stamp in drop.sensors.items():
            keep.sensors[sensor] = max(stamp, keep.sensors.get(sensor, stamp))
        keep.links |= drop.links
        keep.first_seen = min(keep.first_seen, drop.first_seen)
        keep.last_seen = max(keep.last_seen, drop.last_seen)
        keep.time = max(keep.time, drop.time)
        if drop.last_observation is not None and (
                keep.last_observation is None
                or drop.last_observation.stamp > keep.last_observation.stamp):
            keep.last_observation = drop.last_observation
        statuses = {keep.status, drop.status}
        if TrackStatus.CONFIRMED in statuses:
            keep.status = TrackStatus.CONFIRMED
        elif TrackStatus.LOST in statuses:
            keep.status = TrackStatus.LOST
        del self.tracks[drop.track_id]
        self.merged.append((keep.track_id, drop.track_id))
        renamed = set()
        for pair in self._distinct:
            if drop.track_id in pair:
                other = next(iter(pair - {drop.track_id}))
                if other != keep.track_id:
                    renamed.add(frozenset((keep.track_id, other)))
            else:
                renamed.add(pair)
        self._distinct = renamed

    def published(self) -> list[FusedTrack]:
        """Confirmed and coasting (lost) tracks, oldest first: what goes on the tracks topic."""
        return sorted((t for t in self.tracks.values() if t.status is not TrackStatus.TENTATIVE),
                      key=lambda t: (t.first_seen, t.track_id))

    def confirmed(self) -> list[FusedTrack]:
        return [t for t in self.published() if t.status is TrackStatus.CONFIRMED]

    def predicted_position(self, track: FusedTrack, now: float) -> tuple[float, float, float]:
        """Where a (possibly coasting) track should be at ``now`` (s)."""
        state, _ = self._predicted(track, now)
        return (float(state[0]), float(state[1]), track.height)

    def drain_events(self) -> tuple[list[tuple[str, str]], list[str]]:
        """Merges and deletions since the last call (for the authorization and alert state)."""
        merged, deleted = self.merged, self.deleted
        self.merged, self.deleted = [], []
        return merged, deleted


def tracks_by_id(tracks: Iterable[FusedTrack]) -> dict[str, FusedTrack]:
    return {t.track_id: t for t in tracks}
