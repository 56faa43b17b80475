"""The Gazebo side: bridge configuration, launch file and the worlds' Gazebo systems.

Gazebo is not installed where these tests run, so they check what can be
checked statically: every camera and vehicle of every world is bridged under
the topic names the embedded simulator uses, nothing stale is bridged, and
each vehicle model carries the Gazebo systems that make it move.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from sentinel_sim.vehicle_types import VehicleKind
from sentinel_sim.world import World, load_world

REPO = Path(__file__).resolve().parents[3]
BRIDGE = REPO / 'config' / 'ros_gz_bridge.yaml'
LAUNCH = REPO / 'launch' / 'gazebo.launch.xml'
WORLD_FILES = sorted((REPO / 'worlds').glob('*.sdf'))
WORLD_PLUGINS = {
    'gz-sim-physics-system', 'gz-sim-user-commands-system', 'gz-sim-scene-broadcaster-system',
    'gz-sim-sensors-system', 'gz-sim-imu-system'}


@pytest.fixture(scope='module')
def worlds() -> list[World]:
    return [load_world(path) for path in WORLD_FILES]


@pytest.fixture(scope='module')
def bridge() -> dict[str, dict[str, Any]]:
    entries = yaml.safe_load(BRIDGE.read_text())
    assert isinstance(entries, list)
    by_topic = {entry['ros_topic_name']: entry for entry in entries}
    assert len(by_topic) == len(entries), 'a ROS topic is bridged twice'
    return by_topic


def expect_entry(bridge: dict[str, dict[str, Any]], ros: str, gz: str, ros_type: str,
                 gz_type: str) -> None:
    entry = bridge.get(ros)
    assert entry is not None, f'{ros} is not bridged'
    assert (entry['gz_topic_name'], entry['ros_type_name'], entry['gz_type_name'],
            entry['direction']) == (gz, ros_type, gz_type, 'GZ_TO_ROS'), entry


def test_bridge_covers_every_world(worlds: list[World],
                                   bridge: dict[str, dict[str, Any]]) -> None:
    expect_entry(bridge, '/clock', '/clock', 'rosgraph_msgs/msg/Clock', 'gz.msgs.Clock')
    expected = {'/clock'}
    for world in worlds:
        for camera in world.cameras:
            image = f'/cameras/{camera.name}/image_raw'
            info = f'/cameras/{camera.name}/camera_info'
            assert camera.topic == image
            # Gazebo publishes camera_info beside the image topic.
            expect_entry(bridge, image, image, 'sensor_msgs/msg/Image', 'gz.msgs.Image')
            expect_entry(bridge, info, info, 'sensor_msgs/msg/CameraInfo', 'gz.msgs.CameraInfo')
            expected |= {image, info}
        for vehicle in world.vehicles:
            ros = f'/sim/vehicles/{vehicle.name}/pose'
            expect_entry(bridge, ros, f'/model/{vehicle.name}/pose',
                         'geometry_msgs/msg/PoseStamped', 'gz.msgs.Pose')
            expected.add(ros)
    stale = set(bridge) - expected
    assert not stale, f'bridged topics no world publishes: {sorted(stale)}'


def test_world_systems(worlds: list[World]) -> None:
    for world in worlds:
        assert {p.filename for p in world.plugins} >= WORLD_PLUGINS, world.name
        root = ET.parse(world.source).getroot()
        engine = root.find("./world/plugin[@filename='gz-sim-sensors-system']/render_engine")
        assert engine is not None and engine.text == 'ogre2'


def test_vehicle_systems(worlds: list[World]) -> None:
    for world in worlds:
        root = ET.parse(world.source).getroot()
        for vehicle in world.vehicles:
            plugins = [p.filename for p in vehicle.model.plugins]
            assert plugins.count('gz-sim-pose-publisher-system') == 1, vehicle.name
            model = root.find(f"./world/model[@name='{vehicle.name}']")
            assert model is not None
            joints = {j.get('name') for j in model.findall('joint')}
            if vehicle.kind is VehicleKind.DRONE:
                assert plugins.count('gz-sim-multicopter-motor-model-system') == 4
                assert plugins.count('gz-sim-multicopter-control-system') == 1
                used = {e.text for e in model.iter('jointName')}
                assert model.find("./link/sensor[@type='imu']") is not None
            else:
                assert plugins.count('gz-sim-diff-drive-system') == 1
                drive = model.find("./plugin[@filename='gz-sim-diff-drive-system']")
                assert drive is not None
                used = {e.text for e in drive if e.tag in ('left_joint', 'right_joint')}
            assert used and used <= joints, (vehicle.name, used - joints)


def resolve_launch_path(value: str) -> Path:
    return Path(value.replace('$(dirname)', str(LAUNCH.parent))).resolve()


def test_launch_file() -> None:
    root = ET.parse(LAUNCH).getroot()
    assert root.tag == 'launch'
    args = {arg.get('name'): arg.get('default') for arg in root.findall('arg')}
    assert args['world'] == 'substation'
    worlds_dir = resolve_launch_path(args['worlds_dir'])
    assert (worlds_dir / f"{args['world']}.sdf").is_file()
    assert resolve_launch_path(args['bridge_config']) == BRIDGE.resolve()
    executable = root.find('executable')
    assert executable is not None
    command = executable.get('cmd', '')
    assert command.startswith('gz sim ') and '$(var worlds_dir)/$(var world).sdf' in command
    node = root.find("node[@pkg='ros_gz_bridge']")
    assert node is not None and node.get('exec') == 'parameter_bridge'
    params = {p.get('name'): p.get('value') for p in node.findall('param')}
    assert params['config_file'] == '$(var bridge_config)'
