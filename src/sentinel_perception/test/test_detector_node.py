"""In-process detector node: a rendered substation frame in, geolocated detections out.

The model is a tiny ONNX graph built here that always reports the intruder's
ground-truth box (the project's ONNX runner decodes it like a real YOLO
output), so the test checks the node's whole path: image conversion, batching,
the ONNX backend, tracking, geolocation against the simulator's truth, and
the messages. Bad inputs must each drop one frame with a reason, and the node
must go on working.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image
from sentinel_msgs.msg import DetectionArray, ModelInfo, VehicleState
from sentinel_msgs.srv import LoadModel
from sentinel_sim.ros_conversions import camera_info_message

from sentinel_common.qos import EVENT_QOS, LATCHED_QOS, SENSOR_QOS
from sentinel_perception.detector_node import DetectorNode
from sentinel_perception.image_conversion import from_rgb

ROOT = Path(__file__).resolve().parents[3]
SITE_CONFIG = ROOT / 'config' / 'sites' / 'substation.yaml'
CAMERAS = ['cam_nw', 'cam_sw', 'drone_1_camera']


def image_message(image: np.ndarray, stamp: float, camera: str, encoding: str | None = None,
                  width: int | None = None, height: int | None = None) -> Image:
    header, data = from_rgb(image)
    message = Image(height=height if height is not None else header.height,
                    width=width if width is not None else header.width,
                    encoding=encoding or header.encoding, is_bigendian=0, step=header.step)
    message.header.stamp.sec = int(stamp)
    message.header.stamp.nanosec = int(round((stamp - int(stamp)) * 1e9))
    message.header.frame_id = f'{camera}_optical_frame'
    message.data = data
    return message


def file_model(model: Path) -> list[Parameter]:
    """Parameters of a detector on a fixed ONNX file (no registry)."""
    return [Parameter('model_file', value=str(model)), Parameter('model_version', value='fixed-v1'),
            Parameter('model_classes', value=['person', 'vehicle', 'drone']),
            Parameter('model_input_size', value=320)]


class Harness:
    """A detector node and a peer node that feeds it and listens, on one executor."""

    def __init__(self, model_parameters: list[Parameter]) -> None:
        overrides = [Parameter('site_config', value=str(SITE_CONFIG)),
                     Parameter('cameras', value=CAMERAS),
                     Parameter('use_cv_bridge', value=False), *model_parameters]
        self.node = DetectorNode(parameter_overrides=overrides)
        self.peer = Node('detector_test_peer')
        self.detections: list[DetectionArray] = []
        self.models: list[ModelInfo] = []
        self.peer.create_subscription(DetectionArray, '/perception/detections',
                                      self.detections.append, EVENT_QOS)
        self.images = {c: self.peer.create_publisher(Image, f'/cameras/{c}/image_raw', SENSOR_QOS)
                       for c in CAMERAS}
        self.infos = {c: self.peer.create_publisher(CameraInfo, f'/cameras/{c}/camera_info',
                                                    SENSOR_QOS) for c in CAMERAS}
        self.vehicle = self.peer.create_publisher(VehicleState, '/vehicles/drone_1/state',
                                                  SENSOR_QOS)
        self.load = self.peer.create_client(LoadModel, '/perception/load_model')
        self.executor = MultiThreadedExecutor(num_threads=3)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)

    def spin_until(self, predicate, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            self.executor.spin_once(timeout_sec=0.05)
        return bool(predicate())

    def connected(self) -> bool:
        return all(p.get_subscription_count() > 0 for p in [*self.images.values(),
                                                             *self.infos.values()])

    def send(self, camera: str, message: Image, info: CameraInfo | None) -> None:
        if info is not None:
            self.infos[camera].publish(info)
            self.spin_until(lambda: False, 0.1)   # let the info land before the frame
        self.images[camera].publish(message)

    def call_load(self, version: str) -> LoadModel.Response:
        assert self.load.wait_for_service(timeout_sec=5.0)
        future = self.load.call_async(LoadModel.Request(version=version))
        assert self.spin_until(future.done, 30.0)
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


@pytest.fixture
def model(tmp_path, intruder_scene, onnx_models) -> Path:
    box = intruder_scene['box']
    network_box = onnx_models['to_network_box']((box.x_min, box.y_min, box.x_max, box.y_max))
    return onnx_models['fixed_box_model'](tmp_path / 'fixed.onnx', [(*network_box, 0, 0.9)])


@pytest.fixture
def harness(ros_context, model):
    h = Harness(file_model(model))
    assert h.spin_until(h.connected)
    yield h
    h.close()


def test_an_idle_detector_shows_its_loop_turning(harness):
    """With no frame at all the watchdog must see progress (idle is not stuck)."""
    state = harness.node.heartbeat.state
    before = state.progress_counter
    assert harness.spin_until(lambda: state.progress_counter >= before + 3, 20.0)
    assert not harness.detections


def test_the_model_runs_on_one_onnxruntime_thread_by_default(harness):
    """inference_threads 1: the system shares the cores, a pool of one per core stalls."""
    backend = harness.node.slot.get()
    options = backend._detector._session.get_session_options()
    assert options.intra_op_num_threads == 1


def test_a_rendered_intruder_frame_becomes_a_geolocated_detection(harness, intruder_scene):
    scene = intruder_scene
    info = camera_info_message('cam_nw', scene['stamp'], scene['info'])
    harness.send('cam_nw', image_message(scene['image'], scene['stamp'], 'cam_nw'), info)
    assert harness.spin_until(lambda: harness.detections, 15.0), 'no DetectionArray'
    array = harness.detections[0]
    assert array.camera_id == 'cam_nw' and array.model_version == 'fixed-v1'
    assert (array.image_width_px, array.image_height_px) == (640, 480)
    assert array.header.frame_id == 'cam_nw_optical_frame'
    assert 0.0 < array.inference_time < 5.0 and array.total_latency >= 0.0
    (detection,) = array.detections
    truth = scene['box']
    assert detection.class_name == 'person' and detection.confidence == pytest.approx(0.9, abs=1e-3)
    assert detection.box.x_min_px == pytest.approx(truth.x_min, abs=1.0)
    assert detection.box.y_max_px == pytest.approx(truth.y_max, abs=1.0)
    assert detection.has_ground_position
    error = math.dist((detection.ground_position.x, detection.ground_position.y),
                      scene['position'][:2])
    assert error < max(2.0, 2 * detection.position_uncertainty)
    assert math.isfinite(detection.geo_position.latitude_deg)
    # The active model is latched for late joiners.
    late = harness.peer.create_subscription(ModelInfo, '/model/active', harness.models.append,
                                            LATCHED_QOS)
    assert harness.spin_until(lambda: harness.models, 5.0)
    assert harness.models[0].version == 'fixed-v1'
    assert harness.models[0].class_names == ['person', 'vehicle', 'drone']
    harness.peer.destroy_subscription(late)
    # The annotated debug image is drawn only once somebody subscribes.
    debug: list[Image] = []
    harness.peer.create_subscription(Image, '/detector/debug/cam_nw/annotated', debug.append,
                                     SENSOR_QOS)
    assert harness.spin_until(lambda: harness.node.debug_pubs['cam_nw'].get_subscription_count()
                              > 0, 5.0)
    # Next frames: the camera tracker gives the person a persistent id.
    for index in range(1, 4):
        harness.send('cam_nw', image_message(scene['image'], scene['stamp'] + 0.2 * index,
                                             'cam_nw'), None)
        count = index + 1
        assert harness.spin_until(lambda n=count: len(harness.detections) >= n, 10.0)
    ids = [a.detections[0].track_id for a in harness.detections[1:]]
    assert ids[-1] >= 0 and len(set(ids[1:])) == 1
    assert harness.spin_until(lambda: debug, 5.0), 'no annotated image'
    annotated = np.frombuffer(bytes(debug[-1].data), np.uint8).reshape(480, 640, 3)
    edge_row, edge_col = int(truth.y_min), int(truth.x_min)
    assert (annotated[edge_row, edge_col] != scene['image'][edge_row, edge_col]).any()  # box drawn


def test_bad_inputs_each_drop_a_frame_with_a_reason_and_the_node_goes_on(harness, intruder_scene):
    scene = intruder_scene
    warnings: list[str] = []
    original = harness.node._warn
    harness.node._warn = lambda key, message: (warnings.append(message), original(key, message))
    good = image_message(scene['image'], scene['stamp'], 'cam_nw')
    harness.send('cam_nw', good, camera_info_message('cam_nw', scene['stamp'], scene['info']))
    assert harness.spin_until(lambda: len(harness.detections) == 1, 15.0)

    small = np.zeros((4, 4, 3), dtype=np.uint8)
    nan_state = VehicleState(vehicle_id='drone_1')
    nan_state.position.x = math.nan
    nan_state.orientation.w = 1.0
    nan_state.header.stamp.sec = int(scene['stamp'])
    bad = [
        ('cam_nw', image_message(scene['image'], scene['stamp'] + 1, 'cam_nw', '16UC1'),
         'unsupported encoding'),
        ('cam_nw', image_message(small[:0], scene['stamp'] + 2, 'cam_nw', width=0, height=0),
         'empty image'),
        ('cam_nw', image_message(small, scene['stamp'] + 3, 'cam_nw', width=100_000,
                                 height=100_000), 'larger than max_image_pixels'),
        ('cam_sw', image_message(scene['image'], scene['stamp'] + 4, 'cam_sw'),
         'no camera_info received yet'),
        ('drone_1_camera', image_message(scene['image'], scene['stamp'] + 5, 'drone_1_camera'),
         'not finite'),
    ]
    harness.infos['drone_1_camera'].publish(camera_info_message('drone_1_camera', scene['stamp'],
                                                                scene['info']))
    harness.vehicle.publish(nan_state)
    harness.spin_until(lambda: False, 0.3)
    for camera, message, reason in bad:
        dropped = harness.node.frames_dropped
        harness.send(camera, message, None)
        assert harness.spin_until(lambda n=dropped: harness.node.frames_dropped == n + 1, 10.0), reason
        assert any(reason in w for w in warnings), (reason, warnings)
    assert len(harness.detections) == 1                        # nothing published for them
    harness.send('cam_nw', image_message(scene['image'], scene['stamp'] + 6, 'cam_nw'), None)
    assert harness.spin_until(lambda: len(harness.detections) == 2, 10.0), 'node stopped working'
    assert harness.node._worker.is_alive()


def test_unknown_or_broken_models_are_refused_and_the_old_one_keeps_running(harness, tmp_path,
                                                                          intruder_scene):
    response = harness.call_load('no-such-version')
    assert response.error_code == LoadModel.Response.ERROR_UNKNOWN_VERSION
    assert 'no-such-version' in response.error_msg
    assert response.model.version == 'fixed-v1'                 # still the running model
    assert harness.call_load('').error_code == LoadModel.Response.ERROR_NONE   # reload: fine
    scene = intruder_scene
    harness.send('cam_nw', image_message(scene['image'], scene['stamp'], 'cam_nw'),
                 camera_info_message('cam_nw', scene['stamp'], scene['info']))
    assert harness.spin_until(lambda: harness.detections, 15.0)
    assert harness.detections[-1].model_version == 'fixed-v1'


class TwoVersions:
    """A model source with named versions (the registry's role, without a database)."""

    def __init__(self, specs, slow: str, delay: float) -> None:
        self.specs, self.slow, self.delay = specs, slow, delay

    def resolve(self, version: str):
        from sentinel_perception.models import UnknownVersionError
        if version not in self.specs:
            raise UnknownVersionError(f'no version {version!r}')
        if version == self.slow:
            time.sleep(self.delay)   # a big model, a slow database: five frame periods
        return self.specs[version]

    def describe(self) -> str:
        return 'test versions'


def test_hot_swap_under_load_drops_no_frame_and_a_bad_model_keeps_the_old(harness, tmp_path,
                                                                         intruder_scene,
                                                                         onnx_models):
    from sentinel_perception.models import ModelSpec

    scene = intruder_scene
    classes = ('person', 'vehicle', 'drone')
    second = onnx_models['fixed_box_model'](tmp_path / 'v2.onnx',
                                            [(100.0, 150.0, 120.0, 200.0, 1, 0.7)])
    broken = tmp_path / 'v3.onnx'
    broken.write_bytes(b'\x08\x01 this is not a protobuf model')
    harness.node.source = TwoVersions({
        'fixed-v1': harness.node.active_model(),
        'v2': ModelSpec('v2', second, classes, 320),
        'v3': ModelSpec('v3', broken, classes, 320)}, slow='v2', delay=1.0)
    cameras = ('cam_nw', 'cam_sw')
    for camera in cameras:
        harness.infos[camera].publish(camera_info_message(camera, scene['stamp'], scene['info']))
    harness.spin_until(lambda: False, 0.3)

    period, frames = 0.4, 15          # 2.5 Hz per camera for 6 s: the swap, not the CPU, is under test
    sent: dict[str, list[int]] = {c: [] for c in cameras}
    future = None
    start = time.monotonic()
    for index in range(frames):
        for offset, camera in enumerate(cameras):
            stamp_ns = int((scene['stamp'] + index * period + offset * 0.05) * 1e9)
            harness.images[camera].publish(image_message(scene['image'], stamp_ns * 1e-9, camera))
            sent[camera].append(stamp_ns)
        if index == frames // 3:      # swap while frames keep coming
            assert harness.load.wait_for_service(timeout_sec=5.0)
            future = harness.load.call_async(LoadModel.Request(version='v2'))
        deadline = start + (index + 1) * period
        harness.spin_until(lambda d=deadline: time.monotonic() >= d, period + 1.0)
    assert harness.spin_until(lambda: future.done() and len(harness.detections) >= 2 * frames,
                              30.0), (future.done(), len(harness.detections))
    assert future.result().error_code == LoadModel.Response.ERROR_NONE
    assert future.result().model.version == 'v2'

    got = {c: [a for a in harness.detections if a.camera_id == c] for c in cameras}
    for camera in cameras:
        stamps = [a.header.stamp.sec * 1_000_000_000 + a.header.stamp.nanosec for a in got[camera]]
        assert sorted(stamps) == sent[camera], f'{camera}: frames missing or repeated'
        versions = [a.model_version for a in got[camera]]
        switch = versions.index('v2')
        assert 0 < switch and set(versions[:switch]) == {'fixed-v1'} and \
            set(versions[switch:]) == {'v2'}, versions
        assert got[camera][-1].detections[0].class_name == 'vehicle'   # the new model's output
    counters = harness.node.buffer.counters()
    assert counters.superseded == 0 and harness.node.frames_dropped == 0

    refused = harness.call_load('v3')
    assert refused.error_code == LoadModel.Response.ERROR_INVALID_MODEL
    assert 'v3.onnx' in refused.error_msg and refused.model.version == 'v2'
    harness.send('cam_nw', image_message(scene['image'], scene['stamp'] + 100.0, 'cam_nw'), None)
    assert harness.spin_until(lambda: len(harness.detections) > 2 * frames, 10.0)
    assert harness.detections[-1].model_version == 'v2'


def _model_dir(root: Path, version: str, onnx: Path, created: str) -> Path:
    """A model directory as the registry imports it: model.onnx + model_card.json."""
    import json
    import shutil

    directory = root / version
    directory.mkdir(parents=True)
    shutil.copy(onnx, directory / 'model.onnx')
    (directory / 'model_card.json').write_text(json.dumps({
        'version': version, 'classes': ['person', 'vehicle', 'drone'], 'input_size': 320,
        'file': 'model.onnx', 'created': created, 'metrics': {'map50': 0.5, 'map50_95': 0.3}}))
    return directory


def _shipped_models() -> Path | None:
    """The repository's models/ when it ships a model (model_card.json beside model.onnx)."""
    shipped = ROOT / 'models'
    return shipped if any(shipped.glob('*/model_card.json')) else None


def test_models_come_from_the_registry_and_load_model_switches_versions(ros_context, tmp_path,
                                                                       model, intruder_scene,
                                                                       onnx_models):
    """The detector bootstraps the registry from the shipped models (the repository's real
    model when models/ has one, else the test's tiny model), then LoadModel switches to a
    registered candidate, back to the active version, and refuses unknown or altered files."""
    from sentinel_models import registry
    from sentinel_models.registry_db import RegistryDatabase

    shipped = _shipped_models()
    models = shipped or tmp_path / 'models'
    if shipped is None:
        _model_dir(models, 'v1', model, '2026-01-01T00:00:00+00:00')
    db_url = f'sqlite:///{tmp_path}/registry.db'
    h = Harness([Parameter('db_url', value=db_url), Parameter('models_dir', value=str(models))])
    node = h.node
    try:
        with RegistryDatabase(db_url) as database, database.transaction() as session:
            active = registry.active_model(session)
        assert active is not None and node.active_model().version == active.version
        assert h.spin_until(h.connected)
        scene = intruder_scene
        h.send('cam_nw', image_message(scene['image'], scene['stamp'], 'cam_nw'),
               camera_info_message('cam_nw', scene['stamp'], scene['info']))
        assert h.spin_until(lambda: h.detections, 20.0)
        assert h.detections[-1].model_version == active.version
        for detection in h.detections[-1].detections:
            assert 0.0 <= detection.box.x_min_px < detection.box.x_max_px <= 640.0
            assert 0.25 <= detection.confidence <= 1.0
        candidate = onnx_models['fixed_box_model'](tmp_path / 'v2.onnx',
                                                   [(100.0, 150.0, 120.0, 200.0, 1, 0.7)])
        v2 = _model_dir(tmp_path / 'more', 'v2', candidate, '2026-02-01T00:00:00+00:00')
        with RegistryDatabase(db_url) as database, database.transaction() as session:
            registry.import_dir(session, v2)
        switched = h.call_load('v2')
        assert switched.error_code == LoadModel.Response.ERROR_NONE
        assert (switched.model.version, switched.model.status) == ('v2', 0)   # a candidate
        assert h.call_load('').model.version == active.version                # the active one
        assert h.call_load('v9').error_code == LoadModel.Response.ERROR_UNKNOWN_VERSION
        (v2 / 'model.onnx').write_bytes((v2 / 'model.onnx').read_bytes() + b'tampered')
        altered = h.call_load('v2')
        assert altered.error_code == LoadModel.Response.ERROR_INVALID_MODEL
        assert 'does not match the registry' in altered.error_msg
        assert altered.model.version == active.version == node.active_model().version
    finally:
        h.close()
