"""The simulation loop without ROS: autopilots fly MuJoCo vehicles; faults take effect."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.simulation import Fault, FaultError, Simulation, SimulationOptions
from sentinel_sim.site_config import load_site

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / 'config' / 'sites' / 'substation.yaml'
# Port offset keeping these autopilots clear of a simulator running on the world's ports.
PORT_OFFSET = 3000


@pytest.fixture(scope='module')
def site_and_world():
    return load_site(SITE)


@pytest.fixture
def simulation(site_and_world):
    site, world = site_and_world
    sim = Simulation(world, site, SimulationOptions(render=False, mavlink_port_offset=PORT_OFFSET))
    yield sim
    sim.close()


def command(sim: Simulation, vehicle: str, command_id: int, *params: float) -> None:
    """Deliver a COMMAND_LONG to a vehicle's autopilot as a ground station would."""
    autopilot = sim.autopilots[vehicle]
    message = mavlink.MAVLink_command_long_message(
        autopilot.config.system_id, 1, command_id, 0, *(list(params) + [0.0] * (7 - len(params))))
    message._header.srcSystem, message._header.srcComponent = 255, 190
    autopilot.receive(message, sim.time)


def run(sim: Simulation, seconds: float) -> None:
    for _ in range(int(seconds / sim.options.control_period)):
        sim.step()


def test_every_world_vehicle_gets_an_autopilot_on_its_own_port(simulation, site_and_world):
    _, world = site_and_world
    assert set(simulation.autopilots) == {v.model.name for v in world.vehicles}
    ports = {simulation.mavlink_port(v.model.name) for v in world.vehicles}
    assert len(ports) == len(world.vehicles)
    assert min(ports) >= 14550 + PORT_OFFSET


def test_a_drone_armed_and_told_to_take_off_climbs_in_the_physics(simulation):
    run(simulation, 3.0)  # sensors and GPS come up and the drone settles on its pad
    command(simulation, 'drone_1', mavlink.MAV_CMD_DO_SET_MODE,
            mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4)  # copter GUIDED
    command(simulation, 'drone_1', mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    run(simulation, 0.2)
    command(simulation, 'drone_1', mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10.0)
    run(simulation, 12.0)
    body = simulation.physics.body_states()['drone_1']
    assert simulation.autopilots['drone_1'].armed
    assert body.position.z == pytest.approx(10.0, abs=1.0)
    assert not body.on_ground


def test_motor_failure_brings_a_flying_drone_down(simulation):
    test_a_drone_armed_and_told_to_take_off_climbs_in_the_physics(simulation)
    simulation.inject(Fault.MOTOR_FAILURE, 'drone_1', 0.0, clear=False)
    run(simulation, 4.0)
    body = simulation.physics.body_states()['drone_1']
    assert body.position.z < 1.0


def test_gps_loss_and_battery_drop_reach_the_autopilot(simulation):
    simulation.inject(Fault.GPS_LOSS, 'rover_1', 0.0, clear=False)
    assert not simulation.autopilots['rover_1'].gps.has_fix
    simulation.inject(Fault.GPS_LOSS, 'rover_1', 0.0, clear=True)
    assert simulation.autopilots['rover_1'].gps.has_fix
    simulation.inject(Fault.BATTERY_DROP, 'drone_2', 0.2, clear=False)
    assert simulation.autopilots['drone_2'].battery.remaining_pct == pytest.approx(20.0, abs=0.5)


def test_a_cut_link_drops_every_packet(simulation):
    simulation.inject(Fault.LINK_CUT, 'drone_3', 0.0, clear=False)
    assert simulation.autopilots['drone_3'].link.drop_probability == 1.0
    simulation.inject(Fault.LINK_CUT, 'drone_3', 0.0, clear=True)
    assert simulation.autopilots['drone_3'].link.drop_probability == 0.0


def test_weather_and_blackout_change_camera_effects(simulation):
    simulation.inject(Fault.FOG, '', 0.7, clear=False)
    simulation.inject(Fault.NIGHT, '', 0.5, clear=False)
    simulation.inject(Fault.CAMERA_BLACKOUT, 'cam_ne', 0.0, clear=False)
    assert simulation.environment.effects('cam_ne').blackout
    assert simulation.environment.effects('cam_nw') == simulation.environment.effects('cam_sw')
    assert simulation.environment.effects('cam_nw').fog == 0.7
    assert simulation.environment.effects('cam_nw').night == 0.5
    simulation.inject(Fault.FOG, '', 0.0, clear=True)
    assert simulation.environment.effects('cam_nw').fog == 0.0


@pytest.mark.parametrize('fault, target, magnitude, clear, unknown', [
    (Fault.GPS_LOSS, 'no_such_drone', 0.0, False, True),
    (Fault.CAMERA_BLACKOUT, 'no_such_camera', 0.0, False, True),
    (Fault.FOG, '', 1.5, False, False),
    (Fault.BATTERY_DROP, 'drone_1', -0.1, False, False),
    (Fault.BATTERY_DROP, 'drone_1', 0.5, True, False),
    (Fault.LINK_DEGRADE, 'drone_1', math.nan, False, False),
])
def test_bad_fault_requests_are_refused_with_a_reason(simulation, fault, target, magnitude, clear,
                                                      unknown):
    with pytest.raises(FaultError) as error:
        simulation.inject(fault, target, magnitude, clear)
    assert error.value.unknown_target is unknown
    assert str(error.value)
    simulation.step()  # and the simulation keeps running
