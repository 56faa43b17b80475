"""YOLO label files: one ``class cx cy w h`` line per object, normalised to the image size.

Why here and strict: a label outside the image or an unknown class index trains
a silently wrong model, so reading fails with the file, the line and the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

# Slack (normalised units) for float round-off when checking that a box lies in the image.
BOUNDS_TOLERANCE = 1e-6
# Decimal places written per coordinate: 1e-6 of a 4000 px image is well under a pixel.
COORD_DECIMALS = 6


class LabelError(ValueError):
    """A label file that cannot be used; the message names file, line and reason."""


@dataclass(frozen=True)
class PixelBox:
    """An axis-aligned box in pixels (continuous: the image spans [0, w] x [0, h])."""

    class_id: int
    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @property
    def width(self) -> float:
        return self.x_max - self.x_min

    @property
    def height(self) -> float:
        return self.y_max - self.y_min


def to_yolo_line(box: PixelBox, image_width: int, image_height: int) -> str:
    """``class cx cy w h`` normalised to the image; the box must lie inside it."""
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f'image size must be positive, got {image_width}x{image_height}')
    if not (0.0 <= box.x_min < box.x_max <= image_width and
            0.0 <= box.y_min < box.y_max <= image_height):
        raise ValueError(f'box {box} is empty or outside a {image_width}x{image_height} image')
    cx = (box.x_min + box.x_max) / 2.0 / image_width
    cy = (box.y_min + box.y_max) / 2.0 / image_height
    w = box.width / image_width
    h = box.height / image_height
    d = COORD_DECIMALS
    return f'{box.class_id} {cx:.{d}f} {cy:.{d}f} {w:.{d}f} {h:.{d}f}'


def parse_yolo_line(line: str, num_classes: int,
                    where: str = '<label>') -> tuple[int, float, float, float, float]:
    """(class, cx, cy, w, h) of one label line, checked against the image and class count."""
    fields = line.split()
    if len(fields) != 5:
        raise LabelError(f'{where}: expected "class cx cy w h", got {line.strip()!r}')
    try:
        class_id = int(fields[0])
        cx, cy, w, h = (float(f) for f in fields[1:])
    except ValueError:
        raise LabelError(f'{where}: not numbers: {line.strip()!r}') from None
    if not 0 <= class_id < num_classes:
        raise LabelError(f'{where}: class {class_id} is not in 0..{num_classes - 1}')
    if not all(math.isfinite(v) for v in (cx, cy, w, h)) or w <= 0.0 or h <= 0.0:
        raise LabelError(f'{where}: box size must be positive and finite, got {line.strip()!r}')
    tol = BOUNDS_TOLERANCE
    if cx - w / 2 < -tol or cy - h / 2 < -tol or cx + w / 2 > 1 + tol or cy + h / 2 > 1 + tol:
        raise LabelError(f'{where}: box {line.strip()!r} lies (partly) outside the image '
                         '(normalised coordinates must stay within 0..1)')
    return class_id, cx, cy, w, h


def read_label_file(path: Path, num_classes: int, image_width: int,
                    image_height: int) -> list[PixelBox]:
    """Every box of a YOLO label file in pixels of a ``image_width`` x ``image_height`` image."""
    try:
        text = path.read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as error:
        raise LabelError(f'{path}: cannot read: {error}') from None
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        class_id, cx, cy, w, h = parse_yolo_line(line, num_classes, f'{path}:{number}')
        boxes.append(PixelBox(class_id, (cx - w / 2) * image_width, (cy - h / 2) * image_height,
                              (cx + w / 2) * image_width, (cy + h / 2) * image_height))
    return boxes


def write_label_file(path: Path, boxes: list[PixelBox], image_width: int, image_height: int) -> None:
    """Write ``boxes`` as a YOLO label file (empty file: an image with no object)."""
    lines = [to_yolo_line(box, image_width, image_height) for box in boxes]
    path.write_text(''.join(f'{line}\n' for line in lines), encoding='utf-8')
