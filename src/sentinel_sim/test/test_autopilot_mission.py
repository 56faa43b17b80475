"""Emulated autopilot: mission and fence protocol, AUTO execution, geofence failsafe."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import CopterMode, FenceAction, RoverMode
from sentinel_sim.vehicle_types import Vector3, VehicleKind


def _harness() -> ModuleType:
    """The shared harness, loaded by path: pytest's importlib mode puts no test folder on sys.path."""
    name = 'sentinel_sim_autopilot_harness'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name('test_autopilot_harness.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


H = _harness()
MISSION = mavlink.MAV_MISSION_TYPE_MISSION
FENCE = mavlink.MAV_MISSION_TYPE_FENCE
REL = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
GLOBAL = mavlink.MAV_FRAME_GLOBAL_INT
WAYPOINT = mavlink.MAV_CMD_NAV_WAYPOINT
TAKEOFF = mavlink.MAV_CMD_NAV_TAKEOFF
LOITER_TIME = mavlink.MAV_CMD_NAV_LOITER_TIME
RTL = mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH
LAND = mavlink.MAV_CMD_NAV_LAND
ACCEPTED = mavlink.MAV_RESULT_ACCEPTED
FAILED = mavlink.MAV_RESULT_FAILED


def item(sim: H.Sim, seq: int, command: int, east: float = 0.0, north: float = 0.0, alt: float = 0.0,
         p1: float = 0.0, p2: float = 0.0, frame: int = REL, mission_type: int = MISSION,
         latlon: tuple[int, int] | None = None) -> Any:
    """A MISSION_ITEM_INT at a site point (0, 0 east/north gives lat/lon 0: "here")."""
    if latlon is None:
        latlon = sim.geodetic(east, north) if (east, north) != (0.0, 0.0) else (0, 0)
    return sim.gcs.mission_item_int_encode(sim.config.system_id, 1, seq, frame, command, 0, 1, p1, p2, 0.0,
                                           math.nan, latlon[0], latlon[1], alt, mission_type)


def upload(sim: H.Sim, items: list[Any], mission_type: int = MISSION) -> Any:
    """Run the upload handshake item by item; returns the vehicle's MISSION_ACK."""
    replies = sim.send(sim.gcs.mission_count_encode(sim.config.system_id, 1, len(items), mission_type))
    for msg in items:
        acks = [m for m in replies if m.get_type() == 'MISSION_ACK']
        if acks:
            return acks[-1]
        requests = [m for m in replies if m.get_type() == 'MISSION_REQUEST_INT']
        assert requests and requests[-1].seq == msg.seq and requests[-1].mission_type == mission_type
        replies = sim.send(msg)
    acks = [m for m in replies if m.get_type() == 'MISSION_ACK']
    assert len(acks) == 1, replies
    assert acks[0].mission_type == mission_type
    return acks[0]


def download(sim: H.Sim, mission_type: int = MISSION) -> list[Any]:
    replies = sim.send(sim.gcs.mission_request_list_encode(sim.config.system_id, 1, mission_type))
    count = [m for m in replies if m.get_type() == 'MISSION_COUNT'][-1].count
    items = []
    for seq in range(count):
        replies = sim.send(sim.gcs.mission_request_int_encode(sim.config.system_id, 1, seq, mission_type))
        items.append([m for m in replies if m.get_type() == 'MISSION_ITEM_INT'][-1])
    sim.send(sim.gcs.mission_ack_encode(sim.config.system_id, 1, mavlink.MAV_MISSION_ACCEPTED, mission_type))
    return items


def patrol(sim: H.Sim) -> list[Any]:
    return [
        item(sim, 0, WAYPOINT),                                   # home slot
        item(sim, 1, TAKEOFF, alt=10.0),
        item(sim, 2, WAYPOINT, 40.0, 0.0, 10.0),
        item(sim, 3, LOITER_TIME, 40.0, 40.0, 15.0, p1=3.0),
        sim.gcs.mission_item_int_encode(1, 1, 4, mavlink.MAV_FRAME_MISSION, mavlink.MAV_CMD_DO_CHANGE_SPEED, 0, 1,
                                        1.0, 8.0, -1, 0, 0, 0, 0, MISSION),
        item(sim, 5, WAYPOINT, 0.0, 40.0, 10.0, latlon=sim.geodetic(0.001, 40.0)),
        item(sim, 6, RTL),
    ]


def reached(sim: H.Sim) -> list[tuple[int, float]]:
    return [(m.seq, t) for m, t in zip(sim.messages, sim.times) if m.get_type() == 'MISSION_ITEM_REACHED']


# ------------------------------------------------------------------ protocol

def test_upload_and_download_round_trip() -> None:
    sim = H.Sim(H.make_config())
    items = patrol(sim)
    ack = upload(sim, items)
    assert ack.type == mavlink.MAV_MISSION_ACCEPTED
    got = download(sim)
    assert len(got) == len(items)
    home_lat, home_lon = sim.geodetic(0.001, 0.0)
    assert abs(got[0].x - home_lat) <= 1 and abs(got[0].y - sim.geodetic(0.0, 0.0)[1]) <= 1  # seq 0 is home
    for sent, back in zip(items[1:], got[1:]):
        fields = ('seq', 'command', 'frame', 'x', 'y', 'z', 'param1', 'param2')
        assert [getattr(back, f) for f in fields] == [getattr(sent, f) for f in fields]


def test_invalid_items_are_refused_and_the_old_mission_kept() -> None:
    sim = H.Sim(H.make_config(max_altitude_m=100.0))
    assert upload(sim, patrol(sim)).type == mavlink.MAV_MISSION_ACCEPTED
    before = download(sim)
    bad_items = {
        mavlink.MAV_MISSION_INVALID_PARAM5_X: item(sim, 2, WAYPOINT, latlon=(91 * 10**7, 1)),
        mavlink.MAV_MISSION_INVALID_PARAM6_Y: item(sim, 2, WAYPOINT, latlon=(1, 181 * 10**7)),
        mavlink.MAV_MISSION_INVALID_PARAM7: item(sim, 2, WAYPOINT, 10.0, 10.0, math.nan),
        mavlink.MAV_MISSION_UNSUPPORTED: item(sim, 2, mavlink.MAV_CMD_NAV_SPLINE_WAYPOINT, 10.0, 10.0, 10.0),
        mavlink.MAV_MISSION_UNSUPPORTED_FRAME: item(sim, 2, WAYPOINT, 10.0, 10.0, 10.0,
                                                    frame=mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT),
        mavlink.MAV_MISSION_INVALID_PARAM1: item(sim, 2, LOITER_TIME, 10.0, 10.0, 10.0, p1=math.nan),
    }
    too_high = item(sim, 2, WAYPOINT, 10.0, 10.0, 150.0)
    for expected, bad in list(bad_items.items()) + [(mavlink.MAV_MISSION_INVALID_PARAM7, too_high)]:
        mark = len(sim.messages)
        ack = upload(sim, [item(sim, 0, WAYPOINT), item(sim, 1, TAKEOFF, alt=10.0), bad,
                           item(sim, 3, RTL)])
        assert ack.type == expected
        assert sim.texts(mark), 'a refused item must say why'
        assert [(m.seq, m.command, m.x, m.y, m.z) for m in download(sim)] == \
            [(m.seq, m.command, m.x, m.y, m.z) for m in before]
    rover = H.Sim(H.make_config(VehicleKind.GROUND))
    assert upload(rover, [item(rover, 0, WAYPOINT), item(rover, 1, TAKEOFF, alt=10.0)]).type == \
        mavlink.MAV_MISSION_UNSUPPORTED
    replies = sim.send(sim.gcs.mission_count_encode(1, 1, 5000, MISSION))
    assert [m.type for m in replies if m.get_type() == 'MISSION_ACK'] == [mavlink.MAV_MISSION_NO_SPACE]
    replies = sim.send(sim.gcs.mission_count_encode(1, 1, 3, mavlink.MAV_MISSION_TYPE_RALLY))
    assert [m.type for m in replies if m.get_type() == 'MISSION_ACK'] == [mavlink.MAV_MISSION_UNSUPPORTED]


def test_out_of_sequence_items_are_re_requested_and_stalls_retried_then_cancelled() -> None:
    sim = H.Sim(H.make_config())
    items = patrol(sim)[:3]
    replies = sim.send(sim.gcs.mission_count_encode(1, 1, len(items), MISSION))
    assert [m.seq for m in replies if m.get_type() == 'MISSION_REQUEST_INT'] == [0]
    replies = sim.send(items[1])                                    # skipped item 0
    assert [m.seq for m in replies if m.get_type() == 'MISSION_REQUEST_INT'] == [0]
    replies = sim.send(items[0])
    assert [m.seq for m in replies if m.get_type() == 'MISSION_REQUEST_INT'] == [1]
    mark = len(sim.messages)
    sim.run(1.5)                                                    # nothing arrives: asked again
    assert [m.seq for m in sim.of_type('MISSION_REQUEST_INT', mark)] == [1]
    other = sim.send(sim.gcs.mission_count_encode(1, 1, 2, MISSION), sysid=254)
    assert [m.type for m in other if m.get_type() == 'MISSION_ACK'] == [mavlink.MAV_MISSION_DENIED]
    sim.run(8.0)
    acks = [a for a in sim.of_type('MISSION_ACK', mark) if a.target_system == H.GCS_SYSID]
    assert [a.type for a in acks] == [mavlink.MAV_MISSION_OPERATION_CANCELLED]
    assert download(sim)[1:] == []                                  # nothing half-written


def test_legacy_mission_item_upload_and_request() -> None:
    sim = H.Sim(H.make_config())
    lat, lon = sim.geodetic(25.0, 5.0)
    replies = sim.send(sim.gcs.mission_count_encode(1, 1, 2, MISSION))
    replies = sim.send(sim.gcs.mission_item_encode(1, 1, 0, REL, WAYPOINT, 0, 1, 0, 0, 0, 0, 0, 0, 0, MISSION))
    replies = sim.send(sim.gcs.mission_item_encode(1, 1, 1, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT, WAYPOINT, 0, 1,
                                                   0, 0, 0, 0, lat / 1e7, lon / 1e7, 12.0, MISSION))
    assert [m.type for m in replies if m.get_type() == 'MISSION_ACK'] == [mavlink.MAV_MISSION_ACCEPTED]
    replies = sim.send(sim.gcs.mission_request_encode(1, 1, 1, MISSION))
    legacy = [m for m in replies if m.get_type() == 'MISSION_ITEM'][-1]
    assert abs(legacy.x - lat / 1e7) < 1e-5 and legacy.z == 12.0


def test_clear_all_and_clear_refused_while_running() -> None:
    sim = H.Sim(H.make_config())
    upload(sim, patrol(sim))
    sim.set_mode('GUIDED')
    sim.arm()
    assert sim.command(mavlink.MAV_CMD_MISSION_START).result == ACCEPTED
    replies = sim.send(sim.gcs.mission_clear_all_encode(1, 1, MISSION))
    assert [m.type for m in replies if m.get_type() == 'MISSION_ACK'] == [mavlink.MAV_MISSION_DENIED]
    sim.set_mode('GUIDED')
    replies = sim.send(sim.gcs.mission_clear_all_encode(1, 1, MISSION))
    assert [m.type for m in replies if m.get_type() == 'MISSION_ACK'] == [mavlink.MAV_MISSION_ACCEPTED]
    assert len(download(sim)) == 1
    assert sim.set_mode('AUTO').result == FAILED


# ------------------------------------------------------------------ AUTO

def test_copter_flies_a_mission_to_completion() -> None:
    sim = H.Sim(H.make_config(rtl_loiter_s=1.0, land_speed_m_s=1.5, rtl_altitude_m=15.0))
    assert upload(sim, patrol(sim)).type == mavlink.MAV_MISSION_ACCEPTED
    assert sim.set_mode('GUIDED').result == ACCEPTED
    assert sim.arm().result == ACCEPTED
    assert sim.command(mavlink.MAV_CMD_MISSION_START).result == ACCEPTED
    assert sim.ap.mode == CopterMode.AUTO
    sim.run_until(lambda: sim.physics.position.z > 5.0, 10, 'mission takeoff')
    sim.run_until(lambda: not sim.ap.armed, 120, 'mission end')
    seqs = [seq for seq, _ in reached(sim)]
    assert seqs == [1, 2, 3, 5, 6]
    times = dict(reached(sim))
    assert times[3] - times[2] >= 3.0 + 40.0 / 5.0 - 0.5          # travel at 5 m/s, then 3 s loiter
    assert sim.physics.on_ground and math.hypot(sim.physics.position.x, sim.physics.position.y) < 1.0
    assert not sim.physics.crashed
    current = sim.of_type('MISSION_CURRENT')
    assert {m.seq for m in current} >= {1, 2, 3, 5, 6}
    assert current[-1].mission_state == mavlink.MISSION_STATE_COMPLETE
    assert 'Mission complete' in sim.texts()
    assert max(sp.max_speed for sp in sim.setpoints) == 8.0        # DO_CHANGE_SPEED applied


def test_mission_land_at_a_location() -> None:
    sim = H.Sim(H.make_config(land_speed_m_s=2.0))
    upload(sim, [item(sim, 0, WAYPOINT), item(sim, 1, TAKEOFF, alt=8.0), item(sim, 2, LAND, 30.0, -20.0)])
    sim.set_mode('GUIDED')
    sim.arm()
    sim.command(mavlink.MAV_CMD_MISSION_START)
    sim.run_until(lambda: not sim.ap.armed, 60, 'landed')
    assert H.dist(sim.physics.position, Vector3(30.0, -20.0, 0.0)) < 0.5
    assert [seq for seq, _ in reached(sim)] == [1, 2]


def test_auto_refusals() -> None:
    sim = H.Sim(H.make_config())
    assert sim.set_mode('AUTO').result == FAILED                       # no mission
    upload(sim, [item(sim, 0, WAYPOINT), item(sim, 1, WAYPOINT, 10.0, 0.0, 10.0)])
    sim.set_mode('GUIDED')
    assert sim.command(mavlink.MAV_CMD_MISSION_START).result == FAILED  # copter: arm first
    sim.arm()
    mark = len(sim.messages)
    assert sim.command(mavlink.MAV_CMD_MISSION_START).result == FAILED  # landed, no takeoff item
    assert 'Auto: Missing Takeoff Cmd' in sim.texts(mark)
    assert sim.command(mavlink.MAV_CMD_MISSION_START, 9).result == mavlink.MAV_RESULT_DENIED
    assert sim.ap.mode == CopterMode.GUIDED


def test_mission_set_current_jumps_while_flying() -> None:
    sim = H.Sim(H.make_config())
    upload(sim, patrol(sim))
    sim.set_mode('GUIDED')
    sim.arm()
    sim.command(mavlink.MAV_CMD_MISSION_START)
    sim.run_until(lambda: sim.ap.mission_index == 2, 20)
    replies = sim.send(sim.gcs.mission_set_current_encode(1, 1, 5))
    assert [m.seq for m in replies if m.get_type() == 'MISSION_CURRENT'] == [5]
    sim.run_until(lambda: sim.ap.mission_index == 6, 40, 'jumped item done')
    assert [seq for seq, _ in reached(sim)] == [1, 5]
    replies = sim.send(sim.gcs.mission_set_current_encode(1, 1, 40))
    assert any('no item' in m.text for m in replies if m.get_type() == 'STATUSTEXT')
    assert sim.command(mavlink.MAV_CMD_DO_SET_MISSION_CURRENT, 40).result == mavlink.MAV_RESULT_DENIED


def test_rover_mission_ends_in_hold() -> None:
    sim = H.Sim(H.make_config(VehicleKind.GROUND, cruise_speed_m_s=4.0))
    upload(sim, [item(sim, 0, WAYPOINT), item(sim, 1, WAYPOINT, 20.0, 0.0),
                 item(sim, 2, WAYPOINT, 20.0, 20.0)])
    assert sim.set_mode('AUTO').result == ACCEPTED                     # rovers may arm in AUTO
    assert sim.arm().result == ACCEPTED
    sim.run_until(lambda: sim.ap.mode == RoverMode.HOLD, 30, 'mission end')
    assert math.hypot(sim.physics.position.x - 20.0, sim.physics.position.y - 20.0) <= 2.0
    assert [seq for seq, _ in reached(sim)] == [1, 2]
    assert sim.ap.armed


# ------------------------------------------------------------------ fences

def square_fence(sim: H.Sim, half: float = 50.0) -> list[Any]:
    corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    items = [item(sim, i, mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, e, n, p1=4.0,
                  frame=mavlink.MAV_FRAME_GLOBAL, mission_type=FENCE) for i, (e, n) in enumerate(corners)]
    items.append(item(sim, 4, mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 30.0, 30.0, p1=5.0,
                      frame=mavlink.MAV_FRAME_GLOBAL, mission_type=FENCE))
    return items


def fly_east_until(sim: H.Sim, speed: float, predicate: Any, timeout: float, what: str) -> None:
    """Stream a velocity target east (as a GCS joystick would) until the predicate holds."""
    mask = 0b110111000111  # velocity only
    end = sim.t + timeout
    while not predicate():
        assert sim.t < end, f'{what} not reached within {timeout} s ({sim.ap.snapshot()})'
        sim.send(sim.gcs.set_position_target_global_int_encode(0, 1, 1, REL, mask, 0, 0, 0, 0.0, speed, 0.0,
                                                               0, 0, 0, 0, 0))
        sim.step()


def test_fence_upload_download_and_bad_fences() -> None:
    sim = H.Sim(H.make_config())
    fence = square_fence(sim)
    assert upload(sim, fence, FENCE).type == mavlink.MAV_MISSION_ACCEPTED
    assert sim.ap.fence_enabled
    got = download(sim, FENCE)
    assert [(m.command, m.x, m.y, m.param1) for m in got] == [(m.command, m.x, m.y, m.param1) for m in fence]
    bad = square_fence(sim)[:2]  # a polygon that claims 4 vertices but has 2
    assert upload(sim, bad, FENCE).type == mavlink.MAV_MISSION_INVALID_PARAM1
    assert len(download(sim, FENCE)) == len(fence)
    two_vertex = [item(sim, i, mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, e, 0.0, p1=2.0,
                       frame=mavlink.MAV_FRAME_GLOBAL, mission_type=FENCE) for i, e in enumerate((0.0, 10.0))]
    assert upload(sim, two_vertex, FENCE).type == mavlink.MAV_MISSION_INVALID_PARAM1
    circle = [item(sim, 0, mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, 1.0, 1.0, p1=-5.0,
                   frame=mavlink.MAV_FRAME_GLOBAL, mission_type=FENCE)]
    assert upload(sim, circle, FENCE).type == mavlink.MAV_MISSION_INVALID_PARAM1
    assert upload(sim, [item(sim, 0, WAYPOINT, 1.0, 1.0, mission_type=FENCE)], FENCE).type == \
        mavlink.MAV_MISSION_UNSUPPORTED
    replies = sim.send(sim.gcs.mission_clear_all_encode(1, 1, FENCE))
    assert [m.type for m in replies if m.get_type() == 'MISSION_ACK'] == [mavlink.MAV_MISSION_ACCEPTED]
    assert not sim.ap.fence_enabled and download(sim, FENCE) == []


def test_fence_breach_triggers_rtl_and_targets_outside_are_refused() -> None:
    sim = H.Sim(H.make_config(rtl_loiter_s=0.0))
    upload(sim, square_fence(sim), FENCE)
    sim.fly_to_altitude(10.0)
    lat, lon = sim.geodetic(80.0, 0.0)
    mark = len(sim.messages)
    ack = sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, REL, (-1, 0, 0, math.nan), lat, lon, 10.0)
    assert ack.result == mavlink.MAV_RESULT_DENIED and any('fence' in t for t in sim.texts(mark))
    fly_east_until(sim, 5.0, lambda: sim.ap.mode == CopterMode.RTL, 15, 'fence failsafe')
    assert 49.0 < sim.physics.position.x < 52.0
    breach = [m for m in sim.of_type('STATUSTEXT', mark) if 'Fence' in m.text]
    assert breach and breach[0].severity == mavlink.MAV_SEVERITY_CRITICAL
    sim.run_until(lambda: not sim.ap.armed, 60, 'return and land')
    assert math.hypot(sim.physics.position.x, sim.physics.position.y) < 1.0


def test_fence_brake_then_rtl() -> None:
    sim = H.Sim(H.make_config(fence_action=FenceAction.BRAKE_THEN_RTL, fence_brake_s=2.0))
    upload(sim, square_fence(sim), FENCE)
    sim.fly_to_altitude(10.0)
    fly_east_until(sim, 5.0, lambda: sim.ap.mode == CopterMode.BRAKE, 15, 'brake')
    braked_at = sim.t
    sim.run_until(lambda: sim.ap.mode == CopterMode.RTL, 5, 'rtl after brake')
    assert sim.t - braked_at >= 2.0 - 1e-6


def test_exclusion_zone_breach_and_fence_disable() -> None:
    sim = H.Sim(H.make_config())
    upload(sim, square_fence(sim), FENCE)
    sim.fly_to_altitude(10.0)
    assert sim.command(mavlink.MAV_CMD_DO_FENCE_ENABLE, 0).result == ACCEPTED
    lat, lon = sim.geodetic(30.0, 30.0)
    assert sim.command_int(mavlink.MAV_CMD_DO_REPOSITION, REL, (-1, 0, 0, math.nan), lat, lon, 10.0).result \
        == ACCEPTED
    sim.run_until(lambda: H.dist(sim.physics.position, Vector3(30, 30, 10)) < 0.5, 20)
    assert sim.ap.mode == CopterMode.GUIDED                          # fence off: no failsafe
    assert sim.command(mavlink.MAV_CMD_DO_FENCE_ENABLE, 1).result == ACCEPTED
    sim.run(0.5)
    assert sim.ap.mode == CopterMode.RTL                             # inside the exclusion circle
    assert sim.command(mavlink.MAV_CMD_DO_FENCE_ENABLE, 3).result == mavlink.MAV_RESULT_DENIED


def test_arming_outside_the_fence_is_refused() -> None:
    sim = H.Sim(H.make_config(VehicleKind.GROUND), start=Vector3(80.0, 0.0, 0.0))
    upload(sim, square_fence(sim), FENCE)
    sim.set_mode('GUIDED')
    mark = len(sim.messages)
    assert sim.arm().result == FAILED
    assert 'PreArm: Vehicle outside fence' in sim.texts(mark)
