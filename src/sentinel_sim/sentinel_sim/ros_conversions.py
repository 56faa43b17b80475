"""Simulator domain objects → ROS messages.

Kept apart from the node so the conversions are tested on their own and the
node's callbacks stay one screen long.
"""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose as PoseMsg
from sensor_msgs.msg import CameraInfo as CameraInfoMsg
from sensor_msgs.msg import Image
from sentinel_msgs.msg import CameraBox, EntityState as EntityStateMsg, GroundTruth

from sentinel_sim.ground_truth import CameraInfo, EntityState, ImageBox
from sentinel_sim.simulation import CameraFrame
from sentinel_sim.world import Pose

# Frame id of the site ENU frame every pose is expressed in.
SITE_FRAME = 'site'
# Image encoding of every rendered frame (sensor_msgs/image_encodings).
RGB8 = 'rgb8'
# Bytes per rgb8 pixel.
RGB8_PIXEL_BYTES = 3


def stamp(seconds: float) -> Time:
    """Simulation time as a ROS time stamp."""
    whole = math.floor(seconds)
    return Time(sec=int(whole), nanosec=min(int(round((seconds - whole) * 1e9)), 999_999_999))


def optical_frame(camera: str) -> str:
    """The optical frame id of a camera (x right, y down, z forward), as REP 103 names it."""
    return f'{camera}_optical_frame'


def image_message(frame: CameraFrame) -> Image:
    height, width = frame.image.shape[:2]
    message = Image(height=height, width=width, encoding=RGB8, is_bigendian=0,
                    step=width * RGB8_PIXEL_BYTES)
    message.header.stamp = stamp(frame.stamp)
    message.header.frame_id = optical_frame(frame.camera)
    message.data = frame.image.tobytes()
    return message


def camera_info_message(camera: str, seconds: float, info: CameraInfo) -> CameraInfoMsg:
    message = CameraInfoMsg(width=info.width, height=info.height,
                            distortion_model=info.distortion_model,
                            d=list(info.d), k=list(info.k), r=list(info.r), p=list(info.p))
    message.header.stamp = stamp(seconds)
    message.header.frame_id = optical_frame(camera)
    return message


def pose_message(pose: Pose) -> PoseMsg:
    message = PoseMsg()
    message.position.x, message.position.y, message.position.z = pose.position
    # ZYX (yaw, pitch, roll) Euler angles to a quaternion.
    cr, sr = math.cos(pose.roll / 2), math.sin(pose.roll / 2)
    cp, sp = math.cos(pose.pitch / 2), math.sin(pose.pitch / 2)
    cy, sy = math.cos(pose.yaw / 2), math.sin(pose.yaw / 2)
    message.orientation.w = cr * cp * cy + sr * sp * sy
    message.orientation.x = sr * cp * cy - cr * sp * sy
    message.orientation.y = cr * sp * cy + sr * cp * sy
    message.orientation.z = cr * cp * sy - sr * sp * cy
    return message


def entity_message(entity: EntityState) -> EntityStateMsg:
    """The entity with its pose at the centre of its box (a person's pose is at the feet)."""
    centre = entity.center
    box_pose = Pose(float(centre[0]), float(centre[1]), float(centre[2]),
                    entity.pose.roll, entity.pose.pitch, entity.pose.yaw)
    message = EntityStateMsg(entity_id=entity.entity_id, class_name=entity.entity_class,
                             role=entity.role, pose=pose_message(box_pose))
    message.velocity.x, message.velocity.y, message.velocity.z = (
        entity.velocity.x, entity.velocity.y, entity.velocity.z)
    message.size.x, message.size.y, message.size.z = entity.size
    return message


def camera_box_message(camera: str, box: ImageBox) -> CameraBox:
    message = CameraBox(camera_id=camera, entity_id=box.entity_id, class_name=box.entity_class,
                        visible_fraction=box.visible_fraction)
    message.box.x_min_px, message.box.y_min_px = box.x_min, box.y_min
    message.box.x_max_px, message.box.y_max_px = box.x_max, box.y_max
    return message


def ground_truth_message(seconds: float, entities: list[EntityState],
                         frames: list[CameraFrame]) -> GroundTruth:
    """Entities now, and the boxes of the camera frames rendered in this step."""
    message = GroundTruth(
        entities=[entity_message(e) for e in entities],
        boxes=[camera_box_message(f.camera, b) for f in frames for b in f.boxes])
    message.header.stamp = stamp(seconds)
    message.header.frame_id = SITE_FRAME
    return message
