"""The label rule: which ground-truth boxes become labels, ignore regions, or nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_sim.ground_truth import ImageBox

from sentinel_models.label_rules import LabelRule, Verdict, fog_transmission, judge, label_frame

RULE = LabelRule()


def box(x0: float, y0: float, x1: float, y1: float, visible: float = 1.0, distance: float = 10.0,
        cls: str = 'person') -> ImageBox:
    return ImageBox('e', cls, 'intruder', x0, y0, x1, y1, 1.0, visible, visible, distance)


def test_a_clear_object_is_a_label() -> None:
    assert judge(box(100, 100, 110, 130), 0.5, RULE) is Verdict.LABEL  # 5 x 15 px saved


def test_an_object_shorter_than_six_pixels_in_the_saved_image_is_ignored_not_dropped() -> None:
    # 11.8 px tall natively, 5.9 px at half size: below the rule, but visible.
    assert judge(box(100, 100, 120, 111.8), 0.5, RULE) is Verdict.IGNORE
    assert judge(box(100, 100, 120, 112.0), 0.5, RULE) is Verdict.LABEL


def test_a_mostly_hidden_object_is_ignored_and_a_wholly_hidden_one_dropped() -> None:
    assert judge(box(0, 0, 50, 100, visible=0.29), 1.0, RULE) is Verdict.IGNORE
    assert judge(box(0, 0, 50, 100, visible=0.3), 1.0, RULE) is Verdict.LABEL
    assert judge(box(0, 0, 50, 100, visible=0.0), 1.0, RULE) is Verdict.DROP


def test_fog_hides_distant_objects() -> None:
    # Transmission exp(-0.2 * 0.5 * d): 0.25 at d = 13.9 m.
    assert fog_transmission(13.0, 0.5) > 0.25 > fog_transmission(14.5, 0.5)
    assert judge(box(0, 0, 50, 100, distance=13.0), 1.0, RULE, fog_density=0.5) is Verdict.LABEL
    assert judge(box(0, 0, 50, 100, distance=14.5), 1.0, RULE, fog_density=0.5) is Verdict.IGNORE


def test_a_blacked_out_camera_has_no_labels_at_all() -> None:
    frame = label_frame([box(0, 0, 50, 100)], 1.0, 320, 240, RULE, blackout=True)
    assert frame.labels == () and frame.ignored == () and frame.dropped == 1


def test_classes_outside_the_detector_are_dropped() -> None:
    assert judge(box(0, 0, 50, 100, cls='animal'), 1.0, RULE) is Verdict.DROP


@given(st.floats(0, 640), st.floats(0, 480), st.floats(0.5, 640), st.floats(0.5, 480),
       st.floats(0, 1), st.sampled_from([0.25, 0.5, 1.0]))
def test_labels_and_ignore_regions_always_lie_in_the_saved_image(x: float, y: float, w: float,
                                                                  h: float, visible: float,
                                                                  scale: float) -> None:
    width, height = round(640 * scale), round(480 * scale)
    frame = label_frame([box(x, y, min(640.0, x + w), min(480.0, y + h), visible)], scale, width,
                        height, RULE)
    for b in (*frame.labels, *frame.ignored):
        assert 0 <= b.x_min < b.x_max <= width and 0 <= b.y_min < b.y_max <= height
    for b in frame.labels:
        assert b.height >= RULE.min_height_px and b.width >= RULE.min_width_px


def test_invalid_rules_are_refused() -> None:
    with pytest.raises(ValueError, match='min_visible_fraction'):
        LabelRule(min_visible_fraction=1.5)
