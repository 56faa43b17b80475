"""Boxes and labels drawn onto RGB frames (debug images and alert evidence).

Why: an operator judging an alert, or an engineer judging the detector, needs
to see what the model saw. Pillow's ImageDraw does the drawing (it is already
required by matplotlib for the drift plots), so no OpenCV dependency for a
few rectangles. No rclpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

# Outline colours (RGB) cycled by class id, chosen to stand out on grass,
# gravel and sky.
PALETTE = ((255, 56, 56), (255, 157, 151), (255, 112, 31), (255, 178, 29), (207, 210, 49),
           (72, 249, 10), (146, 204, 23), (61, 219, 134), (26, 147, 52), (0, 212, 187))
LINE_WIDTH = 2   # px, box outline
LABEL_PAD = 2    # px, space between a label and its box


@dataclass(frozen=True)
class Label:
    """A box to draw with its caption."""

    box: tuple[float, float, float, float]  # px, x_min, y_min, x_max, y_max
    text: str
    class_id: int = 0


def draw_boxes(image: np.ndarray, labels: Sequence[Label]) -> np.ndarray:
    """A copy of an (h, w, 3) uint8 RGB image with the boxes and captions drawn."""
    canvas = Image.fromarray(np.ascontiguousarray(image), mode='RGB')
    draw = ImageDraw.Draw(canvas)
    for label in labels:
        colour = PALETTE[label.class_id % len(PALETTE)]
        x0, y0, x1, y1 = (float(v) for v in label.box)
        draw.rectangle((x0, y0, max(x0, x1), max(y0, y1)), outline=colour, width=LINE_WIDTH)
        if label.text:
            left, top, right, bottom = draw.textbbox((0, 0), label.text)
            height = bottom - top
            ty = y0 - height - 2 * LABEL_PAD if y0 - height - 2 * LABEL_PAD >= 0 else y1 + LABEL_PAD
            draw.rectangle((x0, ty, x0 + (right - left) + 2 * LABEL_PAD, ty + height + 2 * LABEL_PAD),
                           fill=colour)
            draw.text((x0 + LABEL_PAD, ty + LABEL_PAD - top), label.text, fill=(0, 0, 0))
    return np.asarray(canvas)
