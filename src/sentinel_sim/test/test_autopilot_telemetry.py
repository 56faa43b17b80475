"""Emulated autopilot: telemetry as a GCS sees it (identity, position, home, version; fake clock)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import CopterMode, RoverMode, mode_names
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
ACCEPTED = mavlink.MAV_RESULT_ACCEPTED
DENIED = mavlink.MAV_RESULT_DENIED
FAILED = mavlink.MAV_RESULT_FAILED
UNSUPPORTED = mavlink.MAV_RESULT_UNSUPPORTED


def drone(**overrides: object) -> H.Sim:
    return H.Sim(H.make_config(VehicleKind.DRONE, **overrides))


def rover(**overrides: object) -> H.Sim:
    return H.Sim(H.make_config(VehicleKind.GROUND, **overrides))


def test_heartbeat_identifies_an_ardupilot_copter_and_tracks_arming() -> None:
    sim = drone()
    sim.run(1.0)
    hb = sim.of_type('HEARTBEAT')[-1]
    assert (hb.type, hb.autopilot) == (mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA)
    assert hb.custom_mode == CopterMode.STABILIZE
    assert hb.base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    assert not hb.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    assert hb.system_status == mavlink.MAV_STATE_STANDBY
    sim.set_mode('GUIDED')
    sim.arm()
    mark = len(sim.messages)
    sim.run(1.1)
    hb = sim.of_type('HEARTBEAT', mark)[-1]
    assert hb.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    assert hb.custom_mode == CopterMode.GUIDED
    assert hb.system_status == mavlink.MAV_STATE_ACTIVE


def test_rover_heartbeat_and_mode_numbers() -> None:
    sim = rover()
    sim.run(1.0)
    hb = sim.of_type('HEARTBEAT')[-1]
    assert hb.type == mavlink.MAV_TYPE_GROUND_ROVER and hb.custom_mode == RoverMode.MANUAL
    assert mode_names(VehicleKind.GROUND) == {'MANUAL': 0, 'HOLD': 4, 'AUTO': 10, 'RTL': 11, 'GUIDED': 15}
    assert mode_names(VehicleKind.DRONE) == {'STABILIZE': 0, 'AUTO': 3, 'GUIDED': 4, 'LOITER': 5, 'RTL': 6,
                                             'LAND': 9, 'BRAKE': 17}


def test_position_telemetry_matches_the_physics() -> None:
    sim = drone(gps_noise_m=0.0)
    sim.fly_to_altitude(10.0)
    sim.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 100_000)
    sim.physics.position = Vector3(100.0, -50.0, 10.0)
    sim.physics.velocity = Vector3(2.0, 1.0, 0.5)
    sim.physics.yaw = 0.0  # east
    mark = len(sim.messages)
    sim.step()  # the report reflects the state handed to this step
    pos = sim.of_type('GLOBAL_POSITION_INT', mark)[0]
    lat, lon = sim.geodetic(100.0, -50.0)
    assert abs(pos.lat - lat) <= 2 and abs(pos.lon - lon) <= 2   # within ~2 cm
    assert pos.relative_alt == 10000
    assert abs(pos.alt - (H.ORIGIN[2] + 10.0) * 1000) <= 2           # mm; the ENU plane curves away
    assert (pos.vx, pos.vy, pos.vz) == (100, 200, -50)            # NED, cm/s
    assert pos.hdg == 9000                                        # east is 90 deg on the compass


def test_request_message_home_and_autopilot_version() -> None:
    sim = drone(allow_flight_termination=True)
    mark = len(sim.messages)
    assert sim.command(mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_HOME_POSITION).result == ACCEPTED
    home = sim.of_type('HOME_POSITION', mark)[-1]
    assert (home.latitude, home.longitude) == sim.geodetic(0.0, 0.0)
    ack = sim.command(mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
    assert ack.result == ACCEPTED
    version = sim.of_type('AUTOPILOT_VERSION', mark)[-1]
    assert version.capabilities & mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    assert version.capabilities & mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    assert version.capabilities & mavlink.MAV_PROTOCOL_CAPABILITY_FLIGHT_TERMINATION
    assert version.flight_sw_version >> 24 == 4
    assert sim.command(mavlink.MAV_CMD_REQUEST_MESSAGE, 99_999).result == UNSUPPORTED
    assert sim.command(mavlink.MAV_CMD_REQUEST_MESSAGE, math.inf).result == DENIED
    assert sim.command(mavlink.MAV_CMD_GET_HOME_POSITION).result == ACCEPTED
    assert sim.command(mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES, 1).result == ACCEPTED


def test_home_is_not_available_before_a_fix() -> None:
    from sentinel_sim.autopilot import Autopilot
    ap = Autopilot(H.make_config())
    ap.inject_gps_loss(True)
    ap.step(0.0, H.FakePhysics(VehicleKind.DRONE).state())
    assert ap.home is None
    gcs = mavlink.MAVLink(None, H.GCS_SYSID, H.GCS_COMPID)
    request = gcs.command_long_encode(1, 1, mavlink.MAV_CMD_REQUEST_MESSAGE, 0,
                                      mavlink.MAVLINK_MSG_ID_HOME_POSITION, 0, 0, 0, 0, 0, 0)
    ap.receive(H.wire(request, H.GCS_SYSID, H.GCS_COMPID), 0.0)
    acks = [m for m in ap.flush(0.0) if m.get_type() == 'COMMAND_ACK']
    assert [a.result for a in acks] == [FAILED]
    ap.inject_gps_loss(False)
    ap.step(0.1, H.FakePhysics(VehicleKind.DRONE).state())
    assert ap.home == Vector3()
