"""The MuJoCo physics: worlds build, drones fly every mode, rovers drive and collide, actors move.

A small test world (flat ground, a wall, a drone, a rover, a walking person)
keeps each simulated second cheap; the shipped worlds are checked to build
and step.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from pathlib import Path

import mujoco
import numpy as np
import pytest
from sentinel_sim.mjcf_builder import build_mjcf, vertical_fov
from sentinel_sim.physics import PhysicsConfig, PhysicsWorld
from sentinel_sim.vehicle_types import BodyState, Setpoint, SetpointMode, Vector3
from sentinel_sim.world import World, load_world, parse_world

REPO = Path(__file__).resolve().parents[3]
WORLDS = REPO / 'worlds'
DT = 0.02  # s, one autopilot tick

HEADER = '''<?xml version="1.0"?>
<sdf version="1.9" xmlns:sentinel="https://sentinel-robotics.org/sdf">
  <world name="physics_test">
    <physics name="4ms" type="ignored"><max_step_size>0.004</max_step_size></physics>
    <spherical_coordinates>
      <surface_model>EARTH_WGS84</surface_model>
      <world_frame_orientation>ENU</world_frame_orientation>
      <latitude_deg>47.0</latitude_deg><longitude_deg>8.0</longitude_deg>
      <elevation>400</elevation><heading_deg>0</heading_deg>
    </spherical_coordinates>
    <model name="ground_plane"><static>true</static><link name="link">
      <collision name="c"><geometry><plane><normal>0 0 1</normal></plane></geometry></collision>
      <visual name="v"><geometry><plane><normal>0 0 1</normal><size>200 200</size></plane>
      </geometry><material><diffuse>0.4 0.5 0.3 1</diffuse></material></visual>
    </link></model>
    <model name="wall"><static>true</static><pose>10 0 1 0 0 0</pose><link name="link">
      <collision name="c"><geometry><box><size>1 10 2</size></box></geometry></collision>
      <visual name="v"><geometry><box><size>1 10 2</size></box></geometry></visual>
    </link></model>
    <model name="drone_1">
      <pose>-20 0 0.155 0 0 0</pose>
      <sentinel:vehicle kind="drone" mavlink_port="14551" system_id="1"/>
      <link name="base_link">
        <collision name="body"><geometry><box><size>0.47 0.47 0.11</size></box></geometry>
        </collision>
        <visual name="body"><geometry><box><size>0.36 0.2 0.1</size></box></geometry></visual>
      </link>
    </model>
    <model name="rover_1">
      <pose>0 0 0 0 0 0</pose>
      <sentinel:vehicle kind="ground" mavlink_port="14561" system_id="11"/>
      <link name="chassis"><pose>0 0 0.3 0 0 0</pose>
        <collision name="body"><geometry><box><size>1 0.7 0.3</size></box></geometry></collision>
        <visual name="body"><geometry><box><size>1 0.7 0.3</size></box></geometry></visual>
      </link>
    </model>
    <actor name="walker">
      <sentinel:actor kind="person"/>
      <script><loop>true</loop><delay_start>0</delay_start><auto_start>true</auto_start>
        <trajectory id="0" type="walk">
          <waypoint><time>0</time><pose>0 -10 0 0 0 0</pose></waypoint>
          <waypoint><time>10</time><pose>10 -10 0 0 0 0</pose></waypoint>
          <waypoint><time>20</time><pose>0 -10 0 0 0 3.14159</pose></waypoint>
        </trajectory>
      </script>
    </actor>
  </world>
</sdf>
'''


@pytest.fixture(scope='module')
def test_world() -> World:
    return parse_world(HEADER, 'physics_test.sdf')


def run(physics: PhysicsWorld, seconds: float, setpoints: dict[str, Setpoint]
        ) -> list[Mapping[str, BodyState]]:
    return [physics.step(DT, setpoints) for _ in range(round(seconds / DT))]


def take_off(physics: PhysicsWorld, altitude: float = 10.0) -> None:
    """Climb to ``altitude`` over the drone's start and settle there (at most 8 s)."""
    climb = {'drone_1': Setpoint(SetpointMode.POSITION, Vector3(-20, 0, altitude))}
    for _ in range(round(8.0 / DT)):
        state = physics.step(DT, climb)['drone_1']
        if abs(state.position.z - altitude) < 0.05 and abs(state.velocity.z) < 0.1:
            return
    raise AssertionError(f'no take-off to {altitude} m: {state}')


@pytest.mark.parametrize('name', ['substation.sdf', 'solar_farm.sdf'])
def test_shipped_worlds_build_and_step(name: str) -> None:
    world = load_world(WORLDS / name)
    physics = PhysicsWorld(world)
    states = physics.step(0.2)
    assert set(states) == {v.name for v in world.vehicles}
    for vehicle_name, state in states.items():
        assert not state.crashed, vehicle_name
        assert state.on_ground, vehicle_name
        assert all(math.isfinite(c) for c in (state.position.x, state.position.y,
                                               state.position.z))
    assert physics.time == pytest.approx(0.2)
    ids = {e.entity_id for e in physics.entity_states()}
    assert ids == {v.name for v in world.vehicles} | {a.name for a in world.actors}


def test_steps_are_whole_physics_steps_and_remainders_carry_over(test_world: World) -> None:
    physics = PhysicsWorld(test_world)
    physics.step(0.01)  # 2 steps of 4 ms, 2 ms carried
    assert physics.time == pytest.approx(0.008)
    physics.step(0.01)
    assert physics.time == pytest.approx(0.02)
    with pytest.raises(ValueError, match='dt'):
        physics.step(-1.0)


def test_hover_holds_altitude_within_30_cm_for_10_s(test_world: World) -> None:
    physics = PhysicsWorld(test_world, seed=1)  # gusts on (default config)
    take_off(physics)
    hover = {'drone_1': Setpoint(SetpointMode.POSITION, Vector3(-20, 0, 10))}
    heights = [s['drone_1'].position.z for s in run(physics, 10.0, hover)]
    assert max(abs(h - 10.0) for h in heights) < 0.3
    assert physics.step(0.0)['drone_1'].motors_on


def test_goto_arrives_within_tolerance_and_time(test_world: World) -> None:
    physics = PhysicsWorld(test_world)
    take_off(physics)
    target = Vector3(-20 + 30, 40, 15)  # 50 m away horizontally, over the wall
    goto = {'drone_1': Setpoint(SetpointMode.POSITION, target, max_speed=8.0, yaw=1.0)}
    arrived = None
    for step, states in enumerate(run(physics, 14.0, goto)):
        p = states['drone_1'].position
        if arrived is None and math.dist((p.x, p.y, p.z), (target.x, target.y, target.z)) < 0.5:
            arrived = step * DT
    assert arrived is not None and arrived < 11.0  # 50 m at 8 m/s plus accelerating, settling
    final = physics.step(0.0)['drone_1']
    assert math.dist((final.position.x, final.position.y, final.position.z),
                     (target.x, target.y, target.z)) < 0.5
    assert final.yaw == pytest.approx(1.0, abs=0.05)


def test_land_touches_down_and_stops_the_motors(test_world: World) -> None:
    physics = PhysicsWorld(test_world)
    take_off(physics, 6.0)
    land = {'drone_1': Setpoint(SetpointMode.LAND, Vector3(-20, 0, 6), max_speed=1.5)}
    states = run(physics, 8.0, land)
    final = states[-1]['drone_1']
    assert final.on_ground and not final.motors_on and not final.crashed
    assert final.position.z < 0.2
    fastest_descent = min(s['drone_1'].velocity.z for s in states)
    assert fastest_descent > -1.5 * 1.15


def test_kill_falls_and_crashes(test_world: World) -> None:
    physics = PhysicsWorld(test_world)
    take_off(physics, 10.0)
    states = run(physics, 3.0, {'drone_1': Setpoint(SetpointMode.KILL)})
    heights = [s['drone_1'].position.z for s in states]
    assert heights[10] < heights[0] - 0.1 and not states[0]['drone_1'].motors_on
    final = states[-1]['drone_1']
    assert final.crashed and final.on_ground
    # A crashed drone's motors stay off whatever it is told.
    again = run(physics, 1.0, {'drone_1': Setpoint(SetpointMode.POSITION, Vector3(-20, 0, 10))})
    assert not again[-1]['drone_1'].motors_on and again[-1]['drone_1'].position.z < 0.2


def test_a_drone_tipped_past_90_degrees_is_crashed(test_world: World,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    physics = PhysicsWorld(test_world)
    take_off(physics, 5.0)
    qpos = physics.model.jnt_qposadr[mujoco.mj_name2id(physics.model, mujoco.mjtObj.mjOBJ_JOINT,
                                                        'drone_1:root')]
    physics.data.qpos[qpos + 3:qpos + 7] = (math.cos(1.1), math.sin(1.1), 0.0, 0.0)  # 126 deg roll
    with caplog.at_level(logging.WARNING, logger='sentinel_sim.physics'):
        state = physics.step(DT)['drone_1']
    assert state.crashed and not state.motors_on and 'tipped over' in caplog.text


def test_armed_drone_holding_its_ground_position_stays_on_the_ground(test_world: World) -> None:
    physics = PhysicsWorld(test_world)
    resting = run(physics, 0.5, {})[-1]['drone_1'].position
    hold = Setpoint(SetpointMode.POSITION, resting)  # what an armed autopilot asks before take-off
    states = run(physics, 3.0, {'drone_1': hold})
    assert all(s['drone_1'].on_ground and s['drone_1'].motors_on for s in states)
    assert states[-1]['drone_1'].position.z == pytest.approx(resting.z, abs=0.005)


def test_idle_drone_rests_on_the_ground(test_world: World) -> None:
    physics = PhysicsWorld(test_world)
    state = run(physics, 1.0, {})[-1]['drone_1']
    assert state.on_ground and not state.motors_on and not state.crashed
    assert state.position.z == pytest.approx(0.055, abs=0.01)  # half the hull height


def test_ground_vehicle_drives_to_a_point(test_world: World) -> None:
    physics = PhysicsWorld(test_world)
    target = Vector3(-8, 6, 0)  # behind and to the left: turn, then drive 10 m
    states = run(physics, 12.0, {'rover_1': Setpoint(SetpointMode.POSITION, target, max_speed=2)})
    final = states[-1]['rover_1']
    assert math.hypot(final.position.x - target.x, final.position.y - target.y) < 0.35
    assert math.hypot(final.velocity.x, final.velocity.y) < 0.05
    assert final.motors_on and final.on_ground


def test_ground_vehicle_does_not_pass_through_a_box(test_world: World) -> None:
    physics = PhysicsWorld(test_world)
    beyond = Vector3(20, 0, 0)  # straight through the wall (x from 9.5 to 10.5)
    states = run(physics, 12.0, {'rover_1': Setpoint(SetpointMode.POSITION, beyond, max_speed=2)})
    xs = [s['rover_1'].position.x for s in states]
    assert max(xs) > 8.5              # it drove up to the wall...
    assert max(xs) < 9.5 - 0.5 + 0.05  # ...its 1 m hull stopped at the wall's face


def test_kill_brakes_a_ground_vehicle_and_idle_coasts(test_world: World) -> None:
    go = {'rover_1': Setpoint(SetpointMode.VELOCITY, velocity=Vector3(2, 0, 0), max_speed=2)}
    speeds = {}
    for mode in (SetpointMode.KILL, SetpointMode.IDLE):
        physics = PhysicsWorld(test_world)
        run(physics, 3.0, go)
        after = run(physics, 1.0, {'rover_1': Setpoint(mode)})[-1]['rover_1']
        speeds[mode] = after.velocity.x
        assert not after.motors_on
    assert abs(speeds[SetpointMode.KILL]) < 0.05  # 3 m/s^2 of braking stops 2 m/s in 0.7 s
    assert speeds[SetpointMode.IDLE] > 1.0       # rolling resistance alone: still coasting


def test_actors_follow_their_trajectories(test_world: World) -> None:
    physics = PhysicsWorld(test_world)
    actor = test_world.actor('walker')
    for seconds in (2.5, 10.0, 11.0):
        physics.step(seconds - physics.time)
        walker = next(e for e in physics.entity_states() if e.entity_id == 'walker')
        expected = actor.pose_at(physics.time)
        assert walker.pose.position == pytest.approx(expected.position, abs=1e-9)
        physics.update_kinematics()
        body = mujoco.mj_name2id(physics.model, mujoco.mjtObj.mjOBJ_BODY, 'walker')
        assert physics.data.xpos[body] == pytest.approx(expected.position, abs=1e-9)
    assert walker.velocity.x == pytest.approx(-1.0, abs=1e-6)  # walking back at 1 m/s
    assert walker.entity_class == 'person' and walker.role == 'intruder'
    assert walker.size[2] == pytest.approx(1.73)  # 1.5 m body from 0.05 m, a 0.12 m head on top
    assert walker.box_center[2] == pytest.approx(0.05 + 1.73 / 2)


def test_same_seed_same_states_other_seed_other_states(test_world: World) -> None:
    def flight(seed: int) -> list[Mapping[str, BodyState]]:
        physics = PhysicsWorld(test_world, seed=seed)
        plan = {'drone_1': Setpoint(SetpointMode.POSITION, Vector3(-10, 5, 8), max_speed=5),
                'rover_1': Setpoint(SetpointMode.POSITION, Vector3(5, 5, 0), max_speed=2)}
        return run(physics, 3.0, plan)

    first, second, other = flight(7), flight(7), flight(8)
    assert first == second
    assert first[-1]['drone_1'] != other[-1]['drone_1']  # the gusts differ


def test_unknown_vehicles_and_bad_setpoints_are_ignored_with_a_warning(
        test_world: World, caplog: pytest.LogCaptureFixture) -> None:
    physics = PhysicsWorld(test_world)
    with caplog.at_level(logging.WARNING, logger='sentinel_sim.physics'):
        physics.step(DT, {'nobody': Setpoint(SetpointMode.POSITION)})
        states = physics.step(DT, {'drone_1': Setpoint(SetpointMode.POSITION,
                                                       Vector3(math.nan, 0, 10))})
    assert 'unknown vehicle' in caplog.text and 'non-finite' in caplog.text
    assert not states['drone_1'].motors_on  # still IDLE


def test_camera_on_a_gimbal_stays_level_while_the_drone_tilts(test_world: World) -> None:
    body = '<visual name="body"><geometry><box><size>0.36 0.2 0.1</size></box></geometry></visual>'
    sdf = HEADER.replace(f'''        {body}
      </link>''', f'''        {body}
        <sensor name="drone_1_camera" type="camera"><pose>0.16 0 -0.06 0 1.0472 0</pose>
          <update_rate>5</update_rate><topic>/cameras/drone_1_camera/image_raw</topic>
          <camera><horizontal_fov>1.3963</horizontal_fov>
            <image><width>64</width><height>48</height></image>
            <clip><near>0.1</near><far>300</far></clip></camera></sensor>
      </link>''')
    world = parse_world(sdf, 'gimbal.sdf')
    pitches = {}
    for gimbal in (True, False):
        physics = PhysicsWorld(world, PhysicsConfig(gimbal=gimbal))
        take_off(physics)
        run(physics, 0.6, {'drone_1': Setpoint(SetpointMode.VELOCITY,
                                               velocity=Vector3(10, 0, 0), max_speed=10)})
        state = physics.step(0.0)['drone_1']
        assert abs(state.pitch) > math.radians(10)  # accelerating hard: the body is tilted
        forward = physics.camera_view('drone_1_camera').rotation[:, 0]
        pitches[gimbal] = math.asin(-forward[2])  # below the horizon, rad
    assert pitches[True] == pytest.approx(1.0472, abs=1e-6)
    assert abs(pitches[False] - 1.0472) > math.radians(5)


def test_mjcf_cameras_look_where_the_sdf_cameras_look() -> None:
    world = load_world(WORLDS / 'substation.sdf')
    model = mujoco.MjModel.from_xml_string(build_mjcf(world))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    for camera in world.fixed_cameras:
        cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera.name)
        xmat = data.cam_xmat[cam].reshape(3, 3)
        rot = camera.pose.rotation()
        assert xmat @ np.array([0, 0, -1.0]) == pytest.approx(rot[:, 0], abs=1e-6)  # forward
        assert xmat @ np.array([0, 1.0, 0]) == pytest.approx(rot[:, 2], abs=1e-6)   # up
        assert data.cam_xpos[cam] == pytest.approx(camera.pose.position, abs=1e-6)
        assert math.radians(model.cam_fovy[cam]) == pytest.approx(
            vertical_fov(camera.horizontal_fov, camera.width, camera.height))


def test_mjcf_ground_vehicles_do_not_touch_the_ground_plane() -> None:
    world = load_world(WORLDS / 'substation.sdf')
    model = mujoco.MjModel.from_xml_string(build_mjcf(world))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, 0)
    mujoco.mj_forward(model, data)
    rover = {mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, v.name)
             for v in world.vehicles if v.kind.value == 'ground'}
    touching = {int(model.geom_bodyid[g]) for c in data.contact[:data.ncon] for g in c.geom}
    assert not rover & touching
    # The keyframe puts every vehicle at its SDF pose.
    for vehicle in world.vehicles:
        body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, vehicle.name)
        assert data.xpos[body][:2] == pytest.approx(vehicle.pose.position[:2])


def test_a_world_without_vehicles_builds(test_world: World) -> None:
    empty = dataclasses.replace(test_world, vehicles=(), cameras=())
    physics = PhysicsWorld(empty)
    assert physics.step(0.1) == {}
