"""Map fixes, status tables, alert board, node health and log levels."""

import json
import math

import pytest
from sentinel_msgs.msg import Alert, NodeHeartbeat, SafetyStatus, VehicleSafety, VehicleState

from sentinel_bridge.foxglove_domain import (AlertState, AlertView, GeoPoint, HeartbeatView,
                                             LinkState, Severity, TrackView, VehicleKind,
                                             ZoneKind, ZoneView)
from sentinel_bridge.foxglove_model import LogLevel
from sentinel_bridge.foxglove_ros import (alert_view, heartbeat_view, safety_view,
                                          vehicle_view)
from sentinel_bridge.foxglove_status import (AlertBoard, HealthTable, log_level, map_overlay,
                                             safety_status, to_json_bytes, track_fix,
                                             vehicle_fix, vehicle_status, vehicles_table)

SECOND = 1_000_000_000


def _vehicle_message(**fields):
    message = VehicleState(vehicle_id='drone_2', vehicle_type=VehicleState.TYPE_DRONE,
                           mode='AUTO', armed=True, battery_remaining=math.nan,
                           link_state=VehicleState.LINK_DEGRADED, heading_deg=180.0,
                           current_task_id='t1')
    message.header.stamp.sec = 100
    message.position.x, message.position.y, message.position.z = 1.0, 2.0, 30.0
    message.geo_position.latitude_deg = 40.58
    message.geo_position.longitude_deg = -105.08
    message.geo_position.altitude = 1555.0
    for key, value in fields.items():
        setattr(message, key, value)
    return message


def test_vehicle_state_becomes_a_map_fix_and_a_json_row_without_nan():
    vehicle = vehicle_view(_vehicle_message())
    fix = vehicle_fix(vehicle)
    assert (fix.latitude_deg, fix.longitude_deg, fix.altitude) == (40.58, -105.08, 1555.0)
    assert fix.frame_id == 'drone_2' and fix.timestamp_ns == 100 * SECOND
    row = vehicle_status(vehicle, now_ns=101 * SECOND, stale_after_ns=2 * SECOND)
    assert row['battery_pct'] is None and row['link'] == 'degraded' and not row['stale']
    assert row['task_id'] == 't1' and row['z'] == 30.0
    json.loads(to_json_bytes(vehicles_table([vehicle], 101 * SECOND, 2 * SECOND)))


def test_vehicle_without_geo_position_is_left_off_the_map():
    message = _vehicle_message()
    message.geo_position.latitude_deg = 0.0
    message.geo_position.longitude_deg = 0.0
    assert vehicle_fix(vehicle_view(message)) is None
    with pytest.raises(ValueError):
        to_json_bytes({'x': math.nan})


def test_track_fix_carries_its_uncertainty_as_variance():
    track = TrackView('T1', 'person', 0.9, 5, (0, 0, 0), (0, 0, 0),
                      GeoPoint(40.1, -105.2, 1500.0), 2.0, False, ())
    fix = track_fix(track)
    assert fix.horizontal_variance == pytest.approx(4.0) and fix.frame_id == 'T1'


def test_map_overlay_has_zone_polygons_when_the_origin_is_known_and_labelled_tracks():
    zone = ZoneView('gate', ZoneKind.GATE, ((0, 0), (10, 0), (10, 10)), -math.inf, math.inf)
    track = TrackView('T1', 'person', 0.9, 5, (0, 0, 0), (0, 0, 0),
                      GeoPoint(40.1, -105.2, 1500.0), 2.0, False, ())
    overlay = map_overlay([zone], [track], lambda x, y, z: (40.0 + y * 1e-5, -105.0 + x * 1e-5,
                                                             z))
    polygon, point = overlay['features']
    ring = polygon['geometry']['coordinates'][0]
    assert ring[0] == ring[-1] and ring[1] == [-105.0 + 10e-5, 40.0]   # [lon, lat]
    assert point['properties']['name'] == 'T1 person'
    assert len(map_overlay([zone], [track], None)['features']) == 1


def _alert(alert_id, severity, state, stamp):
    return AlertView(alert_id, stamp, severity, 'intrusion', 'r1', 'yard', 'T1', 'person',
                     (0, 0, 0), GeoPoint(0, 0, 0), state, 'someone', stamp, '')


def test_alert_board_keeps_the_latest_version_sorted_by_severity_then_age():
    board = AlertBoard()
    board.update(_alert('a', Severity.WARNING, AlertState.NEW, 1 * SECOND))
    board.update(_alert('b', Severity.CRITICAL, AlertState.NEW, 2 * SECOND))
    board.update(_alert('a', Severity.WARNING, AlertState.ACKNOWLEDGED, 3 * SECOND))
    board.update(_alert('a', Severity.WARNING, AlertState.NEW, 2 * SECOND))   # late, older
    table = board.table(4 * SECOND)
    assert [(r['alert_id'], r['state']) for r in table['alerts']] == [('b', 'new'),
                                                                      ('a', 'acknowledged')]
    assert table['unacknowledged'] == 1 and table['unacknowledged_critical'] == 1


def test_resolved_alerts_expire_and_the_board_is_bounded():
    board = AlertBoard(max_rows=3, resolved_retention_ns=10 * SECOND)
    board.update(_alert('old', Severity.CRITICAL, AlertState.RESOLVED, 1 * SECOND))
    assert [r['alert_id'] for r in board.table(5 * SECOND)['alerts']] == ['old']
    assert board.table(20 * SECOND)['alerts'] == []
    for i in range(5):
        board.update(_alert(f'w{i}', Severity.WARNING, AlertState.NEW, (30 + i) * SECOND))
    board.update(_alert('crit', Severity.CRITICAL, AlertState.NEW, 1 * SECOND))
    ids = [r['alert_id'] for r in board.table(40 * SECOND)['alerts']]
    assert len(ids) == 3 and ids[0] == 'crit'


def _beat(progress, sequence, pid=10, health=0):
    return HeartbeatView('/perception/detector', pid, sequence, progress, health, '')


def test_health_table_tells_alive_stale_and_stuck_apart():
    table = HealthTable(stale_after_ns=1 * SECOND, stuck_after_ns=3 * SECOND)
    table.observe(_beat(1, 1), 0)
    table.observe(_beat(2, 2), 1 * SECOND)
    assert table.state_of('/perception/detector', int(1.5 * SECOND)) == 'alive'
    assert table.state_of('/perception/detector', 3 * SECOND) == 'stale'
    for t in range(2, 6):                       # heartbeats continue, progress frozen
        table.observe(_beat(2, t + 1), t * SECOND)
    assert table.state_of('/perception/detector', 5 * SECOND) == 'stuck'
    table.observe(_beat(0, 1, pid=11), 6 * SECOND)   # restarted process
    row = table.table(6 * SECOND)['nodes'][0]
    assert row['state'] == 'alive' and row['pid'] == 11


def test_messages_convert_to_views():
    alert = Alert(alert_id='A1', severity=Alert.SEVERITY_CRITICAL, state=Alert.STATE_NEW,
                  category='intrusion')
    assert alert_view(alert).severity is Severity.CRITICAL
    status = SafetyStatus(estop_engaged=True, estop_scope=SafetyStatus.SCOPE_FLEET,
                          estop_engaged_by='op', vehicles=[VehicleSafety(
                              vehicle_id='drone_1', violations=['low_battery', 'gps_lost'])])
    summary = safety_status(safety_view(status))
    assert summary['estop_engaged'] and summary['estop_scope'] == 'fleet'
    assert summary['vehicles'][0]['violations'] == 'low_battery, gps_lost'
    beat = heartbeat_view(NodeHeartbeat(node_name='/x', pid=3, sequence=9, progress_counter=4))
    assert (beat.sequence, beat.progress_counter) == (9, 4)
    assert vehicle_view(_vehicle_message(vehicle_type=VehicleState.TYPE_GROUND)).kind \
        is VehicleKind.GROUND
    assert vehicle_view(_vehicle_message(link_state=99)).link is LinkState.LOST


@pytest.mark.parametrize('ros, expected', [(10, LogLevel.DEBUG), (20, LogLevel.INFO),
                                           (30, LogLevel.WARNING), (40, LogLevel.ERROR),
                                           (50, LogLevel.FATAL), (25, LogLevel.INFO),
                                           (0, LogLevel.UNKNOWN)])
def test_rosout_levels_map_to_foxglove_levels(ros, expected):
    assert log_level(ros) is expected
