"""Emulated autopilot, property-based: whatever a GCS sends, the vehicle stays consistent.

Hypothesis drives arbitrary sequences of commands (valid, out of range, NaN,
unknown), position targets, mission traffic, faults and time steps, and checks
after each action that every command got exactly one COMMAND_ACK, the mode is
one the vehicle kind has, a disarmed or terminated vehicle commands no thrust,
and every setpoint is finite.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import mode_names
from sentinel_sim.vehicle_types import SetpointMode, VehicleKind


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
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KNOWN_COMMANDS = [
    mavlink.MAV_CMD_COMPONENT_ARM_DISARM, mavlink.MAV_CMD_NAV_TAKEOFF, mavlink.MAV_CMD_NAV_LAND,
    mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_CMD_DO_REPOSITION,
    mavlink.MAV_CMD_DO_CHANGE_SPEED, mavlink.MAV_CMD_DO_SET_HOME, mavlink.MAV_CMD_DO_FLIGHTTERMINATION,
    mavlink.MAV_CMD_DO_FENCE_ENABLE, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAV_CMD_GET_MESSAGE_INTERVAL,
    mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES,
    mavlink.MAV_CMD_GET_HOME_POSITION, mavlink.MAV_CMD_MISSION_START, mavlink.MAV_CMD_DO_SET_MISSION_CURRENT,
]
INTERESTING = [0.0, 1.0, -1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 9.0, 10.0, 15.0, 17.0, 21196.0, 2989.0, 1e9, -1e9,
               47.4, 8.5, 488.0, 500.0, math.nan, math.inf, -math.inf]
param = st.one_of(st.sampled_from(INTERESTING), st.floats(width=32))
int32 = st.one_of(st.sampled_from([0, 474_000_000, 85_000_000, 2**31 - 1, -(2**31)]),
                  st.integers(-(2**31), 2**31 - 1))
frame = st.sampled_from([0, 1, 3, 5, 6, 7, 10, 11, 255])

command_long = st.tuples(st.just('long'), st.one_of(st.sampled_from(KNOWN_COMMANDS), st.integers(0, 65535)),
                         st.lists(param, min_size=7, max_size=7))
command_int = st.tuples(st.just('int'), st.one_of(st.sampled_from(KNOWN_COMMANDS), st.integers(0, 65535)),
                        st.lists(param, min_size=4, max_size=4), frame, int32, int32, param)
mode_change = st.tuples(st.just('mode'), st.sampled_from(sorted(set(mode_names(VehicleKind.DRONE).values())
                                                                | set(mode_names(VehicleKind.GROUND).values()))))
target = st.tuples(st.just('target'), st.integers(0, 4095), frame, int32, int32, param, param, param, param)
steps = st.tuples(st.just('step'), st.integers(1, 30))
fault = st.tuples(st.just('fault'), st.sampled_from(['gps_lost', 'gps_back', 'battery_low', 'battery_empty',
                                                     'motor', 'lossy_link', 'good_link', 'gcs_quiet',
                                                     'gcs_back']))
mission_msg = st.tuples(st.just('mission'), st.sampled_from(['count', 'item', 'clear', 'set_current', 'list']),
                        st.integers(0, 8), st.sampled_from([0, 1, 2, 255]), st.sampled_from([16, 19, 20, 21, 22,
                                                                                            178, 5001, 5003, 82]),
                        param, int32, int32, param)
action = st.one_of(command_long, command_int, mode_change, target, steps, fault, mission_msg)


def check_invariants(sim: H.Sim) -> None:
    ap = sim.ap
    assert ap.mode in mode_names(sim.config.kind).values()
    assert not (ap.armed and ap.terminated)
    last = sim.setpoints[-1]
    if not ap.armed:
        assert last.mode in (SetpointMode.IDLE, SetpointMode.KILL)
    for v in (last.position, last.velocity):
        assert all(math.isfinite(c) for c in (v.x, v.y, v.z))
    assert math.isfinite(last.max_speed) and last.max_speed >= 0.0
    assert last.yaw is None or math.isfinite(last.yaw)


def perform(sim: H.Sim, act: tuple[Any, ...]) -> None:
    kind = act[0]
    gcs = sim.gcs
    if kind == 'long':
        _, command, params = act
        replies = sim.send(gcs.command_long_encode(1, 1, command, 0, *params))
        acks = [m for m in replies if m.get_type() == 'COMMAND_ACK']
        if sim.ap.link.drop_probability == 0.0:
            assert len(acks) == 1 and acks[0].command == command
    elif kind == 'int':
        _, command, params, frm, x, y, z = act
        replies = sim.send(gcs.command_int_encode(1, 1, frm, command, 0, 0, *params, x, y, z))
        acks = [m for m in replies if m.get_type() == 'COMMAND_ACK']
        if sim.ap.link.drop_probability == 0.0:
            assert len(acks) == 1 and acks[0].command == command
    elif kind == 'mode':
        replies = sim.send(gcs.set_mode_encode(1, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, act[1]))
        if sim.ap.link.drop_probability == 0.0:
            assert len([m for m in replies if m.get_type() == 'COMMAND_ACK']) == 1
    elif kind == 'target':
        _, mask, frm, x, y, alt, vx, vy, yaw = act
        sim.send(gcs.set_position_target_global_int_encode(0, 1, 1, frm, mask, x, y, alt, vx, vy, 0.0,
                                                           0, 0, 0, yaw, 0))
        sim.send(gcs.set_position_target_local_ned_encode(0, 1, 1, frm, mask, alt, vx, vy, vx, vy, 0.0,
                                                          0, 0, 0, yaw, 0))
    elif kind == 'step':
        for _ in range(act[1]):
            sim.step()
            check_invariants(sim)
    elif kind == 'fault':
        name = act[1]
        if name == 'gps_lost':
            sim.ap.inject_gps_loss(True)
        elif name == 'gps_back':
            sim.ap.inject_gps_loss(False)
        elif name == 'battery_low':
            sim.ap.inject_battery_remaining(25.0)
        elif name == 'battery_empty':
            sim.ap.inject_battery_remaining(0.0)
        elif name == 'motor':
            sim.ap.inject_motor_failure()
        elif name == 'lossy_link':
            sim.ap.inject_link_degradation(0.3, 0.2)
        elif name == 'good_link':
            sim.ap.inject_link_degradation(0.0, 0.0)
        else:
            sim.gcs_heartbeats = name == 'gcs_back'
    else:
        _, what, seq, mission_type, command, p1, x, y, z = act
        if what == 'count':
            sim.send(gcs.mission_count_encode(1, 1, seq, mission_type))
        elif what == 'item':
            sim.send(gcs.mission_item_int_encode(1, 1, seq, 6, command, 0, 1, p1, 0, 0, 0, x, y, z, mission_type))
        elif what == 'clear':
            sim.send(gcs.mission_clear_all_encode(1, 1, mission_type))
        elif what == 'set_current':
            sim.send(gcs.mission_set_current_encode(1, 1, seq))
        else:
            sim.send(gcs.mission_request_list_encode(1, 1, mission_type))


@SETTINGS
@given(kind=st.sampled_from(list(VehicleKind)), actions=st.lists(action, min_size=1, max_size=25),
       termination=st.booleans())
def test_any_traffic_keeps_the_vehicle_consistent(kind: VehicleKind, actions: list[tuple[Any, ...]],
                                                  termination: bool) -> None:
    sim = H.Sim(H.make_config(kind, allow_flight_termination=termination))
    for act in actions:
        perform(sim, act)
        sim.step()
        check_invariants(sim)


@SETTINGS
@given(actions=st.lists(st.one_of(command_long, steps), min_size=1, max_size=15))
def test_a_flying_drone_survives_any_command_sequence(actions: list[tuple[Any, ...]]) -> None:
    sim = H.Sim(H.make_config(allow_flight_termination=True))
    sim.fly_to_altitude(10.0)
    for act in actions:
        perform(sim, act)
        sim.step()
        check_invariants(sim)


@SETTINGS
@given(items=st.lists(st.tuples(st.sampled_from([16, 19, 20, 21, 22, 178, 82, 5001]),
                                param, int32, int32, param, frame), min_size=1, max_size=6))
def test_a_mission_upload_is_all_or_nothing(items: list[tuple[int, float, int, int, float, int]]) -> None:
    sim = H.Sim(H.make_config())
    good = [sim.gcs.mission_item_int_encode(1, 1, 0, 6, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
            sim.gcs.mission_item_int_encode(1, 1, 1, 6, 22, 0, 1, 0, 0, 0, 0, 0, 0, 10.0, 0)]
    sim.send(sim.gcs.mission_count_encode(1, 1, 2, 0))
    for msg in good:
        sim.send(msg)
    before = list(sim.ap.mission)
    assert len(before) == 2
    replies = sim.send(sim.gcs.mission_count_encode(1, 1, len(items) + 1, 0))
    ack = None
    messages = [sim.gcs.mission_item_int_encode(1, 1, 0, 6, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)]
    messages += [sim.gcs.mission_item_int_encode(1, 1, i + 1, frm, cmd, 0, 1, p1, 0, 0, 0, x, y, z, 0)
                 for i, (cmd, p1, x, y, z, frm) in enumerate(items)]
    for msg in messages:
        replies = sim.send(msg)
        acks = [m for m in replies if m.get_type() == 'MISSION_ACK']
        if acks:
            ack = acks[0]
            break
    assert ack is not None
    if ack.type == mavlink.MAV_MISSION_ACCEPTED:
        assert [i.command for i in sim.ap.mission[1:]] == [cmd for cmd, *_ in items]
    else:
        assert sim.ap.mission == before
    sim.run(1.0)
