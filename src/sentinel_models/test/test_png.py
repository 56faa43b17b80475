"""The deterministic PNG writer/reader: exact round trip, Pillow agrees, corrupt files are refused."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sentinel_models.png import PngError, decode_png, encode_png, read_png


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 24), st.integers(1, 24), st.just(3))))
def test_round_trip_is_exact(image: np.ndarray) -> None:
    assert np.array_equal(decode_png(encode_png(image)), image)


def test_same_pixels_give_the_same_bytes() -> None:
    image = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    assert encode_png(image) == encode_png(image.copy())


def test_pillow_reads_what_we_write() -> None:
    image_module = pytest.importorskip('PIL.Image', reason='Pillow only cross-checks the format')
    image = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(image_module.open(io.BytesIO(encode_png(image)))), image)


@pytest.mark.parametrize('data, reason', [
    (b'GIF89a....', 'not a PNG'),
    (encode_png(np.zeros((4, 4, 3), np.uint8))[:40], 'truncated|corrupt|expected|no IHDR'),
])
def test_corrupt_files_are_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / 'bad.png'
    path.write_bytes(data)
    with pytest.raises(PngError, match=reason):
        read_png(path)


def test_only_rgb_uint8_is_encoded() -> None:
    with pytest.raises(ValueError, match='uint8'):
        encode_png(np.zeros((4, 4), np.uint8))
