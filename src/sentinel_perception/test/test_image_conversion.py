"""sensor_msgs/Image payloads to RGB without cv_bridge: every encoding, every bad input."""

from __future__ import annotations

import array

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_perception.image_conversion import (CHANNELS, ImageError, ImageHeader, check_header,
                                                  from_rgb, to_rgb)


def _rgb(height: int = 3, width: int = 4) -> np.ndarray:
    return np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)


def test_each_encoding_yields_the_same_rgb_pixels():
    rgb = _rgb()
    encoded = {
        'rgb8': rgb,
        'bgr8': rgb[..., ::-1],
        'rgba8': np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2),
        'bgra8': np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 7, np.uint8)],
                                axis=2),
    }
    for encoding, pixels in encoded.items():
        header = ImageHeader(encoding, 4, 3, 4 * CHANNELS[encoding], False)
        assert np.array_equal(to_rgb(header, np.ascontiguousarray(pixels).tobytes()), rgb), encoding


def test_mono8_is_replicated_into_three_channels():
    grey = np.array([[0, 128], [255, 7]], dtype=np.uint8)
    out = to_rgb(ImageHeader('mono8', 2, 2, 2, False), grey.tobytes())
    assert out.shape == (2, 2, 3)
    assert np.array_equal(out[..., 0], grey) and np.array_equal(out[..., 2], grey)


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 17), height=st.integers(1, 9), padding=st.integers(0, 5))
def test_row_padding_is_skipped(width, height, padding):
    rgb = np.random.default_rng(width * 31 + height).integers(0, 255, (height, width, 3),
                                                              dtype=np.uint8)
    step = width * 3 + padding
    rows = np.zeros((height, step), dtype=np.uint8)
    rows[:, :width * 3] = rgb.reshape(height, -1)
    out = to_rgb(ImageHeader('rgb8', width, height, step, False), rows.tobytes())
    assert np.array_equal(out, rgb)
    assert out.flags['C_CONTIGUOUS']


def test_rclpy_style_array_payloads_are_read_without_copying_first():
    header, data = from_rgb(_rgb())
    assert np.array_equal(to_rgb(header, array.array('B', data)), _rgb())


@pytest.mark.parametrize('header, size, reason', [
    (ImageHeader('16UC1', 4, 3, 8, False), 24, 'unsupported encoding'),
    (ImageHeader('rgb8', 0, 3, 0, False), 0, 'empty image'),
    (ImageHeader('rgb8', 4, 0, 12, False), 0, 'empty image'),
    (ImageHeader('rgb8', 100_000, 100_000, 300_000, False), 10, 'more than the limit'),
    (ImageHeader('rgb8', 4, 3, 10, False), 36, 'shorter than a row'),
    (ImageHeader('rgb8', 4, 3, 12, False), 20, 'needs 36'),
])
def test_bad_frames_are_refused_with_the_reason(header, size, reason):
    with pytest.raises(ImageError, match=reason):
        check_header(header, size)
    with pytest.raises(ImageError, match=reason):
        to_rgb(header, bytes(size))


def test_the_pixel_limit_is_configurable():
    header, data = from_rgb(_rgb(10, 10))
    with pytest.raises(ImageError, match='limit of 99'):
        to_rgb(header, data, max_pixels=99)
    assert to_rgb(header, data, max_pixels=100).shape == (10, 10, 3)
