"""The foxglove_bridge node: the ROS graph as a Foxglove live view, with gated operator actions.

Thin rclpy plumbing: each callback converts a message with ``foxglove_ros``,
asks the logic modules (scene, annotations, status) for the view and hands the
result to :class:`LiveServer`, which owns every Foxglove thread. Operator
actions arrive as Foxglove service calls on the server's threads, pass the
token gate and become ROS service calls to the safety watchdog and the alert
owner. Channels, services and the token scheme: docs/foxglove.md.
"""

from __future__ import annotations

import math
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import Log
from rclpy.client import Client
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from sentinel_msgs.msg import (Alert, DetectionArray, FleetState, NodeHeartbeat, SafetyStatus,
                               TrackArray, VehicleState, ZoneArray)
from sentinel_msgs.srv import AcknowledgeAlert, CommandVehicle, TriggerEstop
from sentinel_sim.geo import enu_to_wgs84
from sentinel_sim.site_config import SiteConfigError

from sentinel_bridge import foxglove_ros as ros
from sentinel_bridge import foxglove_topics as topics
from sentinel_bridge.audit_spool import JOURNAL_NAME, AuditSpool, open_database
from sentinel_bridge.auth import DEFAULT_AUDIENCE, MAX_TTL_S, TokenService, load_or_create_secret
from sentinel_bridge.foxglove_actions import (ACKNOWLEDGE_SERVICE, COMMAND_SERVICE,
                                              ESTOP_SERVICE, OperatorActions)
from sentinel_bridge.foxglove_annotations import annotations_for
from sentinel_bridge.foxglove_domain import (AlertState, Severity, TrackView, VehicleView,
                                             ZoneView)
from sentinel_bridge.foxglove_gate import OperatorGate
from sentinel_bridge.foxglove_images import ImageError, parse_image_cdr
from sentinel_bridge.foxglove_model import LogLevel, LogLine
from sentinel_bridge.foxglove_requests import (ACKNOWLEDGE_SCHEMA, COMMAND_SCHEMA, ESTOP_SCHEMA,
                                               LOGIN_SCHEMA, LOGOUT_SCHEMA, RESPONSE_SCHEMA)
from sentinel_bridge.foxglove_scene import (EntityTracker, live_entities, mount_transforms,
                                            static_entities, vehicle_transform)
from sentinel_bridge.foxglove_server import (Kind, LiveServer, Publication, ServiceRefused,
                                             ServiceSpec)
from sentinel_bridge.foxglove_site import SiteView, load_site_view
from sentinel_bridge.foxglove_status import (AlertBoard, HealthTable, alert_record, map_overlay,
                                             rosout_line, safety_status, track_fix, vehicle_fix,
                                             vehicle_status, vehicles_table)
from sentinel_bridge.operator_api_config import DEFAULT_DATA_DIR, DEFAULT_DB_URL
from sentinel_bridge.persistence.database import parse_db_url
from sentinel_common.entry_point import run_node
from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher
from sentinel_common.parameters import StartupError, data_directory, declare, require_text
from sentinel_common.qos import EVENT_QOS, HEARTBEAT_QOS, LATCHED_QOS, SENSOR_QOS

NODE_NAME = 'foxglove_bridge'
# Shared topics and services of docs/ros_graph.md (absolute: the node runs in a namespace).
_IMAGE_TOPIC = re.compile(r'^/cameras/([A-Za-z][A-Za-z0-9_]*)/image_raw$')
_VEHICLE_TOPIC = re.compile(r'^/vehicles/([A-Za-z][A-Za-z0-9_]*)/state$')
# /rosout is published reliable with a deep history; a plain reliable reader matches it.
_ROSOUT_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
_NS_PER_S = 1_000_000_000
# Scene updates are sent at most this often, whatever scene_rate says (Hz).
_MAX_SCENE_RATE = 30.0
# Period of the bridge's own counters on /sentinel/bridge (s).
_STATS_PERIOD = 1.0
# GIL switch interval of the bridge process (s); see main().
_GIL_SWITCH_INTERVAL = 0.0005


@dataclass(frozen=True)
class BridgeConfig:
    """The node's parameters, validated."""

    host: str                    # address the WebSocket binds to
    port: int                    # 0: any free port (logged)
    site_config: str             # optional site YAML for scenery, mounts and the map origin
    auth_data_dir: str           # the operator API's data_dir: token secret, audit journal
    auth_audience: str           # token audience, shared with the operator API
    db_url: str                  # the operator API's database, for the audit chain
    jpeg_quality: int            # 1..100
    image_decimation: int        # keep every n-th pixel per axis before JPEG
    encoder_threads: int         # JPEG encoder threads
    scene_rate: float            # Hz, live scene, transforms and tables
    vehicle_stale_after: float   # s without state before a vehicle is drawn stale
    heartbeat_stale_after: float  # s without heartbeat before a node is stale
    heartbeat_stuck_after: float  # s without progress before a node is stuck
    discovery_period: float      # s between looks for new camera and vehicle topics
    service_timeout: float       # s to wait for a ROS service answer


class FoxgloveBridgeNode(Node):
    """Subscribes to the shared topics, serves them to Foxglove, forwards gated actions."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.config = self._read_parameters()
        self.heartbeat = HeartbeatPublisher(self)
        self._site = self._load_site()
        self._ros_clients: dict[str, Client] = {
            ESTOP_SERVICE: self.create_client(TriggerEstop, ESTOP_SERVICE),
            ACKNOWLEDGE_SERVICE: self.create_client(AcknowledgeAlert, ACKNOWLEDGE_SERVICE),
            COMMAND_SERVICE: self.create_client(CommandVehicle, COMMAND_SERVICE),
        }
        self._gate_problem = ''   # why operator actions are off, if they are
        self._audit = AuditSpool(open_database(self.config.db_url, self.get_logger()),
                                 Path(self.config.auth_data_dir) / JOURNAL_NAME,
                                 self.get_logger())
        actions = OperatorActions(self._make_gate(), self._call, self.get_logger(),
                                  self._log_event, self._audit, clock_ns=self._now_ns)
        self._server = LiveServer(
            self.config.host, self.config.port, self._foxglove_services(actions),
            self.get_logger(), jpeg_quality=self.config.jpeg_quality,
            decimation=self.config.image_decimation, encoder_threads=self.config.encoder_threads)
        self.get_logger().info(f'Foxglove WebSocket on ws://{self.config.host}:'
                               f'{self._server.port} (subprotocol foxglove.sdk.v1)')
        self._vehicles: dict[str, VehicleView] = {}
        self._tracks: dict[str, TrackView] = {}
        self._zones: tuple[ZoneView, ...] = self._site.zones if self._site else ()
        self._image_sizes: dict[str, tuple[int, int]] = {}
        self._calibrations: dict[str, tuple[Any, ...]] = {}
        self._alerts = AlertBoard()
        self._health = HealthTable(int(self.config.heartbeat_stale_after * _NS_PER_S),
                                   int(self.config.heartbeat_stuck_after * _NS_PER_S))
        self._live = EntityTracker()
        self._static = EntityTracker()
        self._to_geo = self._enu_to_geo()
        self._overlay_dirty = True
        self._batches_seen = 0
        self._subscribed: set[str] = set()
        self._server.declare(topics.SAFETY, Kind.JSON, topics.SAFETY_SCHEMA)
        self._server.declare(topics.ALERTS, Kind.JSON, topics.ALERT_SCHEMA)
        self._server.declare(topics.LOGS, Kind.LOG)
        self._subscribe_shared()
        self._publish_static()
        self.create_timer(1.0 / min(self.config.scene_rate, _MAX_SCENE_RATE), self._on_tick)
        self.create_timer(self.config.discovery_period, self._discover)
        self.create_timer(_STATS_PERIOD, self._publish_stats)
        self._discover()

    # ------------------------------------------------------------ parameters

    def _read_parameters(self) -> BridgeConfig:
        def positive(name: str, default: float, high: float, description: str) -> float:
            value = float(declare(self, name, default, description, 0.0, high))
            if not value > 0.0:
                raise StartupError(f'parameter {name}: must be > 0, got {value}')
            return value

        db_url = str(declare(self, 'db_url', DEFAULT_DB_URL,
                             'operations database of the operator API (SQLAlchemy URL): '
                             'operator actions taken here are appended to its audit log'))
        try:
            parse_db_url(db_url)
        except ValueError as error:
            raise StartupError(f'parameter db_url: {error}') from None
        return BridgeConfig(
            host=require_text('host', declare(self, 'host', '127.0.0.1',
                                              'address the Foxglove WebSocket binds to')),
            port=int(declare(self, 'port', 8765, 'Foxglove WebSocket port; 0 picks a free one',
                             0, 65535)),
            site_config=str(declare(self, 'site_config', '',
                                    'site YAML (scenery, camera mounts, map origin); '
                                    'empty: zones from /zones only')),
            auth_data_dir=str(data_directory('auth_data_dir', declare(
                self, 'auth_data_dir', DEFAULT_DATA_DIR,
                'the operator API data_dir: token secret (jwt_secret; SENTINEL_JWT_SECRET '
                'overrides it); the audit queue journal of this node goes there too'))),
            auth_audience=require_text('auth_audience', declare(
                self, 'auth_audience', DEFAULT_AUDIENCE, 'operator token audience')),
            db_url=db_url,
            jpeg_quality=int(declare(self, 'jpeg_quality', 75, 'JPEG quality of camera images',
                                     1, 100)),
            image_decimation=int(declare(self, 'image_decimation', 1, 'keep every n-th pixel '
                                         'per axis before compressing', 1, 8)),
            encoder_threads=int(declare(self, 'encoder_threads', 1, 'JPEG encoder threads',
                                        1, 8)),
            scene_rate=positive('scene_rate', 5.0, _MAX_SCENE_RATE,
                                'Hz of the live scene, transforms and status tables'),
            vehicle_stale_after=positive('vehicle_stale_after', 2.0, 3600.0,
                                         's without state before a vehicle is drawn stale'),
            heartbeat_stale_after=positive('heartbeat_stale_after', 1.0, 3600.0,
                                           's without heartbeats before a node is stale'),
            heartbeat_stuck_after=positive('heartbeat_stuck_after', 5.0, 3600.0,
                                           's without progress before a node is stuck'),
            discovery_period=positive('discovery_period', 1.0, 60.0,
                                      's between looks for new camera and vehicle topics'),
            service_timeout=positive('service_timeout', 5.0, 60.0,
                                     's to wait for the safety watchdog or alert owner'))

    def _load_site(self) -> SiteView | None:
        """The site's scenery and mounts, or None without site_config; bad files stop the start."""
        if not self.config.site_config:
            return None
        try:
            return load_site_view(self.config.site_config)
        except SiteConfigError as error:
            raise StartupError(f'parameter site_config: {error}') from None

    def _make_gate(self) -> OperatorGate:
        """The token gate; without a usable secret it refuses every action (fails closed)."""
        try:
            secret = load_or_create_secret(Path(self.config.auth_data_dir))
            tokens = TokenService(secret, self.config.auth_audience, MAX_TTL_S)
        except (OSError, ValueError) as error:
            reason = f'token secret unavailable ({error})'
            self.get_logger().error(f'operator actions disabled: {reason}')
            self._gate_problem = f'operator actions disabled: {reason}'
            return OperatorGate(None, reason)
        return OperatorGate(tokens)

    # --------------------------------------------------------- subscriptions

    def _subscribe_shared(self) -> None:
        sub = self.create_subscription
        sub(FleetState, '/fleet/state', self._on_fleet, SENSOR_QOS)
        sub(TrackArray, '/tracks', self._on_tracks, SENSOR_QOS)
        sub(DetectionArray, '/perception/detections', self._on_detections, EVENT_QOS)
        sub(Alert, '/alerts', self._on_alert, EVENT_QOS)
        sub(SafetyStatus, '/safety/status', self._on_safety, LATCHED_QOS)
        sub(ZoneArray, '/zones', self._on_zones, LATCHED_QOS)
        sub(NodeHeartbeat, '/heartbeats', self._on_heartbeat, HEARTBEAT_QOS)
        sub(Log, '/rosout', self._on_rosout, _ROSOUT_QOS)

    def _discover(self) -> None:
        """Subscribe to camera and vehicle topics as they appear in the graph.

        Vehicle topics are subscribed before cameras found in the same pass: the
        executor serves ready subscriptions in creation order, so a state that
        arrives together with frames is handled first.
        """
        names = sorted((name for name, _types in self.get_topic_names_and_types()),
                       key=lambda name: _IMAGE_TOPIC.match(name) is not None)
        for name in names:
            if name in self._subscribed:
                continue
            image = _IMAGE_TOPIC.match(name)
            vehicle = _VEHICLE_TOPIC.match(name)
            if image:
                camera = image.group(1)
                self._server.declare(topics.camera_image(camera), Kind.IMAGE)
                self._server.declare(topics.camera_annotations(camera), Kind.ANNOTATIONS)
                self.create_subscription(Image, name, partial(self._on_image, camera),
                                         SENSOR_QOS, raw=True)
                self.create_subscription(CameraInfo, f'/cameras/{camera}/camera_info',
                                         partial(self._on_camera_info, camera), SENSOR_QOS)
                self.get_logger().info(f'camera {camera}: streaming to '
                                       f'{topics.camera_image(camera)}')
            elif vehicle:
                self.create_subscription(VehicleState, name, self._on_vehicle, SENSOR_QOS)
            else:
                continue
            self._subscribed.add(name)

    # ------------------------------------------------------------- callbacks

    def _on_image(self, camera: str, data: bytes) -> None:
        """Raw CDR in (see parse_image_cdr); the newest frame per camera goes to the encoders."""
        try:
            frame = parse_image_cdr(camera, data)
        except ImageError as error:
            self.get_logger().error(f'dropping frame: {error}', throttle_duration_sec=5.0)
            return
        decimation = self.config.image_decimation
        self._image_sizes[camera] = (math.ceil(frame.width / decimation),
                                     math.ceil(frame.height / decimation))
        self._server.submit_frame(frame)

    def _on_camera_info(self, camera: str, message: CameraInfo) -> None:
        key = (message.width, message.height, tuple(message.k), tuple(message.p))
        if self._calibrations.get(camera) == key:
            return
        self._calibrations[camera] = key
        calibration = ros.calibration(camera, message, topics.optical_frame(camera),
                                      self.config.image_decimation)
        self._server.publish_state(Publication(topics.camera_calibration(camera),
                                               Kind.CALIBRATION, calibration), latched=True)

    def _on_detections(self, message: DetectionArray) -> None:
        frame = ros.detection_frame(message)
        size = self._image_sizes.get(frame.camera_id)
        if size is None:
            decimation = self.config.image_decimation
            size = (math.ceil(frame.image_width / decimation),
                    math.ceil(frame.image_height / decimation))
        if size[0] <= 0 or size[1] <= 0:
            return  # no image seen yet and the detections do not say their size
        self._server.publish_state(Publication(topics.camera_annotations(frame.camera_id),
                                               Kind.ANNOTATIONS, annotations_for(frame, *size)))

    def _on_vehicle(self, message: VehicleState) -> None:
        vehicle = ros.vehicle_view(message)
        known = self._vehicles.get(vehicle.vehicle_id)
        if known is not None and known.stamp_ns > vehicle.stamp_ns:
            return  # fleet/state and vehicles/<id>/state may interleave; keep the newest
        self._vehicles[vehicle.vehicle_id] = vehicle
        now = self._now_ns()
        stale_ns = int(self.config.vehicle_stale_after * _NS_PER_S)
        self._server.publish_state(Publication(
            topics.vehicle_status(vehicle.vehicle_id), Kind.JSON,
            vehicle_status(vehicle, now, stale_ns), topics.VEHICLE_STATUS_SCHEMA))
        fix = vehicle_fix(vehicle)
        if fix is not None:
            self._server.publish_state(Publication(topics.vehicle_fix(vehicle.vehicle_id),
                                                   Kind.FIX, fix))

    def _on_fleet(self, message: FleetState) -> None:
        for state in message.vehicles:
            self._on_vehicle(state)

    def _on_tracks(self, message: TrackArray) -> None:
        self._tracks = {t.track_id: t for t in map(ros.track_view, message.tracks)}
        self._overlay_dirty = True
        for track in self._tracks.values():
            fix = track_fix(track)
            if fix is not None:
                self._server.publish_state(Publication(topics.MAP_TRACKS, Kind.FIX, fix),
                                           key=('track-fix', track.track_id))

    def _on_alert(self, message: Alert) -> None:
        alert = ros.alert_view(message)
        self._alerts.update(alert)
        self._server.publish_event(Publication(topics.ALERTS, Kind.JSON, alert_record(alert),
                                               topics.ALERT_SCHEMA))
        self._server.publish_state(Publication(
            topics.ALERTS_ACTIVE, Kind.JSON, self._alerts.table(self._now_ns()),
            topics.ALERTS_ACTIVE_SCHEMA), latched=True)
        if alert.state is AlertState.NEW:
            level = LogLevel.ERROR if alert.severity is Severity.CRITICAL else LogLevel.WARNING
            self._log_event(level, f'alert {alert.alert_id} ({alert.severity.name.lower()}, '
                                   f'{alert.category}): {alert.description}')

    def _on_safety(self, message: SafetyStatus) -> None:
        self._server.publish_state(Publication(topics.SAFETY, Kind.JSON,
                                               safety_status(ros.safety_view(message)),
                                               topics.SAFETY_SCHEMA), latched=True)

    def _on_zones(self, message: ZoneArray) -> None:
        self._zones = tuple(map(ros.zone_view, message.zones))
        self._overlay_dirty = True
        self._publish_static()

    def _on_heartbeat(self, message: NodeHeartbeat) -> None:
        self._health.observe(ros.heartbeat_view(message), time.monotonic_ns())

    def _on_rosout(self, message: Log) -> None:
        line = rosout_line(ros.stamp_ns(message.stamp), message.level, message.name,
                           message.msg, message.file, message.line)
        self._server.publish_event(Publication(topics.LOGS, Kind.LOG, line))

    # ---------------------------------------------------------------- timers

    def _publish_static(self) -> None:
        """Zones, scenery, frusta and camera mounts; re-sent to every new subscriber."""
        now = self._now_ns()
        scenery = self._site.scenery if self._site else ()
        mounts = self._site.mounts if self._site else ()
        problems: list[str] = []
        entities = static_entities(self._zones, scenery, mounts, now, problems)
        for problem in problems:
            self.get_logger().error(f'not drawn: {problem}')
        self._server.publish_state(Publication(topics.SCENE_STATIC, Kind.SCENE,
                                               self._static.update(entities, now)), latched=True)
        if mounts:
            self._server.publish_state(Publication(topics.TF, Kind.TRANSFORMS,
                                                   mount_transforms(mounts, now)),
                                       key='tf/mounts', latched=True)

    def _enu_to_geo(self) -> Callable[[float, float, float], tuple[float, float, float]] | None:
        """Site ENU to WGS84 when the site origin is known (for zones on the map)."""
        if self._site is None:
            return None
        origin = self._site.origin

        def convert(x: float, y: float, z: float) -> tuple[float, float, float]:
            return enu_to_wgs84(x, y, z, origin.latitude_deg, origin.longitude_deg,
                                origin.elevation)
        return convert

    def _on_tick(self) -> None:
        """Live scene, vehicle transforms, tables and map overlay; heartbeat progress."""
        now = self._now_ns()
        stale_ns = int(self.config.vehicle_stale_after * _NS_PER_S)
        vehicles, tracks = list(self._vehicles.values()), list(self._tracks.values())
        publish = self._server.publish_state
        publish(Publication(topics.SCENE_LIVE, Kind.SCENE,
                            self._live.update(live_entities(vehicles, tracks, now, stale_ns),
                                              now)))
        if vehicles:
            publish(Publication(topics.TF, Kind.TRANSFORMS,
                                tuple(vehicle_transform(v) for v in vehicles)), key='tf/vehicles')
        publish(Publication(topics.VEHICLES, Kind.JSON, vehicles_table(vehicles, now, stale_ns),
                            topics.VEHICLES_SCHEMA), latched=True)
        publish(Publication(topics.HEALTH, Kind.JSON, self._health.table(time.monotonic_ns()),
                            topics.HEALTH_SCHEMA), latched=True)
        if self._overlay_dirty:
            self._overlay_dirty = False
            publish(Publication(topics.MAP_OVERLAY, Kind.GEOJSON,
                                map_overlay(self._zones, tracks, self._to_geo)), latched=True)
        publish(Publication(topics.ALERTS_ACTIVE, Kind.JSON, self._alerts.table(now),
                            topics.ALERTS_ACTIVE_SCHEMA), latched=True)
        batches = self._server.stats.batches
        self.heartbeat.state.record_progress(batches - self._batches_seen)
        self._batches_seen = batches
        self._update_health()

    def _update_health(self) -> None:
        """ERROR when the server's threads died; DEGRADED while actions are off or unaudited."""
        if not self._server.alive:
            self.heartbeat.state.set_health(Health.ERROR, 'Foxglove sender or encoder stopped')
            return
        audit = self._audit.stats()
        problems = [self._gate_problem]
        if not self._audit.database_available:
            problems.append(f'database unavailable; {audit.pending} audit entries queued')
        if audit.refused:
            problems.append(f'audit queue overflowed: {audit.refused} entries lost')
        reason = '; '.join(p for p in problems if p)
        self.heartbeat.state.set_health(Health.DEGRADED if reason else Health.OK, reason)

    def _now_ns(self) -> int:
        """The node's clock (simulated time under use_sim_time, like the message stamps)."""
        return self.get_clock().now().nanoseconds

    def _publish_stats(self) -> None:
        self._server.publish_state(Publication(topics.BRIDGE_STATS, Kind.JSON,
                                               self._server.report(),
                                               topics.BRIDGE_STATS_SCHEMA))

    def _log_event(self, level: LogLevel, message: str) -> None:
        """A line in Foxglove's log panel (operator actions, new alerts)."""
        self._server.publish_event(Publication(topics.LOGS, Kind.LOG, LogLine(
            self._now_ns(), level, self.get_fully_qualified_name(), message)))

    # -------------------------------------------------------------- services

    def _foxglove_services(self, actions: OperatorActions) -> list[ServiceSpec]:
        return [
            ServiceSpec(topics.SERVICE_LOGIN, LOGIN_SCHEMA, RESPONSE_SCHEMA, actions.login),
            ServiceSpec(topics.SERVICE_LOGOUT, LOGOUT_SCHEMA, RESPONSE_SCHEMA, actions.logout),
            ServiceSpec(topics.SERVICE_ESTOP, ESTOP_SCHEMA, RESPONSE_SCHEMA,
                        actions.trigger_estop),
            ServiceSpec(topics.SERVICE_ACKNOWLEDGE, ACKNOWLEDGE_SCHEMA, RESPONSE_SCHEMA,
                        actions.acknowledge_alert),
            ServiceSpec(topics.SERVICE_COMMAND, COMMAND_SCHEMA, RESPONSE_SCHEMA,
                        actions.command_vehicle),
        ]

    def _call(self, service: str, request: Any) -> Any:
        """Call a ROS service from a Foxglove thread and wait for the answer (bounded).

        The executor thread delivers the response; this thread only waits.
        """
        client = self._ros_clients[service]
        timeout = self.config.service_timeout
        if not client.wait_for_service(timeout_sec=timeout):
            raise ServiceRefused(f'{service} is not available (is its node running?)')
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            client.remove_pending_request(future)
            raise ServiceRefused(f'{service} did not answer within {timeout:g} s')
        response = future.result()
        if response is None:
            raise ServiceRefused(f'{service} failed: {future.exception()}')
        return response

    def destroy_node(self) -> None:
        server = getattr(self, '_server', None)
        if server is not None:
            server.stop()
        audit = getattr(self, '_audit', None)
        if audit is not None:
            audit.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    # The executor, sender and encoder threads share the GIL; a thread woken with work
    # (the sender, for a new state message) waits up to one switch interval for it.
    # CPython's default of 5 ms would add that to every state message's latency.
    sys.setswitchinterval(_GIL_SWITCH_INTERVAL)
    return run_node(FoxgloveBridgeNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
