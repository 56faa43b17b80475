"""ROS messages in, the live view's domain objects out (and service replies back).

No rclpy here: message objects are plain generated classes, so these
converters are tested by building messages in the test, without DDS.
"""

from __future__ import annotations

import math
from typing import Any

from sentinel_msgs.msg import (Alert, DetectionArray, NodeHeartbeat, SafetyStatus, SafetyVerdict,
                               Track, VehicleState, Zone)

from sentinel_bridge.foxglove_domain import (AlertState, AlertView, DetectionFrame,
                                             DetectionView, GeoPoint, HeartbeatView, LinkState,
                                             SafetyView, Severity, TrackView, VehicleKind,
                                             VehicleSafetyView, VehicleView, ZoneKind, ZoneView)
from sentinel_bridge.foxglove_model import CameraCalibration
from sentinel_bridge.foxglove_requests import CommandKind

_NS_PER_S = 1_000_000_000

# Operator command names to VehicleCommand.COMMAND_* values.
COMMAND_CODES: dict[CommandKind, int] = {
    CommandKind.GOTO: 0,   # VehicleCommand.COMMAND_GOTO
    CommandKind.HOLD: 1,   # VehicleCommand.COMMAND_HOLD
    CommandKind.RTL: 2,    # VehicleCommand.COMMAND_RTL
    CommandKind.LAND: 3,   # VehicleCommand.COMMAND_LAND
}
_DECISIONS = {SafetyVerdict.APPROVED: 'approved',
              SafetyVerdict.APPROVED_WITH_CHANGES: 'approved_with_changes',
              SafetyVerdict.REFUSED: 'refused'}


def stamp_ns(stamp: Any) -> int:
    """builtin_interfaces/Time as integer nanoseconds."""
    return int(stamp.sec) * _NS_PER_S + int(stamp.nanosec)


def _xyz(v: Any) -> tuple[float, float, float]:
    return (float(v.x), float(v.y), float(v.z))


def _geo(g: Any) -> GeoPoint:
    return GeoPoint(float(g.latitude_deg), float(g.longitude_deg), float(g.altitude))


def _enum(kind: type, value: int, fallback: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        return fallback


def zone_view(zone: Zone) -> ZoneView:
    return ZoneView(zone.zone_id, _enum(ZoneKind, zone.kind, ZoneKind.RESTRICTED),
                    tuple((float(p.x), float(p.y)) for p in zone.polygon),
                    float(zone.altitude_floor), float(zone.altitude_ceiling))


def vehicle_view(state: VehicleState) -> VehicleView:
    q = state.orientation
    return VehicleView(
        vehicle_id=state.vehicle_id,
        kind=_enum(VehicleKind, state.vehicle_type, VehicleKind.DRONE),
        stamp_ns=stamp_ns(state.header.stamp),
        position=_xyz(state.position),
        orientation=(float(q.x), float(q.y), float(q.z), float(q.w)),
        heading_deg=float(state.heading_deg),
        velocity=_xyz(state.velocity),
        geo=_geo(state.geo_position),
        armed=bool(state.armed),
        mode=state.mode,
        battery_remaining=float(state.battery_remaining),
        link=_enum(LinkState, state.link_state, LinkState.LOST),
        gps_fix=int(state.gps_fix),
        landed=bool(state.landed),
        task_id=state.current_task_id)


def track_view(track: Track) -> TrackView:
    return TrackView(
        track_id=track.track_id, class_name=track.class_name,
        confidence=float(track.confidence), stamp_ns=stamp_ns(track.header.stamp),
        position=_xyz(track.position), velocity=_xyz(track.velocity), geo=_geo(track.geo_position),
        position_uncertainty=float(track.position_uncertainty), authorized=bool(track.authorized),
        sensor_ids=tuple(track.sensor_ids))


def detection_frame(message: DetectionArray) -> DetectionFrame:
    detections = tuple(
        DetectionView(d.class_name, float(d.confidence),
                      (float(d.box.x_min_px), float(d.box.y_min_px), float(d.box.x_max_px),
                       float(d.box.y_max_px)),
                      int(d.track_id))
        for d in message.detections)
    return DetectionFrame(message.camera_id, stamp_ns(message.header.stamp),
                          int(message.image_width_px), int(message.image_height_px),
                          message.model_version, detections)


def alert_view(alert: Alert) -> AlertView:
    return AlertView(
        alert_id=alert.alert_id, stamp_ns=stamp_ns(alert.header.stamp),
        severity=_enum(Severity, alert.severity, Severity.CRITICAL),
        category=alert.category, rule_id=alert.rule_id, zone_id=alert.zone_id,
        track_id=alert.track_id, class_name=alert.class_name, position=_xyz(alert.position),
        geo=_geo(alert.geo_position), state=_enum(AlertState, alert.state, AlertState.NEW),
        description=alert.description, first_raised_ns=stamp_ns(alert.first_raised),
        acknowledged_by=alert.acknowledged_by)


def safety_view(status: SafetyStatus) -> SafetyView:
    return SafetyView(
        stamp_ns=stamp_ns(status.header.stamp), estop_engaged=bool(status.estop_engaged),
        estop_scope=int(status.estop_scope),
        estopped_vehicle_ids=tuple(status.estopped_vehicle_ids),
        estop_engaged_by=status.estop_engaged_by, estop_reason=status.estop_reason,
        vehicles=tuple(VehicleSafetyView(v.vehicle_id, tuple(v.violations),
                                         int(v.active_failsafe), bool(v.estopped))
                       for v in status.vehicles),
        degraded_nodes=tuple(status.degraded_nodes))


def heartbeat_view(beat: NodeHeartbeat) -> HeartbeatView:
    return HeartbeatView(beat.node_name, int(beat.pid), int(beat.sequence),
                         int(beat.progress_counter), int(beat.health), beat.status_msg)


def calibration(camera_id: str, info: Any, frame_id: str, decimation: int) -> CameraCalibration:
    """sensor_msgs/CameraInfo for the displayed (decimated) image, distortion dropped.

    The simulators render ideal pinholes; a real camera's distortion would
    need the full model, which Foxglove's CameraCalibration also carries.
    """
    scale = 1.0 / decimation
    k = [float(v) for v in info.k]
    p = [float(v) for v in info.p]
    for index in (0, 1, 2, 3, 4, 5):   # first two rows of K scale with the image
        k[index] *= scale
    for index in (0, 1, 2, 3, 4, 5, 6, 7):   # first two rows of P likewise
        p[index] *= scale
    width = math.ceil(int(info.width) / decimation)
    height = math.ceil(int(info.height) / decimation)
    distortion = tuple(float(v) for v in info.d) or (0.0, 0.0, 0.0, 0.0, 0.0)
    return CameraCalibration(stamp_ns(info.header.stamp), frame_id, width, height, tuple(k),
                             tuple(p), info.distortion_model or 'plumb_bob', distortion)


def verdict_record(verdict: SafetyVerdict) -> dict[str, Any]:
    return {'decision': _DECISIONS.get(verdict.decision, str(verdict.decision)),
            'reasons': list(verdict.reasons), 'checks_failed': list(verdict.checks_failed)}
