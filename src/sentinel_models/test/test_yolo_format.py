"""YOLO label lines: round trip, and clear errors for labels outside the image or of unknown classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_models.yolo_format import (
    LabelError,
    PixelBox,
    parse_yolo_line,
    read_label_file,
    to_yolo_line,
    write_label_file,
)


@given(st.integers(8, 2000), st.integers(8, 2000), st.floats(0, 1), st.floats(0, 1),
       st.floats(0.01, 1), st.floats(0.01, 1), st.integers(0, 2))
def test_round_trip_keeps_the_box_within_a_hundredth_of_a_pixel(width: int, height: int, fx: float,
                                                                 fy: float, fw: float, fh: float,
                                                                 cls: int) -> None:
    x0, y0 = fx * (1 - fw) * width, fy * (1 - fh) * height
    box = PixelBox(cls, x0, y0, x0 + fw * width, y0 + fh * height)
    parsed = parse_yolo_line(to_yolo_line(box, width, height), 3)
    c, cx, cy, w, h = parsed
    assert c == cls
    tolerance = 1e-6 * max(width, height) * 2
    assert abs((cx - w / 2) * width - box.x_min) <= tolerance + 1e-9 * width
    assert abs((cy + h / 2) * height - box.y_max) <= tolerance + 1e-9 * height


@pytest.mark.parametrize('line, reason', [
    ('0 0.95 0.5 0.2 0.2', 'outside the image'),
    ('0 0.5 -0.01 0.1 0.1', 'outside the image'),
    ('3 0.5 0.5 0.1 0.1', 'class 3 is not in 0..2'),
    ('-1 0.5 0.5 0.1 0.1', 'class -1'),
    ('0 0.5 0.5 0 0.1', 'positive'),
    ('0 0.5 0.5 nan 0.1', 'positive and finite'),
    ('0 0.5 0.5 0.1', 'expected "class cx cy w h"'),
    ('person 0.5 0.5 0.1 0.1', 'not numbers'),
])
def test_bad_lines_are_refused_with_the_reason(line: str, reason: str) -> None:
    with pytest.raises(LabelError, match=reason):
        parse_yolo_line(line, 3, 'f.txt:1')


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / 'a.txt'
    path.write_text('0 0.5 0.5 0.1 0.1\n\n1 0.99 0.5 0.1 0.1\n')
    with pytest.raises(LabelError, match=r'a\.txt:3: .*outside the image'):
        read_label_file(path, 3, 320, 240)


def test_writing_refuses_a_box_outside_the_image(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='outside'):
        write_label_file(tmp_path / 'x.txt', [PixelBox(0, 300.0, 10.0, 330.0, 20.0)], 320, 240)


def test_an_empty_file_means_no_objects(tmp_path: Path) -> None:
    write_label_file(tmp_path / 'e.txt', [], 320, 240)
    assert read_label_file(tmp_path / 'e.txt', 3, 320, 240) == []
