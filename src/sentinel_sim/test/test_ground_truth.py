"""Camera ground truth: pinhole projection, clipping, truncation and occlusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentinel_sim.ground_truth import (
    CameraView,
    EntityState,
    camera_info,
    project_entities,
    project_entity,
)
from sentinel_sim.physics import PhysicsWorld
from sentinel_sim.vehicle_types import Vector3
from sentinel_sim.world import Pose, parse_world

WIDTH, HEIGHT = 640, 480
HFOV = math.pi / 2  # 90 degrees: focal length = width / 2


def view(position: tuple[float, float, float] = (0, 0, 0), yaw: float = 0.0,
         pitch: float = 0.0) -> CameraView:
    return CameraView('test', np.array(position, dtype=float),
                      Pose(0, 0, 0, 0, pitch, yaw).rotation(), WIDTH, HEIGHT, HFOV, 0.1, 500.0)


def entity(x: float, y: float, z: float, size: tuple[float, float, float] = (1, 1, 1),
           yaw: float = 0.0, name: str = 'thing') -> EntityState:
    return EntityState(name, 'vehicle', 'intruder', Pose(x, y, z, 0, 0, yaw), Vector3(), size)


def test_camera_info_matches_the_pinhole_of_the_sdf_camera() -> None:
    info = camera_info(WIDTH, HEIGHT, HFOV)
    assert info.k_matrix == pytest.approx(np.array([[320, 0, 320], [0, 320, 240], [0, 0, 1]]))
    assert info.p_matrix == pytest.approx(np.array([[320, 0, 320, 0], [0, 320, 240, 0],
                                                    [0, 0, 1, 0]]))
    assert info.d == (0.0,) * 5 and info.distortion_model == 'plumb_bob'
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    with pytest.raises(ValueError):
        camera_info(0, 10, 1.0)
    with pytest.raises(ValueError):
        camera_info(10, 10, math.pi)


def test_known_points_land_on_the_expected_pixels() -> None:
    cam = view()
    pixels, depth = cam.project(np.array([
        [10.0, 0.0, 0.0],     # on the optical axis
        [10.0, -10.0, 0.0],   # 45 degrees to the right: the right edge
        [10.0, 2.0, 1.0],     # left and up
        [-5.0, 0.0, 0.0],     # behind
    ]))
    assert pixels[0] == pytest.approx((320, 240))
    assert pixels[1] == pytest.approx((640, 240))
    assert pixels[2] == pytest.approx((320 - 64, 240 - 32))
    assert np.all(np.isnan(pixels[3])) and depth[3] < 0
    assert depth[:3] == pytest.approx([10, 10, 10])


def test_a_turned_and_tilted_camera_projects_through_its_pose() -> None:
    cam = view(position=(5, 5, 10), yaw=math.pi / 2, pitch=math.atan2(10, 20))
    pixels, _ = cam.project(np.array([[5.0, 25.0, 0.0]]))  # straight ahead, on the ground
    assert pixels[0] == pytest.approx((320, 240))


def test_a_box_in_view_gets_its_pixel_box_and_full_visibility() -> None:
    box = project_entity(view(), entity(10, 0, 0, size=(2, 2, 2)))
    assert box is not None
    # Nearest face at x = 9: +-1 m there spans +-320/9 px.
    assert (box.x_min, box.y_min) == pytest.approx((320 - 320 / 9, 240 - 320 / 9))
    assert (box.x_max, box.y_max) == pytest.approx((320 + 320 / 9, 240 + 320 / 9))
    assert box.truncation == 1.0 and box.visible_fraction == 1.0
    assert box.distance == pytest.approx(10.0)


@pytest.mark.parametrize('where', [(-10, 0, 0), (-0.5, 0, 0)])
def test_a_box_behind_the_camera_is_omitted(where: tuple[float, float, float]) -> None:
    assert project_entity(view(), entity(*where, size=(0.5, 0.5, 0.5))) is None


def test_boxes_outside_the_image_or_beyond_the_far_plane_are_omitted() -> None:
    cam = view()
    assert project_entity(cam, entity(10, 30, 0)) is None   # far to the left
    assert project_entity(cam, entity(900, 0, 0)) is None   # beyond 500 m
    assert project_entities(cam, [entity(10, 30, 0), entity(10, 0, 0, name='seen')])[0] \
        .entity_id == 'seen'


def test_a_box_half_out_of_the_image_is_half_truncated() -> None:
    # Centred on the right edge (x = 10, y = -10): half its projection is outside.
    box = project_entity(view(), entity(10, -10, 0, size=(0.01, 2, 2)))
    assert box is not None
    assert box.x_max == WIDTH
    assert box.truncation == pytest.approx(0.5, abs=0.01)
    assert box.visible_fraction == pytest.approx(box.truncation)


def test_a_box_crossing_the_near_plane_is_clipped_not_dropped() -> None:
    # A long box from behind the camera to 5 m ahead, to its right side.
    box = project_entity(view(), entity(0, -2, 0, size=(10, 1, 1)))
    assert box is not None
    assert box.x_max == WIDTH and 0 < box.x_min < WIDTH
    assert 0.0 < box.truncation < 1.0


def test_occlusion_is_the_share_of_sample_points_the_rays_reach() -> None:
    cam = view()
    thing = entity(10, 0, 0, size=(2, 2, 2))
    hidden = project_entity(cam, thing, lambda origin, points, name: np.zeros(len(points), bool))
    assert hidden is not None and hidden.visible_fraction == 0.0 and hidden.unoccluded == 0.0

    def left_half(origin: np.ndarray, points: np.ndarray, name: str) -> np.ndarray:
        assert name == 'thing' and np.allclose(origin, cam.position)
        return points[:, 1] > 0.0  # a wall hides everything right of the axis

    half = project_entity(cam, thing, left_half)
    assert half is not None and half.unoccluded == pytest.approx(9 / 27)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(-200, 200), y=st.floats(-200, 200), z=st.floats(-50, 50),
       size=st.tuples(st.floats(0.05, 20), st.floats(0.05, 20), st.floats(0.05, 20)),
       yaw=st.floats(-4, 4), cam_yaw=st.floats(-4, 4), cam_pitch=st.floats(-1.5, 1.5))
def test_boxes_are_always_inside_the_image_with_fractions_in_range(
        x: float, y: float, z: float, size: tuple[float, float, float], yaw: float,
        cam_yaw: float, cam_pitch: float) -> None:
    box = project_entity(view(yaw=cam_yaw, pitch=cam_pitch), entity(x, y, z, size, yaw))
    if box is None:
        return
    assert 0.0 <= box.x_min < box.x_max <= WIDTH
    assert 0.0 <= box.y_min < box.y_max <= HEIGHT
    assert 0.0 < box.truncation <= 1.0 and 0.0 <= box.visible_fraction <= 1.0


OCCLUSION_WORLD = '''<?xml version="1.0"?>
<sdf version="1.9" xmlns:sentinel="https://sentinel-robotics.org/sdf">
  <world name="occlusion">
    <spherical_coordinates>
      <surface_model>EARTH_WGS84</surface_model>
      <world_frame_orientation>ENU</world_frame_orientation>
      <latitude_deg>47.0</latitude_deg><longitude_deg>8.0</longitude_deg>
      <elevation>400</elevation><heading_deg>0</heading_deg>
    </spherical_coordinates>
    <model name="ground_plane"><static>true</static><link name="link">
      <collision name="c"><geometry><plane><normal>0 0 1</normal></plane></geometry></collision>
      <visual name="v"><geometry><plane><normal>0 0 1</normal><size>100 100</size></plane>
      </geometry></visual>
    </link></model>
    <model name="wall"><static>true</static><pose>10 -3 1.5 0 0 0</pose><link name="link">
      <visual name="v"><geometry><box><size>0.3 4 3</size></box></geometry></visual>
    </link></model>
    <model name="pole"><static>true</static><pose>0 0 0 0 0 0</pose><link name="link">
      <visual name="mast"><pose>0 0 1 0 0 0</pose>
        <geometry><cylinder><radius>0.1</radius><length>2</length></cylinder></geometry></visual>
      <visual name="housing"><pose>-0.1 0 2 0 0 0</pose>
        <geometry><box><size>0.3 0.2 0.2</size></box></geometry></visual>
      <sensor name="cam" type="camera"><pose>0 0 2 0 0 0</pose>
        <update_rate>5</update_rate><topic>/cameras/cam/image_raw</topic>
        <camera><horizontal_fov>1.5708</horizontal_fov>
          <image><width>320</width><height>240</height></image>
          <clip><near>0.1</near><far>200</far></clip></camera></sensor>
    </link></model>
    ACTORS
  </world>
</sdf>
'''

ACTOR = '''<actor name="NAME"><sentinel:actor kind="person"/>
      <script><trajectory id="0" type="walk">
        <waypoint><time>0</time><pose>X Y 0 0 0 0</pose></waypoint>
        <waypoint><time>100</time><pose>X Y 0 0 0 0</pose></waypoint>
      </trajectory></script></actor>'''


def test_an_entity_behind_a_wall_gets_a_low_visible_fraction() -> None:
    # The wall covers y in [-5, -1] at x = 10; rays to y = -1.5 at x = 15 graze its edge.
    people = {'hidden': (15, -3), 'open': (15, 3), 'half': (15, -1.5)}
    actors = '\n'.join(ACTOR.replace('NAME', name).replace('X', str(x)).replace('Y', str(y))
                       for name, (x, y) in people.items())
    physics = PhysicsWorld(parse_world(OCCLUSION_WORLD.replace('ACTORS', actors), 'occ.sdf'))
    boxes = {b.entity_id: b for b in physics.ground_truth('cam')}
    assert set(boxes) == set(people)  # all in the image, even the hidden one
    assert boxes['open'].visible_fraction == 1.0
    assert boxes['hidden'].visible_fraction < 0.1
    assert 0.2 < boxes['half'].visible_fraction < 0.8
    assert all(b.truncation == 1.0 and b.entity_class == 'person' for b in boxes.values())
