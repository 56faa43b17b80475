"""Stop command mapping and the resend / fallback / latch logic, on a fake clock."""

from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_safety.domain import Action, EstopCategory, VehicleType
from sentinel_safety.stop_commands import (CHAINS, COPTER_BRAKE, COPTER_LAND, COPTER_LOITER,
                                           COPTER_RTL, ROVER_HOLD, Family, StopKind,
                                           StopScheduler, accepted_modes, px4_mode, stop_kind)

ACCEPTED = mavlink.MAV_RESULT_ACCEPTED   # short names for the MAVLink constants used
SET_MODE = mavlink.MAV_CMD_DO_SET_MODE
TYPES = {'drone_1': VehicleType.DRONE, 'rover_1': VehicleType.GROUND}


def scheduler() -> StopScheduler:
    return StopScheduler(TYPES, resend_interval=0.25, command_timeout=1.0)


def test_every_stop_has_a_chain_for_every_family_and_type() -> None:
    for family in Family:
        for vehicle_type in VehicleType:
            for kind in StopKind:
                assert CHAINS[(family, vehicle_type)][kind]
    brake = CHAINS[(Family.ARDUPILOT, VehicleType.DRONE)][StopKind.BRAKE]
    assert [step.mode for step in brake] == [COPTER_BRAKE, COPTER_LAND]
    assert brake[0].command == SET_MODE
    assert brake[0].params[:2] == (float(mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), 17.0)
    terminate = CHAINS[(Family.ARDUPILOT, VehicleType.DRONE)][StopKind.TERMINATE][0]
    assert terminate.command == mavlink.MAV_CMD_DO_FLIGHTTERMINATION and terminate.params[0] == 1.0
    px4_land = CHAINS[(Family.PX4, VehicleType.DRONE)][StopKind.LAND][0]
    assert px4_land.params[1:3] == (4.0, 6.0) and px4_land.mode == px4_mode(4, 6)


def test_actions_and_categories_map_to_stops() -> None:
    assert stop_kind(Action.RETURN) is StopKind.RETURN
    assert stop_kind(Action.HOLD, EstopCategory.BRAKE) is StopKind.BRAKE
    assert stop_kind(Action.TERMINATE) is StopKind.TERMINATE
    assert accepted_modes(StopKind.BRAKE, Family.ARDUPILOT, VehicleType.DRONE) == \
        {COPTER_BRAKE, COPTER_LAND}
    assert accepted_modes(StopKind.HOLD, Family.ARDUPILOT, VehicleType.GROUND) == {ROVER_HOLD}


def test_resent_until_acknowledged() -> None:
    s = scheduler()
    s.request('drone_1', StopKind.BRAKE, False, 'test', 0.0)
    sends, _ = s.due(0.0)
    assert [(x.vehicle_id, x.command.label, x.confirmation) for x in sends] == \
        [('drone_1', 'BRAKE', 0)]
    assert s.due(0.1) == ([], [])
    sends, _ = s.due(0.25)
    assert sends[0].confirmation == 1
    events = s.on_ack('drone_1', SET_MODE, ACCEPTED, 0.3)
    assert events[0].done and 'BRAKE acknowledged' in events[0].message
    assert s.due(1.0) == ([], []) and s.pending('drone_1') is None


def test_a_refusal_falls_back_and_a_timeout_too() -> None:
    s = scheduler()
    s.request('drone_1', StopKind.BRAKE, False, 'test', 0.0)
    s.due(0.0)
    events = s.on_ack('drone_1', SET_MODE, mavlink.MAV_RESULT_FAILED, 0.05)
    assert 'falling back to LAND' in events[0].message
    sends, _ = s.due(0.05)
    assert sends[0].command.label == 'LAND' and sends[0].confirmation == 0
    # LAND is never acknowledged: the non-latched stop is abandoned after the timeout.
    t = 0.05
    while s.pending('drone_1') is not None:
        t += 0.05
        _, events = s.due(t)
    assert t <= 0.05 + 1.0 + 0.05 + 1e-9
    assert events and events[-1].level == 'error' and events[-1].done


def test_a_latched_stop_never_gives_up_and_is_reasserted() -> None:
    s = scheduler()
    s.request('drone_1', StopKind.BRAKE, True, 'estop', 0.0)
    labels = []
    t = 0.0
    while t < 5.0:
        sends, _ = s.due(t)
        labels += [x.command.label for x in sends]
        t += 0.05
    assert 'LAND' in labels and labels[-1] in ('BRAKE', 'LAND') and s.pending('drone_1')
    # Confirmed by a heartbeat in BRAKE (the ack may go to another ground station).
    armed = True
    events = s.on_heartbeat('drone_1', mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, COPTER_BRAKE, armed, t)
    assert events[0].done and s.pending('drone_1') is None
    # Someone switches it back to GUIDED while armed: the stop goes out again.
    events = s.on_heartbeat('drone_1', mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 4, armed, t + 1)
    assert 'sending it again' in events[0].message
    sends, _ = s.due(t + 1)
    assert sends[0].command.label == 'BRAKE'
    # LAND is stricter than BRAKE: accepted; released: nothing more is sent.
    s.on_heartbeat('drone_1', mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, COPTER_LAND, armed, t + 1.1)
    s.release('drone_1')
    assert s.on_heartbeat('drone_1', mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 4, armed, t + 2) == []


def test_px4_vehicles_get_px4_modes_once_identified() -> None:
    s = scheduler()
    s.on_heartbeat('drone_1', mavlink.MAV_AUTOPILOT_PX4, px4_mode(4, 4), True, 0.0)
    s.request('drone_1', StopKind.RETURN, False, 'test', 0.0)
    sends, _ = s.due(0.0)
    assert sends[0].command.label == 'AUTO.RTL'
    assert s.on_heartbeat('drone_1', mavlink.MAV_AUTOPILOT_PX4, px4_mode(4, 5), True, 0.2)[0].done


def test_rover_stops_and_unrelated_acks() -> None:
    s = scheduler()
    s.request('rover_1', StopKind.LAND, False, 'test', 0.0)
    sends, _ = s.due(0.0)
    assert sends[0].command.label == 'HOLD'
    assert s.on_ack('rover_1', mavlink.MAV_CMD_NAV_TAKEOFF, ACCEPTED, 0.1) == []
    assert s.on_ack('drone_1', SET_MODE, ACCEPTED, 0.1) == []
    assert s.on_ack('rover_1', SET_MODE, mavlink.MAV_RESULT_TEMPORARILY_REJECTED, 0.1) == []
    assert s.pending('rover_1') is StopKind.LAND
    s.request('drone_1', StopKind.RETURN, False, 'test', 0.0)
    s.due(0.0)
    assert s.on_heartbeat('drone_1', 3, COPTER_RTL, True, 0.1)[0].done
    assert s.on_heartbeat('drone_1', 3, COPTER_LOITER, True, 0.2) == []   # not latched
