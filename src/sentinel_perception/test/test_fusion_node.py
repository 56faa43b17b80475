"""In-process fusion node: two cameras, one intruder, one track, one alert with evidence."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image as PILImage
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from sentinel_msgs.msg import Alert, Detection, DetectionArray, TrackArray
from sentinel_msgs.srv import AcknowledgeAlert

from sentinel_common.qos import EVENT_QOS, SENSOR_QOS
from sentinel_perception.fusion_node import FusionNode
from sentinel_perception.image_conversion import from_rgb

ROOT = Path(__file__).resolve().parents[3]
SITE_CONFIG = ROOT / 'config' / 'sites' / 'substation.yaml'
START = 1000.0      # s, sensor time of the first frame
PERIOD = 0.2        # s between frames of one camera (5 Hz)


def _stamp(message, seconds: float) -> None:
    message.header.stamp.sec = int(seconds)
    message.header.stamp.nanosec = int(round((seconds - int(seconds)) * 1e9))


def detections(camera: str, stamp: float, x: float, y: float, local_id: int) -> DetectionArray:
    array = DetectionArray(camera_id=camera, model_version='test', image_width_px=640,
                           image_height_px=480)
    _stamp(array, stamp)
    detection = Detection(class_name='person', class_id=0, confidence=0.85, track_id=local_id,
                          has_ground_position=True, position_uncertainty=1.0)
    detection.box.x_min_px, detection.box.y_min_px = 300.0, 150.0
    detection.box.x_max_px, detection.box.y_max_px = 310.0, 175.0
    detection.ground_position.x, detection.ground_position.y = x, y
    array.detections.append(detection)
    return array


@pytest.fixture
def fusion(ros_context, tmp_path):
    node = FusionNode(parameter_overrides=[
        Parameter('site_config', value=str(SITE_CONFIG)),
        Parameter('data_dir', value=str(tmp_path)),
        Parameter('publish_rate', value=10.0)])
    peer = Node('fusion_test_peer')
    received = {'tracks': [], 'alerts': []}
    peer.create_subscription(TrackArray, '/tracks', received['tracks'].append, SENSOR_QOS)
    peer.create_subscription(Alert, '/alerts', received['alerts'].append, EVENT_QOS)
    publishers = {
        'detections': peer.create_publisher(DetectionArray, '/perception/detections', EVENT_QOS),
        'cam_nw': peer.create_publisher(Image, '/cameras/cam_nw/image_raw', SENSOR_QOS),
        'cam_sw': peer.create_publisher(Image, '/cameras/cam_sw/image_raw', SENSOR_QOS),
    }
    acknowledge = peer.create_client(AcknowledgeAlert, '/alerts/acknowledge')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(peer)

    def spin_until(predicate, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            executor.spin_once(timeout_sec=0.02)
        return bool(predicate())

    assert spin_until(lambda: all(p.get_subscription_count() for p in publishers.values()))
    yield node, peer, publishers, received, acknowledge, spin_until, tmp_path
    executor.shutdown()
    node.destroy_node()
    peer.destroy_node()


def test_two_cameras_one_track_one_alert_with_evidence_and_acknowledgement(fusion, intruder_scene):
    node, peer, pubs, received, acknowledge, spin_until, data_dir = fusion
    header, data = from_rgb(intruder_scene['image'])
    for step in range(25):   # 5 s of sensor time, walking from the yard's edge into it
        stamp = START + step * PERIOD
        x, y = 10.0 + 1.0 * step, 20.0
        for camera, bias, local in (('cam_nw', 0.6, 4), ('cam_sw', -0.6, 9)):
            frame = Image(height=header.height, width=header.width, encoding='rgb8',
                          step=header.step, data=data)
            _stamp(frame, stamp)
            pubs[camera].publish(frame)
            spin_until(lambda: False, 0.01)
            pubs['detections'].publish(detections(camera, stamp, x + bias, y - bias, local))
        spin_until(lambda: False, 0.04)
    assert spin_until(lambda: any(a.rule_id == 'restricted_entry' for a in received['alerts']),
                      10.0), [a.description for a in received['alerts']]
    confirmed = [t for array in received['tracks'][-5:] for t in array.tracks]
    assert {t.track_id for t in confirmed} and len({t.track_id for t in confirmed}) == 1
    track = confirmed[-1]
    assert track.sensor_ids == ['cam_nw', 'cam_sw'] and track.class_name == 'person'
    assert track.position.x > 15.0 and not track.authorized

    alerts = [a for a in received['alerts'] if a.rule_id == 'restricted_entry']
    assert len({a.alert_id for a in alerts}) == 1                  # one incident, one alert id
    # The alert goes out first; its evidence follows as an update of the same alert id.
    assert alerts[0].evidence_uri == ''
    assert spin_until(lambda: received['alerts'][-1].evidence_uri, 5.0)
    alert = [a for a in received['alerts'] if a.rule_id == 'restricted_entry'][-1]
    assert alert.alert_id == alerts[0].alert_id
    assert alert.zone_id == 'transformer_yard' and alert.track_id == track.track_id
    assert alert.severity == Alert.SEVERITY_CRITICAL and alert.state == Alert.STATE_NEW
    evidence = Path(urlparse(alert.evidence_uri).path)
    assert evidence.is_file() and evidence.is_relative_to(data_dir)
    with PILImage.open(evidence) as picture:
        assert picture.size == (640, 480) and picture.format == 'JPEG'
    sidecar = json.loads(evidence.with_suffix('.json').read_text())
    assert sidecar['camera_id'] in ('cam_nw', 'cam_sw') and sidecar['track_id'] == track.track_id

    def call(alert_id: str, resolve: bool = False) -> AcknowledgeAlert.Response:
        assert acknowledge.wait_for_service(timeout_sec=5.0)
        future = acknowledge.call_async(AcknowledgeAlert.Request(
            alert_id=alert_id, operator_id='op1', resolve=resolve, note='checked'))
        assert spin_until(future.done, 10.0)
        return future.result()

    assert call('alert-unknown').error_code == AcknowledgeAlert.Response.ERROR_UNKNOWN_ALERT
    acked = call(alert.alert_id)
    assert acked.error_code == AcknowledgeAlert.Response.ERROR_NONE
    assert acked.alert.state == Alert.STATE_ACKNOWLEDGED and acked.alert.acknowledged_by == 'op1'
    assert spin_until(lambda: received['alerts'][-1].state == Alert.STATE_ACKNOWLEDGED, 5.0)
    assert call(alert.alert_id, resolve=True).alert.state == Alert.STATE_RESOLVED
    assert call(alert.alert_id, resolve=True).error_code == \
        AcknowledgeAlert.Response.ERROR_INVALID_STATE
    journal = json.loads((data_dir / 'alerts.json').read_text())
    stored = {a['alert_id']: a for a in journal['alerts']}
    assert stored[alert.alert_id]['state'] == Alert.STATE_RESOLVED


def test_detections_are_judged_on_arrival_without_waiting_for_the_periodic_cycle(ros_context,
                                                                                tmp_path):
    """The node is never spun, so its timers never run: only arriving detections drive it."""
    interval = 0.01
    node = FusionNode(parameter_overrides=[
        Parameter('site_config', value=str(SITE_CONFIG)),
        Parameter('data_dir', value=str(tmp_path)),
        Parameter('evidence_images', value=False),
        Parameter('publish_rate', value=0.5),
        Parameter('min_cycle_interval', value=interval)])
    peer = Node('fusion_test_peer')
    alerts: list[Alert] = []
    tracks: list[TrackArray] = []
    peer.create_subscription(Alert, '/alerts', alerts.append, EVENT_QOS)
    peer.create_subscription(TrackArray, '/tracks', tracks.append, SENSOR_QOS)
    executor = SingleThreadedExecutor()
    executor.add_node(peer)
    try:
        deadline = time.monotonic() + 10.0
        while not node.alerts_pub.get_subscription_count() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
        for step in range(25):   # 5 s of sensor time; inside the yard from x = 16, dwell 2 s
            node._on_detections(detections('cam_nw', START + step * PERIOD, 10.0 + step, 20.0, 4))
            time.sleep(interval)
        deadline = time.monotonic() + 5.0
        while not alerts and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
        assert [(a.rule_id, a.zone_id) for a in alerts] == \
            [('restricted_entry', 'transformer_yard')]
        assert not tracks   # tracks go out with the periodic cycle only
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
