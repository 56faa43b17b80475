"""Messages to domain values and back: the one place that knows both.

No rclpy node code here, only message classes, so the conversions are tested
without a ROS context. Times: the logic runs on the watchdog's monotonic
clock; stamps sent out are ROS times, so a monotonic instant ``t`` becomes
``ros_now - (mono_now - t)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Vector3
from sentinel_msgs.msg import (Alert, FleetState, SafetyStatus, SafetyVerdict, VehicleCommand,
                               VehicleSafety, VehicleState, Zone, ZoneArray)
from sentinel_sim.site_config import Zone as SiteZone
from sentinel_sim.site_config import ZoneKind

from sentinel_safety.domain import (ACTION_COMMAND, Command, CommandKind, GpsFix, LinkState,
                                    StopOrder, Vec3, VehicleSnapshot, VehicleType, Verdict)
from sentinel_safety.watchdog import AlertEvent, StatusView

# Nanoseconds per second, for ROS time arithmetic.
NS_PER_S = 1_000_000_000

# Site zone kinds and their Zone.KIND_* values.
ZONE_KINDS: dict[ZoneKind, int] = {
    ZoneKind.RESTRICTED: Zone.KIND_RESTRICTED,
    ZoneKind.PERIMETER: Zone.KIND_PERIMETER,
    ZoneKind.KEEP_OUT: Zone.KIND_KEEP_OUT,
    ZoneKind.GATE: Zone.KIND_GATE,
    ZoneKind.GEOFENCE_INCLUSION: Zone.KIND_GEOFENCE_INCLUSION,
    ZoneKind.GEOFENCE_EXCLUSION: Zone.KIND_GEOFENCE_EXCLUSION,
}

# Name the watchdog signs its own commands with (VehicleCommand.issued_by).
ISSUER = 'safety_watchdog'


def vec3(msg: Point | Vector3) -> Vec3:
    return Vec3(float(msg.x), float(msg.y), float(msg.z))


def point(p: Vec3) -> Point:
    return Point(x=float(p.x), y=float(p.y), z=float(p.z))


def ros_time(ns: int) -> Time:
    return Time(sec=ns // NS_PER_S, nanosec=ns % NS_PER_S)


def stamp_of(monotonic: float, mono_now: float, ros_now_ns: int) -> Time:
    """The ROS time of a monotonic instant."""
    return ros_time(max(0, ros_now_ns - int((mono_now - monotonic) * NS_PER_S)))


def snapshot(msg: VehicleState, received_at: float) -> VehicleSnapshot:
    """A VehicleState as the logic sees it; unknown enum values read as the worst case."""
    link = LinkState(msg.link_state) if msg.link_state in (0, 1, 2) else LinkState.LOST
    fix = GpsFix(msg.gps_fix) if msg.gps_fix in (0, 1, 2, 3) else GpsFix.NO_FIX
    kind = VehicleType.GROUND if msg.vehicle_type == VehicleState.TYPE_GROUND else VehicleType.DRONE
    remaining = float(msg.battery_remaining)
    return VehicleSnapshot(
        vehicle_id=msg.vehicle_id, vehicle_type=kind, armed=bool(msg.armed), mode=msg.mode,
        position=vec3(msg.position), velocity=vec3(msg.velocity),
        battery_remaining=remaining if 0.0 <= remaining <= 1.0 else math.nan,
        link=link, gps_fix=fix, landed=bool(msg.landed), received_at=received_at)


def snapshots(msg: FleetState, received_at: float) -> list[VehicleSnapshot]:
    return [snapshot(vehicle, received_at) for vehicle in msg.vehicles]


def command(msg: VehicleCommand) -> Command | None:
    """The proposed command, or None when its command code is not one we know."""
    try:
        kind = CommandKind(msg.command)
    except ValueError:
        return None
    return Command(command_id=msg.command_id, vehicle_id=msg.vehicle_id, kind=kind,
                   target=vec3(msg.target), route=tuple(vec3(p) for p in msg.route),
                   speed_limit=float(msg.speed_limit), task_id=msg.task_id,
                   issued_by=msg.issued_by)


def verdict_msg(verdict: Verdict) -> SafetyVerdict:
    return SafetyVerdict(decision=int(verdict.decision), reasons=list(verdict.reasons),
                         checks_failed=list(verdict.checks_failed))


def command_msg(original: VehicleCommand, edited: Command | None, verdict: Verdict
                ) -> VehicleCommand:
    """The proposed message with the gate's edits and verdict filled in."""
    out = VehicleCommand()
    out.header = original.header
    out.command_id = original.command_id
    out.vehicle_id = original.vehicle_id
    out.command = original.command
    out.target = original.target
    out.route = list(original.route)
    out.speed_limit = float(edited.speed_limit if edited is not None else original.speed_limit)
    out.task_id = original.task_id
    out.issued_by = original.issued_by
    out.verdict = verdict_msg(verdict)
    return out


def order_msg(order: StopOrder, command_id: str, stamp: Time) -> VehicleCommand:
    """A stop the watchdog orders itself, as an approved VehicleCommand."""
    out = VehicleCommand()
    out.header.stamp = stamp
    out.header.frame_id = 'site'
    out.command_id = command_id
    out.vehicle_id = order.vehicle_id
    out.command = int(ACTION_COMMAND[order.action])
    out.issued_by = ISSUER
    out.verdict = SafetyVerdict(decision=SafetyVerdict.APPROVED, reasons=[order.reason],
                                checks_failed=[])
    return out


def status_msg(view: StatusView, mono_now: float, ros_now_ns: int) -> SafetyStatus:
    out = SafetyStatus()
    out.header.stamp = ros_time(ros_now_ns)
    estop = view.estop
    out.estop_engaged = estop.engaged
    out.estop_scope = (SafetyStatus.SCOPE_FLEET if estop.fleet else
                       SafetyStatus.SCOPE_VEHICLE if estop.vehicles else SafetyStatus.SCOPE_NONE)
    out.estopped_vehicle_ids = list(view.estopped_vehicle_ids)
    out.estop_engaged_by = estop.engaged_by
    if estop.engaged:
        out.estop_engaged_at = ros_time(int(estop.engaged_at * NS_PER_S))
    out.estop_reason = estop.reason
    for vehicle in view.vehicles:
        item = VehicleSafety(vehicle_id=vehicle.vehicle_id, violations=list(vehicle.violations),
                             active_failsafe=int(vehicle.active_failsafe),
                             estopped=vehicle.estopped)
        if vehicle.failsafe_since is not None:
            item.failsafe_since = stamp_of(vehicle.failsafe_since, mono_now, ros_now_ns)
        out.vehicles.append(item)
    out.degraded_nodes = list(view.degraded_nodes)
    return out


def alert_msg(event: AlertEvent, mono_now: float, ros_now_ns: int) -> Alert:
    out = Alert()
    out.header.stamp = ros_time(ros_now_ns)
    out.header.frame_id = 'site'
    out.alert_id = event.alert_id
    out.severity = event.severity
    out.category = event.category
    out.rule_id = event.rule_id
    out.zone_id = event.zone_id
    out.track_id = ''
    out.class_name = 'vehicle' if event.vehicle_id else ''
    if event.position is not None:
        out.position = point(event.position)
    out.state = Alert.STATE_RESOLVED if event.resolved else Alert.STATE_NEW
    out.description = event.description
    out.first_raised = stamp_of(event.first_raised, mono_now, ros_now_ns)
    if event.resolved:
        out.resolution_note = 'resolved by the safety watchdog'
    return out


def zones_msg(zones: Sequence[SiteZone], ros_now_ns: int) -> ZoneArray:
    """Every site zone as a ZoneArray (no floor/ceiling: -inf/+inf)."""
    out = ZoneArray()
    out.header.stamp = ros_time(ros_now_ns)
    out.header.frame_id = 'site'
    for zone in zones:
        out.zones.append(Zone(
            zone_id=zone.name, kind=ZONE_KINDS[zone.kind],
            polygon=[Point(x=float(x), y=float(y), z=0.0) for x, y in zone.polygon],
            altitude_floor=-math.inf if zone.floor is None else float(zone.floor),
            altitude_ceiling=math.inf if zone.ceiling is None else float(zone.ceiling)))
    return out
