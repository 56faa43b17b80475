"""Simulator objects to ROS messages."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_sim.ground_truth import camera_info
from sentinel_sim.ros_conversions import camera_info_message, image_message, pose_message, stamp
from sentinel_sim.simulation import CameraFrame
from sentinel_sim.world import Pose

angles = st.floats(min_value=-math.pi, max_value=math.pi)


@given(st.floats(min_value=0.0, max_value=1e6))
def test_stamps_keep_nanoseconds_in_range(seconds):
    value = stamp(seconds)
    assert 0 <= value.nanosec < 1_000_000_000
    assert value.sec + value.nanosec * 1e-9 == pytest.approx(seconds, abs=1e-6)


@given(angles, st.floats(min_value=-1.5, max_value=1.5), angles)
def test_pose_quaternion_is_unit_and_rotates_like_the_pose(roll, pitch, yaw):
    pose = Pose(1.0, 2.0, 3.0, roll, pitch, yaw)
    q = pose_message(pose).orientation
    assert q.w ** 2 + q.x ** 2 + q.y ** 2 + q.z ** 2 == pytest.approx(1.0)
    w, x, y, z = q.w, q.x, q.y, q.z
    from_quaternion = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    np.testing.assert_allclose(from_quaternion, pose.rotation(), atol=1e-9)


def test_image_and_camera_info_describe_the_same_frame():
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    info = camera_info(6, 4, math.radians(90))
    frame = CameraFrame('cam_x', 12.5, pixels, info, ())
    image = image_message(frame)
    assert (image.width, image.height, image.step, image.encoding) == (6, 4, 18, 'rgb8')
    assert bytes(image.data) == pixels.tobytes()
    calibration = camera_info_message('cam_x', 12.5, info)
    assert calibration.header == image.header
    assert calibration.header.frame_id == 'cam_x_optical_frame'
    assert list(calibration.k) == pytest.approx(list(info.k))
    assert calibration.k[0] == pytest.approx(3.0)  # 6 px wide, 90 degrees: f = 3 px
