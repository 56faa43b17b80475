"""Headless camera rendering (EGL): the scene shows, actors move, effects work, boxes line up.

Images are small (a quarter or less of the configured size, same aspect) to
keep the software renderer's cost low.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sentinel_sim.atmosphere import FOG_RGB
from sentinel_sim.ground_truth import ImageBox
from sentinel_sim.physics import PhysicsWorld
from sentinel_sim.rendering import (
    CameraEffects,
    CameraRenderer,
    apply_fog,
    apply_night,
)
from sentinel_sim.world import Pose, Waypoint, load_world, parse_world

REPO = Path(__file__).resolve().parents[3]
W, H = 160, 120  # px, a quarter of the substation cameras' 640x480


def walk_across(camera_pose: Pose, distance: float, half_width: float,
                seconds: float) -> tuple[Waypoint, ...]:
    """A straight walk across a camera's view, ``distance`` ahead of it, left to right."""
    ahead = np.array([math.cos(camera_pose.yaw), math.sin(camera_pose.yaw)])
    left = np.array([-ahead[1], ahead[0]])
    centre = np.array([camera_pose.x, camera_pose.y]) + distance * ahead
    start, end = centre + half_width * left, centre - half_width * left
    heading = math.atan2(-left[1], -left[0])
    return (Waypoint(0.0, Pose(start[0], start[1], 0.0, 0, 0, heading)),
            Waypoint(seconds, Pose(end[0], end[1], 0.0, 0, 0, heading)))


@pytest.fixture(scope='module')
def substation() -> Iterator[tuple[PhysicsWorld, CameraRenderer]]:
    """The substation, its intruder walking across cam_nw's view 14 m away."""
    world = load_world(REPO / 'worlds' / 'substation.sdf')
    intruder = dataclasses.replace(world.actor('intruder'), delay_start=0.0, loop=False,
                                   waypoints=walk_across(world.camera('cam_nw').pose, 14, 4, 8))
    others = tuple(a for a in world.actors if a.name != 'intruder')
    physics = PhysicsWorld(dataclasses.replace(world, actors=(intruder, *others)))
    renderer = CameraRenderer(physics)
    yield physics, renderer
    renderer.close()


def test_a_fixed_camera_shows_the_scene(substation: tuple[PhysicsWorld, CameraRenderer]
                                        ) -> None:
    _, renderer = substation
    image = renderer.render('cam_nw', width=W, height=H)
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    assert image.std() > 10.0  # not a uniform frame
    sky, ground = image[:10].reshape(-1, 3).mean(axis=0), image[-10:].reshape(-1, 3).mean(axis=0)
    assert sky[2] > sky[0]        # blue sky at the top
    assert ground[1] > ground[2]  # green ground at the bottom


def test_a_moving_actor_changes_the_pixels_where_its_ground_truth_says(
        substation: tuple[PhysicsWorld, CameraRenderer]) -> None:
    physics, renderer = substation
    scale = W / physics.camera('cam_nw').width
    frames: list[np.ndarray] = []
    boxes: list[ImageBox] = []
    for seconds in (2.0, 3.0):
        physics.step(seconds - physics.time)
        frames.append(renderer.render('cam_nw', width=W, height=H).astype(int))
        boxes.extend(b for b in physics.ground_truth('cam_nw') if b.entity_id == 'intruder')
    assert len(boxes) == 2 and all(b.visible_fraction == 1.0 for b in boxes)
    changed = np.any(frames[0] != frames[1], axis=2)
    assert changed.sum() >= 20  # the walker moved about 1 m at 14 m
    inside = np.zeros_like(changed)
    for box in boxes:  # ground truth boxes in the small image, 1 px of slack
        inside[max(0, math.floor(box.y_min * scale) - 1):math.ceil(box.y_max * scale) + 1,
               max(0, math.floor(box.x_min * scale) - 1):math.ceil(box.x_max * scale) + 1] = True
    assert not np.any(changed & ~inside)  # nothing else moved


def test_the_same_state_renders_the_same_frame(substation: tuple[PhysicsWorld, CameraRenderer]
                                               ) -> None:
    _, renderer = substation
    first = renderer.render('cam_ne', width=W, height=H)
    assert np.array_equal(first, renderer.render('cam_ne', width=W, height=H))


def test_blackout_is_a_black_frame(substation: tuple[PhysicsWorld, CameraRenderer]) -> None:
    _, renderer = substation
    image = renderer.render('cam_nw', CameraEffects(blackout=True), width=W, height=H)
    assert image.shape == (H, W, 3) and not image.any()


def test_fog_greys_far_pixels_more_than_near_ones(
        substation: tuple[PhysicsWorld, CameraRenderer]) -> None:
    _, renderer = substation
    clear = renderer.render('cam_nw', width=W, height=H).astype(float)
    foggy = renderer.render('cam_nw', CameraEffects(fog=0.5), width=W, height=H).astype(float)
    grey_distance = [np.abs(img - FOG_RGB).mean(axis=(1, 2)) for img in (clear, foggy)]
    assert foggy.std() < clear.std() * 0.6  # contrast washed out
    near, far = slice(H - 10, H), slice(H // 2 - 15, H // 2 - 5)  # near ground, far field
    assert grey_distance[1][far].mean() < 5.0  # far field is fog
    assert grey_distance[1][near].mean() > 0.2 * grey_distance[0][near].mean()  # near shows


def test_night_darkens_and_adds_noise(substation: tuple[PhysicsWorld, CameraRenderer]) -> None:
    _, renderer = substation
    day = renderer.render('cam_nw', width=W, height=H).astype(float)
    night = [renderer.render('cam_nw', CameraEffects(night=1.0), width=W, height=H)
             for _ in range(2)]
    assert night[0].mean() < 0.25 * day.mean()
    assert not np.array_equal(night[0], night[1])  # sensor noise differs frame to frame
    dusk = renderer.render('cam_nw', CameraEffects(night=0.3), width=W, height=H)
    assert night[0].mean() < dusk.mean() < day.mean()
    # The lights dimmed for night are restored: daylight frames are unchanged.
    assert np.array_equal(renderer.render('cam_nw', width=W, height=H), day.astype(np.uint8))


def test_the_effect_functions_follow_their_definitions() -> None:
    image = np.full((2, 2, 3), 40, dtype=np.uint8)
    depth = np.array([[0.0, 1.0], [50.0, 1e4]], dtype=np.float32)
    fogged = apply_fog(image, depth, 1.0).astype(float)
    assert fogged[0, 0] == pytest.approx([40, 40, 40])   # at the lens: no fog
    assert fogged[1, 1] == pytest.approx(FOG_RGB, abs=1)  # far away: all fog
    assert np.all(fogged[1, 0] > fogged[0, 1])           # farther is greyer (brighter here)
    assert apply_fog(image, depth, 0.0) is image
    dark = apply_night(np.full((50, 50, 3), 200, np.uint8), 1.0, np.random.default_rng(0))
    assert 20 < dark.mean() < 40 and dark.std() > 3
    with pytest.raises(ValueError):
        CameraEffects(fog=1.5)
    with pytest.raises(ValueError):
        CameraEffects(night=-0.1)


def test_a_drone_camera_renders(substation: tuple[PhysicsWorld, CameraRenderer]) -> None:
    _, renderer = substation
    image = renderer.render('drone_1_camera', width=W, height=H)
    assert image.shape == (H, W, 3) and image.any()


def test_an_image_size_that_changes_the_field_of_view_is_refused(
        substation: tuple[PhysicsWorld, CameraRenderer]) -> None:
    _, renderer = substation
    with pytest.raises(ValueError, match='aspect'):
        renderer.render('cam_nw', width=160, height=160)
    with pytest.raises(KeyError, match='no camera'):
        renderer.render('cam_nowhere')


RED_BOX_WORLD = '''<?xml version="1.0"?>
<sdf version="1.9" xmlns:sentinel="https://sentinel-robotics.org/sdf">
  <world name="red_box">
    <spherical_coordinates>
      <surface_model>EARTH_WGS84</surface_model>
      <world_frame_orientation>ENU</world_frame_orientation>
      <latitude_deg>47.0</latitude_deg><longitude_deg>8.0</longitude_deg>
      <elevation>400</elevation><heading_deg>0</heading_deg>
    </spherical_coordinates>
    <light type="directional" name="sun"><direction>-0.3 0.2 -0.9</direction>
      <diffuse>0.8 0.8 0.8 1</diffuse></light>
    <model name="ground_plane"><static>true</static><link name="link">
      <visual name="v"><geometry><plane><normal>0 0 1</normal><size>200 200</size></plane>
      </geometry><material><diffuse>0.3 0.5 0.3 1</diffuse></material></visual>
    </link></model>
    <model name="pole"><static>true</static><pose>0 0 3 0 0 0.3</pose><link name="link">
      <sensor name="cam" type="camera"><pose>0 0 0 0.05 0.2 0</pose>
        <update_rate>5</update_rate><topic>/cameras/cam/image_raw</topic>
        <camera><horizontal_fov>1.2</horizontal_fov>
          <image><width>200</width><height>150</height></image>
          <clip><near>0.1</near><far>200</far></clip></camera></sensor>
    </link></model>
    <actor name="target"><sentinel:actor kind="vehicle"/>
      <link name="body"><visual name="v"><pose>0 0 0.6 0 0 0</pose>
        <geometry><box><size>2 1 1.2</size></box></geometry>
        <material><diffuse>1 0 0 1</diffuse></material></visual></link>
      <script><trajectory id="0" type="drive">
        <waypoint><time>0</time><pose>12 4 0 0 0 0.4</pose></waypoint>
        <waypoint><time>100</time><pose>12 4 0 0 0 0.4</pose></waypoint>
      </trajectory></script></actor>
  </world>
</sdf>
'''


def test_the_ground_truth_box_frames_the_rendered_object() -> None:
    physics = PhysicsWorld(parse_world(RED_BOX_WORLD, 'red_box.sdf'))
    with CameraRenderer(physics) as renderer:
        image = renderer.render('cam').astype(int)
    red = (image[..., 0] > 60) & (image[..., 0] > 2 * image[..., 1]) & \
        (image[..., 0] > 2 * image[..., 2])
    rows, cols = np.nonzero(red)
    assert rows.size > 100
    (box,) = physics.ground_truth('cam')
    # Pixel (i, j) covers [i, i+1) in the continuous coordinates of the box.
    assert box.x_min == pytest.approx(cols.min(), abs=1.0)
    assert box.x_max == pytest.approx(cols.max() + 1, abs=1.0)
    assert box.y_min == pytest.approx(rows.min(), abs=1.0)
    assert box.y_max == pytest.approx(rows.max() + 1, abs=1.0)
