"""Mode names and DO_SET_MODE parameters for ArduCopter, ArduRover and PX4."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control.modes import (Autopilot, Frame, Intent, UnsupportedMode, autopilot_of, frame_of,
                                    in_mode, mode_for, mode_name, px4_custom_mode, px4_split)
from sentinel_sim.autopilot import CopterMode, RoverMode

CUSTOM = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
AP, PX4 = Autopilot.ARDUPILOT, Autopilot.PX4


def test_heartbeat_fields_select_the_tables() -> None:
    assert autopilot_of(mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA) is AP
    assert autopilot_of(mavlink.MAV_AUTOPILOT_PX4) is PX4
    assert autopilot_of(mavlink.MAV_AUTOPILOT_GENERIC) is Autopilot.UNKNOWN
    assert frame_of(mavlink.MAV_TYPE_QUADROTOR) is Frame.MULTIROTOR
    assert frame_of(mavlink.MAV_TYPE_HEXAROTOR) is Frame.MULTIROTOR
    assert frame_of(mavlink.MAV_TYPE_GROUND_ROVER) is Frame.GROUND
    assert frame_of(mavlink.MAV_TYPE_FIXED_WING) is Frame.OTHER


@pytest.mark.parametrize('intent,number,name', [
    (Intent.GUIDED, 4, 'GUIDED'), (Intent.MISSION, 3, 'AUTO'), (Intent.HOLD, 5, 'LOITER'),
    (Intent.RTL, 6, 'RTL'), (Intent.LAND, 9, 'LAND')])
def test_arducopter(intent: Intent, number: int, name: str) -> None:
    request = mode_for(AP, Frame.MULTIROTOR, intent)
    assert (request.base_mode, request.custom_mode, request.custom_sub_mode, request.name) == \
        (CUSTOM, number, 0, name)
    assert mode_name(AP, Frame.MULTIROTOR, CUSTOM, number) == name
    assert in_mode(AP, Frame.MULTIROTOR, CUSTOM, number, intent)


@pytest.mark.parametrize('intent,number,name', [
    (Intent.GUIDED, 15, 'GUIDED'), (Intent.MISSION, 10, 'AUTO'), (Intent.HOLD, 4, 'HOLD'),
    (Intent.RTL, 11, 'RTL'), (Intent.LAND, 4, 'HOLD')])
def test_ardurover(intent: Intent, number: int, name: str) -> None:
    request = mode_for(AP, Frame.GROUND, intent)
    assert (request.custom_mode, request.name) == (number, name)
    assert mode_name(AP, Frame.GROUND, CUSTOM, number) == name


def test_ardupilot_numbers_agree_with_the_emulated_autopilot() -> None:
    for intent, emulated in ((Intent.GUIDED, CopterMode.GUIDED), (Intent.MISSION, CopterMode.AUTO),
                             (Intent.RTL, CopterMode.RTL), (Intent.LAND, CopterMode.LAND),
                             (Intent.HOLD, CopterMode.LOITER)):
        assert mode_for(AP, Frame.MULTIROTOR, intent).custom_mode == int(emulated)
    for intent, emulated in ((Intent.GUIDED, RoverMode.GUIDED), (Intent.MISSION, RoverMode.AUTO),
                             (Intent.RTL, RoverMode.RTL), (Intent.HOLD, RoverMode.HOLD)):
        assert mode_for(AP, Frame.GROUND, intent).custom_mode == int(emulated)


@pytest.mark.parametrize('intent,main,sub,name', [
    (Intent.GUIDED, 4, 3, 'AUTO.LOITER'), (Intent.MISSION, 4, 4, 'AUTO.MISSION'),
    (Intent.HOLD, 4, 3, 'AUTO.LOITER'), (Intent.RTL, 4, 5, 'AUTO.RTL'), (Intent.LAND, 4, 6, 'AUTO.LAND')])
def test_px4(intent: Intent, main: int, sub: int, name: str) -> None:
    request = mode_for(PX4, Frame.MULTIROTOR, intent)
    assert (request.custom_mode, request.custom_sub_mode, request.name) == (main, sub, name)
    heartbeat_mode = px4_custom_mode(main, sub)
    assert mode_name(PX4, Frame.MULTIROTOR, CUSTOM, heartbeat_mode) == name
    assert in_mode(PX4, Frame.MULTIROTOR, CUSTOM, heartbeat_mode, intent)


def test_px4_names_of_manual_modes() -> None:
    assert mode_name(PX4, Frame.MULTIROTOR, CUSTOM, px4_custom_mode(3, 0)) == 'POSCTL'
    assert mode_name(PX4, Frame.MULTIROTOR, CUSTOM, px4_custom_mode(3, 1)) == 'ORBIT'
    assert mode_name(PX4, Frame.MULTIROTOR, CUSTOM, px4_custom_mode(6, 0)) == 'OFFBOARD'
    assert mode_name(PX4, Frame.MULTIROTOR, CUSTOM, 393216) == 'OFFBOARD'   # as seen on the wire
    assert mode_name(PX4, Frame.MULTIROTOR, CUSTOM, px4_custom_mode(4, 2)) == 'AUTO.TAKEOFF'


@given(st.integers(0, 255), st.integers(0, 255))
def test_px4_encoding_round_trips(main: int, sub: int) -> None:
    assert px4_split(px4_custom_mode(main, sub)) == (main, sub)


def test_unknown_modes_and_autopilots() -> None:
    assert mode_name(AP, Frame.MULTIROTOR, CUSTOM, 99) == 'MODE_99'
    assert mode_name(AP, Frame.MULTIROTOR, 0, 4) == 'BASE_MODE_0'
    with pytest.raises(UnsupportedMode):
        mode_for(Autopilot.UNKNOWN, Frame.MULTIROTOR, Intent.RTL)
    with pytest.raises(UnsupportedMode):
        mode_for(AP, Frame.OTHER, Intent.GUIDED)
    assert not in_mode(AP, Frame.MULTIROTOR, CUSTOM, 0, Intent.GUIDED)
