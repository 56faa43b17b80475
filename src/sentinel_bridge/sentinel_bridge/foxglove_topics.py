"""Names and JSON Schemas of the Foxglove channels and services the bridge offers.

One place for the names, because the layout file (config/foxglove_layout.json),
the documentation (docs/foxglove.md) and the tests all refer to them.
"""

from __future__ import annotations

from typing import Any

# 3D scene: zones, scenery and frusta (re-sent to each subscriber) / vehicles and tracks.
SCENE_STATIC = '/scene/static'
SCENE_LIVE = '/scene/live'
# Transform tree: site -> vehicles -> cameras -> optical frames.
TF = '/tf'
# Map panel: zones and labelled tracks as GeoJSON, tracks as LocationFix.
MAP_OVERLAY = '/map/overlay'
MAP_TRACKS = '/map/tracks'
# Status tables (JSON).
VEHICLES = '/sentinel/vehicles'
SAFETY = '/sentinel/safety'
ALERTS = '/sentinel/alerts'                 # every alert event, in order
ALERTS_ACTIVE = '/sentinel/alerts/active'   # the latest state of each alert
HEALTH = '/sentinel/health'
# foxglove.Log: /rosout plus the bridge's record of operator actions.
LOGS = '/sentinel/log'
# The bridge's own counters (frames in, encoded, replaced, sent; queue depths).
BRIDGE_STATS = '/sentinel/bridge'

# Services (JSON requests; see sentinel_bridge.foxglove_requests).
SERVICE_LOGIN = '/sentinel/login'
SERVICE_LOGOUT = '/sentinel/logout'
SERVICE_ESTOP = '/sentinel/trigger_estop'
SERVICE_ACKNOWLEDGE = '/sentinel/acknowledge_alert'
SERVICE_COMMAND = '/sentinel/command_vehicle'


def camera_image(camera_id: str) -> str:
    return f'/cameras/{camera_id}/image/compressed'


def camera_annotations(camera_id: str) -> str:
    return f'/cameras/{camera_id}/annotations'


def camera_calibration(camera_id: str) -> str:
    return f'/cameras/{camera_id}/calibration'


def vehicle_fix(vehicle_id: str) -> str:
    return f'/map/vehicles/{vehicle_id}'


def vehicle_status(vehicle_id: str) -> str:
    return f'/vehicles/{vehicle_id}/status'


def optical_frame(camera_id: str) -> str:
    """Frame id of a camera's optical frame (z forward, x right, y down)."""
    return f'{camera_id}_optical'


def _object(title: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {'title': title, 'type': 'object', 'properties': properties}


_NUMBER_OR_NULL = {'type': ['number', 'null']}
_VEHICLE_ROW = {
    'vehicle_id': {'type': 'string'}, 'stamp_ns': {'type': 'integer'},
    'type': {'type': 'string'}, 'mode': {'type': 'string'}, 'armed': {'type': 'boolean'},
    'landed': {'type': 'boolean'}, 'task_id': {'type': 'string'},
    'battery_pct': _NUMBER_OR_NULL, 'link': {'type': 'string'}, 'gps_fix': {'type': 'integer'},
    'x': _NUMBER_OR_NULL, 'y': _NUMBER_OR_NULL, 'z': _NUMBER_OR_NULL,
    'heading_deg': _NUMBER_OR_NULL, 'speed': _NUMBER_OR_NULL, 'age_s': {'type': 'number'},
    'stale': {'type': 'boolean'},
}
_ALERT_ROW = {
    'alert_id': {'type': 'string'}, 'stamp_ns': {'type': 'integer'},
    'severity': {'type': 'string'}, 'state': {'type': 'string'}, 'category': {'type': 'string'},
    'rule_id': {'type': 'string'}, 'zone_id': {'type': 'string'}, 'track_id': {'type': 'string'},
    'class_name': {'type': 'string'}, 'x': _NUMBER_OR_NULL, 'y': _NUMBER_OR_NULL,
    'latitude_deg': _NUMBER_OR_NULL, 'longitude_deg': _NUMBER_OR_NULL,
    'description': {'type': 'string'}, 'first_raised_ns': {'type': 'integer'},
    'acknowledged_by': {'type': 'string'},
}

# JSON Schemas of the JSON channels, by schema name.
VEHICLE_STATUS_SCHEMA = _object('sentinel.VehicleStatus', _VEHICLE_ROW)
VEHICLES_SCHEMA = _object('sentinel.Vehicles', {
    'stamp_ns': {'type': 'integer'},
    'vehicles': {'type': 'array', 'items': _object('sentinel.VehicleStatus', _VEHICLE_ROW)}})
SAFETY_SCHEMA = _object('sentinel.SafetyStatus', {
    'stamp_ns': {'type': 'integer'}, 'estop_engaged': {'type': 'boolean'},
    'estop_scope': {'type': 'string'},
    'estopped_vehicle_ids': {'type': 'array', 'items': {'type': 'string'}},
    'estop_engaged_by': {'type': 'string'}, 'estop_reason': {'type': 'string'},
    'degraded_nodes': {'type': 'array', 'items': {'type': 'string'}},
    'vehicles': {'type': 'array', 'items': _object('sentinel.VehicleSafety', {
        'vehicle_id': {'type': 'string'}, 'violations': {'type': 'string'},
        'active_failsafe': {'type': 'integer'}, 'estopped': {'type': 'boolean'}})}})
ALERT_SCHEMA = _object('sentinel.Alert', _ALERT_ROW)
ALERTS_ACTIVE_SCHEMA = _object('sentinel.ActiveAlerts', {
    'stamp_ns': {'type': 'integer'}, 'unacknowledged': {'type': 'integer'},
    'unacknowledged_critical': {'type': 'integer'},
    'alerts': {'type': 'array', 'items': _object('sentinel.Alert', _ALERT_ROW)}})
HEALTH_SCHEMA = _object('sentinel.NodeHealth', {
    'stamp_ns': {'type': 'integer'}, 'nodes_ok': {'type': 'integer'},
    'nodes_total': {'type': 'integer'},
    'nodes': {'type': 'array', 'items': _object('sentinel.NodeHealthRow', {
        'node': {'type': 'string'}, 'state': {'type': 'string', 'enum': ['alive', 'stale',
                                                                         'stuck']},
        'health': {'type': 'string'}, 'age_s': {'type': 'number'},
        'progress': {'type': 'integer'}, 'pid': {'type': 'integer'},
        'status_msg': {'type': 'string'}})}})
BRIDGE_STATS_SCHEMA = _object('sentinel.BridgeStats', {
    key: {'type': 'number'} for key in (
        'frames_received', 'frames_replaced_before_encoding', 'frames_unwatched',
        'frames_encoded', 'frame_errors', 'encode_ms_mean', 'images_replaced_before_sending',
        'images_sent', 'state_sent', 'events_sent', 'events_dropped', 'send_errors',
        'pending_state', 'pending_events', 'pending_images')})
