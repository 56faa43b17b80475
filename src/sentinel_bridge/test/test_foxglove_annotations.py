"""Detections to Foxglove ImageAnnotations: scaling, clipping, labels, colours."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sentinel_msgs.msg import Detection, DetectionArray

from sentinel_bridge.foxglove_annotations import (CLASS_COLORS, annotations_for, class_color,
                                                  detection_label)
from sentinel_bridge.foxglove_domain import DetectionFrame, DetectionView
from sentinel_bridge.foxglove_model import PointsKind
from sentinel_bridge.foxglove_ros import detection_frame


def _frame(*detections, width=640, height=480):
    return DetectionFrame('cam_nw', 123, width, height, 'v1', tuple(detections))


def test_box_becomes_a_closed_outline_with_a_label_above_it():
    person = DetectionView('person', 0.874, (100.0, 50.0, 140.0, 130.0), 12)
    annotations = annotations_for(_frame(person), 640, 480)
    assert annotations.timestamp_ns == 123
    (box,) = annotations.points
    assert box.kind is PointsKind.LINE_LOOP
    assert [(p.x, p.y) for p in box.points] == [(100, 50), (140, 50), (140, 130), (100, 130)]
    assert box.outline_color == CLASS_COLORS['person']
    (label,) = annotations.texts
    assert label.text == 'person #12 87%'
    assert label.position.y < 50 and label.position.x == 100


def test_boxes_are_scaled_to_a_decimated_image_and_clipped():
    detection = DetectionView('vehicle', 0.5, (600.0, 400.0, 700.0, 500.0), -1)
    annotations = annotations_for(_frame(detection), 320, 240)
    xs = [p.x for p in annotations.points[0].points]
    ys = [p.y for p in annotations.points[0].points]
    assert min(xs) == 300 and max(xs) == 320 and min(ys) == 200 and max(ys) == 240
    assert annotations.texts[0].text == 'vehicle 50%'   # untracked: no #id


def test_boxes_outside_the_image_or_not_finite_are_dropped():
    gone = DetectionView('person', 0.9, (700.0, 10.0, 800.0, 20.0), 1)
    nan = DetectionView('person', 0.9, (math.nan, 10.0, 20.0, 20.0), 2)
    assert annotations_for(_frame(gone, nan), 640, 480).points == ()


def test_unknown_classes_keep_a_stable_colour():
    assert class_color('forklift') == class_color('forklift')
    assert detection_label(DetectionView('x', math.nan, (0, 0, 1, 1), 3)) == 'x #3 0%'
    with pytest.raises(ValueError):
        annotations_for(_frame(), 0, 480)


coordinates = st.floats(-2000, 2000, allow_nan=False)


@given(st.lists(st.tuples(coordinates, coordinates, coordinates, coordinates), max_size=20),
       st.integers(1, 1920), st.integers(1, 1080))
def test_every_annotation_point_lies_inside_the_displayed_image(boxes, width, height):
    detections = [DetectionView('person', 0.5, box, i) for i, box in enumerate(boxes)]
    annotations = annotations_for(_frame(*detections), width, height)
    for outline in annotations.points:
        for point in outline.points:
            assert 0 <= point.x <= width and 0 <= point.y <= height
    assert len(annotations.texts) == len(annotations.points)


def test_detection_array_message_converts():
    message = DetectionArray(camera_id='cam_se', image_width_px=640, image_height_px=480,
                             model_version='v3')
    message.header.stamp.sec, message.header.stamp.nanosec = 5, 7
    detection = Detection(class_name='person', confidence=0.6, track_id=4)
    detection.box.x_min_px, detection.box.y_min_px = 1.0, 2.0
    detection.box.x_max_px, detection.box.y_max_px = 3.0, 4.0
    message.detections = [detection]
    frame = detection_frame(message)
    assert frame.stamp_ns == 5_000_000_007 and frame.camera_id == 'cam_se'
    assert frame.detections[0].box == (1.0, 2.0, 3.0, 4.0) and frame.detections[0].track_id == 4
