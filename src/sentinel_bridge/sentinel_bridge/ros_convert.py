"""Conversions between sentinel_msgs messages and the domain records.

Imports message classes only (no rclpy), so the conversions are tested with
plain pytest. Stamps: a zero header stamp means "not set" and falls back to
the time of reception; NaN battery levels become None (unknown), and so do
alert positions with a non-finite coordinate (the alert concerns no place).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point as PointMsg
from sentinel_msgs.msg import (Alert, FleetState, GeoPosition, SafetyStatus, Task,
                               VehicleCommand, VehicleState)

from sentinel_bridge.domain import (AlertRecord, AlertSeverity, AlertState, CommandKind,
                                    CommandRecord, Decision, GeoPoint, Point, SafetySnapshot,
                                    TaskRecord, TaskState, TaskType, Verdict, VehicleSnapshot)

# Nanoseconds per second.
NS_PER_S = 1_000_000_000


def to_datetime(stamp: Time, fallback: datetime | None = None) -> datetime:
    """A ROS time as aware UTC datetime; `fallback` (or now) when the stamp is zero."""
    if stamp.sec == 0 and stamp.nanosec == 0:
        return fallback or datetime.now(timezone.utc)
    seconds = stamp.sec + stamp.nanosec / NS_PER_S
    return datetime.fromtimestamp(seconds, timezone.utc)


def optional_datetime(stamp: Time) -> datetime | None:
    """A ROS time as datetime, or None when it is zero (not set)."""
    if stamp.sec == 0 and stamp.nanosec == 0:
        return None
    return to_datetime(stamp)


def to_time(value: datetime) -> Time:
    """An aware datetime as a ROS time."""
    total_ns = round(value.timestamp() * NS_PER_S)
    return Time(sec=total_ns // NS_PER_S, nanosec=total_ns % NS_PER_S)


def _point(msg: PointMsg) -> Point:
    return Point(float(msg.x), float(msg.y), float(msg.z))


def _geo_point(msg: GeoPosition) -> GeoPoint:
    return GeoPoint(float(msg.latitude_deg), float(msg.longitude_deg), float(msg.altitude))


def _located_point(msg: PointMsg) -> Point | None:
    """The point, or None when its publisher has no location for it (non-finite coordinates)."""
    point = _point(msg)
    return point if _all_finite(point.x, point.y, point.z) else None


def _located_geo_point(msg: GeoPosition) -> GeoPoint | None:
    """The WGS84 position, or None when its publisher has no location for it."""
    geo = _geo_point(msg)
    return geo if _all_finite(geo.latitude_deg, geo.longitude_deg, geo.altitude) else None


def _all_finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _point_msg(point: Point) -> PointMsg:
    return PointMsg(x=float(point.x), y=float(point.y), z=float(point.z))


def _enum(enum_type: type, value: int, default: object) -> object:
    try:
        return enum_type(value)
    except ValueError:
        return default


def alert_from_msg(msg: Alert, received_at: datetime) -> AlertRecord:
    """An Alert message as a record."""
    updated = to_datetime(msg.header.stamp, received_at)
    return AlertRecord(
        alert_id=msg.alert_id,
        severity=_enum(AlertSeverity, msg.severity, AlertSeverity.CRITICAL),  # type: ignore[arg-type]
        category=msg.category,
        state=_enum(AlertState, msg.state, AlertState.NEW),  # type: ignore[arg-type]
        raised_at=to_datetime(msg.first_raised, updated), updated_at=updated,
        rule_id=msg.rule_id, zone_id=msg.zone_id, track_id=msg.track_id,
        class_name=msg.class_name, position=_located_point(msg.position),
        geo_position=_located_geo_point(msg.geo_position),
        description=msg.description, evidence_uri=msg.evidence_uri,
        acknowledged_by=msg.acknowledged_by, resolution_note=msg.resolution_note)


def vehicle_from_msg(msg: VehicleState, received_at: datetime) -> VehicleSnapshot:
    """A VehicleState message as a snapshot."""
    battery = float(msg.battery_remaining)
    return VehicleSnapshot(
        vehicle_id=msg.vehicle_id, stamp=to_datetime(msg.header.stamp, received_at),
        vehicle_type=int(msg.vehicle_type), armed=bool(msg.armed), mode=msg.mode,
        position=_point(msg.position), geo_position=_geo_point(msg.geo_position),
        velocity=Point(float(msg.velocity.x), float(msg.velocity.y), float(msg.velocity.z)),
        heading_deg=float(msg.heading_deg), battery_voltage=float(msg.battery_voltage),
        battery_remaining=None if math.isnan(battery) else battery,
        link_state=int(msg.link_state), link_quality=float(msg.link_quality),
        gps_fix=int(msg.gps_fix), landed=bool(msg.landed), current_task_id=msg.current_task_id)


def fleet_from_msg(msg: FleetState, received_at: datetime) -> tuple[datetime, list[VehicleSnapshot]]:
    """A FleetState message as its stamp and vehicle snapshots."""
    stamp = to_datetime(msg.header.stamp, received_at)
    return stamp, [vehicle_from_msg(v, stamp) for v in msg.vehicles]


def task_from_msg(msg: Task, received_at: datetime) -> TaskRecord:
    """A Task message as a record."""
    return TaskRecord(
        task_id=msg.task_id, task_type=_enum(TaskType, msg.task_type, TaskType.HOLD),  # type: ignore[arg-type]
        state=_enum(TaskState, msg.state, TaskState.PENDING),  # type: ignore[arg-type]
        updated_at=to_datetime(msg.header.stamp, received_at), vehicle_id=msg.vehicle_id,
        target=_point(msg.target), target_track_id=msg.target_track_id,
        route=tuple(_point(p) for p in msg.route), priority=int(msg.priority),
        origin_alert_id=msg.origin_alert_id, created_by=msg.created_by,
        status_msg=msg.status_msg)


def task_to_msg(task: TaskRecord, stamp: datetime) -> Task:
    """A task record as the Task message AssignTask expects."""
    msg = Task()
    msg.header.stamp = to_time(stamp)
    msg.task_id = task.task_id
    msg.task_type = int(task.task_type)
    msg.state = int(task.state)
    msg.vehicle_id = task.vehicle_id
    msg.target = _point_msg(task.target)
    msg.target_track_id = task.target_track_id
    msg.route = [_point_msg(p) for p in task.route]
    msg.priority = int(task.priority)
    msg.origin_alert_id = task.origin_alert_id
    msg.created_by = task.created_by
    msg.status_msg = task.status_msg
    return msg


def command_from_msg(msg: VehicleCommand, received_at: datetime, source: str = 'ros') -> CommandRecord:
    """A VehicleCommand (with its verdict filled by the safety gate) as a record."""
    verdict = Verdict(_enum(Decision, msg.verdict.decision, Decision.REFUSED),  # type: ignore[arg-type]
                      tuple(msg.verdict.reasons), tuple(msg.verdict.checks_failed))
    return CommandRecord(
        command_id=msg.command_id, vehicle_id=msg.vehicle_id,
        command=_enum(CommandKind, msg.command, CommandKind.HOLD),  # type: ignore[arg-type]
        issued_by=msg.issued_by, requested_at=to_datetime(msg.header.stamp, received_at),
        target=_point(msg.target), route=tuple(_point(p) for p in msg.route),
        speed_limit=float(msg.speed_limit), task_id=msg.task_id, source=source, verdict=verdict)


def command_to_msg(command: CommandRecord) -> VehicleCommand:
    """A proposed command as the VehicleCommand CommandVehicle expects (verdict empty)."""
    msg = VehicleCommand()
    msg.header.stamp = to_time(command.requested_at)
    msg.header.frame_id = 'site'
    msg.command_id = command.command_id
    msg.vehicle_id = command.vehicle_id
    msg.command = int(command.command)
    msg.target = _point_msg(command.target)
    msg.route = [_point_msg(p) for p in command.route]
    msg.speed_limit = float(command.speed_limit)
    msg.task_id = command.task_id
    msg.issued_by = command.issued_by
    return msg


def safety_from_msg(msg: SafetyStatus, received_at: datetime) -> SafetySnapshot:
    """A SafetyStatus message as a snapshot."""
    return SafetySnapshot(
        stamp=to_datetime(msg.header.stamp, received_at), estop_engaged=bool(msg.estop_engaged),
        estop_scope=int(msg.estop_scope), estopped_vehicle_ids=tuple(msg.estopped_vehicle_ids),
        estop_engaged_by=msg.estop_engaged_by, estop_reason=msg.estop_reason,
        degraded_nodes=tuple(msg.degraded_nodes),
        vehicles=tuple({'vehicle_id': v.vehicle_id, 'violations': list(v.violations),
                        'active_failsafe': int(v.active_failsafe), 'estopped': bool(v.estopped)}
                       for v in msg.vehicles),
        estop_engaged_at=optional_datetime(msg.estop_engaged_at))


def string_list(values: Sequence[str]) -> list[str]:
    """A plain list for a string[] message field."""
    return [str(v) for v in values]
