"""Pixels to ground positions: round trips, uncertainty, vehicle cameras, bad poses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sentinel_perception.camera_geometry import (CameraRig, GeometryError, GeometryProblem, Mount,
                                                 VehiclePose)
from sentinel_perception.geolocation import (CameraPose, Georeference, Intrinsics, LocatorSettings,
                                             fixed_camera_pose, locate_by_size, locate_on_ground,
                                             mounted_camera_pose, project_point,
                                             quaternion_matrix, rpy_matrix)

VGA = Intrinsics(320.0, 320.0, 320.0, 240.0, 640, 480)   # 90 deg horizontal fov, like the poles


@settings(max_examples=150, deadline=None)
@given(height=st.floats(2.0, 40.0), pitch=st.floats(0.1, 1.2), yaw=st.floats(-math.pi, math.pi),
       roll=st.floats(-0.1, 0.1), u=st.floats(5.0, 635.0), v=st.floats(5.0, 475.0))
def test_a_ground_point_projected_into_a_camera_comes_back_to_itself(height, pitch, yaw, roll, u, v):
    pose = fixed_camera_pose(10.0, -20.0, height, roll, pitch, yaw)
    settings_ = LocatorSettings(max_range=5000.0)
    located = locate_on_ground(VGA, pose, (u - 3.0, v - 40.0, u + 3.0, v), settings_)
    assume(located is not None)  # pixels above the horizon never meet the ground
    point = located.position
    assert point[2] == pytest.approx(0.0, abs=1e-9)
    pixel = project_point(VGA, pose, point)
    assert pixel is not None
    assert pixel == pytest.approx((u, v), abs=1e-6)
    # and from a known ground point: project, then locate
    again = locate_on_ground(VGA, pose, (pixel[0] - 1.0, pixel[1] - 10.0, pixel[0] + 1.0, pixel[1]),
                             settings_)
    assert again is not None and again.position == pytest.approx(point, abs=1e-6)


def test_uncertainty_grows_with_range():
    pose = fixed_camera_pose(0.0, 0.0, 8.0, 0.0, 0.3, 0.0)
    near = locate_on_ground(VGA, pose, (310.0, 400.0, 330.0, 470.0))
    far = locate_on_ground(VGA, pose, (318.0, 146.0, 322.0, 152.0))
    assert near is not None and far is not None
    assert far.range > 5 * near.range
    assert far.sigma > 10 * near.sigma


def test_rays_above_the_horizon_or_nan_boxes_have_no_ground_position():
    pose = fixed_camera_pose(0.0, 0.0, 8.0, 0.0, 0.3, 0.0)
    assert locate_on_ground(VGA, pose, (300.0, 10.0, 340.0, 40.0)) is None   # sky
    assert locate_on_ground(VGA, pose, (math.nan, 300.0, 340.0, 400.0)) is None


@pytest.mark.parametrize('position, rotation', [
    ((math.nan, 0.0, 8.0), np.eye(3)),
    ((0.0, 0.0, math.inf), np.eye(3)),
    ((0.0, 0.0, 8.0), np.full((3, 3), math.nan)),
    ((0.0, 0.0, 8.0), np.eye(3) * 2.0),      # not a rotation
])
def test_invalid_poses_are_refused_not_raised(position, rotation):
    assert CameraPose.from_arrays(np.array(position), rotation) is None
    assert quaternion_matrix(math.nan, 0.0, 0.0, 1.0) is None
    assert quaternion_matrix(0.0, 0.0, 0.0, 0.0) is None


def test_aerial_objects_are_placed_by_their_apparent_size():
    pose = fixed_camera_pose(0.0, 0.0, 8.0, 0.0, 0.0, 0.0)   # looking east, level
    settings_ = LocatorSettings(aerial_size=0.6)
    # A 0.6 m drone 100 m east at 8 m height spans 320 * 0.6 / 100 = 1.92 px.
    estimate = locate_by_size(VGA, pose, (319.04, 239.04, 320.96, 240.96), settings_)
    assert estimate is not None
    assert estimate.position == pytest.approx((100.0, 0.0, 8.0), abs=1e-6)
    assert estimate.sigma == pytest.approx(35.0)


def test_the_intruder_in_a_rendered_frame_is_located_where_the_simulator_put_it(intruder_scene,
                                                                             perception_site):
    """The truth box of a simulator frame, through the site config pose, lands on the intruder."""
    info, box = intruder_scene['info'], intruder_scene['box']
    intrinsics = Intrinsics.from_k(info.k, info.width, info.height)
    pose = perception_site.fixed_poses['cam_nw']
    located = locate_on_ground(intrinsics, pose, (box.x_min, box.y_min, box.x_max, box.y_max))
    assert located is not None
    truth = intruder_scene['position']
    error = math.hypot(located.position[0] - truth[0], located.position[1] - truth[1])
    assert error < max(2.0, 2.0 * located.sigma), (located, truth)
    assert located.range == pytest.approx(28.3, abs=3.0)


def test_drone_camera_pose_matches_the_simulator_gimbal(perception_site):
    """Vehicle pose + mount (+ gimbal levelling) reproduces the simulator's camera pose."""
    from sentinel_sim.physics import PhysicsWorld

    physics = PhysicsWorld(perception_site.world, seed=0)
    physics.step(0.2)
    body = physics.vehicle_pose('drone_1')
    mount = perception_site.mounts['drone_1_camera']
    assert mount.gimballed
    pose = mounted_camera_pose(np.array(body.position), body.rotation(), mount.position,
                               rpy_matrix(*mount.rpy), True)
    view = physics.camera_view('drone_1_camera')
    assert pose is not None
    assert np.allclose(pose.origin, view.position, atol=1e-3)
    assert np.allclose(pose.matrix, view.rotation, atol=1e-3)


def test_the_rig_drops_frames_without_camera_info_and_flags_missing_vehicle_poses():
    mount = Mount('drone_1', (0.16, 0.0, -0.06), (0.0, 1.0472, 0.0), True)
    rig = CameraRig({'pole': fixed_camera_pose(0.0, 0.0, 8.0, 0.0, 0.3, 0.0)},
                    {'drone_1_camera': mount}, max_pose_age=1.0)
    with pytest.raises(GeometryError) as missing:
        rig.geometry('pole', 10.0, 640, 480)
    assert missing.value.problem is GeometryProblem.NO_CAMERA_INFO
    k = [320.0, 0.0, 320.0, 0.0, 320.0, 240.0, 0.0, 0.0, 1.0]
    assert rig.update_info('pole', k, 640, 480)
    assert rig.geometry('pole', 10.0, 640, 480).pose is not None
    with pytest.raises(GeometryError, match='camera_info 640x480 px, image 320x240 px'):
        rig.geometry('pole', 10.0, 320, 240)
    assert not rig.update_info('drone_1_camera', [math.nan] * 9, 640, 480)
    with pytest.raises(GeometryError) as bad:
        rig.geometry('drone_1_camera', 10.0, 640, 480)
    assert bad.value.problem is GeometryProblem.BAD_CAMERA_INFO
    rig.update_info('drone_1_camera', k, 640, 480)
    assert rig.geometry('drone_1_camera', 10.0, 640, 480).problem is GeometryProblem.NO_POSE
    rig.update_vehicle('drone_1', VehiclePose((0.0, 0.0, 20.0), (0.0, 0.0, 0.0, 1.0),
                                              (1.0, 0.0, 0.0), 9.5))
    geometry = rig.geometry('drone_1_camera', 10.0, 640, 480)
    assert geometry.pose is not None
    assert geometry.pose.position[0] == pytest.approx(0.5 + 0.16)   # extrapolated 0.5 s at 1 m/s
    assert rig.geometry('drone_1_camera', 12.0, 640, 480).problem is GeometryProblem.STALE_POSE
    rig.update_vehicle('drone_1', VehiclePose((math.nan, 0.0, 20.0), (0.0, 0.0, 0.0, 1.0),
                                              (0.0, 0.0, 0.0), 10.0))
    with pytest.raises(GeometryError) as nan_pose:
        rig.geometry('drone_1_camera', 10.0, 640, 480)
    assert nan_pose.value.problem is GeometryProblem.INVALID_POSE
    assert nan_pose.value.problem.drops_frame


def test_wgs84_of_site_positions_and_nothing_for_nan(perception_site):
    georef = perception_site.georef
    origin = georef.to_wgs84(0.0, 0.0, 0.0)
    assert origin == pytest.approx(georef.origin)
    north = georef.to_wgs84(0.0, 111.0, 0.0)
    assert north[0] - origin[0] == pytest.approx(0.001, rel=0.01)
    assert georef.to_wgs84(math.nan, 0.0, 0.0) is None
    assert Georeference(math.nan, 0.0, 0.0).to_wgs84(0.0, 0.0, 0.0) is None
