"""Map fixes, status tables, node health and logs for the operators' panels.

The map shows vehicles and tracks from their WGS84 fields (a message whose
geo position was never filled is left off the map rather than drawn at
0 N 0 E). Status goes out as JSON with a JSON Schema, which Foxglove's Table,
Indicator and Raw Messages panels read directly. Node health is derived here
from ``/heartbeats``: a node is *alive* while heartbeats arrive, *stale*
when they stop, *stuck* when they arrive but its progress counter has not
moved for a while (the same two counters the safety watchdog uses).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sentinel_bridge.foxglove_domain import (AlertState, AlertView, GeoPoint, HeartbeatView,
                                             SafetyView, Severity, TrackView, VehicleView,
                                             ZoneView)
from sentinel_bridge.foxglove_model import LocationFix, LogLevel, LogLine, Rgba
from sentinel_bridge.foxglove_scene import (AUTHORIZED_COLOR, INTRUDER_COLOR, VEHICLE_COLORS,
                                            ZONE_COLORS)

JsonDict = dict[str, Any]

# rcl_interfaces/Log levels (10, 20, 30, 40, 50) to foxglove.Log levels.
_ROS_LOG_LEVELS: dict[int, LogLevel] = {
    10: LogLevel.DEBUG, 20: LogLevel.INFO, 30: LogLevel.WARNING, 40: LogLevel.ERROR,
    50: LogLevel.FATAL,
}

# How long a resolved alert stays in the active-alerts table (ns) before it is dropped.
RESOLVED_ALERT_RETENTION_NS = 60_000_000_000
# Most alerts kept in the table; the oldest resolved, then oldest info ones go first.
MAX_ALERT_ROWS = 200


# --------------------------------------------------------------------------
# Map
# --------------------------------------------------------------------------

def _fix(stamp_ns: int, frame_id: str, geo: GeoPoint, sigma: float | None,
         color: Rgba) -> LocationFix | None:
    if not geo.valid:
        return None
    variance = sigma * sigma if sigma is not None and math.isfinite(sigma) and sigma > 0 else None
    return LocationFix(stamp_ns, frame_id, geo.latitude_deg, geo.longitude_deg, geo.altitude,
                       variance, color)


def vehicle_fix(vehicle: VehicleView) -> LocationFix | None:
    """A vehicle on the map (None when its state carries no geo position)."""
    return _fix(vehicle.stamp_ns, vehicle.vehicle_id, vehicle.geo, None,
                VEHICLE_COLORS[vehicle.link])


def track_fix(track: TrackView) -> LocationFix | None:
    """A track on the map with its 1-sigma uncertainty (None without a geo position)."""
    color = AUTHORIZED_COLOR if track.authorized else INTRUDER_COLOR
    return _fix(track.stamp_ns, track.track_id, track.geo, track.position_uncertainty, color)


EnuToGeo = Callable[[float, float, float], tuple[float, float, float]]


def map_overlay(zones: Iterable[ZoneView], tracks: Iterable[TrackView],
                enu_to_geo: EnuToGeo | None) -> JsonDict:
    """GeoJSON FeatureCollection: zone polygons (when the site origin is known) and tracks.

    ``enu_to_geo`` converts site ENU metres to (lat, lon, alt); without it
    zones, which carry no geo coordinates, are left out. Tracks use their own
    geo position. Each feature carries the ``name`` and ``style`` properties
    the Map panel uses for labels and colours.
    """
    features: list[JsonDict] = []
    if enu_to_geo is not None:
        for zone in zones:
            ring = [enu_to_geo(x, y, 0.0) for x, y in zone.polygon]
            coordinates = [[lon, lat] for lat, lon, _ in ring]
            coordinates.append(coordinates[0])
            color = ZONE_COLORS.get(zone.kind, Rgba(1.0, 1.0, 1.0)).hex()
            features.append({
                'type': 'Feature',
                'properties': {'name': zone.zone_id, 'kind': zone.kind.name.lower(),
                               'style': {'color': color, 'weight': 2, 'fillOpacity': 0.1}},
                'geometry': {'type': 'Polygon', 'coordinates': [coordinates]},
            })
    for track in tracks:
        if not track.geo.valid:
            continue
        color = (AUTHORIZED_COLOR if track.authorized else INTRUDER_COLOR).hex()
        features.append({
            'type': 'Feature',
            'properties': {'name': f'{track.track_id} {track.class_name}',
                           'style': {'color': color}},
            'geometry': {'type': 'Point',
                         'coordinates': [track.geo.longitude_deg, track.geo.latitude_deg]},
        })
    return {'type': 'FeatureCollection', 'features': features}


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------

def _finite(value: float, digits: int = 2) -> float | None:
    """JSON has no NaN: unknown values become null."""
    return round(value, digits) if math.isfinite(value) else None


def vehicle_status(vehicle: VehicleView, now_ns: int, stale_after_ns: int) -> JsonDict:
    """One vehicle as a flat JSON object (a row of the vehicles table)."""
    age_ns = now_ns - vehicle.stamp_ns
    battery = vehicle.battery_remaining
    return {
        'vehicle_id': vehicle.vehicle_id,
        'stamp_ns': vehicle.stamp_ns,
        'type': vehicle.kind.name.lower(),
        'mode': vehicle.mode,
        'armed': vehicle.armed,
        'landed': vehicle.landed,
        'task_id': vehicle.task_id,
        'battery_pct': round(battery * 100.0, 1) if math.isfinite(battery) else None,
        'link': vehicle.link.name.lower(),
        'gps_fix': vehicle.gps_fix,
        'x': _finite(vehicle.position[0]),
        'y': _finite(vehicle.position[1]),
        'z': _finite(vehicle.position[2]),
        'heading_deg': _finite(vehicle.heading_deg, 1),
        'speed': _finite(vehicle.speed),
        'age_s': round(age_ns / 1e9, 2),
        'stale': age_ns > stale_after_ns,
    }


def vehicles_table(vehicles: Iterable[VehicleView], now_ns: int, stale_after_ns: int) -> JsonDict:
    rows = [vehicle_status(v, now_ns, stale_after_ns)
            for v in sorted(vehicles, key=lambda v: v.vehicle_id)]
    return {'stamp_ns': now_ns, 'vehicles': rows}


def safety_status(safety: SafetyView) -> JsonDict:
    """The watchdog's state, flattened for an Indicator (``estop_engaged``) and a table."""
    return {
        'stamp_ns': safety.stamp_ns,
        'estop_engaged': safety.estop_engaged,
        'estop_scope': ('none', 'vehicle', 'fleet')[safety.estop_scope]
        if 0 <= safety.estop_scope <= 2 else str(safety.estop_scope),
        'estopped_vehicle_ids': list(safety.estopped_vehicle_ids),
        'estop_engaged_by': safety.estop_engaged_by,
        'estop_reason': safety.estop_reason,
        'degraded_nodes': list(safety.degraded_nodes),
        'vehicles': [{'vehicle_id': v.vehicle_id, 'violations': ', '.join(v.violations),
                      'active_failsafe': v.active_failsafe, 'estopped': v.estopped}
                     for v in safety.vehicles],
    }


def alert_record(alert: AlertView) -> JsonDict:
    return {
        'alert_id': alert.alert_id,
        'stamp_ns': alert.stamp_ns,
        'severity': alert.severity.name.lower(),
        'state': alert.state.name.lower(),
        'category': alert.category,
        'rule_id': alert.rule_id,
        'zone_id': alert.zone_id,
        'track_id': alert.track_id,
        'class_name': alert.class_name,
        'x': _finite(alert.position[0]),
        'y': _finite(alert.position[1]),
        'latitude_deg': alert.geo.latitude_deg if alert.geo.valid else None,
        'longitude_deg': alert.geo.longitude_deg if alert.geo.valid else None,
        'description': alert.description,
        'first_raised_ns': alert.first_raised_ns,
        'acknowledged_by': alert.acknowledged_by,
    }


class AlertBoard:
    """The latest version of every alert, for the active-alerts table.

    Alerts are updated in place under the same id; resolved ones linger for
    a minute so an operator sees them close, then drop off. The board is
    bounded: past ``MAX_ALERT_ROWS`` the oldest resolved, then the oldest
    lowest-severity alerts are forgotten (the alert log keeps every event).
    """

    def __init__(self, max_rows: int = MAX_ALERT_ROWS,
                 resolved_retention_ns: int = RESOLVED_ALERT_RETENTION_NS) -> None:
        if max_rows < 1:
            raise ValueError(f'max_rows must be >= 1, got {max_rows}')
        self._alerts: dict[str, AlertView] = {}
        self._max_rows = max_rows
        self._retention_ns = resolved_retention_ns

    def update(self, alert: AlertView) -> None:
        current = self._alerts.get(alert.alert_id)
        if current is not None and current.stamp_ns > alert.stamp_ns:
            return  # an older version arriving late
        self._alerts[alert.alert_id] = alert
        self._trim()

    def _trim(self) -> None:
        excess = len(self._alerts) - self._max_rows
        if excess <= 0:
            return
        victims = sorted(self._alerts.values(),
                         key=lambda a: (a.state is not AlertState.RESOLVED, a.severity,
                                        a.stamp_ns))[:excess]
        for alert in victims:
            del self._alerts[alert.alert_id]

    def table(self, now_ns: int) -> JsonDict:
        """Rows by severity (critical first), then newest first; expired resolved ones dropped."""
        for alert_id in [a.alert_id for a in self._alerts.values()
                         if a.state is AlertState.RESOLVED
                         and now_ns - a.stamp_ns > self._retention_ns]:
            del self._alerts[alert_id]
        rows = sorted(self._alerts.values(), key=lambda a: (-int(a.severity), -a.stamp_ns))
        active = sum(1 for a in rows if a.state is AlertState.NEW)
        critical = sum(1 for a in rows
                       if a.state is AlertState.NEW and a.severity is Severity.CRITICAL)
        return {'stamp_ns': now_ns, 'unacknowledged': active, 'unacknowledged_critical': critical,
                'alerts': [alert_record(a) for a in rows]}


# --------------------------------------------------------------------------
# Node health
# --------------------------------------------------------------------------

@dataclass
class _NodeRecord:
    last: HeartbeatView
    last_seen_ns: int
    progress_changed_ns: int


class HealthTable:
    """Per-node liveness from heartbeats, judged on the bridge's own monotonic clock.

    A node whose heartbeats stop for ``stale_after_ns`` is *stale*; one whose
    heartbeats arrive but whose progress counter stays put for
    ``stuck_after_ns`` is *stuck*. A restarted node (new pid or a sequence
    that went backwards) starts afresh.
    """

    def __init__(self, stale_after_ns: int, stuck_after_ns: int) -> None:
        if stale_after_ns <= 0 or stuck_after_ns <= 0:
            raise ValueError('stale and stuck timeouts must be positive')
        self._stale_after_ns = stale_after_ns
        self._stuck_after_ns = stuck_after_ns
        self._nodes: dict[str, _NodeRecord] = {}

    def observe(self, beat: HeartbeatView, now_ns: int) -> None:
        record = self._nodes.get(beat.node_name)
        restarted = record is None or record.last.pid != beat.pid \
            or beat.sequence < record.last.sequence
        if record is None or restarted:
            self._nodes[beat.node_name] = _NodeRecord(beat, now_ns, now_ns)
            return
        if beat.progress_counter != record.last.progress_counter:
            record.progress_changed_ns = now_ns
        record.last = beat
        record.last_seen_ns = now_ns

    def state_of(self, node_name: str, now_ns: int) -> str:
        record = self._nodes[node_name]
        if now_ns - record.last_seen_ns > self._stale_after_ns:
            return 'stale'
        if now_ns - record.progress_changed_ns > self._stuck_after_ns:
            return 'stuck'
        return 'alive'

    def table(self, now_ns: int) -> JsonDict:
        rows = []
        for name in sorted(self._nodes):
            record = self._nodes[name]
            beat = record.last
            rows.append({
                'node': name,
                'state': self.state_of(name, now_ns),
                'health': ('ok', 'degraded', 'error')[beat.health]
                if 0 <= beat.health <= 2 else str(beat.health),
                'age_s': round((now_ns - record.last_seen_ns) / 1e9, 2),
                'progress': beat.progress_counter,
                'pid': beat.pid,
                'status_msg': beat.status_msg,
            })
        alive = sum(1 for r in rows if r['state'] == 'alive' and r['health'] == 'ok')
        return {'stamp_ns': now_ns, 'nodes_ok': alive, 'nodes_total': len(rows), 'nodes': rows}


# --------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------

def log_level(ros_level: int) -> LogLevel:
    """rcl_interfaces/Log level to foxglove.Log level (in-between values round down)."""
    for threshold in (50, 40, 30, 20, 10):
        if ros_level >= threshold:
            return _ROS_LOG_LEVELS[threshold]
    return LogLevel.UNKNOWN


def rosout_line(stamp_ns: int, ros_level: int, name: str, message: str, file: str,
                line: int) -> LogLine:
    return LogLine(stamp_ns, log_level(ros_level), name, message, file, line)


def to_json_bytes(document: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused (Foxglove cannot parse them)."""
    return json.dumps(document, separators=(',', ':'), allow_nan=False).encode('utf-8')
