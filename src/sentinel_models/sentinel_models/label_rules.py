"""Which ground-truth boxes become labels, which become ignore regions, which vanish.

The simulator knows every entity in view, even ones no detector could find: a
person 3 px tall, a drone 90 % behind a transformer, a car 200 m into thick fog.
Training on those teaches the network to hallucinate; leaving them unlabelled
teaches it that they are background. The rule (documented in docs/models.md):

* **label** when the box, clipped to the image and scaled to the saved image,
  is at least ``min_height_px`` tall and ``min_width_px`` wide, its
  ``visible_fraction`` (share in the image x share not occluded) is at least
  ``min_visible_fraction``, and fog leaves at least ``min_fog_transmission``
  of its contrast;
* **ignore** when it fails that but something of it is visible
  (``visible_fraction > 0``): the region is written to ``ignore/``, and the
  evaluation neither counts it as a miss nor counts a detection on it as a
  false positive (KITTI's DontCare, COCO's crowd regions);
* **dropped** when nothing of it is visible, or the camera is blacked out.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from sentinel_sim.ground_truth import ImageBox
from sentinel_sim.atmosphere import FOG_EXTINCTION

from sentinel_models.classes import CLASS_NAMES, class_index
from sentinel_models.yolo_format import PixelBox


class Verdict(enum.Enum):
    LABEL = 'label'
    IGNORE = 'ignore'
    DROP = 'drop'


@dataclass(frozen=True)
class LabelRule:
    """Thresholds of the label rule (see the module docstring)."""

    min_height_px: float = 6.0          # px in the saved image: below, a stride-8 grid barely sees it
    min_width_px: float = 3.0           # px: guards against slivers left by truncation at the border
    min_visible_fraction: float = 0.3   # share of the object a viewer could see
    min_fog_transmission: float = 0.25  # exp(-extinction * density * distance) below this: lost in fog

    def __post_init__(self) -> None:
        for name in ('min_height_px', 'min_width_px'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f'LabelRule.{name} must be >= 0, got {value!r}')
        for name in ('min_visible_fraction', 'min_fog_transmission'):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f'LabelRule.{name} must be in [0, 1], got {value!r}')


def fog_transmission(distance: float, fog_density: float) -> float:
    """Share of an object's contrast left after ``distance`` m of fog (the renderer's model)."""
    return math.exp(-FOG_EXTINCTION * fog_density * max(distance, 0.0))


def judge(box: ImageBox, scale: float, rule: LabelRule, fog_density: float = 0.0,
          blackout: bool = False) -> Verdict:
    """The rule's verdict on one ground-truth box; ``scale`` maps its pixels to the saved image's."""
    if blackout or box.visible_fraction <= 0.0 or class_index(box.entity_class) is None:
        return Verdict.DROP
    width = (box.x_max - box.x_min) * scale
    height = (box.y_max - box.y_min) * scale
    if width <= 0.0 or height <= 0.0:
        return Verdict.DROP
    if (height < rule.min_height_px or width < rule.min_width_px
            or box.visible_fraction < rule.min_visible_fraction
            or fog_transmission(box.distance, fog_density) < rule.min_fog_transmission):
        return Verdict.IGNORE
    return Verdict.LABEL


def scaled_box(box: ImageBox, scale: float, width: int, height: int) -> PixelBox | None:
    """The ground-truth box in the saved image's pixels, clipped to it (None if empty)."""
    cls = class_index(box.entity_class, CLASS_NAMES)
    if cls is None:
        return None
    x0 = min(max(box.x_min * scale, 0.0), float(width))
    y0 = min(max(box.y_min * scale, 0.0), float(height))
    x1 = min(max(box.x_max * scale, 0.0), float(width))
    y1 = min(max(box.y_max * scale, 0.0), float(height))
    if x1 <= x0 or y1 <= y0:
        return None
    return PixelBox(cls, x0, y0, x1, y1)


@dataclass(frozen=True)
class FrameLabels:
    """What one frame's ground truth turns into."""

    labels: tuple[PixelBox, ...]
    ignored: tuple[PixelBox, ...]
    dropped: int


def label_frame(boxes: tuple[ImageBox, ...] | list[ImageBox], scale: float, width: int,
                height: int, rule: LabelRule, fog_density: float = 0.0,
                blackout: bool = False) -> FrameLabels:
    """Split a frame's ground truth into labels, ignore regions and dropped entities."""
    labels: list[PixelBox] = []
    ignored: list[PixelBox] = []
    dropped = 0
    for box in boxes:
        verdict = judge(box, scale, rule, fog_density, blackout)
        pixel = scaled_box(box, scale, width, height) if verdict is not Verdict.DROP else None
        if pixel is None:
            dropped += 1
        elif verdict is Verdict.LABEL:
            labels.append(pixel)
        else:
            ignored.append(pixel)
    return FrameLabels(tuple(labels), tuple(ignored), dropped)
