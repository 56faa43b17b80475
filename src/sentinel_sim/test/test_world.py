"""The SDF world loader: the shipped worlds, pose semantics and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentinel_sim.vehicle_types import VehicleKind
from sentinel_sim.world import (
    ActorKind,
    Box,
    Cylinder,
    LightKind,
    Plane,
    Pose,
    ShapeRole,
    Sphere,
    WorldError,
    load_world,
    parse_world,
)

REPO = Path(__file__).resolve().parents[3]
WORLDS = REPO / 'worlds'

HEADER = '''<?xml version="1.0"?>
<sdf version="1.9" xmlns:sentinel="https://sentinel-robotics.org/sdf">
  <world name="test">
    <spherical_coordinates>
      <surface_model>EARTH_WGS84</surface_model>
      <world_frame_orientation>ENU</world_frame_orientation>
      <latitude_deg>47.0</latitude_deg>
      <longitude_deg>8.0</longitude_deg>
      <elevation>400</elevation>
      <heading_deg>0</heading_deg>
    </spherical_coordinates>
'''
FOOTER = '''  </world>
</sdf>
'''


def world_text(body: str) -> str:
    return HEADER + body + FOOTER


def camera_xml(name: str, pose: str = '0 0 0 0 0 0', extra: str = '', rate: str = '5') -> str:
    return f'''<sensor name="{name}" type="camera">
          <pose>{pose}</pose>
          <update_rate>{rate}</update_rate>
          <topic>/cameras/{name}/image_raw</topic>
          <camera>
            <horizontal_fov>1.5708</horizontal_fov>
            <image><width>640</width><height>480</height></image>
            <clip><near>0.1</near><far>100</far></clip>
            {extra}
          </camera>
        </sensor>'''


def assert_pose_close(actual: Pose, expected: Pose, tol: float = 1e-6) -> None:
    assert np.allclose(actual.matrix(), expected.matrix(), atol=tol), (actual, expected)


# --------------------------------------------------------------------------
# The shipped worlds
# --------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['substation', 'solar_farm'])
def test_shipped_world_loads_without_warnings(name: str) -> None:
    world = load_world(WORLDS / f'{name}.sdf')
    assert world.name == name
    assert world.warnings == ()


@pytest.mark.parametrize('name, fixed_cameras, drones, ground, actors', [
    ('substation', 5, 3, 2, 4),
    ('solar_farm', 8, 10, 4, 3),
])
def test_shipped_world_counts(name: str, fixed_cameras: int, drones: int, ground: int,
                              actors: int) -> None:
    world = load_world(WORLDS / f'{name}.sdf')
    assert len(world.fixed_cameras) == fixed_cameras
    assert sum(v.kind is VehicleKind.DRONE for v in world.vehicles) == drones
    assert sum(v.kind is VehicleKind.GROUND for v in world.vehicles) == ground
    assert len(world.actors) == actors
    assert len(world.cameras) == fixed_cameras + drones + ground  # every vehicle has a camera


@pytest.mark.parametrize('name', ['substation', 'solar_farm'])
def test_shipped_world_identities(name: str) -> None:
    world = load_world(WORLDS / f'{name}.sdf')
    drones = [v.name for v in world.vehicles if v.kind is VehicleKind.DRONE]
    assert drones == [f'drone_{i}' for i in range(1, len(drones) + 1)]
    for vehicle in world.vehicles:
        assert vehicle.camera is not None and vehicle.camera.name == f'{vehicle.name}_camera'
        assert vehicle.camera.topic == f'/cameras/{vehicle.name}_camera/image_raw'
        assert (vehicle.camera.width, vehicle.camera.height, vehicle.camera.update_rate) == (
            640, 480, 5.0)
    ports = [v.mavlink_port for v in world.vehicles]
    assert len(set(ports)) == len(ports)
    assert world.origin.latitude_deg != 0.0 and world.origin.longitude_deg != 0.0
    assert world.step_size == pytest.approx(0.004)
    assert any(light.kind is LightKind.DIRECTIONAL for light in world.lights)


def test_substation_actors() -> None:
    world = load_world(WORLDS / 'substation.sdf')
    kinds = {actor.name: (actor.kind, actor.authorized, actor.loop) for actor in world.actors}
    assert kinds == {
        'intruder': (ActorKind.PERSON, False, False),
        'loiter_car': (ActorKind.VEHICLE, False, False),
        'rogue_drone': (ActorKind.DRONE, False, True),
        'guard': (ActorKind.PERSON, True, True),
    }
    rogue = world.actor('rogue_drone')
    assert all(10.0 <= wp.pose.z <= 30.0 for wp in rogue.waypoints)
    guard = world.actor('guard')
    assert guard.waypoints[0].pose.position == guard.waypoints[-1].pose.position  # a closed loop
    intruder = world.actor('intruder')
    start, end = intruder.waypoints[0].pose, intruder.waypoints[-1].pose
    assert start.x < -150.0 < end.x  # crosses the west fence line


def test_pole_camera_pose_composes_model_frame_and_sensor() -> None:
    camera = load_world(WORLDS / 'substation.sdf').camera('cam_nw')
    assert_pose_close(camera.pose, Pose(-130.0, 45.0, 8.0, 0.0, 0.253, -2.078))
    assert camera.parent == 'pole_cam_nw::pole'
    assert camera.model == 'pole_cam_nw'


def test_nested_transformers_are_posed_in_the_model_frame() -> None:
    world = load_world(WORLDS / 'substation.sdf')
    yard = next(m for m in world.models if m.name == 'transformer_yard')
    tanks = {link.name: link.pose for link in yard.links}
    assert_pose_close(tanks['transformer_1::tank'], Pose(-15.0, -15.0, 0.0))
    first_tank = next(pose for shape, pose in yard.world_shapes() if shape.name == 'tank_visual')
    assert_pose_close(first_tank, Pose(35.0, 5.0, 2.0))


def test_rover_wheels_relative_to_chassis() -> None:
    rover = load_world(WORLDS / 'substation.sdf').vehicle('rover_1')
    links = {link.name: link.pose for link in rover.model.links}
    assert_pose_close(links['front_left_wheel'], Pose(0.35, 0.4, 0.15, -1.5708, 0.0, 0.0))


# --------------------------------------------------------------------------
# Pose semantics
# --------------------------------------------------------------------------

def test_pose_relative_to_frame_link_and_nested_model() -> None:
    world = parse_world(world_text('''
    <model name="m">
      <static>true</static>
      <pose>10 0 0 0 0 1.5707963267948966</pose>
      <frame name="f" attached_to="base"><pose>0 0 1 0 0 0</pose></frame>
      <link name="base"><pose>1 0 0 0 0 0</pose></link>
      <link name="arm">
        <pose relative_to="f">2 0 0 0 0 0</pose>
        <visual name="v">
          <pose relative_to="base">0 0 0 0 0 0</pose>
          <geometry><sphere><radius>0.5</radius></sphere></geometry>
        </visual>
        ''' + camera_xml('cam', '0 0 0 0 0.5 0') + '''
      </link>
      <model name="inner">
        <pose relative_to="arm">0 1 0 0 0 0</pose>
        <link name="tip"><pose>0 0 1 0 0 0</pose></link>
      </model>
    </model>
    <actor name="a">
      <sentinel:actor kind="person"/>
      <pose relative_to="m">0 0 0 0 0 0</pose>
      <link name="body"/>
      <script><trajectory id="0" type="walk">
        <waypoint><time>0</time><pose>1 0 0 0 0 0</pose></waypoint>
        <waypoint><time>2</time><pose>3 0 0 0 0 0</pose></waypoint>
      </trajectory></script>
    </actor>
'''))
    assert world.warnings == ()
    model = world.models[0]
    links = {link.name: link.pose for link in model.links}
    # frame f = base (1,0,0) + (0,0,1); arm = f + (2,0,0); inner = arm + (0,1,0); tip + (0,0,1)
    assert_pose_close(links['base'], Pose(1, 0, 0))
    assert_pose_close(links['arm'], Pose(3, 0, 1))
    assert_pose_close(links['inner::tip'], Pose(3, 1, 2))
    arm = next(link for link in model.links if link.name == 'arm')
    assert_pose_close(arm.shapes[0].pose, Pose(-2, 0, -1))  # the base origin, in the arm frame
    camera = world.camera('cam')
    assert_pose_close(camera.mount, Pose(3, 0, 1, 0, 0.5, 0))
    # The model is turned 90 degrees: model x is world y.
    assert_pose_close(camera.pose, Pose(10, 3, 1, 0, 0.5, math.pi / 2))
    actor = world.actor('a')
    assert_pose_close(actor.waypoints[0].pose, Pose(10, 1, 0, 0, 0, math.pi / 2))


def test_pose_in_degrees_and_quaternion() -> None:
    world = parse_world(world_text('''
    <model name="d"><static>true</static>
      <pose degrees="true">1 2 3 0 0 90</pose><link name="l"/></model>
    <model name="q"><static>true</static>
      <pose rotation_format="quat_xyzw">1 2 3 0 0 0.7071067811865476 0.7071067811865476</pose>
      <link name="l"/></model>
'''))
    expected = Pose(1, 2, 3, 0, 0, math.pi / 2)
    for model in world.models:
        assert_pose_close(model.pose, expected)


angles = st.floats(-math.pi, math.pi, allow_nan=False)
coords = st.floats(-1e4, 1e4, allow_nan=False)
poses = st.builds(Pose, coords, coords, coords, angles, st.floats(-1.5, 1.5), angles)


@settings(max_examples=200, deadline=None)
@given(poses, poses)
def test_pose_composition_matches_matrices(a: Pose, b: Pose) -> None:
    assert np.allclose((a @ b).matrix(), a.matrix() @ b.matrix(), atol=1e-6)
    assert np.allclose((a @ a.inverse()).matrix(), np.eye(4), atol=1e-6)


# --------------------------------------------------------------------------
# Actors
# --------------------------------------------------------------------------

def actor_world(loop: str, delay: str = '0') -> str:
    return world_text(f'''
    <actor name="walker">
      <sentinel:actor kind="person" authorized="true"/>
      <link name="body"><visual name="v"><geometry><cylinder><radius>0.2</radius>
        <length>1.7</length></cylinder></geometry></visual></link>
      <script><loop>{loop}</loop><delay_start>{delay}</delay_start>
        <trajectory id="0" type="walk">
          <waypoint><time>0</time><pose>0 0 0 0 0 0</pose></waypoint>
          <waypoint><time>10</time><pose>10 0 0 0 0 0</pose></waypoint>
        </trajectory>
        <trajectory id="1" type="walk">
          <waypoint><time>0</time><pose>10 0 0 0 0 3.0</pose></waypoint>
          <waypoint><time>10</time><pose>10 10 0 0 0 -3.0</pose></waypoint>
        </trajectory>
      </script>
    </actor>
''')


def test_actor_trajectories_play_in_sequence_and_interpolate() -> None:
    actor = parse_world(actor_world('false', delay='5')).actor('walker')
    # The second trajectory starts where the first ends, as in Gazebo.
    assert [wp.time for wp in actor.waypoints] == [0.0, 10.0, 10.0, 20.0]
    assert actor.duration == 20.0


def test_actor_pose_at() -> None:
    actor = parse_world(actor_world('false', delay='5')).actor('walker')
    assert actor.authorized and actor.kind is ActorKind.PERSON
    assert actor.pose_at(0.0).x == 0.0          # waiting out the delay
    assert actor.pose_at(10.0).x == pytest.approx(5.0)
    assert actor.pose_at(1000.0).position == (10.0, 10.0, 0.0)  # finished: holds
    # Yaw goes the short way round through pi, not through 0.
    assert abs(actor.pose_at(5.0 + 15.0).yaw) == pytest.approx(math.pi, abs=1e-6)
    looping = parse_world(actor_world('true', delay='5')).actor('walker')
    cycle = 5.0 + looping.duration
    assert looping.pose_at(10.0 + cycle).x == pytest.approx(5.0)


# --------------------------------------------------------------------------
# Shapes and lights
# --------------------------------------------------------------------------

def test_geometry_kinds_and_material() -> None:
    world = parse_world(world_text('''
    <model name="shapes"><static>true</static><link name="l">
      <collision name="b"><geometry><box><size>1 2 3</size></box></geometry></collision>
      <collision name="c"><geometry><cylinder><radius>1</radius><length>2</length></cylinder>
        </geometry></collision>
      <visual name="s"><geometry><sphere><radius>1</radius></sphere></geometry>
        <material><diffuse>0.1 0.2 0.3 1</diffuse></material></visual>
      <visual name="p"><geometry><plane><normal>0 0 2</normal><size>5 6</size></plane>
        </geometry></visual>
    </link></model>
    <light type="spot" name="flood">
      <pose>0 0 10 0 0 0</pose>
      <direction>1 0 -1</direction>
      <attenuation><range>50</range></attenuation>
      <spot><inner_angle>0.3</inner_angle><outer_angle>0.6</outer_angle><falloff>1</falloff></spot>
    </light>
'''))
    shapes = {s.name: s for s in world.models[0].links[0].shapes}
    assert shapes['b'].geometry == Box((1.0, 2.0, 3.0)) and shapes['b'].role is ShapeRole.COLLISION
    assert shapes['c'].geometry == Cylinder(1.0, 2.0)
    assert shapes['s'].geometry == Sphere(1.0) and shapes['s'].rgba == (0.1, 0.2, 0.3, 1.0)
    assert shapes['p'].geometry == Plane((0.0, 0.0, 1.0), (5.0, 6.0))
    light = world.lights[0]
    assert light.kind is LightKind.SPOT and light.spot_outer_angle == 0.6
    assert light.direction == pytest.approx((math.sqrt(0.5), 0.0, -math.sqrt(0.5)))


def test_camera_intrinsics_are_derived_from_fov() -> None:
    camera = load_world(WORLDS / 'substation.sdf').camera('cam_sw')
    intrinsics = camera.intrinsics
    assert intrinsics.fx == pytest.approx(320.0 / math.tan(math.radians(30.0)), rel=1e-4)
    assert (intrinsics.cx, intrinsics.cy) == (320.0, 240.0)


# --------------------------------------------------------------------------
# Bad input: warnings
# --------------------------------------------------------------------------

def test_unknown_geometry_is_a_warning_with_path_and_line() -> None:
    text = world_text('''
    <model name="statue"><static>true</static>
      <link name="l">
        <visual name="v"><geometry><mesh><uri>statue.dae</uri></mesh></geometry></visual>
        <visual name="w"><geometry><box><size>1 1 1</size></box></geometry></visual>
      </link>
    </model>
''')
    world = parse_world(text, 'statue.sdf')
    assert len(world.warnings) == 1
    warning = world.warnings[0]
    assert warning.file == 'statue.sdf'
    assert warning.line == text.splitlines().index(
        next(line for line in text.splitlines() if '<mesh>' in line)) + 1
    assert warning.element.endswith(
        'model[@name="statue"]/link[@name="l"]/visual[@name="v"]/geometry/mesh')
    assert 'mesh geometry is not supported' in warning.reason
    assert [s.name for s in world.models[0].links[0].shapes] == ['w']  # the rest still loads
    assert 'statue.sdf:' in str(warning)


def test_unsupported_elements_are_warnings() -> None:
    world = parse_world(world_text('''
    <include><uri>model://x</uri></include>
    <model name="p" placement_frame="l"><static>true</static><link name="l"/></model>
    <model name="m"><static>true</static>
      <link name="l">
        <sensor name="lidar" type="gpu_lidar"><topic>scan</topic></sensor>
        <sensor name="imu" type="imu"/>
        ''' + camera_xml('cam', extra='<noise><type>gaussian</type></noise>') + '''
      </link>
    </model>
'''))
    reasons = [w.reason for w in world.warnings]
    elements = [w.element for w in world.warnings]
    assert len(world.warnings) == 4, reasons
    assert any(e.endswith('/include') for e in elements)
    assert any('placement_frame' in r for r in reasons)
    assert any('gpu_lidar' in r for r in reasons)
    assert any(e.endswith('/camera/noise') for e in elements)
    assert [c.name for c in world.cameras] == ['cam']  # the IMU is silently the autopilot's


# --------------------------------------------------------------------------
# Bad input: errors
# --------------------------------------------------------------------------

def expect_error(text: str, *fragments: str) -> WorldError:
    with pytest.raises(WorldError) as caught:
        parse_world(text, 'bad.sdf')
    message = str(caught.value)
    assert message.startswith('bad.sdf:'), message
    for fragment in fragments:
        assert fragment in message, message
    return caught.value


def test_malformed_xml_names_file_and_line() -> None:
    error = expect_error(world_text('<model name="m"><link name="l"></model>'), 'malformed XML')
    assert error.line is not None and error.line > 10


def test_missing_pose_value() -> None:
    expect_error(world_text('<model name="m"><pose>1 2 3 0 0</pose><link name="l"/></model>'),
                 'model[@name="m"]/pose', 'expected 6 numbers, got 5')


def test_non_numeric_pose() -> None:
    expect_error(world_text('<model name="m"><pose>1 2 x 0 0 0</pose><link name="l"/></model>'),
                 'not a number')


@pytest.mark.parametrize('body, fragments', [
    ('<model name="m"><link name="l"><visual name="v"><geometry><box/></geometry></visual>'
     '</link></model>', ('geometry/box', 'missing required <size>')),
    ('<model name="m"><link name="l"><visual name="v"><geometry><box><size>1 -1 1</size></box>'
     '</geometry></visual></link></model>', ('box size must be positive',)),
    ('<model name="m"><link name="l">' + camera_xml('cam', rate='0') + '</link></model>',
     ('update_rate', 'must be positive')),
    ('<model name="m"><link name="l"><sensor name="cam" type="camera"><update_rate>5'
     '</update_rate><topic>/cameras/cam/image_raw</topic><camera><horizontal_fov>1'
     '</horizontal_fov><clip><near>0.1</near><far>9</far></clip></camera></sensor></link>'
     '</model>', ('sensor[@name="cam"]/camera', 'missing required <image>')),
    ('<model name="m"><link name="l">' + camera_xml('cam').replace('/cameras/cam/image_raw',
     'camera') + '</link></model>', ('camera topic must be /cameras/cam/image_raw',)),
    ('<model name="m"><link name="l"><pose relative_to="nowhere">0 0 0 0 0 0</pose></link>'
     '</model>', ('unknown frame "nowhere"',)),
    ('<model name="m"><link name="a"><pose relative_to="b">0 0 0 0 0 0</pose></link>'
     '<link name="b"><pose relative_to="a">0 0 0 0 0 0</pose></link></model>',
     ('relative_to cycle',)),
    ('<model name="m"><link name="l"/><link name="l"/></model>', ('duplicate name "l"',)),
    ('<model><link name="l"/></model>', ('missing required attribute "name"',)),
    ('<model name="d"><sentinel:vehicle kind="boat" mavlink_port="14550" system_id="1"/>'
     '<link name="l"/></model>', ('sentinel:vehicle', 'vehicle kind "boat"')),
    ('<model name="d"><sentinel:vehicle kind="drone" mavlink_port="99999" system_id="1"/>'
     '<link name="l"/></model>', ('99999 is out of range',)),
    ('<model name="d1"><sentinel:vehicle kind="drone" mavlink_port="14550" system_id="1"/>'
     '<link name="l"/></model><model name="d2"><sentinel:vehicle kind="drone" '
     'mavlink_port="14550" system_id="2"/><link name="l"/></model>',
     ('MAVLink port 14550 is used twice',)),
    ('<model name="d"><sentinel:vehicle kind="drone" mavlink_port="14550" system_id="1"/>'
     '<link name="l">' + camera_xml('eye') + '</link></model>',
     ('must be named d_camera',)),
    ('<actor name="a"><link name="b"/><script><trajectory id="0" type="w"><waypoint><time>0'
     '</time><pose>0 0 0 0 0 0</pose></waypoint></trajectory></script></actor>',
     ('actor[@name="a"]', 'sentinel:actor')),
    ('<actor name="a"><sentinel:actor kind="person"/><link name="b"/><script><trajectory id="0"'
     ' type="w"><waypoint><time>5</time><pose>0 0 0 0 0 0</pose></waypoint><waypoint><time>2'
     '</time><pose>0 0 0 0 0 0</pose></waypoint></trajectory></script></actor>',
     ('strictly increasing',)),
    ('<actor name="a"><sentinel:actor kind="person"/><link name="b"/></actor>',
     ('missing required <script>',)),
])
def test_errors_name_element_and_reason(body: str, fragments: tuple[str, ...]) -> None:
    expect_error(world_text(body), *fragments)


def test_world_requires_georeference() -> None:
    text = world_text('').replace('<spherical_coordinates>', '<!--').replace(
        '</spherical_coordinates>', '-->')
    expect_error(text, 'world[@name="test"]', 'spherical_coordinates')
    expect_error(world_text('').replace('<heading_deg>0', '<heading_deg>30'), 'heading_deg')
    expect_error(world_text('').replace('<latitude_deg>47.0', '<latitude_deg>147.0'),
                 'latitude 147 is outside')


def test_structure_errors() -> None:
    expect_error(world_text('').replace('version="1.9"', 'version="1.4"'), 'SDF version 1.4')
    expect_error('<?xml version="1.0"?><model name="x"/>', 'root element must be <sdf>')
    expect_error(world_text('').replace('<world name="test">', '<world name="test">'
                                        '<model name="m"><sentinel:vehicle/></model>').replace(
        'xmlns:sentinel="https://sentinel-robotics.org/sdf"', ''), 'malformed XML', 'unbound')
    expect_error('<?xml version="1.0"?><!DOCTYPE sdf [<!ENTITY a "b">]><sdf version="1.9"/>',
                 'document type declarations are not allowed')


def test_missing_file() -> None:
    with pytest.raises(WorldError, match='nowhere.sdf: file: cannot read'):
        load_world('/nonexistent/nowhere.sdf')
