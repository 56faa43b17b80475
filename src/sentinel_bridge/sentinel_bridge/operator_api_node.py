"""The operator_api node: the operator HTTP API and the operations database, on ROS.

One process runs two loops: rclpy spins this node with a single-threaded
executor in its own thread, and uvicorn serves the FastAPI application on the
main thread. Subscriptions convert messages to domain records, keep the live
state for the API and the stream, and queue records for the database writer;
HTTP handlers call the safety, mission and alert services through the
gateway. The logic lives in the modules this file wires together.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from sentinel_msgs.msg import Alert, FleetState, SafetyStatus, TaskArray, VehicleCommand

from sentinel_bridge import accounts, ros_convert
from sentinel_bridge.auth import DEFAULT_AUDIENCE, MAX_TTL_S, TokenService, load_or_create_secret
from sentinel_bridge.estop_release import DEFAULT_WINDOW_S, MAX_WINDOW_S, ReleaseBook
from sentinel_bridge.ingest import EstopTransitionDetector, TelemetryThinner
from sentinel_bridge.operator_api.app import create_app
from sentinel_bridge.operator_api.context import ApiContext
from sentinel_bridge.operator_api.live import LiveHub, LiveState
from sentinel_bridge.operator_api.schemas import (FleetOut, SafetyStatusOut, VehicleOut,
                                                  alert_record_out, task_record_out)
from sentinel_bridge.operator_api.server import bind_socket, make_server
from sentinel_bridge.operator_api_config import (DEFAULT_DATA_DIR, DEFAULT_DB_URL, DEFAULT_HOST,
                                                 DEFAULT_PORT, DEFAULT_SERVICE_TIMEOUT_S,
                                                 DEFAULT_TELEMETRY_PERIOD_S, DEFAULT_TOKEN_TTL_S,
                                                 MAX_PORT, MAX_SERVICE_TIMEOUT_S,
                                                 OperatorApiConfig, make_config)
from sentinel_bridge.persistence.database import Database, describe_url, parse_db_url
from sentinel_bridge.persistence.outbox import DEFAULT_MAX_RECORDS, JOURNAL_NAME, Outbox
from sentinel_bridge.persistence.worker import PersistenceWorker
from sentinel_bridge.rclpy_gateway import RclpyGateway
from sentinel_common.entry_point import EXIT_CONFIGURATION_ERROR
from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher
from sentinel_common.parameters import StartupError, declare
from sentinel_common.qos import EVENT_QOS, LATCHED_QOS, SENSOR_QOS

# Shared topics this node listens to (docs/ros_graph.md).
ALERTS_TOPIC = '/alerts'
FLEET_TOPIC = '/fleet/state'
TASKS_TOPIC = '/tasks'
SAFETY_STATUS_TOPIC = '/safety/status'
VERDICTS_TOPIC = '/safety/verdicts'
# Longest interval between fleet_state events on the live stream, seconds.
STREAM_FLEET_PERIOD_S = 1.0
# How often the node's health (database, queue) is re-evaluated, seconds.
HEALTH_PERIOD_S = 1.0


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _json(model: Any) -> object:
    return model.model_dump(mode='json')


class OperatorApiNode(Node):
    """Owns the database, the API application and the ROS subscriptions and clients."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('operator_api', **kwargs)
        self.config = self._read_parameters()
        log = self.get_logger()
        self.heartbeat = HeartbeatPublisher(self)
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.database = Database.open(self.config.db_url)
        log.info(f'database {describe_url(parse_db_url(self.config.db_url))} migrated')
        first_password = accounts.ensure_first_admin(self.database)
        if first_password is not None:
            log.warning(f"first start: created admin user '{accounts.FIRST_ADMIN_NAME}' with "
                        f'password {first_password} (shown once; change it with '
                        f'`sentinel-users set-password {accounts.FIRST_ADMIN_NAME}`)')
        tokens = TokenService(load_or_create_secret(self.config.data_dir), DEFAULT_AUDIENCE,
                              self.config.token_ttl_s)
        outbox = Outbox(self.config.data_dir / JOURNAL_NAME, self.config.queue_max_records,
                        on_error=log.error)
        if outbox.recovered:
            log.warning(f'{outbox.recovered} records recovered from the retry queue journal')
        self.worker = PersistenceWorker(self.database, outbox, log,
                                        on_persisted=self.heartbeat.state.record_progress)
        self.live = LiveState()
        self.hub = LiveHub()
        self.api_context = ApiContext(
            database=self.database, tokens=tokens,
            gateway=RclpyGateway(self, self.config.service_timeout_s), worker=self.worker,
            live=self.live, hub=self.hub,
            release_book=ReleaseBook(self.config.estop_release_window_s), log=log)
        self.app = create_app(self.api_context)
        self._thinner = TelemetryThinner(self.config.telemetry_period_s)
        self._estop = EstopTransitionDetector()
        self._last_fleet_event = 0.0
        self._known_tasks: dict[str, tuple[object, ...]] = {}
        self.create_subscription(Alert, ALERTS_TOPIC, self._on_alert, EVENT_QOS)
        self.create_subscription(FleetState, FLEET_TOPIC, self._on_fleet, SENSOR_QOS)
        self.create_subscription(TaskArray, TASKS_TOPIC, self._on_tasks, LATCHED_QOS)
        self.create_subscription(SafetyStatus, SAFETY_STATUS_TOPIC, self._on_safety, LATCHED_QOS)
        self.create_subscription(VehicleCommand, VERDICTS_TOPIC, self._on_verdict, EVENT_QOS)
        self.create_timer(HEALTH_PERIOD_S, self._update_health)
        self.socket = bind_socket(self.config.host, self.config.port)
        self.port = int(self.socket.getsockname()[1])
        self.worker.start()
        log.info(f'operator API listening on http://{self.config.host}:{self.port} '
                 f'(OpenAPI at /docs)')

    def _read_parameters(self) -> OperatorApiConfig:
        """Declared with descriptions and ranges; make_config checks what ranges cannot."""
        node = self
        try:
            return make_config(
                host=declare(node, 'host', DEFAULT_HOST, 'address the HTTP API binds to'),
                port=declare(node, 'port', DEFAULT_PORT, 'HTTP port; 0 picks a free one (logged)',
                             0, MAX_PORT),
                db_url=declare(node, 'db_url', DEFAULT_DB_URL,
                               'SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://...'),
                data_dir=declare(node, 'data_dir', DEFAULT_DATA_DIR,
                                 'token secret, retry queue journal (and the default SQLite '
                                 'file)'),
                token_ttl_s=declare(node, 'token_ttl_s', DEFAULT_TOKEN_TTL_S,
                                    'token lifetime, seconds', 1.0, MAX_TTL_S),
                service_timeout_s=declare(node, 'service_timeout_s', DEFAULT_SERVICE_TIMEOUT_S,
                                          'wait for a ROS service answer before HTTP 504, '
                                          'seconds', 0.1, MAX_SERVICE_TIMEOUT_S),
                estop_release_window_s=declare(node, 'estop_release_window_s', DEFAULT_WINDOW_S,
                                               'time for the second supervisor to confirm, '
                                               'seconds', 1.0, MAX_WINDOW_S),
                telemetry_period_s=declare(node, 'telemetry_period_s',
                                           DEFAULT_TELEMETRY_PERIOD_S,
                                           'spacing of stored telemetry per vehicle, seconds'),
                queue_max_records=declare(node, 'queue_max_records', DEFAULT_MAX_RECORDS,
                                          'bound of the database retry queue, records'))
        except ValueError as error:
            raise StartupError(f'parameter {error}') from None

    # -- subscriptions: message -> record -> live state, stream, database -----------

    def _on_alert(self, msg: Alert) -> None:
        record = ros_convert.alert_from_msg(msg, _utc_now())
        self.worker.submit(record)
        self.hub.publish_threadsafe('alert', _json(alert_record_out(record)))

    def _on_fleet(self, msg: FleetState) -> None:
        stamp, vehicles = ros_convert.fleet_from_msg(msg, _utc_now())
        self.live.update_fleet(stamp, vehicles)
        for vehicle in vehicles:
            if self._thinner.accept(vehicle.vehicle_id, vehicle.stamp):
                self.worker.submit(vehicle)
        now = self.get_clock().now().nanoseconds / 1e9
        if now - self._last_fleet_event >= STREAM_FLEET_PERIOD_S:
            self._last_fleet_event = now
            self.hub.publish_threadsafe('fleet_state', _json(FleetOut(
                stamp=stamp, vehicles=[VehicleOut.of(v) for v in vehicles])))

    def _on_tasks(self, msg: TaskArray) -> None:
        now = _utc_now()
        changed = []
        for task_msg in msg.tasks:
            record = ros_convert.task_from_msg(task_msg, now)
            signature = (record.state, record.vehicle_id, record.status_msg, record.priority)
            if self._known_tasks.get(record.task_id) != signature:
                self._known_tasks[record.task_id] = signature
                self.worker.submit(record)
                changed.append(_json(task_record_out(record)))
        if changed:
            self.hub.publish_threadsafe('tasks', changed)

    def _on_safety(self, msg: SafetyStatus) -> None:
        status = ros_convert.safety_from_msg(msg, _utc_now())
        self.live.update_safety(status)
        for event in self._estop.update(status):
            self.worker.submit(event)
        self.hub.publish_threadsafe('safety_status', _json(SafetyStatusOut.of(status)))

    def _on_verdict(self, msg: VehicleCommand) -> None:
        record = ros_convert.command_from_msg(msg, _utc_now())
        self.worker.submit(record)
        self.hub.publish_threadsafe('verdict', {
            'command_id': record.command_id, 'vehicle_id': record.vehicle_id,
            'issued_by': record.issued_by,
            'decision': record.verdict.decision.name.lower() if record.verdict else None,
            'reasons': list(record.verdict.reasons) if record.verdict else []})

    def _update_health(self) -> None:
        stats = self.worker.stats()
        if not self.worker.database_available:
            self.heartbeat.state.set_health(
                Health.DEGRADED, f'database unavailable; {stats.pending} records queued')
        elif stats.refused:
            self.heartbeat.state.set_health(
                Health.DEGRADED, f'retry queue overflowed: {stats.refused} records lost')
        else:
            self.heartbeat.state.set_health(Health.OK, '')

    def destroy_node(self) -> None:
        """Stop the writer (queued records stay in the journal) and close the database."""
        self.worker.stop()
        self.database.close()
        self.socket.close()
        super().destroy_node()


def _spin(executor: SingleThreadedExecutor, on_exit: Any) -> None:
    """Spin ROS until shutdown; then make the HTTP server exit too (the launcher respawns)."""
    try:
        executor.spin()
    except ExternalShutdownException:
        pass  # normal end of life: rclpy was shut down
    finally:
        on_exit()


def main(args: list[str] | None = None) -> int:
    """Run the node: rclpy in a background thread, uvicorn on the main thread."""
    # uvicorn owns SIGINT/SIGTERM (graceful HTTP shutdown); ROS is shut down after it.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node: OperatorApiNode | None = None
    executor = SingleThreadedExecutor()
    try:
        node = OperatorApiNode()
        server = make_server(node.app, node.get_logger())
        executor.add_node(node)

        def stop_http() -> None:
            server.should_exit = True

        spinner = threading.Thread(target=_spin, args=(executor, stop_http), name='ros-spin',
                                   daemon=True)
        spinner.start()
        server.run(sockets=[node.socket])
    except KeyboardInterrupt:
        pass  # Ctrl-C before uvicorn took over the signal
    except StartupError as error:
        rclpy.logging.get_logger('operator_api').fatal(f'cannot start: {error}')
        return EXIT_CONFIGURATION_ERROR
    finally:
        executor.shutdown(timeout_sec=2.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
