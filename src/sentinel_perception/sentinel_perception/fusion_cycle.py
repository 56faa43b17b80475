"""One fusion cycle: geolocated detections in; site tracks, verdicts and alert changes out.

Why: what the fusion node does between a detection arriving and an alert
going out (fuse, age tracks, carry rule and authorization state across
merges, judge who is expected, evaluate the threat rules, de-duplicate
alerts) is the logic the whole perception chain is judged by. Kept here,
outside the node's rclpy callbacks, the node and the end-to-end scenario
test (``test/system/test_perception_in_substation.py``) run the very same
steps; the node only converts messages, keeps evidence frames and publishes.
No rclpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sentinel_perception.alerts import AlertBook, AlertChange, AlertSettings
from sentinel_perception.authorization import Authorization, AuthorizationPolicy, OwnVehicle
from sentinel_perception.fusion import FusedTrack, Fusion, FusionSettings, Observation, TrackStatus
from sentinel_perception.threat_rules import ThreatRules, ThreatRulesConfig, TrackView


@dataclass(frozen=True)
class PublishedTrack:
    """A track as published this cycle: where it is predicted to be now, and who it is."""

    track: FusedTrack
    position: tuple[float, float, float]   # m, site ENU, predicted to the cycle's time
    verdict: Authorization


@dataclass(frozen=True)
class CycleResult:
    tracks: list[PublishedTrack]    # confirmed and coasting tracks
    changes: list[AlertChange]      # alerts to publish now
    due: float | None = None        # s of sensor time until a rule may next fire, within the lookahead


class CyclePacer:
    """When a cycle asked for by new detections may run: at once, but not too often.

    Why: waiting for the next periodic cycle would add up to a whole period
    (200 ms at 5 Hz) between a detection and its alert; running a cycle for
    every detection array of every camera would repeat the same work many
    times a period. So a cycle runs as soon as detections arrive, but never
    sooner than ``min_interval`` s after the previous one.
    """

    def __init__(self, min_interval: float) -> None:
        self.min_interval = min_interval
        self._last = -math.inf

    def delay(self, now: float) -> float:
        """Seconds from ``now`` (monotonic) until the next cycle may run; 0 for at once."""
        return max(0.0, self._last + self.min_interval - now)

    def ran(self, now: float) -> None:
        """A cycle (asked for or periodic) ran at ``now`` (monotonic)."""
        self._last = now


class FusionCycle:
    """Fusion, authorization, threat rules and the alert book, kept consistent."""

    def __init__(self, rules: ThreatRulesConfig, fusion: FusionSettings | None = None,
                 alerts: AlertSettings | None = None, max_vehicle_age: float = 2.0,
                 id_prefix: str = 'T') -> None:
        self.fusion = Fusion(fusion, id_prefix=id_prefix)
        self.rules = ThreatRules(rules)
        self.policy = AuthorizationPolicy(rules, max_vehicle_age)
        self.book = AlertBook(alerts or AlertSettings())

    def ingest(self, observations: Sequence[Observation]) -> None:
        """Fuse the geolocated detections of one camera frame."""
        if observations:
            self.fusion.update(observations)
            self._apply_fusion_events()

    def tick(self, now: float, wall: datetime, vehicles: Mapping[str, OwnVehicle],
             lookahead: float = 0.0) -> CycleResult:
        """Age the tracks to ``now`` (sensor time, s) and evaluate every rule.

        ``wall`` (aware) decides zone and route schedules; ``vehicles`` is our
        own fleet's latest telemetry, which authorizes the tracks it explains.
        With a ``lookahead`` (s), the result says when within it a track's
        prediction reaches a rule's boundary or a dwell ends: the caller runs
        the next cycle then rather than at its next period.
        """
        self.fusion.maintain(now)
        self._apply_fusion_events()
        published = []
        views = []
        coasting = set()
        for track in self.fusion.published():
            position = self.fusion.predicted_position(track, now)
            verdict = self.policy.assess(track.track_id, track.class_name, position,
                                         track.position_sigma, now, wall, vehicles)
            published.append(PublishedTrack(track, position, verdict))
            if track.status is TrackStatus.CONFIRMED:
                views.append(TrackView(track.track_id, track.class_name, track.confidence,
                                       position, verdict.authorized, verdict.exempt_rules))
            else:
                coasting.add(track.track_id)
        changes = self.book.apply(self.rules.evaluate(views, now, wall, coasting), now)
        due = None
        if lookahead > 0.0:
            ahead = {track.track_id: self.fusion.predicted_position(track, now + lookahead)
                     for track in self.fusion.published() if track.status is TrackStatus.CONFIRMED}
            due = self.rules.next_due(views, ahead, lookahead, now)
        return CycleResult(published, changes, due)

    def _apply_fusion_events(self) -> None:
        """Merged tracks keep their rule, alert and authorization state; deleted ones lose it."""
        merged, deleted = self.fusion.drain_events()
        for kept, absorbed in merged:
            self.policy.merged(kept, absorbed)
            self.rules.rename_track(absorbed, kept)
            self.book.rename_track(absorbed, kept)
        for track_id in deleted:
            self.policy.forget(track_id)
