"""Detections drawn over camera images as Foxglove ImageAnnotations.

The detector publishes boxes in the pixel grid of the image it ran on; the
bridge may show that image decimated, so boxes are scaled to the displayed
size and clipped to it. Each box gets a class colour that stays the same for
a class across cameras and runs (a stable hash, not Python's salted one), and
a label with class, tracker id and confidence.
"""

from __future__ import annotations

import math
import zlib

from sentinel_bridge.foxglove_domain import DetectionFrame, DetectionView
from sentinel_bridge.foxglove_model import (ImageAnnotations, Point2, PointsAnnotation,
                                            PointsKind, Rgba, TextAnnotation)

# Box colours; a class keeps its colour everywhere (picked by a stable hash of its name).
PALETTE: tuple[Rgba, ...] = (
    Rgba(0.95, 0.26, 0.21),   # red
    Rgba(0.13, 0.59, 0.95),   # blue
    Rgba(1.00, 0.76, 0.03),   # amber
    Rgba(0.30, 0.69, 0.31),   # green
    Rgba(0.61, 0.15, 0.69),   # purple
    Rgba(0.00, 0.74, 0.83),   # cyan
    Rgba(1.00, 0.34, 0.13),   # deep orange
    Rgba(0.91, 0.12, 0.39),   # pink
)
# Fixed colours for the classes operators care most about.
CLASS_COLORS: dict[str, Rgba] = {
    'person': Rgba(0.95, 0.26, 0.21),
    'vehicle': Rgba(1.00, 0.76, 0.03),
    'drone': Rgba(0.61, 0.15, 0.69),
}
BOX_THICKNESS_PX = 2.0                      # outline width of a detection box
LABEL_FONT_PX = 13.0                        # label text height
LABEL_TEXT = Rgba(1.0, 1.0, 1.0)            # white text ...
LABEL_BACKGROUND_ALPHA = 0.75               # ... on the box colour at this opacity


def class_color(class_name: str) -> Rgba:
    """The colour of a class: fixed for well-known classes, else stable by name."""
    known = CLASS_COLORS.get(class_name)
    if known is not None:
        return known
    return PALETTE[zlib.crc32(class_name.encode('utf-8')) % len(PALETTE)]


def detection_label(detection: DetectionView) -> str:
    """``person #12 87%`` (no ``#id`` when the detection is not tracked)."""
    confidence = detection.confidence if math.isfinite(detection.confidence) else 0.0
    track = f' #{detection.track_id}' if detection.track_id >= 0 else ''
    return f'{detection.class_name}{track} {round(confidence * 100)}%'


def _clip(value: float, high: float) -> float:
    return min(max(value, 0.0), high)


def scaled_box(box: tuple[float, float, float, float], sx: float, sy: float, width: int,
               height: int) -> tuple[float, float, float, float] | None:
    """A box scaled into the displayed image and clipped to it; None if nothing is left."""
    if not all(math.isfinite(v) for v in box):
        return None
    x0, y0, x1, y1 = box
    x0, x1 = sorted((x0 * sx, x1 * sx))
    y0, y1 = sorted((y0 * sy, y1 * sy))
    x0, x1 = _clip(x0, width), _clip(x1, width)
    y0, y1 = _clip(y0, height), _clip(y1, height)
    if x1 - x0 <= 0.0 or y1 - y0 <= 0.0:
        return None
    return (x0, y0, x1, y1)


def annotations_for(frame: DetectionFrame, width: int, height: int) -> ImageAnnotations:
    """Boxes and labels of one detection frame, for an image displayed at width x height px.

    When the detection frame does not say its image size (0), boxes are
    taken to be in the displayed image's pixels.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f'displayed image size must be positive, got {width}x{height}')
    sx = width / frame.image_width if frame.image_width > 0 else 1.0
    sy = height / frame.image_height if frame.image_height > 0 else 1.0
    boxes: list[PointsAnnotation] = []
    labels: list[TextAnnotation] = []
    for detection in frame.detections:
        box = scaled_box(detection.box, sx, sy, width, height)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        color = class_color(detection.class_name)
        corners = (Point2(x0, y0), Point2(x1, y0), Point2(x1, y1), Point2(x0, y1))
        boxes.append(PointsAnnotation(PointsKind.LINE_LOOP, corners, color, BOX_THICKNESS_PX))
        # Label above the box, or inside its top edge when the box touches the image top.
        label_y = y0 - 2.0 if y0 >= LABEL_FONT_PX + 2.0 else y0 + LABEL_FONT_PX + 2.0
        labels.append(TextAnnotation(Point2(x0, label_y), detection_label(detection), LABEL_TEXT,
                                     color.with_alpha(LABEL_BACKGROUND_ALPHA), LABEL_FONT_PX))
    return ImageAnnotations(frame.stamp_ns, tuple(boxes), tuple(labels))
