"""The scenario's rclpy node: watches the graph into an event log and carries out ROS events.

Thin by design: each callback turns a message into an event-log record;
each ROS-side scenario event is one service call or one publication whose
answer becomes an InjectionRecord. Timing, process control and the report
live elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sentinel_msgs.msg import (Alert, DetectionArray, FleetState, GroundTruth, NodeHeartbeat,
                               SafetyStatus)
from sentinel_msgs.srv import InjectFault, ReleaseEstop, TriggerEstop

from sentinel_common.heartbeat_publisher import HEARTBEAT_TOPIC
from sentinel_common.qos import EVENT_QOS, HEARTBEAT_QOS, LATCHED_QOS, SENSOR_QOS
from sentinel_scenarios.event_log import (SCENARIO_ALERT_PREFIX, AlertRecord, ClockSample,
                                          DetectionRecord, EntitySample, EventLog,
                                          HeartbeatRecord, InjectionRecord, SafetyRecord,
                                          Sighting, VehicleRecord)
from sentinel_scenarios.scenario import Event

NODE_NAME = 'scenario_observer'
# Simulated seconds between stored ground-truth positions and vehicle states (changes of
# a vehicle's mode, arming or link are stored at once).
SAMPLE_PERIOD = 0.5
# Wall seconds between stored clock samples (for the real-time factor).
CLOCK_PERIOD = 1.0
# Wall seconds between stored safety statuses when nothing changes: shows the watchdog is
# still publishing (after its own restart, say), not only what it last said.
SAFETY_PERIOD = 5.0
# Ground-truth roles worth storing: scripted actors and Sentinel's own vehicles.
STORED_ROLES = frozenset({'intruder', 'authorized', 'own_vehicle'})
# Principals the scenario acts as (config/safety.yaml's authorization lists).
ESTOP_REQUESTER = 'operator_console'
RELEASE_APPROVERS = ('safety_officer', 'shift_supervisor')
# Heartbeats of every node share one keyless topic: with the nodes' own depth of 1, a
# slow observer would see mostly whichever node beat last. Same contract, deeper queue.
OBSERVER_HEARTBEAT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=200, reliability=HEARTBEAT_QOS.reliability,
    durability=HEARTBEAT_QOS.durability, deadline=HEARTBEAT_QOS.deadline,
    liveliness=HEARTBEAT_QOS.liveliness,
    liveliness_lease_duration=HEARTBEAT_QOS.liveliness_lease_duration)
# The clock ticks every simulation step: only the newest tick matters.
CLOCK_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.BEST_EFFORT)


def _seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _box(box: Any) -> tuple[float, float, float, float]:
    return (box.x_min_px, box.y_min_px, box.x_max_px, box.y_max_px)


class ScenarioObserver(Node):
    """Subscribes to what the report needs; offers the calls the scenario makes."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(NODE_NAME)
        self.log = log
        self.sim_time = 0.0
        self.clock_seen = False
        self._start = time.monotonic()
        self._last_clock_sample = -CLOCK_PERIOD
        self._last_truth = -SAMPLE_PERIOD
        self._vehicles: dict[str, tuple[float, tuple[str, bool, int]]] = {}
        self._beats: dict[str, tuple[int, int, str]] = {}
        self._safety: tuple[bool, tuple[str, ...]] | None = None
        self._safety_at = 0.0
        self._alerts_sent = 0
        self.create_subscription(Clock, '/clock', self._on_clock, CLOCK_QOS)
        self.create_subscription(GroundTruth, '/sim/ground_truth', self._on_truth, SENSOR_QOS)
        self.create_subscription(DetectionArray, '/perception/detections', self._on_detections,
                                 EVENT_QOS)
        self.create_subscription(Alert, '/alerts', self._on_alert, EVENT_QOS)
        self.create_subscription(FleetState, '/fleet/state', self._on_fleet, SENSOR_QOS)
        self.create_subscription(NodeHeartbeat, HEARTBEAT_TOPIC, self._on_heartbeat,
                                 OBSERVER_HEARTBEAT_QOS)
        self.create_subscription(SafetyStatus, '/safety/status', self._on_safety, LATCHED_QOS)
        self._alerts = self.create_publisher(Alert, '/alerts', EVENT_QOS)
        self._inject: Any = self.create_client(InjectFault, '/sim/inject_fault')
        self._trigger: Any = self.create_client(TriggerEstop, '/safety/trigger_estop')
        self._release: Any = self.create_client(ReleaseEstop, '/safety/release_estop')

    @property
    def wall(self) -> float:
        """Seconds since the observer started (monotonic)."""
        return time.monotonic() - self._start

    def nodes_beating(self) -> set[str]:
        return set(self._beats)

    def pid_of(self, node: str) -> int | None:
        beat = self._beats.get(node)
        return beat[0] if beat else None

    # ------------------------------------------------------------ observations

    def _on_clock(self, msg: Clock) -> None:
        self.sim_time = _seconds(msg.clock)
        self.clock_seen = True
        if self.wall - self._last_clock_sample >= CLOCK_PERIOD:
            self._last_clock_sample = self.wall
            self.log.add(ClockSample(self.wall, self.sim_time))

    def _on_truth(self, msg: GroundTruth) -> None:
        t, wall = self.sim_time, self.wall
        stamp = _seconds(msg.header.stamp)
        actors = {e.entity_id for e in msg.entities if e.role in STORED_ROLES}
        for box in msg.boxes:
            if box.entity_id in actors and box.visible_fraction > 0.0:
                self.log.add(Sighting(t, wall, stamp, box.camera_id, box.entity_id, _box(box.box),
                                      box.visible_fraction))
        if stamp - self._last_truth < SAMPLE_PERIOD:
            return
        self._last_truth = stamp
        for entity in msg.entities:
            if entity.role in STORED_ROLES:
                p = entity.pose.position
                self.log.add(EntitySample(t, wall, entity.entity_id, entity.class_name,
                                          entity.role, p.x, p.y, p.z))

    def _on_detections(self, msg: DetectionArray) -> None:
        stamp = _seconds(msg.header.stamp)
        for detection in msg.detections:
            self.log.add(DetectionRecord(self.sim_time, self.wall, stamp, msg.camera_id,
                                         detection.class_name, detection.confidence,
                                         _box(detection.box)))

    def _on_alert(self, msg: Alert) -> None:
        self.log.add(AlertRecord(self.sim_time, self.wall, msg.alert_id, msg.category,
                                 msg.severity, msg.state, msg.class_name, msg.position.x,
                                 msg.position.y, msg.rule_id, msg.description))

    def _on_fleet(self, msg: FleetState) -> None:
        for state in msg.vehicles:
            summary = (state.mode, state.armed, state.link_state)
            last = self._vehicles.get(state.vehicle_id)
            if last is not None and last[1] == summary and self.sim_time - last[0] < SAMPLE_PERIOD:
                continue
            self._vehicles[state.vehicle_id] = (self.sim_time, summary)
            p = state.position
            self.log.add(VehicleRecord(self.sim_time, self.wall, state.vehicle_id, p.x, p.y, p.z,
                                       state.armed, state.landed, state.mode, state.link_state))

    def _on_heartbeat(self, msg: NodeHeartbeat) -> None:
        summary = (msg.pid, msg.health, msg.status_msg)
        if self._beats.get(msg.node_name) == summary:
            return
        self._beats[msg.node_name] = summary
        self.log.add(HeartbeatRecord(self.sim_time, self.wall, msg.node_name, msg.pid, msg.health,
                                     msg.status_msg))

    def _on_safety(self, msg: SafetyStatus) -> None:
        summary = (msg.estop_engaged, tuple(msg.degraded_nodes))
        if summary == self._safety and self.wall - self._safety_at < SAFETY_PERIOD:
            return
        self._safety, self._safety_at = summary, self.wall
        self.log.add(SafetyRecord(self.sim_time, self.wall, *summary))

    # ------------------------------------------------------------ actions

    def record(self, event: Event, ok: bool, detail: str, *, kind: str | None = None,
               label: str | None = None, pid: int = 0, at: tuple[float, float] | None = None) -> None:
        """Put what the scenario did (or failed to do) on the log."""
        t, wall = at if at is not None else (self.sim_time, self.wall)
        self.log.add(InjectionRecord(t, wall, kind or event.kind.value,
                                     event.fault.name.lower() if event.fault else '',
                                     label or event.label, event.target, ok, detail, pid))

    def _call(self, client: Any, request: Any, event: Event, ok: Callable[[Any], bool],
              kind: str | None = None, label: str | None = None) -> None:
        at = (self.sim_time, self.wall)
        if not client.service_is_ready():
            self.record(event, False, f'service {client.srv_name} not available', kind=kind,
                        label=label, at=at)
            return

        def answered(future: Any) -> None:
            response = future.result()
            self.record(event, ok(response), response.error_msg if response else 'no answer',
                        kind=kind, label=label, at=at)

        client.call_async(request).add_done_callback(answered)

    def inject_fault(self, event: Event, clear: bool = False) -> None:
        assert event.fault is not None
        request = InjectFault.Request(fault=event.fault.value, target=event.target,
                                      magnitude=float(event.magnitude), clear=clear)
        self._call(self._inject, request, event,
                   lambda r: r.error_code == InjectFault.Response.ERROR_NONE,
                   kind='fault_cleared' if clear else None,
                   label=f'cleared {event.label}' if clear else None)

    def trigger_estop(self, event: Event) -> None:
        request = TriggerEstop.Request(scope=TriggerEstop.Request.SCOPE_FLEET,
                                       requested_by=ESTOP_REQUESTER, reason=event.note)
        self._call(self._trigger, request, event,
                   lambda r: r.error_code == TriggerEstop.Response.ERROR_NONE)

    def release_estop(self, event: Event) -> None:
        request = ReleaseEstop.Request(first_approver=RELEASE_APPROVERS[0],
                                       second_approver=RELEASE_APPROVERS[1], reason=event.note)
        self._call(self._release, request, event,
                   lambda r: r.error_code == ReleaseEstop.Response.ERROR_NONE)

    def publish_alert(self, event: Event) -> None:
        self._alerts_sent += 1
        message = Alert(alert_id=f'{SCENARIO_ALERT_PREFIX}{self._alerts_sent}',
                        severity=event.severity, category=event.category, rule_id='scenario',
                        state=Alert.STATE_NEW, description=event.note)
        message.header.stamp = self.get_clock().now().to_msg()
        message.first_raised = message.header.stamp
        message.position.x, message.position.y = event.position
        self._alerts.publish(message)
        self.record(event, True, message.alert_id)
