"""The foxglove-sdk side of the bridge: server, channels, sender and encoder threads.

Nothing here knows ROS. The node hands in publications (domain results from
the logic modules) and raw camera frames; this module owns the threads that
turn them into Foxglove messages:

* encoder threads take the newest raw frame of each camera from
  :class:`LatestSlots`, compress it to JPEG (only when some client watches
  that camera) and put it in the outbox's image lane;
* one sender thread drains the :class:`Outbox` (state, then events, then
  images) and logs each item on its channel.

So the ROS executor thread never encodes or sends, and state never waits
behind images. Channels whose last value a newly connected client must see
(the static scene, mounts, safety status, tables) are *latched*: the last
publication is re-sent when a client subscribes, as the server itself sends
data only to existing subscribers.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import foxglove
from foxglove import channels as fc
from foxglove.websocket import Capability, ChannelView, Client, ServerListener

from sentinel_bridge import foxglove_encode as enc
from sentinel_bridge.foxglove_images import EncodedFrame, ImageError, RawFrame, encode_jpeg
from sentinel_bridge.foxglove_outbox import Lane, LatestSlots, Outbox
from sentinel_bridge.foxglove_topics import camera_image, optical_frame

# How long the worker threads wait for work before checking for shutdown, s.
_POLL_S = 0.2
# Seconds between repeated error logs of one kind (a broken camera must not flood the log).
_ERROR_LOG_PERIOD_S = 5.0
# Outgoing messages buffered per client by the SDK before the oldest data is dropped.
MESSAGE_BACKLOG = 256
# Latched channels are re-sent at once to a new subscriber and again after this delay (s):
# the SDK may announce a subscription an instant before the client's sink is ready, and a
# message logged in that window is lost (foxglove-sdk issue, see its pull request 533).
LATCHED_RESEND_DELAY_S = 0.25


class Logger(Protocol):
    """The subset of rclpy's logger the server uses."""

    def info(self, message: str) -> Any: ...
    def warning(self, message: str) -> Any: ...
    def error(self, message: str) -> Any: ...


class Kind(enum.Enum):
    """Channel types: each Foxglove schema the bridge publishes, and JSON."""

    SCENE = 'foxglove.SceneUpdate'
    TRANSFORMS = 'foxglove.FrameTransforms'
    IMAGE = 'foxglove.CompressedImage'
    ANNOTATIONS = 'foxglove.ImageAnnotations'
    CALIBRATION = 'foxglove.CameraCalibration'
    FIX = 'foxglove.LocationFix'
    GEOJSON = 'foxglove.GeoJSON'
    LOG = 'foxglove.Log'
    JSON = 'json'


_TYPED_CHANNELS: dict[Kind, Callable[..., Any]] = {
    Kind.SCENE: fc.SceneUpdateChannel,
    Kind.TRANSFORMS: fc.FrameTransformsChannel,
    Kind.IMAGE: fc.CompressedImageChannel,
    Kind.ANNOTATIONS: fc.ImageAnnotationsChannel,
    Kind.CALIBRATION: fc.CameraCalibrationChannel,
    Kind.FIX: fc.LocationFixChannel,
    Kind.GEOJSON: fc.GeoJsonChannel,
    Kind.LOG: fc.LogChannel,
}

_ENCODERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.SCENE: enc.scene_update,
    Kind.TRANSFORMS: enc.frame_transforms,
    Kind.ANNOTATIONS: enc.image_annotations,
    Kind.CALIBRATION: enc.camera_calibration,
    Kind.FIX: enc.location_fix,
    Kind.GEOJSON: lambda document: enc.geojson(json.dumps(document, separators=(',', ':'))),
    Kind.LOG: enc.log,
}


@dataclass(frozen=True)
class Publication:
    """One message for one channel; ``schema`` is the JSON Schema of JSON channels."""

    topic: str
    kind: Kind
    payload: Any
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class ServiceSpec:
    """A Foxglove service: JSON request in, JSON response out.

    ``handler(client_id, payload)`` returns the response bytes, or raises
    ``ServiceRefused`` whose message the client sees as the call's failure.
    """

    name: str
    request_schema: dict[str, Any]
    response_schema: dict[str, Any]
    handler: Callable[[int, bytes], bytes]


class ServiceRefused(Exception):
    """A service call that is answered with a failure; the message is shown to the client."""


@dataclass
class Stats:
    """Counters for health, heartbeats and the benchmark.

    Each counter has one writing thread, except the encoder ones when several
    encoder threads run (then a rare lost increment only blurs a statistic).
    """

    batches: int = 0                 # publications logged on a channel
    frames_submitted: int = 0        # raw frames handed in by the ROS callbacks
    state_sent: int = 0
    events_sent: int = 0
    images_sent: int = 0
    images_encoded: int = 0
    images_unwatched: int = 0        # frames skipped because nobody watches that camera
    image_errors: int = 0
    send_errors: int = 0
    encode_seconds: float = 0.0
    by_topic: dict[str, int] = field(default_factory=dict)


class _Listener(ServerListener):
    def __init__(self, on_subscribe: Callable[[str], None]) -> None:
        self._on_subscribe = on_subscribe

    def on_subscribe(self, client: Client, channel: ChannelView) -> None:
        self._on_subscribe(channel.topic)
        again = threading.Timer(LATCHED_RESEND_DELAY_S, self._on_subscribe, (channel.topic,))
        again.daemon = True
        again.start()


class LiveServer:
    """A Foxglove WebSocket server fed through bounded, prioritised queues."""

    def __init__(self, host: str, port: int, services: list[ServiceSpec], logger: Logger,
                 jpeg_quality: int = 75, decimation: int = 1, encoder_threads: int = 1,
                 name: str = 'Sentinel') -> None:
        if encoder_threads < 1:
            raise ValueError(f'encoder_threads must be >= 1, got {encoder_threads}')
        self._logger = logger
        self._quality = jpeg_quality
        self._decimation = decimation
        self._context = foxglove.Context()
        self._channels: dict[str, Any] = {}
        self._channel_lock = threading.Lock()
        self._latched: dict[Hashable, Publication] = {}
        self._latched_lock = threading.Lock()
        self._frames: LatestSlots[str, RawFrame] = LatestSlots()
        self._outbox: Outbox[Publication] = Outbox()
        self._running = True
        self._last_error_log: dict[str, float] = {}
        self.stats = Stats()
        self._server = foxglove.start_server(
            name=name, host=host, port=port, context=self._context,
            capabilities=[Capability.Services], supported_encodings=['json'],
            services=[self._service(spec) for spec in services],
            server_listener=_Listener(self._resend_latched),
            message_backlog_size=MESSAGE_BACKLOG)
        self._threads = [threading.Thread(target=self._send_loop, name='foxglove-sender',
                                          daemon=True)]
        self._threads += [threading.Thread(target=self._encode_loop, name=f'jpeg-encoder-{i}',
                                           daemon=True) for i in range(encoder_threads)]
        for thread in self._threads:
            thread.start()

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 asked for a free one)."""
        return self._server.port

    @property
    def alive(self) -> bool:
        """Whether every worker thread is still running."""
        return self._running and all(thread.is_alive() for thread in self._threads)

    def pending(self) -> dict[Lane, int]:
        return self._outbox.pending()

    def report(self) -> dict[str, Any]:
        """Counters since start, for the bridge's own status channel and the benchmark."""
        stats = self.stats
        pending = self._outbox.pending()
        return {
            'frames_received': stats.frames_submitted,
            'frames_replaced_before_encoding': self._frames.replaced,
            'frames_unwatched': stats.images_unwatched,
            'frames_encoded': stats.images_encoded,
            'frame_errors': stats.image_errors,
            'encode_ms_mean': round(1000.0 * stats.encode_seconds / stats.images_encoded, 3)
            if stats.images_encoded else 0.0,
            'images_replaced_before_sending': self._outbox.replaced_images,
            'images_sent': stats.images_sent,
            'state_sent': stats.state_sent,
            'events_sent': stats.events_sent,
            'events_dropped': self._outbox.dropped_events,
            'send_errors': stats.send_errors,
            'pending_state': pending[Lane.STATE],
            'pending_events': pending[Lane.EVENT],
            'pending_images': pending[Lane.IMAGE],
        }

    @property
    def frames_replaced(self) -> int:
        """Raw frames overwritten by a newer one before an encoder took them."""
        return self._frames.replaced

    @property
    def images_replaced(self) -> int:
        return self._outbox.replaced_images

    # ----------------------------------------------------------------- input

    def declare(self, topic: str, kind: Kind, schema: dict[str, Any] | None = None) -> None:
        """Advertise a channel before its first message, so layouts find it at once."""
        self._channel(topic, kind, schema)

    def submit_frame(self, frame: RawFrame) -> None:
        """Keep only the newest raw frame per camera (O(1), for the ROS callback)."""
        self.stats.frames_submitted += 1
        self._frames.put(frame.camera_id, frame)

    def publish_state(self, publication: Publication, key: Hashable = None,
                      latched: bool = False) -> None:
        """Latest wins per key (default: the topic); ``latched`` also re-sends it to new
        subscribers of the topic. Give distinct keys to items that share a topic but must
        not replace each other (the transforms of the mounts and of the vehicles)."""
        key = publication.topic if key is None else key
        if latched:
            with self._latched_lock:
                self._latched[key] = publication
        self._outbox.put_state(key, publication)

    def publish_event(self, publication: Publication) -> None:
        """Sent in order; bounded (the oldest is dropped if the sender falls behind)."""
        self._outbox.put_event(publication.topic, publication)

    def _resend_latched(self, topic: str) -> None:
        with self._latched_lock:
            latched = [(key, p) for key, p in self._latched.items() if p.topic == topic]
        for key, publication in latched:
            self._outbox.put_state(key, publication)

    # --------------------------------------------------------------- threads

    def _channel(self, topic: str, kind: Kind, schema: dict[str, Any] | None) -> Any:
        with self._channel_lock:
            channel = self._channels.get(topic)
            if channel is None:
                if kind is Kind.JSON:
                    channel = foxglove.Channel(topic, schema=schema or {'type': 'object'},
                                               context=self._context)
                else:
                    channel = _TYPED_CHANNELS[kind](topic, context=self._context)
                self._channels[topic] = channel
            return channel

    def _log_throttled(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_error_log.get(key, -_ERROR_LOG_PERIOD_S) >= _ERROR_LOG_PERIOD_S:
            self._last_error_log[key] = now
            self._logger.error(message)

    def _encode_loop(self) -> None:
        while self._running:
            taken = self._frames.take(timeout=_POLL_S)
            if taken is None:
                continue
            camera, frame = taken
            topic = camera_image(camera)
            if not self._channel(topic, Kind.IMAGE, None).has_sinks():
                self.stats.images_unwatched += 1
                continue
            started = time.perf_counter()
            try:
                encoded = encode_jpeg(frame, self._quality, self._decimation)
            except ImageError as error:
                self.stats.image_errors += 1
                self._log_throttled(f'image/{camera}', f'dropping frame: {error}')
                continue
            self.stats.encode_seconds += time.perf_counter() - started
            self.stats.images_encoded += 1
            self._outbox.put_image(camera, Publication(topic, Kind.IMAGE, encoded))

    def _send_loop(self) -> None:
        while self._running:
            out = self._outbox.take(timeout=_POLL_S)
            if out is None:
                continue
            publication = out.item
            try:
                self._send(publication)
            except (ValueError, TypeError, RuntimeError, OverflowError) as error:
                self.stats.send_errors += 1
                self._log_throttled(f'send/{publication.topic}',
                                    f'cannot send on {publication.topic}: {error}')
                continue
            self.stats.batches += 1
            self.stats.by_topic[publication.topic] = self.stats.by_topic.get(
                publication.topic, 0) + 1
            if out.lane is Lane.STATE:
                self.stats.state_sent += 1
            elif out.lane is Lane.EVENT:
                self.stats.events_sent += 1
            else:
                self.stats.images_sent += 1

    def _send(self, publication: Publication) -> None:
        channel = self._channel(publication.topic, publication.kind, publication.schema)
        if publication.kind is Kind.JSON:
            channel.log(json.dumps(publication.payload, separators=(',', ':'),
                                   allow_nan=False).encode('utf-8'))
        elif publication.kind is Kind.IMAGE:
            frame: EncodedFrame = publication.payload
            channel.log(enc.compressed_image(frame, optical_frame(frame.camera_id)))
        else:
            channel.log(_ENCODERS[publication.kind](publication.payload))

    # -------------------------------------------------------------- services

    def _service(self, spec: ServiceSpec) -> foxglove.Service:
        def schema(name: str, document: dict[str, Any]) -> foxglove.MessageSchema:
            return foxglove.MessageSchema(encoding='json', schema=foxglove.Schema(
                name=name, encoding='jsonschema', data=json.dumps(document).encode('utf-8')))

        def handle(request: foxglove.ServiceRequest) -> bytes:
            return spec.handler(request.client_id, request.payload)

        type_name = 'sentinel.' + spec.name.rsplit('/', 1)[-1]
        return foxglove.Service(spec.name, schema=foxglove.ServiceSchema(
            type_name, request=schema(type_name + '.Request', spec.request_schema),
            response=schema(type_name + '.Response', spec.response_schema)), handler=handle)

    # --------------------------------------------------------------- closing

    def stop(self) -> None:
        """Stop the threads and the server; idempotent."""
        if not self._running:
            return
        self._running = False
        self._frames.close()
        self._outbox.close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._server.stop()
