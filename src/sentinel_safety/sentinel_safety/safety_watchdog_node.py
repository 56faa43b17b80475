"""The safety_watchdog node: a thin rclpy shell around ``watchdog.Watchdog``.

Each callback converts messages to domain values (``convert``), asks the
logic, converts back and publishes. The node adds what needs ROS or the
operating system: parameters, the e-stop state file, the MAVLink path's
thread, timers and the clocks (monotonic for every liveness judgement, ROS
time for stamps). It runs on a single-threaded executor (``run_node``); the
MAVLink path has its own thread so a stop reaches the vehicles even while a
callback is busy.

Parameters (no defaults: both are required):
    site_config     path of config/sites/<site>.yaml (zones, vehicle roster)
    safety_config   path of config/safety.yaml (limits, ladder, e-stop, heartbeats)
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import rclpy.logging
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.event_handler import PublisherEventCallbacks, QoSPublisherMatchedInfo
from rclpy.node import Node
from sentinel_common.entry_point import run_node
from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HEARTBEAT_TOPIC, HeartbeatPublisher
from sentinel_common.qos import EVENT_QOS, HEARTBEAT_QOS, LATCHED_QOS, SENSOR_QOS
from sentinel_msgs.msg import (Alert, FleetState, NodeHeartbeat, SafetyStatus, VehicleCommand,
                               VehicleState, ZoneArray)
from sentinel_msgs.srv import CommandVehicle, ReleaseEstop, TriggerEstop
from sentinel_sim.site_config import SiteConfigError

from sentinel_safety import convert, estop_store, gate
from sentinel_safety.config import SafetyConfigError, load_safety_config
from sentinel_safety.domain import LinkHeard, StopOrder
from sentinel_safety.estop import EngageError, EstopState, ReleaseError
from sentinel_safety.mavlink_path import Endpoint, MavlinkPath
from sentinel_safety.site import bind, load_site
from sentinel_safety.stop_commands import stop_kind
from sentinel_safety.watchdog import AlertEvent, Watchdog

NODE_NAME = 'safety_watchdog'   # as launch names it; also the issuer of its own e-stops
# Seconds between repeated log lines about the same recurring condition.
LOG_THROTTLE = 10.0
# Seconds a thread that wants the GIL waits before the running one must hand it over.
GIL_SWITCH_INTERVAL = 0.0005


@dataclass(frozen=True)
class NodeParams:
    site_config: str
    safety_config: str


class SafetyWatchdogNode(Node):
    """Command gate, monitor, heartbeat watch and e-stop of one site."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        params = self._read_params()
        try:
            config = load_safety_config(params.safety_config)
            site = load_site(params.site_config)
            bind(config, site)
        except (SafetyConfigError, SiteConfigError) as error:
            self.get_logger().fatal(f'cannot start: {error}')
            raise
        self._config = config
        self._watchdog = Watchdog(config, site, self._load_estop(config.estop.state_file),
                                  time.monotonic())
        self._pub_approved = self.create_publisher(
            VehicleCommand, '/safety/approved_commands', EVENT_QOS,
            event_callbacks=PublisherEventCallbacks(matched=self._on_approved_subscriber))
        self._pub_verdicts = self.create_publisher(VehicleCommand, '/safety/verdicts', EVENT_QOS)
        self._pub_alerts = self.create_publisher(Alert, '/alerts', EVENT_QOS)
        self._pub_status = self.create_publisher(SafetyStatus, '/safety/status', LATCHED_QOS)
        self._pub_zones = self.create_publisher(ZoneArray, '/zones', LATCHED_QOS)
        self.create_subscription(NodeHeartbeat, HEARTBEAT_TOPIC, self._on_heartbeat,
                                 HEARTBEAT_QOS)
        self.create_subscription(FleetState, '/fleet/state', self._on_fleet, SENSOR_QOS)
        for vehicle_id in self._watchdog.roster:
            self.create_subscription(VehicleState, f'/vehicles/{vehicle_id}/state',
                                     self._on_vehicle, SENSOR_QOS)
        self.create_service(CommandVehicle, '/safety/command_vehicle', self._on_command)
        self.create_service(TriggerEstop, '/safety/trigger_estop', self._on_trigger)
        self.create_service(ReleaseEstop, '/safety/release_estop', self._on_release)
        self._mavlink = MavlinkPath(
            [Endpoint(v.vehicle_id, v.mavlink_url, v.system_id, v.vehicle_type)
             for v in site.vehicles.values()], config.mavlink, self.get_logger())
        self._mavlink.start()
        self.heartbeat = HeartbeatPublisher(self, config.heartbeats.own_period)
        self._order_ids = 0
        self._last_log: dict[str, float] = {}
        self.create_timer(config.monitoring.period, self._on_cycle)
        self.create_timer(config.estop.status_period, self._publish_status)
        self._pub_zones.publish(convert.zones_msg(site.zones, self._ros_ns()))
        orders, alerts = self._watchdog.restart_orders(time.monotonic())
        self._dispatch(orders, alerts)
        self._publish_status()
        self.get_logger().info(
            f'watching {len(site.vehicles)} vehicles of site {site.name} ({site.file}) with '
            f'{config.file}; e-stop state in {config.estop.state_file}')

    # ------------------------------------------------------------ start-up

    def _read_params(self) -> NodeParams:
        values: dict[str, str] = {}
        for name, what in (('site_config', 'site configuration YAML (config/sites/<site>.yaml)'),
                           ('safety_config', 'safety watchdog configuration YAML '
                                             '(config/safety.yaml)')):
            descriptor = ParameterDescriptor(type=ParameterType.PARAMETER_STRING,
                                             description=f'path of the {what}; required',
                                             read_only=True)
            value: Any = self.declare_parameter(name, '', descriptor).value
            if not value:
                error = SafetyConfigError(f'parameter {name}', name, 'missing: pass the path of '
                                          f'the {what}')
                self.get_logger().fatal(f'cannot start: {error}')
                raise error
            values[name] = str(value)
        return NodeParams(**values)

    def _load_estop(self, path: Any) -> EstopState:
        try:
            return estop_store.load(path)
        except estop_store.EstopStoreError as error:
            self.get_logger().error(f'e-stop state unreadable ({error}): engaging a fleet stop '
                                    'until two approvers release it')
            return EstopState(fleet=True, engaged_by=NODE_NAME, engaged_at=time.time(),
                              reason=f'e-stop state file unreadable: {error}')

    # ------------------------------------------------------------ inputs

    def _on_heartbeat(self, msg: NodeHeartbeat) -> None:
        self._watchdog.on_heartbeat(msg.node_name, msg.pid, msg.sequence, msg.progress_counter,
                                    msg.health, msg.status_msg, time.monotonic())

    def _on_fleet(self, msg: FleetState) -> None:
        for snapshot in convert.snapshots(msg, time.monotonic()):
            self._record_state(snapshot)

    def _on_vehicle(self, msg: VehicleState) -> None:
        self._record_state(convert.snapshot(msg, time.monotonic()))

    def _record_state(self, snapshot: Any) -> None:
        if not self._watchdog.on_vehicle_state(snapshot):
            self._throttled(f'unknown:{snapshot.vehicle_id}', 'warning',
                            f'state of {snapshot.vehicle_id!r} ignored: not in the site roster')

    # ------------------------------------------------------------ services

    def _on_command(self, request: CommandVehicle.Request,
                    response: CommandVehicle.Response) -> CommandVehicle.Response:
        proposed = convert.command(request.command)
        if proposed is None:
            outcome = gate.refuse(None, gate.GateError.INVALID, 'invalid',
                                  f'unknown command code {request.command.command}')
        else:
            outcome = self._watchdog.check_command(proposed, time.monotonic(),
                                                   datetime.now(timezone.utc))
        message = convert.command_msg(request.command, outcome.command, outcome.verdict)
        self._pub_verdicts.publish(message)
        if outcome.error is gate.GateError.NONE:
            self._pub_approved.publish(message)
        what = f'{request.command.command_id or "(no id)"} for {request.command.vehicle_id} ' \
               f'from {request.command.issued_by or "(anonymous)"}'
        if outcome.error is gate.GateError.NONE:
            self.get_logger().info(f'approved {what}' + (f' with changes: {outcome.error_msg}'
                                                         if outcome.verdict.reasons else ''))
        else:
            self.get_logger().warning(f'refused {what}: {outcome.error_msg}')
        if outcome.override:
            self.get_logger().warning(f'{request.command.issued_by} took over '
                                      f'{request.command.vehicle_id} during a hold delay')
        response.command = message
        response.error_code = int(outcome.error)
        response.error_msg = outcome.error_msg
        self.heartbeat.state.record_progress()
        return response

    def _on_trigger(self, request: TriggerEstop.Request,
                    response: TriggerEstop.Response) -> TriggerEstop.Response:
        before = self._watchdog.estop
        result, orders, alerts = self._watchdog.trigger_estop(
            request.scope, list(request.vehicle_ids), request.requested_by, request.reason,
            time.time(), time.monotonic())
        response.error_code = int(result.error)
        response.error_msg = result.message
        if result.error is EngageError.NONE:
            self._dispatch(orders, alerts)
            response.error_msg += self._persist(before)
            self.get_logger().warning(f'EMERGENCY STOP by {request.requested_by}: '
                                      f'{result.message} ({request.reason})')
            self._publish_status()
        else:
            self.get_logger().error(f'e-stop request by {request.requested_by!r} refused: '
                                    f'{result.message}')
        response.status = self._status_msg()
        return response

    def _on_release(self, request: ReleaseEstop.Request,
                    response: ReleaseEstop.Response) -> ReleaseEstop.Response:
        before = self._watchdog.estop
        result, alerts = self._watchdog.release_estop(
            list(request.vehicle_ids), request.first_approver, request.second_approver,
            request.reason, time.monotonic())
        response.error_code = int(result.error)
        response.error_msg = result.message
        if result.error is ReleaseError.NONE:
            for vehicle_id in result.released:
                self._mavlink.release(vehicle_id)
            self._dispatch([], alerts)
            response.error_msg += self._persist(before)
            self.get_logger().warning(f'e-stop {result.message} by {request.first_approver} and '
                                      f'{request.second_approver} ({request.reason})')
            self._publish_status()
        else:
            self.get_logger().error(f'e-stop release refused: {result.message}')
        response.status = self._status_msg()
        return response

    def _persist(self, before: EstopState) -> str:
        """Write the e-stop state if it changed; a note for the response if that failed."""
        if self._watchdog.estop == before:
            return ''
        try:
            estop_store.save(self._config.estop.state_file, self._watchdog.estop)
        except OSError as error:
            self.get_logger().error(f'cannot persist the e-stop state to '
                                    f'{self._config.estop.state_file}: {error}')
            return f' (not persisted: {error})'
        return ''

    def _on_approved_subscriber(self, info: QoSPublisherMatchedInfo) -> None:
        """A vehicle interface (re)connected: it must hear every latched stop again."""
        if info.current_count_change > 0 and self._watchdog.estop.engaged:
            orders = self._watchdog.latched_orders()
            self.get_logger().warning(f'a subscriber joined /safety/approved_commands: re-sending '
                                      f'the e-stop to {len(orders)} vehicles')
            self._dispatch(orders, [])

    # ------------------------------------------------------------ the cycle

    def _on_cycle(self) -> None:
        now = time.monotonic()
        heard = {vid: LinkHeard(view.last_heartbeat, view.armed)
                 for vid, view in self._mavlink.views().items()}
        out = self._watchdog.tick(now, datetime.now(timezone.utc), heard)
        self._dispatch(out.orders, out.alerts)
        if out.status_changed:
            self._publish_status()
        if not self._mavlink.alive:
            self.heartbeat.state.set_health(Health.ERROR, 'MAVLink path thread stopped')
            self._throttled('mavlink', 'error', 'the MAVLink path thread has stopped: stop orders '
                                                'reach vehicles only through the vehicle interface')
        self.heartbeat.state.record_progress()

    def _dispatch(self, orders: list[StopOrder], alerts: list[AlertEvent]) -> None:
        """Send stop orders (MAVLink first: it is the path that must not wait) and alerts."""
        for order in orders:
            if order.via_mavlink:
                kind = stop_kind(order.action, order.category)
                self._mavlink.request_stop(order.vehicle_id, kind, order.latched, order.reason)
        for order in orders:
            if order.via_topic:
                self._order_ids += 1
                stamp = convert.ros_time(self._ros_ns())
                self._pub_approved.publish(convert.order_msg(
                    order, f'{NODE_NAME}-{self._order_ids}', stamp))
            what = (f'{order.category.value.upper()} (e-stop)' if order.category is not None
                    else order.action.name)
            paths = ' + '.join(name for name, used in (('topic', order.via_topic),
                                                       ('MAVLink', order.via_mavlink)) if used)
            self.get_logger().warning(f'{what} ordered for {order.vehicle_id} ({paths}): '
                                      f'{order.reason}')
        mono, ros = time.monotonic(), self._ros_ns()
        for alert in alerts:
            self._pub_alerts.publish(convert.alert_msg(alert, mono, ros))
            if alert.resolved:
                self.get_logger().info(f'alert {alert.rule_id} resolved: {alert.description}')
            else:
                self.get_logger().warning(f'alert {alert.rule_id}: {alert.description}')

    def _status_msg(self) -> SafetyStatus:
        now = time.monotonic()
        return convert.status_msg(self._watchdog.status(now), now, self._ros_ns())

    def _publish_status(self) -> None:
        self._pub_status.publish(self._status_msg())

    # ------------------------------------------------------------ helpers

    def _ros_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _throttled(self, key: str, level: str, message: str) -> None:
        """Log at most once per LOG_THROTTLE seconds per key (keys differ per vehicle, so
        rclpy's per-call-site throttling would not do)."""
        now = time.monotonic()
        if now - self._last_log.get(key, -LOG_THROTTLE) < LOG_THROTTLE:
            return
        self._last_log[key] = now
        if level == 'error':   # one call site per severity, as rclpy requires
            self.get_logger().error(message)
        else:
            self.get_logger().warning(message)

    def destroy_node(self) -> None:
        mavlink = getattr(self, '_mavlink', None)
        if mavlink is not None:
            mavlink.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    # A stop is sent by the MAVLink path's thread while the service callback goes on
    # (publishing, logging, writing the state file); the thread waits for the GIL at most
    # this long instead of Python's default 5 ms.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    try:
        return run_node(SafetyWatchdogNode, args)
    except (SafetyConfigError, SiteConfigError) as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(f'not started: {error}')
        return 2


if __name__ == '__main__':
    raise SystemExit(main())
