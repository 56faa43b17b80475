"""The fusion node: site-level tracks from every camera, threat rules, alerts.

Contract (docs/ros_graph.md, docs/perception.md):
  * subscribes ``/perception/detections`` (DetectionArray, every camera),
    ``/vehicles/<id>/state`` (VehicleState: recognising our own vehicles) and,
    for evidence snapshots, ``/cameras/<cam>/image_raw`` (last few frames kept);
  * publishes ``/tracks`` (TrackArray: confirmed and coasting tracks) at
    ``publish_rate`` and ``/alerts`` (Alert: created, updated in place,
    acknowledged) from every cycle;
  * serves ``/alerts/acknowledge`` for the alerts it raised.

Logic lives in ``fusion_cycle`` (fusion, authorization, threat rules, alerts)
and ``evidence``; this node converts, calls them and publishes. A cycle runs
at ``publish_rate`` (time-based rules: dwell, tracks ageing), rules alone at
``rule_rate``, as soon as detections arrive (at most once per
``min_cycle_interval``), and at the moment a cycle says a track's prediction
reaches a rule's boundary or a dwell runs out, so an alert does not wait for
the next periodic cycle. The alert book is
journaled to ``<data_dir>/alerts.json`` so a respawned node keeps operators'
acknowledgements.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from builtin_interfaces.msg import Time
from rclpy.node import Node
from sensor_msgs.msg import Image
from sentinel_msgs.msg import Alert, DetectionArray, TrackArray, VehicleState
from sentinel_msgs.srv import AcknowledgeAlert

from sentinel_common.entry_point import run_node
from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher
from sentinel_common.qos import EVENT_QOS, SENSOR_QOS
from sentinel_perception import conversions
from sentinel_perception.alerts import AlertChange, AlertSettings
from sentinel_perception.authorization import OwnVehicle
from sentinel_perception.evidence import FrameRing, StoredFrame, write_evidence
from sentinel_perception.fusion import FusionSettings
from sentinel_perception.fusion_cycle import CycleResult, CyclePacer, FusionCycle
from sentinel_perception.image_conversion import ImageError, to_rgb
from sentinel_perception.log_throttle import LogThrottle
from sentinel_perception.sensor_clock import SensorClock
from sentinel_common.parameters import StartupError, data_directory, declare, require_file
from sentinel_perception.site import SiteError, default_threat_rules, load_perception_site
from sentinel_perception.threat_rules import ThreatRulesError, load_threat_rules

DETECTIONS_TOPIC = '/perception/detections'
TRACKS_TOPIC = '/tracks'
ALERTS_TOPIC = '/alerts'
ACKNOWLEDGE_SERVICE = '/alerts/acknowledge'
LOG_THROTTLE_S = 10.0    # s between repeated warnings of one kind
JOURNAL_NAME = 'alerts.json'
DUE_MARGIN_S = 0.002     # s after a rule's due moment that its cycle runs


def image_topic(camera: str) -> str:
    return f'/cameras/{camera}/image_raw'


def vehicle_topic(vehicle_id: str) -> str:
    return f'/vehicles/{vehicle_id}/state'


@dataclass(frozen=True)
class FusionParams:
    site_config: Path
    threat_rules: Path
    data_dir: Path
    publish_rate: float        # Hz
    rule_rate: float           # Hz, rule evaluations between track publications
    min_cycle_interval: float  # s between cycles asked for by detections
    evidence_images: bool
    evidence_depth: int        # frames kept per camera
    fusion: FusionSettings
    alerts: AlertSettings
    max_vehicle_age: float     # s


class FusionNode(Node):
    """Thin wrapper around the fusion cycle: messages in and out, evidence, the journal."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('fusion', **kwargs)
        self.heartbeat = HeartbeatPublisher(self)
        self.params = self._read_params()
        try:
            self.site = load_perception_site(self.params.site_config)
            rules = load_threat_rules(self.params.threat_rules, self.site.config)
        except (SiteError, ThreatRulesError) as error:
            raise StartupError(str(error)) from None
        for mismatch in self.site.mismatches:
            self.get_logger().warning(f'site config and world disagree: {mismatch}')
        self.cycle = FusionCycle(rules, self.params.fusion, self.params.alerts,
                                 self.params.max_vehicle_age,
                                 id_prefix=f'T{os.getpid() % 10000:04d}-')
        self.journal = self.params.data_dir / JOURNAL_NAME
        self._restore_journal()
        self.evidence_dir = self.params.data_dir / 'evidence'
        self.ring = FrameRing(self.params.evidence_depth)
        self.vehicles: dict[str, OwnVehicle] = {}
        self.throttle = LogThrottle(LOG_THROTTLE_S)
        self.sensor_clock = SensorClock()

        self.tracks_pub = self.create_publisher(TrackArray, TRACKS_TOPIC, SENSOR_QOS)
        self.alerts_pub = self.create_publisher(Alert, ALERTS_TOPIC, EVENT_QOS)
        self.create_subscription(DetectionArray, DETECTIONS_TOPIC, self._on_detections, EVENT_QOS)
        for vehicle in self.site.config.vehicles:
            self.create_subscription(VehicleState, vehicle_topic(vehicle.id), self._on_vehicle,
                                     SENSOR_QOS)
        if self.params.evidence_images:
            for camera in self.site.cameras:
                self.create_subscription(Image, image_topic(camera),
                                         lambda m, c=camera: self._on_image(c, m), SENSOR_QOS)
        self.create_service(AcknowledgeAlert, ACKNOWLEDGE_SERVICE, self._on_acknowledge)
        self.create_timer(1.0 / self.params.publish_rate, self._tick)
        self.create_timer(1.0 / self.params.rule_rate, self._rule_tick)
        self.pacer = CyclePacer(self.params.min_cycle_interval)
        # One-shot: the next cycle that detections or a rule's due moment asked for.
        self._scheduled = self.create_timer(self.params.min_cycle_interval, self._scheduled_cycle,
                                            autostart=False)
        self.get_logger().info(
            f'fusing {DETECTIONS_TOPIC} into {TRACKS_TOPIC} at {self.params.publish_rate:g} Hz; '
            f'{len(rules.rules)} threat rules from {self.params.threat_rules}; alerts journal '
            f'{self.journal}')

    # ------------------------------------------------------------------ set-up

    def _read_params(self) -> FusionParams:
        site_config = require_file('site_config', declare(
            self, 'site_config', '', 'site configuration YAML (zones, cameras, vehicles)'))
        rules_value = declare(self, 'threat_rules', '', 'threat rules YAML; empty: '
                              'config/threat_rules.yaml beside config/sites/')
        threat_rules = require_file('threat_rules', rules_value or str(default_threat_rules(site_config)))
        d = FusionSettings()
        return FusionParams(
            site_config=site_config, threat_rules=threat_rules,
            data_dir=data_directory('data_dir', declare(
                self, 'data_dir', '~/.local/share/sentinel/perception',
                'directory for evidence snapshots and the alert journal')),
            publish_rate=declare(self, 'publish_rate', 5.0, 'tracks and rule evaluation rate, Hz',
                                 0.5, 50.0),
            rule_rate=declare(self, 'rule_rate', 20.0, 'rule evaluation rate between track '
                              'publications, Hz', 0.5, 100.0),
            min_cycle_interval=declare(self, 'min_cycle_interval', 0.05,
                                       'least time between rule evaluations that new detections '
                                       'ask for, s', 0.001, 2.0),
            evidence_images=declare(self, 'evidence_images', True,
                                    'keep recent camera frames to attach evidence to alerts'),
            evidence_depth=declare(self, 'evidence_depth', 10,
                                   'frames kept per camera for evidence (at 5 Hz: 2 s)', 1, 100),
            fusion=FusionSettings(
                acceleration_sigma=declare(self, 'acceleration_sigma', d.acceleration_sigma,
                                           'process noise of the constant-velocity model, m/s^2',
                                           0.01, 50.0),
                gate_chi2=declare(self, 'gate_chi2', d.gate_chi2,
                                  'association gate, chi-square with 2 dof', 1.0, 100.0),
                max_gate_distance=declare(self, 'max_gate_distance', d.max_gate_distance,
                                          'never associate farther than this, m', 1.0, 500.0),
                confirm_hits=declare(self, 'confirm_hits', d.confirm_hits,
                                     'updates before a track is confirmed', 1, 50),
                lost_after=declare(self, 'lost_after', d.lost_after,
                                   's without update before a track counts as lost', 0.1, 60.0),
                delete_after=declare(self, 'delete_after', d.delete_after,
                                     's without update before a lost track is deleted', 0.1, 600.0),
                merge_max_distance=declare(self, 'merge_max_distance', d.merge_max_distance,
                                           'never merge tracks farther apart than this, m',
                                           0.1, 200.0),
                sensor_bias_sigma=declare(self, 'sensor_bias_sigma', d.sensor_bias_sigma,
                                          'systematic geolocation error of one camera, m (1 sigma)',
                                          0.0, 100.0)),
            alerts=AlertSettings(
                update_period=declare(self, 'alert_update_period', 5.0,
                                      's between republications of an unchanged live alert',
                                      0.1, 3600.0),
                dedup_radius=declare(self, 'alert_dedup_radius', 10.0,
                                     'a re-acquired track this close (m) continues an ended '
                                     'alert', 0.0, 1000.0)),
            max_vehicle_age=declare(self, 'max_vehicle_age', 2.0,
                                    'older vehicle telemetry (s) does not authorize a track',
                                    0.1, 60.0))

    def _restore_journal(self) -> None:
        if not self.journal.exists():
            return
        try:
            count = self.cycle.book.load(self.journal)
            self.get_logger().info(f'restored {count} alerts from {self.journal}')
        except ValueError as error:
            kept = self.journal.with_name(f'{JOURNAL_NAME}.unreadable-{int(time.time())}')
            self.journal.replace(kept)
            self.get_logger().error(f'{error}; kept it as {kept} and started an empty journal')

    # ------------------------------------------------------------------ inputs

    def _on_detections(self, message: DetectionArray) -> None:
        observations = conversions.observations(message, self.site.platforms)
        self.sensor_clock.observe(conversions.seconds(message.header.stamp), time.monotonic())
        self.cycle.ingest(observations)
        self.heartbeat.state.record_progress()
        self._cycle_soon()

    def _on_vehicle(self, message: VehicleState) -> None:
        vehicle = conversions.own_vehicle(message)
        if all(math.isfinite(c) for c in vehicle.position):
            self.vehicles[vehicle.vehicle_id] = vehicle
        else:
            self._warn(f'nan:{vehicle.vehicle_id}', f'vehicle {vehicle.vehicle_id} reports a '
                       'non-finite position: not used to recognise it')

    def _on_image(self, camera: str, message: Image) -> None:
        self.ring.put(StoredFrame(camera, conversions.seconds(message.header.stamp), message))

    # ------------------------------------------------------------------ cycle

    def _tick(self) -> None:
        """The periodic cycle: rules, alerts and the tracks."""
        self.heartbeat.state.record_progress()
        result = self._run_cycle()
        if result is None:
            self.heartbeat.state.set_health(Health.DEGRADED, f'no detections on {DETECTIONS_TOPIC} yet')
            return
        self.heartbeat.state.set_health(Health.OK)
        tracks = TrackArray()
        tracks.header.stamp, tracks.header.frame_id = self._stamp(), conversions.SITE_FRAME
        tracks.tracks = [conversions.track_message(t.track, t.position, t.verdict, self.site.georef)
                         for t in result.tracks]
        self.tracks_pub.publish(tracks)

    def _rule_tick(self) -> None:
        """Judge the rules between frames: a track's prediction that crosses into a zone is
        found within one rule period rather than one track period (alerts only)."""
        if self.pacer.delay(time.monotonic()) == 0.0:
            self._run_cycle()

    def _cycle_soon(self) -> None:
        """Judge new detections at once, or when the pacer allows (tracks wait for the timer)."""
        delay = self.pacer.delay(time.monotonic())
        if delay == 0.0:
            self._run_cycle()
        else:
            self._cycle_in(delay)

    def _cycle_in(self, delay: float) -> None:
        """Run a cycle ``delay`` s from now, unless one is due sooner already."""
        if not self._scheduled.is_canceled():
            pending = self._scheduled.time_until_next_call()
            if pending is not None and pending <= delay * 1e9:
                return
        self._scheduled.timer_period_ns = max(1, int(delay * 1e9))
        self._scheduled.reset()

    def _scheduled_cycle(self) -> None:
        self._scheduled.cancel()
        self._run_cycle()

    def _run_cycle(self) -> CycleResult | None:
        """Age the tracks, evaluate the rules and publish alert changes; None before detections."""
        now = self.sensor_clock.now(time.monotonic())
        if now is None:
            return None
        self.pacer.ran(time.monotonic())
        result = self.cycle.tick(now, datetime.now(UTC), self.vehicles,
                                 lookahead=1.0 / self.params.rule_rate)
        if result.due is not None:
            # Sensor seconds to wall seconds; the margin puts the cycle just past the boundary.
            self._cycle_in(result.due / self.sensor_clock.pace() + DUE_MARGIN_S)
        stamp = self._stamp()
        for change in result.changes:
            self._publish_alert(change, stamp)
        for change in result.changes:
            evidenced = self._with_evidence(change)
            if evidenced is not None:
                self._publish_alert(evidenced, stamp)
        if result.changes:
            self._save_journal()
        return result

    def _stamp(self) -> Time:
        return self.get_clock().now().to_msg()

    def _with_evidence(self, change: AlertChange) -> AlertChange | None:
        """A new alert's update that carries its snapshot; None when there is none (logged).

        The alert itself has gone out already: writing the snapshot (JPEG
        encoding and two fsyncs, 10 ms typical and 40 ms seen) must not delay
        it, so the evidence follows as an update of the same alert id.
        """
        if not change.created:
            return None
        alert = change.alert
        track = self.cycle.fusion.tracks.get(alert.track_id)
        observation = track.last_observation if track is not None else None
        if observation is None:
            return None
        frame = self.ring.find(observation.sensor_id, observation.stamp)
        if frame is None:
            self._warn(f'evidence:{observation.sensor_id}', f'no frame of {observation.sensor_id} '
                       f'kept for the evidence of alert {alert.alert_id}')
            return None
        try:
            image = to_rgb(conversions.image_header(frame.payload), frame.payload.data)
            path = write_evidence(
                self.evidence_dir, alert.alert_id, image, observation.box,
                f'{alert.class_name} {alert.track_id}',
                {'alert_id': alert.alert_id, 'rule_id': alert.rule_id, 'zone_id': alert.zone_id,
                 'track_id': alert.track_id, 'camera_id': observation.sensor_id,
                 'frame_stamp': frame.stamp, 'detection_stamp': observation.stamp})
        except (ImageError, OSError) as error:
            self.get_logger().error(f'evidence for alert {alert.alert_id} not written: {error}')
            return None
        updated = self.cycle.book.set_evidence(alert.alert_id, path.resolve().as_uri())
        return AlertChange(updated, False) if updated is not None else None

    def _publish_alert(self, change: AlertChange, stamp: Time) -> None:
        alert = change.alert
        self.alerts_pub.publish(conversions.alert_message(alert, self.site.georef, stamp))
        if change.created:
            self.get_logger().warning(f'alert {alert.alert_id} ({alert.category}, '
                                      f'rule {alert.rule_id}, zone {alert.zone_id}): '
                                      f'{alert.description}')

    def _save_journal(self) -> None:
        try:
            self.cycle.book.save(self.journal)
        except OSError as error:
            self._warn('journal', f'alert journal {self.journal} not written: {error}')

    # ------------------------------------------------------------------ operators

    def _on_acknowledge(self, request: AcknowledgeAlert.Request,
                        response: AcknowledgeAlert.Response) -> AcknowledgeAlert.Response:
        now = self.sensor_clock.now(time.monotonic())
        code, reason, record = self.cycle.book.acknowledge(
            request.alert_id, request.operator_id, request.resolve, request.note,
            now if now is not None else 0.0)
        response.error_code, response.error_msg = int(code), reason
        stamp = self._stamp()
        if record is not None:
            response.alert = conversions.alert_message(record, self.site.georef, stamp)
        if code == 0 and record is not None:
            self._save_journal()
            self.alerts_pub.publish(response.alert)
            verb = 'resolved' if request.resolve else 'acknowledged'
            self.get_logger().info(f'alert {record.alert_id} {verb} by {request.operator_id!r}')
        else:
            self.get_logger().warning(f'acknowledge {request.alert_id!r} refused: {reason}')
        return response

    def _warn(self, key: str, message: str) -> None:
        held = self.throttle.allow(key, time.monotonic())
        if held is not None:
            self.get_logger().warning(message + LogThrottle.suffix(held))


def main(args: list[str] | None = None) -> int:
    return run_node(FusionNode, args, name='fusion')


if __name__ == '__main__':
    raise SystemExit(main())
