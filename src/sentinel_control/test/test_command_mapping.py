"""Commands -> MAVLink steps for ArduCopter, ArduRover and PX4, from the vehicle's state at the start."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control.command_mapping import (AckedCommand, FireAndForget, MappingError, MissionUpload,
                                              VehicleView, WaitUntil, build_plan)
from sentinel_control.commands import Command, CommandKind
from sentinel_control.modes import Autopilot, Frame, px4_custom_mode
from sentinel_control.telemetry import LinkState, Origin, VehicleStateData, VehicleType
from sentinel_sim import geo

ORIGIN = Origin(40.5853, -105.0844, 1525.0)
CUSTOM = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
ARMED = mavlink.MAV_MODE_FLAG_SAFETY_ARMED


def view(autopilot: Autopilot = Autopilot.ARDUPILOT, frame: Frame = Frame.MULTIROTOR, custom: int = 0,
         armed: bool = False, landed: bool = True, z: float = 0.0) -> VehicleView:
    kind = VehicleType.DRONE if frame is Frame.MULTIROTOR else VehicleType.GROUND
    lat, lon, alt = geo.enu_to_wgs84(-60.0, -20.0, z, ORIGIN.latitude_deg, ORIGIN.longitude_deg, ORIGIN.altitude)
    state = VehicleStateData('v', kind, armed=armed, position=(-60.0, -20.0, z), geo_position=(lat, lon, alt),
                             link_state=LinkState.OK, landed=landed, relative_altitude=z,
                             altitude_msl=1525.0 + z, heard=True)
    return VehicleView(7, 1, autopilot, frame, CUSTOM | (ARMED if armed else 0), custom, state, ORIGIN)


def goto(x: float = 0.0, y: float = 0.0, z: float = 30.0, **kw: object) -> Command:
    return Command('c', 'v', CommandKind.GOTO, (x, y, z), **kw)   # type: ignore[arg-type]


def commands(plan) -> list[int]:
    return [s.command for s in plan.steps if isinstance(s, AckedCommand)]


def test_arducopter_goto_from_the_ground_launches_first() -> None:
    plan = build_plan(goto(10.0, 20.0, 30.0), view(custom=0))
    kinds = [type(s) for s in plan.steps]
    assert kinds == [AckedCommand, AckedCommand, AckedCommand, WaitUntil, FireAndForget]
    mode, arm, takeoff = (s.message for s in plan.steps[:3])
    assert (mode.command, mode.param1, mode.param2) == (mavlink.MAV_CMD_DO_SET_MODE, CUSTOM, 4)
    assert (arm.command, arm.param1) == (mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1.0)
    assert (takeoff.command, takeoff.param7) == (mavlink.MAV_CMD_NAV_TAKEOFF, 30.0)
    assert (takeoff.target_system, takeoff.target_component) == (7, 1)
    wait = plan.steps[3]
    assert not wait.predicate(view().state) and wait.predicate(replace(view().state, relative_altitude=29.5))
    target = plan.steps[4].message
    assert target.get_type() == 'SET_POSITION_TARGET_GLOBAL_INT'
    assert target.coordinate_frame == mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT and target.alt == 30.0
    lat, lon, _ = geo.enu_to_wgs84(10.0, 20.0, 0.0, ORIGIN.latitude_deg, ORIGIN.longitude_deg, ORIGIN.altitude)
    assert (target.lat_int, target.lon_int) == (round(lat * 1e7), round(lon * 1e7))
    assert target.type_mask & mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE
    assert not target.type_mask & mavlink.POSITION_TARGET_TYPEMASK_X_IGNORE


def test_arducopter_goto_in_flight_only_sends_the_target_facing_the_look_at_point() -> None:
    plan = build_plan(goto(0.0, 0.0, 30.0, look_at=(0.0, 50.0, 0.0)), view(custom=4, armed=True, landed=False,
                                                                          z=30.0))
    assert [type(s) for s in plan.steps] == [FireAndForget]
    target = plan.steps[0].message
    assert not target.type_mask & mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE
    assert target.yaw == pytest.approx(0.0)   # look north: NED yaw 0
    assert target.alt == pytest.approx(30.0)  # relative to home, through the vehicle's own report


def test_speed_limit_adds_change_speed() -> None:
    plan = build_plan(goto(speed_limit=3.0), view(custom=4, armed=True, landed=False, z=30.0))
    assert commands(plan) == [mavlink.MAV_CMD_DO_CHANGE_SPEED]
    assert plan.steps[0].message.param2 == 3.0


def test_ardurover_goto_uses_guided_15_and_ignores_height() -> None:
    plan = build_plan(goto(5.0, 5.0, 0.0), view(frame=Frame.GROUND, custom=0))
    assert commands(plan) == [mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_CMD_COMPONENT_ARM_DISARM]
    assert plan.steps[0].message.param2 == 15
    assert isinstance(plan.steps[-1], FireAndForget)


def test_px4_goto_is_an_acknowledged_reposition_in_msl() -> None:
    flying = view(Autopilot.PX4, custom=px4_custom_mode(4, 3), armed=True, landed=False, z=20.0)
    plan = build_plan(goto(10.0, 0.0, 35.0, look_at=(20.0, 0.0, 0.0)), flying)
    assert commands(plan) == [mavlink.MAV_CMD_DO_REPOSITION]
    message = plan.steps[0].message
    assert message.get_type() == 'COMMAND_INT' and message.frame == mavlink.MAV_FRAME_GLOBAL_INT
    assert message.z == pytest.approx(1525.0 + 35.0)
    assert message.param2 == mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE
    assert message.param4 == pytest.approx(90.0)   # facing east
    landed = build_plan(goto(10.0, 0.0, 35.0), view(Autopilot.PX4))
    assert commands(landed) == [mavlink.MAV_CMD_COMPONENT_ARM_DISARM, mavlink.MAV_CMD_NAV_TAKEOFF,
                                mavlink.MAV_CMD_DO_REPOSITION]
    takeoff = landed.steps[1].message
    assert math.isnan(takeoff.param5) and takeoff.param7 == pytest.approx(1525.0 + 35.0)


@pytest.mark.parametrize('autopilot,frame,custom,expected', [
    (Autopilot.ARDUPILOT, Frame.MULTIROTOR, 5, 5), (Autopilot.ARDUPILOT, Frame.GROUND, 4, 4)])
def test_hold(autopilot: Autopilot, frame: Frame, custom: int, expected: int) -> None:
    plan = build_plan(Command('c', 'v', CommandKind.HOLD), view(autopilot, frame, armed=True, landed=False))
    assert commands(plan) == [mavlink.MAV_CMD_DO_SET_MODE] and plan.steps[0].message.param2 == expected


def test_px4_hold_asks_for_auto_loiter() -> None:
    plan = build_plan(Command('c', 'v', CommandKind.HOLD), view(Autopilot.PX4, armed=True, landed=False))
    message = plan.steps[0].message
    assert (message.param2, message.param3) == (4, 3)


def test_hold_or_land_when_landed_is_done_at_once() -> None:
    assert build_plan(Command('c', 'v', CommandKind.HOLD), view()).steps == ()
    assert build_plan(Command('c', 'v', CommandKind.LAND), view()).note == 'already landed'


def test_rtl_and_land() -> None:
    flying = view(custom=4, armed=True, landed=False, z=20.0)
    assert commands(build_plan(Command('c', 'v', CommandKind.RTL), flying)) == [mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH]
    assert commands(build_plan(Command('c', 'v', CommandKind.LAND), flying)) == [mavlink.MAV_CMD_NAV_LAND]
    rover = build_plan(Command('c', 'v', CommandKind.LAND), view(frame=Frame.GROUND, armed=True))
    assert commands(rover) == [mavlink.MAV_CMD_DO_SET_MODE] and rover.steps[0].message.param2 == 4


def test_arducopter_route_upload_keeps_the_home_slot_and_takes_off() -> None:
    route = ((0.0, 0.0, 30.0), (50.0, 0.0, 30.0))
    plan = build_plan(Command('c', 'v', CommandKind.FOLLOW_ROUTE, route=route), view(custom=0))
    upload = plan.steps[0]
    assert isinstance(upload, MissionUpload) and upload.count.count == 4
    assert [i.command for i in upload.items] == [mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_TAKEOFF,
                                                 mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_WAYPOINT]
    assert [i.seq for i in upload.items] == [0, 1, 2, 3] and upload.items[1].z == 30.0
    assert all(i.mission_type == mavlink.MAV_MISSION_TYPE_MISSION for i in upload.items)
    assert commands(plan) == [mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_CMD_COMPONENT_ARM_DISARM,
                              mavlink.MAV_CMD_MISSION_START]
    assert plan.steps[-1].message.param1 == 1.0


def test_px4_route_starts_at_item_zero() -> None:
    route = ((0.0, 0.0, 0.0), (50.0, 0.0, 0.0))
    plan = build_plan(Command('c', 'v', CommandKind.FOLLOW_ROUTE, route=route),
                      view(Autopilot.PX4, Frame.GROUND, armed=True))
    assert plan.steps[0].count.count == 2 and plan.steps[-1].message.param1 == 0.0


@pytest.mark.parametrize('command,vehicle,reason', [
    (goto(z=1.0), view(custom=4, armed=True, landed=False, z=30.0), 'below the 2 m minimum'),
    (Command('c', 'v', CommandKind.TAKEOFF, (0.0, 0.0, 10.0)), view(frame=Frame.GROUND), 'cannot take off'),
    (goto(), view(Autopilot.UNKNOWN), 'no heartbeat'),
    (goto(), replace(view(), state=replace(view().state, position=(math.nan,) * 3)), 'no position'),
    (Command('c', 'v', CommandKind.FOLLOW_ROUTE), view(), 'at least one route point'),
    (goto(x=math.inf), view(), 'not finite'),
])
def test_impossible_commands_are_refused_with_the_reason(command: Command, vehicle: VehicleView,
                                                          reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        build_plan(command, vehicle)


def test_terminate_arm_disarm() -> None:
    assert commands(build_plan(Command('c', 'v', CommandKind.TERMINATE), view())) == \
        [mavlink.MAV_CMD_DO_FLIGHTTERMINATION]
    disarm = build_plan(Command('c', 'v', CommandKind.DISARM), view(armed=True))
    assert disarm.steps[0].message.param1 == 0.0 and disarm.steps[0].message.param2 == 0.0
