"""The drift monitor node: live inputs and outputs against the model's training baseline.

Contract (docs/ros_graph.md, docs/perception.md):
  * subscribes ``/cameras/<cam>/image_raw`` (sampled every ``sample_period`` s
    per camera), ``/perception/detections`` (confidences and classes) and
    ``/model/active`` (which model, and where its baseline lies);
  * every ``evaluation_period`` s publishes a ``DriftReport`` on
    ``/perception/drift`` for all cameras together (and per camera where the
    baseline has per-camera statistics), and an ``Alert`` (category ``drift``)
    on ``/alerts`` while the data has drifted;
  * writes a report (HTML + PNG plots) under ``<data_dir>/drift/`` when drift
    starts and every ``report_interval`` s while it lasts.

Its own process: image statistics cost CPU that must not delay detection.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from rclpy.node import Node
from sensor_msgs.msg import Image
from sentinel_msgs.msg import Alert, DetectionArray, DriftReport, ModelInfo

from sentinel_common.entry_point import run_node
from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher
from sentinel_common.qos import EVENT_QOS, LATCHED_QOS, SENSOR_QOS
from sentinel_perception import conversions
from sentinel_perception.drift import (CONFIDENCE_METRIC, Baseline, DriftMonitor, DriftSettings,
                                       WindowResult, describe)
from sentinel_perception.drift_alerts import DriftAlerts
from sentinel_perception.image_conversion import ImageError, to_rgb
from sentinel_perception.log_throttle import LogThrottle
from sentinel_common.parameters import StartupError, data_directory, declare, declare_strings
from sentinel_perception.site import SiteError, load_perception_site

NODE_NAME = 'drift_monitor'
DRIFT_TOPIC = '/perception/drift'
ALERTS_TOPIC = '/alerts'
DETECTIONS_TOPIC = '/perception/detections'
MODEL_TOPIC = '/model/active'
BASELINE_BESIDE_MODEL = 'drift_baseline.json'   # looked up next to the active model's file
LOG_THROTTLE_S = 10.0                           # s between repeated warnings of one kind


@dataclass(frozen=True)
class DriftParams:
    cameras: tuple[str, ...]
    moving_cameras: tuple[str, ...]  # on vehicles (from the site configuration): no own verdict
    baseline: str              # path; '' -> beside the active model
    data_dir: Path
    sample_period: float       # s between two sampled frames of one camera
    evaluation_period: float   # s between verdicts
    report_interval: float     # s between written reports while drifting
    alert_update_period: float  # s
    drift: DriftSettings


class DriftMonitorNode(Node):
    """Thin wrapper around ``drift.DriftMonitor``, its reports and alerts."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.heartbeat = HeartbeatPublisher(self)
        self.params = self._read_params()
        self.throttle = LogThrottle(LOG_THROTTLE_S)
        self.monitor: DriftMonitor | None = None
        self.baseline_path: Path | None = None
        self.model_version = ''
        self.alerts = DriftAlerts(self.params.alert_update_period)
        self._last_sample: dict[str, float] = {}
        self._last_report: dict[str, float] = {}
        self.report_dir = self.params.data_dir / 'drift'
        self.drift_pub = self.create_publisher(DriftReport, DRIFT_TOPIC, EVENT_QOS)
        self.alerts_pub = self.create_publisher(Alert, ALERTS_TOPIC, EVENT_QOS)
        for camera in self.params.cameras:
            self.create_subscription(Image, f'/cameras/{camera}/image_raw',
                                     lambda m, c=camera: self._on_image(c, m), SENSOR_QOS)
        self.create_subscription(DetectionArray, DETECTIONS_TOPIC, self._on_detections, EVENT_QOS)
        self.create_subscription(ModelInfo, MODEL_TOPIC, self._on_model, LATCHED_QOS)
        # A site's own baseline when configured and present; else the active model's.
        self.site_baseline = False
        if self.params.baseline:
            path = Path(self.params.baseline).expanduser()
            if path.is_file():
                self.site_baseline = self._load_baseline(path)
            else:
                self.get_logger().warning(
                    f'no drift baseline at {path}: using the active model\'s (a site baseline '
                    'comes from a recording of normal operation, docs/perception.md)')
        self.create_timer(self.params.evaluation_period, self._evaluate)
        self.get_logger().info(
            f'watching {len(self.params.cameras)} cameras every {self.params.sample_period:g} s, '
            f'window {self.params.drift.window:g} s, PSI threshold '
            f'{self.params.drift.psi_threshold:g}; reports under {self.report_dir}')

    def _read_params(self) -> DriftParams:
        cameras = declare_strings(self, 'cameras', 'cameras to watch; empty: every camera of '
                                  'the site configuration')
        site_config = declare(self, 'site_config', '', 'site configuration YAML (cameras, '
                              'and which of them ride on vehicles)')
        site = None
        if site_config:
            try:
                site = load_perception_site(site_config)
            except SiteError as error:
                raise StartupError(str(error)) from None
        if not cameras:
            if site is None:
                raise StartupError('parameter site_config: required when cameras is empty')
            cameras = site.cameras
        d = DriftSettings()
        return DriftParams(
            cameras=tuple(cameras),
            moving_cameras=tuple(site.platforms) if site else (),
            baseline=declare(self, 'baseline', '', 'drift baseline JSON (sentinel-drift-baseline); '
                             f'empty: {BASELINE_BESIDE_MODEL} beside the active model file'),
            data_dir=data_directory('data_dir', declare(
                self, 'data_dir', '~/.local/share/sentinel/perception', 'directory for reports')),
            sample_period=declare(self, 'sample_period', 1.0,
                                  's between sampled frames of one camera', 0.0, 60.0),
            evaluation_period=declare(self, 'evaluation_period', 10.0, 's between verdicts',
                                      0.1, 3600.0),
            report_interval=declare(self, 'report_interval', 600.0,
                                    's between written reports while drifting', 1.0, 86400.0),
            alert_update_period=declare(self, 'alert_update_period', 60.0,
                                        's between republications of a drift alert', 1.0, 86400.0),
            drift=DriftSettings(
                window=declare(self, 'window', d.window, 's of live data per verdict', 1.0, 86400.0),
                psi_threshold=declare(self, 'psi_threshold', d.psi_threshold,
                                      'PSI above which a metric may count as drifted', 0.01, 100.0),
                alpha=declare(self, 'alpha', d.alpha, 'KS test significance level', 1e-12, 0.5),
                min_frames=declare(self, 'min_frames', d.min_frames,
                                   'frames in a window before image metrics are judged', 1, 100000),
                min_detections=declare(self, 'min_detections', d.min_detections,
                                       'detections before output metrics are judged', 1, 1000000),
                min_baseline_detections=declare(
                    self, 'min_baseline_detections', d.min_baseline_detections,
                    'detections a baseline needs before output metrics are judged', 1, 10000000)))

    # ------------------------------------------------------------------ baseline

    def _load_baseline(self, path: Path) -> bool:
        """Monitor against the baseline at ``path``; False (logged) when it is unusable."""
        try:
            baseline = Baseline.load(path)
        except ValueError as error:
            self._warn(f'baseline:{path}', f'drift baseline unusable: {error}')
            return False
        self.monitor = DriftMonitor(baseline, self.params.drift, self.params.moving_cameras)
        self.baseline_path = path
        self.get_logger().info(f'drift baseline {path}: {baseline.image_count} images, metrics '
                               f'{", ".join(baseline.metrics)}')
        if CONFIDENCE_METRIC in baseline.metrics and not self.monitor.judges_outputs():
            self.get_logger().warning(
                f'drift baseline {path} holds {len(baseline.metrics[CONFIDENCE_METRIC].samples)} '
                f'detections (fewer than min_baseline_detections, '
                f'{self.params.drift.min_baseline_detections}): confidence and class mix are not '
                'judged, image statistics are')
        return True

    def _on_model(self, message: ModelInfo) -> None:
        self.model_version = message.version
        if self.site_baseline or not message.file_uri:
            return
        parsed = urlparse(message.file_uri)
        candidate = Path(unquote(parsed.path)).parent / BASELINE_BESIDE_MODEL
        if candidate != self.baseline_path:
            if candidate.is_file():
                self._load_baseline(candidate)
            else:
                self._warn('no-baseline', f'model {message.version} has no {candidate}: drift '
                           'is not monitored (run sentinel-drift-baseline on its dataset)')

    # ------------------------------------------------------------------ inputs

    def _on_image(self, camera: str, message: Image) -> None:
        if self.monitor is None:
            return
        stamp = conversions.seconds(message.header.stamp)
        if stamp - self._last_sample.get(camera, -math.inf) < self.params.sample_period:
            return
        try:
            image = to_rgb(conversions.image_header(message), message.data)
            self.monitor.add_frame(camera, stamp, image)
        except (ImageError, ValueError) as error:
            self._warn(f'image:{camera}', f'frame of {camera} not sampled: {error}')
            return
        self._last_sample[camera] = stamp
        self.heartbeat.state.record_progress()

    def _on_detections(self, message: DetectionArray) -> None:
        if self.monitor is None:
            return
        self.monitor.add_detections(message.camera_id, conversions.seconds(message.header.stamp),
                                    [(d.confidence, d.class_name) for d in message.detections])

    # ------------------------------------------------------------------ verdicts

    def _evaluate(self) -> None:
        self.heartbeat.state.record_progress()
        if self.monitor is None:
            self.heartbeat.state.set_health(Health.DEGRADED, 'no drift baseline loaded')
            return
        results = self.monitor.evaluate()
        drifted = [r for r in results if r.drifted]
        self.heartbeat.state.set_health(
            Health.DEGRADED if drifted else Health.OK,
            '; '.join(describe(r) for r in drifted) if drifted else '')
        stamp = self.get_clock().now().to_msg()
        for result in results:
            uri = self._report(result)
            self.drift_pub.publish(conversions.drift_report(result, self.model_version, uri, stamp))
            alert = self.alerts.update(result, result.window_end, uri)
            if alert is not None:
                self.alerts_pub.publish(conversions.alert_message(alert, None, stamp))
                self._log_alert(alert.alert_id, alert.description, result.drifted)

    def _log_alert(self, alert_id: str, description: str, drifted: bool) -> None:
        """A raised drift alert as a warning, a resolved one as info.

        Two call sites on purpose: rclpy ties a severity to the line that logs,
        and one line logging both (the alert raised, later resolved) raised
        ValueError and ended the node.
        """
        message = f'drift alert {alert_id}: {description}'
        if drifted:
            self.get_logger().warning(message)
        else:
            self.get_logger().info(message)

    def _report(self, result: WindowResult) -> str:
        """Write a report when drift starts and every report_interval while it lasts."""
        if not result.drifted or self.monitor is None:
            self._last_report.pop(result.camera_id, None)
            return ''
        last = self._last_report.get(result.camera_id)
        now = time.monotonic()
        if last is not None and now - last < self.params.report_interval:
            return ''
        # Imported here: matplotlib costs about a second of start-up that a node
        # which never sees drift should not pay.
        from sentinel_perception.drift_report import write_report
        try:
            path = write_report(self.report_dir, result, self.monitor.baseline, self.model_version)
        except (OSError, ValueError) as error:
            self._warn('report', f'drift report not written under {self.report_dir}: {error}')
            return ''
        self._last_report[result.camera_id] = now
        return path.resolve().as_uri()

    def _warn(self, key: str, message: str) -> None:
        held = self.throttle.allow(key, time.monotonic())
        if held is not None:
            self.get_logger().warning(message + LogThrottle.suffix(held))


def main(args: list[str] | None = None) -> int:
    return run_node(DriftMonitorNode, args, name=NODE_NAME)


if __name__ == '__main__':
    raise SystemExit(main())
