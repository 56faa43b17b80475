"""In-process drift monitor: dark frames against a daylight baseline raise a drift alert."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from sentinel_msgs.msg import Alert, DriftReport

from sentinel_common.qos import EVENT_QOS, SENSOR_QOS
from sentinel_perception.drift import (IMAGE_METRICS, Baseline, MetricBaseline,
                                       image_statistics)
from sentinel_perception.drift_monitor_node import DriftMonitorNode
from sentinel_perception.image_conversion import from_rgb


def _frame(rng: np.random.Generator, level: int) -> np.ndarray:
    """A textured frame around a brightness level (0..255)."""
    base = rng.normal(level, 25.0, (120, 160, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def test_dark_frames_raise_a_drift_report_and_alert(ros_context, tmp_path):
    rng = np.random.default_rng(5)
    daylight = [image_statistics(_frame(rng, 150)) for _ in range(30)]
    baseline = Baseline({name: MetricBaseline.continuous(name, np.concatenate(
        [s[name] for s in daylight])) for name in IMAGE_METRICS}, source='synthetic daylight',
        image_count=30)
    baseline_file = tmp_path / 'baseline.json'
    baseline.save(baseline_file)
    node = DriftMonitorNode(parameter_overrides=[
        Parameter('cameras', value=['cam_test']), Parameter('baseline', value=str(baseline_file)),
        Parameter('data_dir', value=str(tmp_path)), Parameter('sample_period', value=0.0),
        Parameter('evaluation_period', value=0.2), Parameter('min_frames', value=3),
        Parameter('window', value=3.5)])   # frames are stamped 1 s apart: the last 4 count
    peer = Node('drift_test_peer')
    reports: list[DriftReport] = []
    alerts: list[Alert] = []
    peer.create_subscription(DriftReport, '/perception/drift', reports.append, EVENT_QOS)
    peer.create_subscription(Alert, '/alerts', alerts.append, EVENT_QOS)
    images = peer.create_publisher(Image, '/cameras/cam_test/image_raw', SENSOR_QOS)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(peer)

    def spin_until(predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            executor.spin_once(timeout_sec=0.02)
        return bool(predicate())

    def send(level: int, stamp: float) -> None:
        header, data = from_rgb(_frame(rng, level))
        message = Image(height=header.height, width=header.width, encoding='rgb8',
                        step=header.step, data=data)
        message.header.stamp.sec = int(stamp)
        images.publish(message)
        spin_until(lambda: False, 0.05)

    try:
        assert spin_until(lambda: images.get_subscription_count() > 0, 5.0)
        for second in range(6):
            send(150, 100.0 + second)                     # daylight: quiet
        assert spin_until(lambda: reports, 5.0)
        assert not reports[-1].drifted and alerts == []
        def dark_report() -> DriftReport | None:
            return next((r for r in reports if any(m.name == 'brightness' and m.drifted
                                                   for m in r.metrics)), None)

        for second in range(6, 30):
            send(25, 100.0 + second)                      # night falls
            if dark_report() is not None:
                break
        assert spin_until(lambda: dark_report() is not None and alerts, 5.0)
        report = dark_report()
        brightness = next(m for m in report.metrics if m.name == 'brightness')
        assert report.drifted and brightness.psi > brightness.threshold
        assert Path(urlparse(report.report_uri).path).is_file()
        assert alerts[0].category == 'drift' and 'drift from the training data' in alerts[0].description

        # Day again: the alert ends (logged at another severity than when raised; the
        # executor re-raises any exception of the node's callbacks here).
        for second in range(30, 50):
            send(150, 100.0 + second)
            if any('(ended:' in a.description for a in alerts):
                break
        assert spin_until(lambda: any('(ended:' in a.description for a in alerts), 5.0)
        assert alerts[-1].alert_id == alerts[0].alert_id
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_without_the_site_baseline_the_active_models_is_used(ros_context, tmp_path):
    """A configured site baseline that does not exist falls back to the one beside the model."""
    from sentinel_msgs.msg import ModelInfo

    from sentinel_common.qos import LATCHED_QOS

    rng = np.random.default_rng(6)
    model_dir = tmp_path / 'models' / 'det-x'
    model_dir.mkdir(parents=True)
    statistics = [image_statistics(_frame(rng, 150)) for _ in range(10)]
    Baseline({name: MetricBaseline.continuous(name, np.concatenate([s[name] for s in statistics]))
              for name in IMAGE_METRICS}, source='beside the model', image_count=10).save(
        model_dir / 'drift_baseline.json')
    node = DriftMonitorNode(parameter_overrides=[
        Parameter('cameras', value=['cam_test']),
        Parameter('baseline', value=str(tmp_path / 'no_such_site.json')),
        Parameter('data_dir', value=str(tmp_path))])
    peer = Node('drift_fallback_peer')
    models = peer.create_publisher(ModelInfo, '/model/active', LATCHED_QOS)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(peer)
    try:
        assert node.monitor is None and not node.site_baseline
        models.publish(ModelInfo(version='det-x', file_uri=(model_dir / 'model.onnx').as_uri()))
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and node.monitor is None:
            executor.spin_once(timeout_sec=0.05)
        assert node.baseline_path == model_dir / 'drift_baseline.json'
        assert node.monitor.baseline.source == 'beside the model'
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
