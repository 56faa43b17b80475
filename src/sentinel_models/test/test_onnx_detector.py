"""OnnxDetector: validation of model files, letterbox geometry, decoding, NMS, batching."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_models.onnx_detector import (
    ModelError,
    OnnxDetector,
    box_iou,
    decode,
    letterbox,
    letterbox_into,
    nms,
    resize_bilinear,
)

NAMES = ['person', 'vehicle', 'drone']


@pytest.fixture()
def model(tmp_path: Path, fakes: ModuleType) -> Path:
    # Input 320 px. A 640x480 image is scaled by 0.5 and padded 40 px top and bottom.
    table = fakes.anchor_table([(160.0, 160.0, 40.0, 80.0, 0, 0.9),      # person at image (320, 240)
                          (161.0, 161.0, 40.0, 80.0, 0, 0.6),      # duplicate: suppressed
                          (161.0, 161.0, 40.0, 80.0, 1, 0.5),      # other class: kept
                          (20.0, 60.0, 20.0, 20.0, 2, 0.8),        # drone at the top-left
                          (160.0, 10.0, 20.0, 20.0, 2, 0.9),       # wholly in the padding
                          (300.0, 300.0, 10.0, 10.0, 1, 0.1)], 3)  # below the threshold
    path = tmp_path / 'fake.onnx'
    fakes.write_fake_model(path, table, names=NAMES)
    return path


def test_detections_come_back_in_original_image_pixels(model: Path) -> None:
    detector = OnnxDetector(model, NAMES, 320)
    image = np.zeros((480, 640, 3), np.uint8)
    boxes = detector.detect([image])[0]
    assert [(b.class_name, round(b.confidence, 2)) for b in boxes] == \
        [('person', 0.9), ('drone', 0.8), ('vehicle', 0.5)]
    person = boxes[0]
    assert (person.x_min, person.y_min, person.x_max, person.y_max) == pytest.approx((280, 160, 360, 320))
    drone = boxes[1]
    assert (drone.x_min, drone.y_min, drone.x_max, drone.y_max) == pytest.approx((20, 20, 60, 60))


def test_a_batch_gives_one_list_per_image_and_accepts_mixed_sizes(model: Path) -> None:
    detector = OnnxDetector(model, NAMES, 320)
    results = detector.detect([np.zeros((480, 640, 3), np.uint8), np.zeros((240, 320, 3), np.uint8),
                               np.zeros((100, 50, 3), np.uint8)])
    assert len(results) == 3
    assert results[1][0].x_max == pytest.approx(180)  # scale 1 with 40 px padding: (140..180)
    assert detector.detect([]) == []


def test_a_thread_count_gives_a_pool_of_that_size_that_does_not_spin(model: Path) -> None:
    options = OnnxDetector(model, NAMES, 320, threads=1)._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.get_session_config_entry('session.intra_op.allow_spinning') == '0'
    default = OnnxDetector(model, NAMES, 320)._session.get_session_options()
    assert default.intra_op_num_threads == 0          # onnxruntime's own choice: one per core


def test_a_network_that_runs_at_any_size_gets_the_smallest_stride_multiple_input(
        tmp_path: Path, fakes: ModuleType) -> None:
    path = tmp_path / 'any_size.onnx'
    fakes.write_any_size_model(path, (160.0, 128.0, 40.0, 80.0, 0, 0.9), 3)
    detector = OnnxDetector(path, NAMES, 320)
    assert detector.rectangular
    batch, fits = detector.preprocess([np.zeros((480, 640, 3), np.uint8)])
    assert batch.shape == (1, 3, 256, 320)          # 320 x 240 fitted, 8 px of grey above and below
    assert (fits[0].pad_x, fits[0].pad_y) == (0, 8)
    person = detector.detect([np.zeros((480, 640, 3), np.uint8)])[0][0]
    assert (person.x_min, person.y_min, person.x_max, person.y_max) == pytest.approx((280, 160, 360, 320))
    # A batch of a landscape and a portrait frame needs the square.
    batch, _ = detector.preprocess([np.zeros((480, 640, 3), np.uint8), np.zeros((640, 480, 3), np.uint8)])
    assert batch.shape == (2, 3, 320, 320)


def test_a_network_with_anchors_for_the_square_alone_keeps_square_inputs(model: Path) -> None:
    detector = OnnxDetector(model, NAMES, 320)   # a constant output: the same anchors at any size
    assert not detector.rectangular
    assert detector.preprocess([np.zeros((480, 640, 3), np.uint8)])[0].shape == (1, 3, 320, 320)


def test_a_static_batch_model_is_run_image_by_image(tmp_path: Path, fakes: ModuleType) -> None:
    path = tmp_path / 'static.onnx'
    fakes.write_fake_model(path, fakes.anchor_table([(160.0, 160.0, 40.0, 80.0, 0, 0.9)], 3), static_batch=True)
    results = OnnxDetector(path, NAMES, 320).detect([np.zeros((320, 320, 3), np.uint8)] * 2)
    assert [len(r) for r in results] == [1, 1]


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / 'junk.onnx'
    path.write_bytes(b'\x00\x01 definitely not protobuf')
    with pytest.raises(ModelError, match='not a valid ONNX model'):
        OnnxDetector(path, NAMES, 320)
    with pytest.raises(ModelError, match='not found'):
        OnnxDetector(tmp_path / 'missing.onnx', NAMES, 320)


def test_wrong_input_size_is_refused(tmp_path: Path, fakes: ModuleType) -> None:
    path = tmp_path / 'm.onnx'
    fakes.write_fake_model(path, fakes.anchor_table([], 3), input_size=256)
    with pytest.raises(ModelError, match='wrong input size'):
        OnnxDetector(path, NAMES, 320)


def test_wrong_channel_count_is_refused(tmp_path: Path, fakes: ModuleType) -> None:
    path = tmp_path / 'gray.onnx'
    fakes.write_fake_model(path, fakes.anchor_table([], 3), channels=1)
    with pytest.raises(ModelError, match=r'expected \[batch, 3, height, width\]'):
        OnnxDetector(path, NAMES, 320)


def test_wrong_class_count_is_refused(tmp_path: Path, fakes: ModuleType) -> None:
    path = tmp_path / 'm.onnx'
    fakes.write_fake_model(path, fakes.anchor_table([], 2))
    with pytest.raises(ModelError, match='predicts 2 classes but 3 class names'):
        OnnxDetector(path, NAMES, 320)


def test_class_names_must_match_the_models_own(model: Path) -> None:
    with pytest.raises(ModelError, match='trained on classes'):
        OnnxDetector(model, ['car', 'boat', 'plane'], 320)


@pytest.mark.parametrize('names', [None, [], ['a', 'a', 'b'], 'person', ['a', '', 'c']])
def test_a_missing_or_bad_class_list_is_refused(model: Path, names: object) -> None:
    with pytest.raises(ValueError, match='class'):
        OnnxDetector(model, names, 320)


@pytest.mark.parametrize('image', [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                   np.zeros((0, 10, 3), np.uint8), np.zeros((10, 10, 4), np.uint8)])
def test_bad_images_are_refused(model: Path, image: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r'expected an \(h, w, 3\) uint8'):
        OnnxDetector(model, NAMES, 320).detect([image])


@settings(max_examples=30, deadline=None)
@given(st.integers(8, 900), st.integers(8, 900), st.sampled_from([64, 160, 320]))
def test_letterbox_keeps_aspect_and_centres_the_image(width: int, height: int, size: int) -> None:
    canvas, fit = letterbox(np.full((height, width, 3), 200, np.uint8), size)
    assert canvas.shape == (size, size, 3)
    assert fit.scale == pytest.approx(min(size / width, size / height))
    new_w, new_h = round(width * fit.scale), round(height * fit.scale)
    assert abs(fit.pad_x - (size - new_w) / 2) <= 0.6 and abs(fit.pad_y - (size - new_h) / 2) <= 0.6
    assert np.all(canvas[fit.pad_y:fit.pad_y + new_h, fit.pad_x:fit.pad_x + new_w] == 200)


@settings(max_examples=30, deadline=None)
@given(st.integers(8, 700), st.integers(8, 700), st.sampled_from([64, 160, 320]))
def test_letterboxing_into_the_batch_equals_the_canvas_scaled_to_unit_range(width: int, height: int,
                                                                            size: int) -> None:
    image = np.random.default_rng(width * height).integers(0, 256, (height, width, 3), np.uint8)
    canvas, fit = letterbox(image, size)
    out = np.full((3, size, size), np.nan, np.float32)
    assert letterbox_into(image, size, out) == fit
    assert np.array_equal(out, canvas.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))


def test_bilinear_halving_averages_two_by_two_blocks() -> None:
    image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1).repeat(3, axis=2) * 10
    half = resize_bilinear(image, 2, 2)
    assert half[0, 0, 0] == round((0 + 10 + 40 + 50) / 4)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert nms(boxes, np.array([0.5, 0.9, 0.7]), 0.45).tolist() == [1, 2]
    assert box_iou(boxes[:1], boxes[:1])[0, 0] == pytest.approx(1.0)


def test_decode_refuses_an_output_of_the_wrong_width() -> None:
    with pytest.raises(ModelError, match='channels per anchor'):
        decode(np.zeros((6, 10), np.float32), 3, 0.25, 0.45, 10)
