"""The detector node: YOLO on every camera, per-camera tracking, geolocated detections.

Contract (docs/ros_graph.md, docs/perception.md):
  * subscribes ``/cameras/<cam>/image_raw`` and ``/cameras/<cam>/camera_info``
    for every camera (parameter ``cameras``, default: all cameras of the site
    configuration) and ``/vehicles/<id>/state`` of vehicles carrying one;
  * publishes one ``DetectionArray`` per processed frame on
    ``/perception/detections`` (model version, inference time, latency, boxes
    with per-camera track ids and ground positions), the active ``ModelInfo``
    on ``/model/active`` (latched), and an annotated image per camera on
    ``~/debug/<cam>/annotated`` while somebody subscribes;
  * serves ``/perception/load_model``: the new model is loaded and validated
    beside the running one, then swapped in atomically; a bad one is refused
    with ERROR_INVALID_MODEL and the old one keeps running.

Threads: DDS callbacks only park the newest frame of each camera
(``frame_buffer``, never a queue); one inference thread takes every pending
frame at once, runs them through the model as one batch and publishes; the
load-model service runs in its own callback group, so loading a model
(hundreds of ms) neither blocks frame intake nor inference. Hence a
multi-threaded executor in ``main``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from sentinel_msgs.msg import DetectionArray, ModelInfo, VehicleState
from sentinel_msgs.srv import LoadModel

from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher
from sentinel_common.qos import EVENT_QOS, LATCHED_QOS, SENSOR_QOS
from sentinel_perception import conversions
from sentinel_perception.annotate import Label, draw_boxes
from sentinel_perception.camera_geometry import CameraRig, GeometryError
from sentinel_perception.detector_core import (DetectorPipeline, FrameResult, PipelineSettings,
                                               PreparedFrame)
from sentinel_perception.frame_buffer import Frame, LatestFrameBuffer
from sentinel_perception.geolocation import LocatorSettings
from sentinel_perception.image_conversion import DEFAULT_MAX_PIXELS, ImageError, load_cv_bridge, to_rgb
from sentinel_perception.log_throttle import LogThrottle
from sentinel_perception.model_source import FileModelSource, ModelSource
from sentinel_perception.models import (BACKENDS, ModelError, ModelSlot, ModelSpec,
                                        UnknownVersionError, open_backend)
from sentinel_common.entry_point import run_node
from sentinel_common.parameters import StartupError, declare, declare_strings, require_file
from sentinel_perception.site import SiteError, load_perception_site
from sentinel_perception.tracking import MultiCameraTracker, TrackerSettings

NODE_NAME = 'detector'
DETECTIONS_TOPIC = '/perception/detections'
MODEL_TOPIC = '/model/active'
LOAD_MODEL_SERVICE = '/perception/load_model'
LOG_THROTTLE_S = 10.0     # s between repeated warnings of one kind (per camera and reason)
WAIT_SLICE_S = 0.2        # s the inference thread sleeps between checks for shutdown
MAX_PLAUSIBLE_LATENCY = 60.0  # s: a larger capture-to-now gap means clocks disagree


@dataclass(frozen=True)
class DetectorParams:
    site_config: Path
    cameras: tuple[str, ...]
    backend: str
    model_file: str            # '' -> the registry
    model_classes: tuple[str, ...]
    model_input_size: int      # px
    model_version: str
    db_url: str
    models_dir: str            # shipped models the registry starts from ('' = its default)
    min_confidence: float
    inference_threads: int     # onnxruntime intra-op threads; 0: one per core
    max_batch: int
    batched: bool
    max_image_pixels: int
    use_cv_bridge: bool
    model_retry_period: float  # s
    max_pose_age: float        # s
    tracker: TrackerSettings
    locator: LocatorSettings
    aerial_classes: frozenset[str]


class DetectorNode(Node):
    """Thin wrapper: subscriptions into the frame buffer, an inference thread, the model service."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.heartbeat = HeartbeatPublisher(self)
        self.params = self._read_params()
        try:
            self.site = load_perception_site(self.params.site_config)
        except SiteError as error:
            raise StartupError(str(error)) from None
        unknown = sorted(set(self.params.cameras) - set(self.site.cameras))
        if unknown:
            raise StartupError(f'parameter cameras: {unknown} not in {self.params.site_config} '
                               f'(cameras: {self.site.cameras})')
        self.throttle = LogThrottle(LOG_THROTTLE_S)
        self.rig = CameraRig({c: p for c, p in self.site.fixed_poses.items()
                              if c in self.params.cameras},
                             {c: m for c, m in self.site.mounts.items() if c in self.params.cameras},
                             self.params.max_pose_age)
        self.buffer = LatestFrameBuffer()
        self.slot = ModelSlot()
        self.tracker = MultiCameraTracker(self.params.tracker)
        self.pipeline = DetectorPipeline(self.slot, self.tracker, self.params.locator,
                                         PipelineSettings(self.params.aerial_classes,
                                                          self.params.batched))
        self.source = self._model_source()
        self.convert = load_cv_bridge() if self.params.use_cv_bridge else None
        self._load_lock = threading.Lock()   # one model load at a time
        self._log_lock = threading.Lock()    # the throttle is shared by callbacks and inference
        self.frames_published = 0
        self.frames_dropped = 0

        inputs, control = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()
        self.detections_pub = self.create_publisher(DetectionArray, DETECTIONS_TOPIC, EVENT_QOS)
        self.model_pub = self.create_publisher(ModelInfo, MODEL_TOPIC, LATCHED_QOS)
        self.debug_pubs = {c: self.create_publisher(Image, f'~/debug/{c}/annotated', SENSOR_QOS)
                           for c in self.params.cameras}
        for camera in self.params.cameras:
            self.create_subscription(Image, f'/cameras/{camera}/image_raw',
                                     lambda m, c=camera: self._on_image(c, m), SENSOR_QOS,
                                     callback_group=inputs)
            self.create_subscription(CameraInfo, f'/cameras/{camera}/camera_info',
                                     lambda m, c=camera: self._on_camera_info(c, m), SENSOR_QOS,
                                     callback_group=inputs)
        carriers = {self.site.platforms[c] for c in self.params.cameras if c in self.site.platforms}
        for vehicle_id in sorted(carriers):
            self.create_subscription(VehicleState, f'/vehicles/{vehicle_id}/state',
                                     self._on_vehicle, SENSOR_QOS, callback_group=inputs)
        self.create_service(LoadModel, LOAD_MODEL_SERVICE, self._on_load_model,
                            callback_group=control)
        self._retry_timer = self.create_timer(self.params.model_retry_period, self._retry_model,
                                              callback_group=control)
        self._retry_model()
        self._worker = threading.Thread(target=self._inference_loop, name='inference', daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'detecting on {len(self.params.cameras)} cameras ({", ".join(self.params.cameras)}) '
            f'with the {self.params.backend} backend, batches of up to {self.params.max_batch}; '
            f'models from {self.source.describe()}')

    # ------------------------------------------------------------------ set-up

    def _read_params(self) -> DetectorParams:
        site_config = require_file('site_config', declare(
            self, 'site_config', '', 'site configuration YAML (cameras, poses, vehicles)'))
        cameras = declare_strings(self, 'cameras', 'camera names to detect on; empty: every '
                                  'camera of the site configuration')
        if not cameras:
            try:
                cameras = load_perception_site(site_config).cameras
            except SiteError as error:
                raise StartupError(str(error)) from None
        backend = declare(self, 'backend', BACKENDS[0], f'inference backend: {", ".join(BACKENDS)}')
        if backend not in BACKENDS:
            raise StartupError(f'parameter backend: {backend!r} is not one of {BACKENDS}')
        t, g = TrackerSettings(), LocatorSettings()
        aerial = declare_strings(self, 'aerial_classes', 'classes located by apparent size rather '
                                 'than on the ground; empty: drone')
        return DetectorParams(
            site_config=site_config, cameras=tuple(dict.fromkeys(cameras)), backend=backend,
            model_file=declare(self, 'model_file', '', 'ONNX model used instead of the registry; '
                               'empty: the registry\'s active model'),
            model_classes=tuple(declare_strings(self, 'model_classes',
                                                'class names of model_file, in output order')),
            model_input_size=declare(self, 'model_input_size', 640,
                                     'network input side of model_file, px', 32, 4096),
            model_version=declare(self, 'model_version', '', 'version label of model_file; '
                                  'empty: its file name'),
            db_url=declare(self, 'db_url', '', 'SQLAlchemy URL of the model registry; empty: '
                           'the registry\'s default (SENTINEL_DB_URL, else the user\'s data dir)'),
            models_dir=declare(self, 'models_dir', '', 'shipped models registered when the '
                               'registry has no active one; empty: the repository\'s models/'),
            min_confidence=declare(self, 'min_confidence', 0.25,
                                   'detections below this confidence are discarded', 0.0, 1.0),
            inference_threads=declare(self, 'inference_threads', 1, 'onnxruntime threads per '
                                      'model call; 0: one per core (best on a machine of its '
                                      'own, slower where the whole system shares the cores)',
                                      0, 256),
            max_batch=declare(self, 'max_batch', 8, 'most frames per model call', 1, 64),
            batched=declare(self, 'batched', True, 'one model call per batch (false: one per '
                            'frame, for comparison)'),
            max_image_pixels=declare(self, 'max_image_pixels', DEFAULT_MAX_PIXELS,
                                     'larger frames are refused, px', 1, 1 << 30),
            use_cv_bridge=declare(self, 'use_cv_bridge', True,
                                  'convert images with cv_bridge when a ROS install provides it'),
            model_retry_period=declare(self, 'model_retry_period', 30.0,
                                       's between attempts to load a model while none runs',
                                       1.0, 3600.0),
            max_pose_age=declare(self, 'max_pose_age', 1.0, 'vehicle poses older than this (s) '
                                 'than a frame give no ground positions', 0.05, 60.0),
            tracker=TrackerSettings(
                frame_rate=declare(self, 'camera_rate', t.frame_rate, 'nominal camera rate, Hz',
                                   0.1, 240.0),
                lost_track_time=declare(self, 'lost_track_time', t.lost_track_time,
                                        's a camera track survives unseen', 0.0, 60.0),
                activation_threshold=declare(self, 'track_activation_threshold',
                                             t.activation_threshold,
                                             'confidence that may start a camera track', 0.0, 1.0),
                min_consecutive_frames=declare(self, 'track_min_frames', t.min_consecutive_frames,
                                               'frames before a camera track gets an id', 1, 30)),
            locator=LocatorSettings(
                ground_height=declare(self, 'ground_height', g.ground_height,
                                      'z of the ground plane in the site frame, m', -1e4, 1e4),
                pixel_sigma=declare(self, 'pixel_sigma', g.pixel_sigma,
                                    '1-sigma error of a box edge, px', 0.0, 100.0),
                attitude_sigma=declare(self, 'attitude_sigma', g.attitude_sigma,
                                       '1-sigma camera pointing error, rad', 0.0, 0.5),
                max_range=declare(self, 'max_range', g.max_range,
                                  'farthest trusted ground position, m', 1.0, 1e5),
                aerial_size=declare(self, 'aerial_size', g.aerial_size,
                                    'assumed span of an aerial object, m', 0.01, 100.0)),
            aerial_classes=frozenset(aerial or ['drone']))

    def _model_source(self) -> ModelSource:
        if self.params.model_file:
            path = require_file('model_file', self.params.model_file)
            return FileModelSource(path, self.params.model_classes, self.params.model_input_size,
                                   self.params.model_version)
        from sentinel_perception.registry_source import RegistryModelSource
        return RegistryModelSource(self.params.db_url, self.params.models_dir)

    # ------------------------------------------------------------------ inputs

    def _on_image(self, camera: str, message: Image) -> None:
        self.buffer.put(Frame(camera, conversions.seconds(message.header.stamp), time.monotonic(),
                              message))

    def _on_camera_info(self, camera: str, message: CameraInfo) -> None:
        if not self.rig.update_info(camera, list(message.k), message.width, message.height):
            self._warn(f'info:{camera}', f'camera_info of {camera} is not a usable pinhole model '
                       f'(K {list(message.k)}, {message.width}x{message.height} px): its frames '
                       'are dropped until a valid one arrives')

    def _on_vehicle(self, message: VehicleState) -> None:
        self.rig.update_vehicle(message.vehicle_id, conversions.vehicle_pose(message))

    # ------------------------------------------------------------------ inference thread

    def _inference_loop(self) -> None:
        while not self.buffer.closed:
            if not self.buffer.wait(WAIT_SLICE_S):
                # No frame yet (cameras not started, or all paused): the loop is idle, not
                # stuck, so the watchdog must still see it turn.
                self.heartbeat.state.record_progress()
                continue
            frames = self.buffer.take(self.params.max_batch)
            if self.slot.get() is None:
                self.frames_dropped += len(frames)
                self._warn('no-model', f'no model loaded: {len(frames)} frames dropped '
                           f'(load one with {LOAD_MODEL_SERVICE})')
                continue
            prepared = [p for p in (self._prepare(f) for f in frames) if p is not None]
            try:
                results = self.pipeline.process(prepared)
            except Exception as error:  # a model failing at run time must not end the thread
                self.frames_dropped += len(prepared)
                self.heartbeat.state.set_health(Health.DEGRADED, f'inference failed: {error}')
                self._warn('inference', f'inference failed, {len(prepared)} frames dropped: '
                           f'{type(error).__name__}: {error}')
                continue
            try:
                for result in results:
                    self._publish(result, frames)
            except Exception as error:  # rclpy's C layer raises its own RCLError type
                if not self.context.ok():
                    return  # shutting down (Ctrl-C): the context went away under the publishers
                self._warn('publish', f'publishing failed: {error}')
                continue
            self.heartbeat.state.record_progress(len(results))

    def _prepare(self, frame: Frame) -> PreparedFrame | None:
        """Convert one frame and fetch its camera geometry; None (logged) to drop it."""
        message = frame.payload
        header = conversions.image_header(message)
        try:
            if header.width * header.height > self.params.max_image_pixels:
                raise ImageError(f'image {header.width}x{header.height} px is larger than '
                                 f'max_image_pixels {self.params.max_image_pixels}')
            if self.convert is not None:
                image = self.convert(message)
            else:
                image = to_rgb(header, message.data, self.params.max_image_pixels)
            geometry = self.rig.geometry(frame.camera_id, frame.stamp, header.width, header.height)
        except (ImageError, GeometryError) as error:
            self.frames_dropped += 1
            self._warn(f'drop:{frame.camera_id}:{type(error).__name__}',
                       f'frame of {frame.camera_id} dropped: {error}')
            return None
        if geometry.problem is not None:
            self._warn(f'geometry:{frame.camera_id}', f'{frame.camera_id}: {geometry.problem.value}'
                       ': detections published without ground positions')
        return PreparedFrame(frame.camera_id, frame.stamp, frame.received, image, geometry)

    def _publish(self, result: FrameResult, frames: list[Frame]) -> None:
        source = next(f.payload for f in frames if f.camera_id == result.camera_id)
        latency = self._latency(result)
        self.detections_pub.publish(conversions.detection_array(
            result, source.header.stamp, source.header.frame_id, latency, self.site.georef))
        self.frames_published += 1
        debug = self.debug_pubs.get(result.camera_id)
        if debug is not None and debug.get_subscription_count() > 0:
            labels = [Label(o.box.xyxy, f'{o.box.class_name} {o.box.confidence:.2f}'
                            + (f' #{o.track_id}' if o.track_id >= 0 else ''), o.box.class_id)
                      for o in result.objects]
            debug.publish(conversions.image_message(draw_boxes(result.image, labels),
                                                    source.header.stamp, source.header.frame_id))

    def _latency(self, result: FrameResult) -> float:
        """Capture to publication (s) on the node's clock; time since arrival if clocks disagree."""
        now = self.get_clock().now().nanoseconds * 1e-9
        latency = now - result.stamp
        if 0.0 <= latency <= MAX_PLAUSIBLE_LATENCY:
            return latency
        self._warn('clock', f'image stamps are {latency:.1f} s from this node\'s clock (sim time '
                   'without use_sim_time?): total_latency counts from arrival instead')
        return time.monotonic() - result.received

    # ------------------------------------------------------------------ models

    def _retry_model(self) -> None:
        """Load the active model while none runs (at start, and until one is available)."""
        if self.slot.get() is not None:
            return
        error = self._load('')
        if error is not None:
            self.heartbeat.state.set_health(Health.DEGRADED, f'no model: {error[1]}')
            self._warn('retry', f'no model loaded ({error[1]}); retrying every '
                       f'{self.params.model_retry_period:g} s')

    def _load(self, version: str) -> tuple[int, str] | None:
        """Resolve, load, validate and swap in a model; (error code, reason) when refused."""
        with self._load_lock:
            started = time.monotonic()
            try:
                spec = self.source.resolve(version)
            except UnknownVersionError as error:
                return LoadModel.Response.ERROR_UNKNOWN_VERSION, str(error)
            except ModelError as error:
                return LoadModel.Response.ERROR_INVALID_MODEL, str(error)
            try:
                backend = open_backend(spec, self.params.backend, self.params.min_confidence,
                                       self.params.inference_threads or None)
            except ModelError as error:
                return LoadModel.Response.ERROR_INVALID_MODEL, str(error)
            previous = self.slot.swap(backend)
            self.model_pub.publish(conversions.model_info(spec))
            self.heartbeat.state.set_health(Health.OK)
            self.get_logger().info(
                f'model {spec.version} ({spec.file}, {len(spec.class_names)} classes, '
                f'{spec.input_size} px) in use after {time.monotonic() - started:.2f} s'
                + (f'; replaced {previous.spec.version}' if previous is not None else ''))
            return None

    def _on_load_model(self, request: LoadModel.Request,
                       response: LoadModel.Response) -> LoadModel.Response:
        error = self._load(request.version)
        current = self.slot.get()
        if current is not None:
            response.model = conversions.model_info(current.spec)
        if error is None:
            response.error_code = LoadModel.Response.ERROR_NONE
        else:
            response.error_code, response.error_msg = error
            kept = f'; still running {current.spec.version}' if current is not None else ''
            self.get_logger().error(f'load_model {request.version!r} refused: {error[1]}{kept}')
        return response

    def active_model(self) -> ModelSpec | None:
        backend = self.slot.get()
        return backend.spec if backend is not None else None

    # ------------------------------------------------------------------ misc

    def _warn(self, key: str, message: str) -> None:
        with self._log_lock:
            held = self.throttle.allow(key, time.monotonic())
        if held is not None:
            self.get_logger().warning(message + LogThrottle.suffix(held))

    def destroy_node(self) -> None:
        self.buffer.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Spun by a multi-threaded executor (see the module docstring)."""
    return run_node(DetectorNode, args, name=NODE_NAME,
                    make_executor=lambda: MultiThreadedExecutor(num_threads=3))


if __name__ == '__main__':
    raise SystemExit(main())
