"""The vehicle_interface node: owns every vehicle's MAVLink link and executes approved commands.

Contract (docs/ros_graph.md, docs/control.md):
  * subscribes ``/safety/approved_commands`` (VehicleCommand with the safety
    gate's verdict): the *only* input that moves a vehicle. A command whose
    verdict is REFUSED is not executed (logged, and answered REJECTED);
    duplicates (same command_id) and stale commands are not executed either;
  * publishes ``/vehicles/<id>/state`` (VehicleState) and ``/fleet/state``
    (FleetState) at ``state_rate`` Hz, and every command's one result on
    ``/vehicles/command_results`` (diagnostic_msgs/DiagnosticArray).

The links run on one thread behind one selector (``fleet_link``); this node
converts messages, publishes, and reports health in its heartbeat.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from rclpy.node import Node
from rclpy.time import Time
from sentinel_msgs.msg import FleetState, SafetyVerdict, VehicleCommand, VehicleState

from sentinel_common.entry_point import run_node
from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher
from sentinel_common.qos import EVENT_QOS, SENSOR_QOS
from sentinel_control import conversions
from sentinel_control.command_mapping import MappingSettings
from sentinel_control.command_tracker import TrackerSettings
from sentinel_control.commands import CommandKind, CommandResult, Outcome
from sentinel_control.fleet_link import FleetLinks, SessionSettings, VehicleSession
from sentinel_control.link_health import LinkThresholds
from sentinel_control.mavlink_link import (LinkSettings, MavlinkLink, SigningError, SigningSettings,
                                           load_signing_key)
from sentinel_common.parameters import StartupError, declare, require_text, unless_shutting_down
from sentinel_control.site import SiteError, load_site, vehicle_type
from sentinel_control.telemetry import LinkState
from sentinel_control.transport import TransportError, open_transport, parse_url

APPROVED_TOPIC = '/safety/approved_commands'
FLEET_TOPIC = '/fleet/state'
RESULTS_TOPIC = '/vehicles/command_results'
SEEN_COMMANDS = 1000          # command ids remembered to refuse duplicates
LOG_THROTTLE_S = 10.0         # repeated warnings are logged at most this often
SLOW_STREAM_HZ = 1.0          # rate requested for status telemetry (battery, GPS, landed state)
# Commands that start motion: only these are refused when stale. Stops (HOLD, LAND, RTL,
# TERMINATE, DISARM) are executed however late they arrive: refusing a stop is never safer.
_AGE_CHECKED = frozenset({VehicleCommand.COMMAND_GOTO, VehicleCommand.COMMAND_TAKEOFF,
                          VehicleCommand.COMMAND_ARM, VehicleCommand.COMMAND_FOLLOW_ROUTE})


def state_topic(vehicle_id: str) -> str:
    return f'/vehicles/{vehicle_id}/state'


@dataclass(frozen=True)
class VehicleInterfaceParams:
    site_config: str
    state_rate: float          # Hz, VehicleState/FleetState publication
    gcs_system_id: int
    gcs_component_id: int
    link_timeout: float        # s without heartbeat -> LINK_LOST
    ack_timeout: float         # s per COMMAND_ACK before resending
    command_attempts: int      # sends per message before TIMED_OUT
    takeoff_timeout: float     # s for a takeoff to reach its altitude
    max_command_age: float     # s; older approved commands are not executed (0 = no check)


class VehicleInterfaceNode(Node):
    """Thin wrapper: parameters, publishers, the approved-command subscription, the link thread."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__('vehicle_interface', **kwargs)
        self.heartbeat = HeartbeatPublisher(self)
        self.params = self._read_params()
        try:
            self.site = load_site(self.params.site_config)
        except SiteError as error:
            raise StartupError(str(error)) from None
        for mismatch in self.site.mismatches:
            self.get_logger().warning(f'site config and world disagree: {mismatch}')
        self.links = FleetLinks(self._sessions(), self.get_logger())
        self._state_pubs = {v.id: self.create_publisher(VehicleState, state_topic(v.id), SENSOR_QOS)
                            for v in self.site.config.vehicles}
        self._fleet_pub = self.create_publisher(FleetState, FLEET_TOPIC, SENSOR_QOS)
        self._results_pub = self.create_publisher(DiagnosticArray, RESULTS_TOPIC, EVENT_QOS)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.create_subscription(VehicleCommand, APPROVED_TOPIC, self._on_approved, EVENT_QOS)
        self.create_timer(1.0 / self.params.state_rate, self._publish)
        self.links.start()
        self.get_logger().info(
            f'serving {len(self._state_pubs)} vehicles from {self.params.site_config} at '
            f'{self.params.state_rate:g} Hz; executing only {APPROVED_TOPIC}')

    # ------------------------------------------------------------------ set-up

    def _read_params(self) -> VehicleInterfaceParams:
        return VehicleInterfaceParams(
            site_config=require_text('site_config', declare(
                self, 'site_config', '', 'site configuration YAML (vehicle roster, MAVLink URLs)')),
            state_rate=declare(self, 'state_rate', 10.0, 'VehicleState publication rate, Hz', 1.0, 50.0),
            gcs_system_id=declare(self, 'gcs_system_id', 255, 'our MAVLink system id', 1, 255),
            gcs_component_id=declare(self, 'gcs_component_id', mavlink.MAV_COMP_ID_MISSIONPLANNER,
                                     'our MAVLink component id', 1, 255),
            link_timeout=declare(self, 'link_timeout', 3.0,
                                 'seconds without a vehicle heartbeat before its link counts as lost',
                                 2.5, 60.0),
            ack_timeout=declare(self, 'ack_timeout', 1.0, 'seconds to wait for a COMMAND_ACK before '
                                'resending', 0.05, 30.0),
            command_attempts=declare(self, 'command_attempts', 3, 'sends of a command before it times '
                                     'out', 1, 10),
            takeoff_timeout=declare(self, 'takeoff_timeout', 45.0, 'seconds for a takeoff to reach its '
                                    'altitude', 5.0, 600.0),
            max_command_age=declare(self, 'max_command_age', 5.0, 'approved GOTO/TAKEOFF/ARM/FOLLOW_ROUTE '
                                    'stamped longer ago than this (s) are not executed (stops always are); '
                                    '0 disables the check', 0.0, 600.0))

    def _signing(self, vehicle_id: str, index: int) -> SigningSettings | None:
        prefix = f'links.{vehicle_id}'
        env_name = declare(self, f'{prefix}.signing_key_env', '',
                           'environment variable holding the MAVLink 2 signing key of this vehicle')
        file_path = declare(self, f'{prefix}.signing_key_file', '',
                            'file holding the MAVLink 2 signing key of this vehicle')
        allow_unsigned = declare(self, f'{prefix}.allow_unsigned', False,
                                 'accept unsigned packets from this vehicle although signing is on')
        try:
            key = load_signing_key(env_name, file_path)
            if key is None:
                return None
            source = f'environment variable {env_name}' if env_name else f'file {file_path}'
            self.get_logger().info(f'{vehicle_id}: MAVLink 2 signing on (key from {source})')
            return SigningSettings(key, link_id=index % 256, allow_unsigned=allow_unsigned)
        except SigningError as error:
            raise StartupError(f'parameter {prefix}.signing_key_*: {error}') from None

    def _sessions(self) -> list[VehicleSession]:
        p = self.params
        rates = {mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: p.state_rate,
                 mavlink.MAVLINK_MSG_ID_ATTITUDE: p.state_rate,
                 mavlink.MAVLINK_MSG_ID_SYS_STATUS: SLOW_STREAM_HZ,
                 mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: SLOW_STREAM_HZ,
                 mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: SLOW_STREAM_HZ,
                 mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: SLOW_STREAM_HZ}
        # degraded after one missed 1 Hz heartbeat (2 s), earlier only when the loss timeout is short
        thresholds = LinkThresholds(lost_after=p.link_timeout,
                                    degraded_after=min(LinkThresholds.degraded_after, 0.8 * p.link_timeout))
        settings = SessionSettings(rates, thresholds, TrackerSettings(p.ack_timeout, p.command_attempts),
                                   MappingSettings(p.takeoff_timeout))
        sessions = []
        for index, vehicle in enumerate(self.site.config.vehicles):
            key = f'{self.site.config.file}: vehicles[{index}].mavlink.url'
            try:
                transport = open_transport(parse_url(vehicle.mavlink_url))
            except TransportError as error:
                raise StartupError(f'{key}: {error}') from None
            link = MavlinkLink(LinkSettings(vehicle.id, transport.endpoint, vehicle.system_id, p.gcs_system_id,
                                            p.gcs_component_id, self._signing(vehicle.id, index)), transport)
            sessions.append(VehicleSession(vehicle.id, vehicle_type(vehicle), link, self.site.origin,
                                           settings, self.get_logger()))
        return sessions

    # ------------------------------------------------------------------ commands

    def _on_approved(self, msg: VehicleCommand) -> None:
        if msg.command_id in self._seen:
            self.get_logger().info(f'command {msg.command_id}: duplicate delivery, not executed again')
            return
        self._seen[msg.command_id] = None
        while len(self._seen) > SEEN_COMMANDS:
            self._seen.popitem(last=False)
        reason = self._not_executable(msg)
        if reason is None:
            try:
                command = conversions.command_from_msg(msg)
            except conversions.CommandFormatError as error:
                reason = str(error)
            else:
                self.links.submit(command)
                return
        self.get_logger().warning(f'command {msg.command_id} for {msg.vehicle_id}: not executed: {reason}')
        self._publish_results([CommandResult(msg.command_id, msg.vehicle_id, msg.task_id,
                                             _kind_or_goto(msg.command), Outcome.REJECTED, '', reason)])

    def _not_executable(self, msg: VehicleCommand) -> str | None:
        if msg.verdict.decision == SafetyVerdict.REFUSED:
            return f'refused by the safety gate ({"; ".join(msg.verdict.reasons) or "no reason given"})'
        if msg.verdict.decision not in (SafetyVerdict.APPROVED, SafetyVerdict.APPROVED_WITH_CHANGES):
            return f'unknown verdict {msg.verdict.decision}'
        stamp = Time.from_msg(msg.header.stamp)
        if self.params.max_command_age > 0.0 and stamp.nanoseconds > 0 and msg.command in _AGE_CHECKED:
            age = (self.get_clock().now() - stamp).nanoseconds / 1e9
            if age > self.params.max_command_age:
                return f'stale: stamped {age:.1f} s ago (limit {self.params.max_command_age:g} s)'
        return None

    # ------------------------------------------------------------------ output

    def _publish(self) -> None:
        with unless_shutting_down(self):
            self._publish_all()

    def _publish_all(self) -> None:
        if not self.links.alive:
            self.heartbeat.state.set_health(Health.ERROR, 'MAVLink link thread stopped')
            raise RuntimeError(f'MAVLink link thread stopped: {self.links.error!r}')
        stamp = self.get_clock().now().to_msg()
        fleet = FleetState()
        fleet.header.stamp = stamp
        fleet.header.frame_id = conversions.SITE_FRAME
        lost, degraded, waiting = [], [], []
        for state in self.links.snapshots():
            msg = conversions.state_to_msg(state, stamp)
            self._state_pubs[state.vehicle_id].publish(msg)
            fleet.vehicles.append(msg)
            if state.link_state is LinkState.LOST:
                (lost if state.heard else waiting).append(state.vehicle_id)
            elif state.link_state is LinkState.DEGRADED:
                degraded.append(f'{state.vehicle_id} ({state.link_quality:.0%})')
        self._fleet_pub.publish(fleet)
        self._publish_results(self.links.pop_results())
        self._report_health(lost, degraded, waiting)
        self.heartbeat.state.record_progress()

    def _report_health(self, lost: list[str], degraded: list[str], waiting: list[str]) -> None:
        if not lost and not degraded and not waiting:
            self.heartbeat.state.set_health(Health.OK, '')
            return
        parts = ([f'links lost: {", ".join(lost)}'] if lost else []) + \
                ([f'links degraded: {", ".join(degraded)}'] if degraded else []) + \
                ([f'no heartbeat yet from: {", ".join(waiting)}'] if waiting else [])
        self.heartbeat.state.set_health(Health.DEGRADED, '; '.join(parts))
        self.get_logger().warning('; '.join(parts), throttle_duration_sec=LOG_THROTTLE_S)

    def _publish_results(self, results: list[CommandResult]) -> None:
        if not results:
            return
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for result in results:
            array.status.append(conversions.result_to_status(result))
            text = (f'command {result.command_id} ({result.kind.name}) for {result.vehicle_id}: '
                    f'{result.outcome.value} after {result.elapsed:.2f} s'
                    + (f' [{result.mav_result}]' if result.mav_result else '')
                    + (f': {result.reason}' if result.reason else ''))
            if result.outcome is Outcome.ACCEPTED:
                self.get_logger().info(text)
            else:
                self.get_logger().warning(text)
        self._results_pub.publish(array)

    def destroy_node(self) -> None:
        links = getattr(self, 'links', None)
        if links is not None:
            links.stop()
        super().destroy_node()


def _kind_or_goto(value: int) -> CommandKind:
    """For results of commands that never parsed: keep the kind when it is one."""
    return CommandKind(value) if value in CommandKind._value2member_map_ else CommandKind.GOTO


def main(args: list[str] | None = None) -> int:
    return run_node(VehicleInterfaceNode, args, name='vehicle_interface')


if __name__ == '__main__':
    raise SystemExit(main())
