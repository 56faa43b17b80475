"""Detection metrics against hand-computed cases: AP, ignore regions, confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from sentinel_models.evaluation import (
    Detection,
    ImageResult,
    average_precision,
    confusion_matrix,
    evaluate,
)
from sentinel_models.yolo_format import PixelBox

NAMES = ('person', 'vehicle', 'drone')


def truth(cls: int, x: float, y: float, w: float = 20, h: float = 40) -> PixelBox:
    return PixelBox(cls, x, y, x + w, y + h)


def det(cls: int, conf: float, x: float, y: float, w: float = 20, h: float = 40) -> Detection:
    return Detection(cls, conf, x, y, x + w, y + h)


def test_perfect_detections_score_one() -> None:
    results = [ImageResult([truth(0, 10, 10), truth(1, 100, 50)],
                           [det(0, 0.9, 10, 10), det(1, 0.8, 100, 50)])]
    metrics = evaluate(results, NAMES)
    assert metrics.map50 == pytest.approx(1.0)
    assert metrics.map50_95 == pytest.approx(1.0)
    assert [c.instances for c in metrics.per_class] == [1, 1, 0]  # drone: no truth, not averaged


def test_a_box_shifted_by_a_quarter_counts_at_iou_50_but_not_at_95() -> None:
    # 20 x 40 box shifted 5 px right: IoU = 15*40 / (25*40) = 0.6
    metrics = evaluate([ImageResult([truth(0, 10, 10)], [det(0, 0.9, 15, 10)])], NAMES)
    assert metrics.per_class[0].ap50 == pytest.approx(1.0)
    assert metrics.per_class[0].ap50_95 == pytest.approx(0.3)  # thresholds 0.50, 0.55, 0.60 of ten


def test_average_precision_of_a_known_ranking() -> None:
    # Ranked: TP, FP, TP with 2 instances -> precision envelope 1 up to recall 0.5, 2/3 up to 1.
    ap = average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 2)
    expected = (51 * 1.0 + 50 * (2 / 3)) / 101
    assert ap == pytest.approx(expected)


def test_a_missed_object_halves_recall_and_a_wrong_class_is_a_false_positive() -> None:
    results = [ImageResult([truth(0, 10, 10), truth(0, 200, 10)],
                           [det(0, 0.9, 10, 10), det(2, 0.9, 200, 10)])]
    metrics = evaluate(results, NAMES)
    person = metrics.per_class[0]
    assert person.recall == pytest.approx(0.5) and person.precision == pytest.approx(1.0)
    assert person.ap50 == pytest.approx(51 / 101)
    assert metrics.confusion[0, 2] == 1  # a person predicted as a drone
    assert metrics.confusion[0, 0] == 1


def test_detections_on_ignore_regions_are_neither_hits_nor_false_positives() -> None:
    ignored = [PixelBox(2, 300, 300, 304, 303)]  # a 4 px drone, below the label rule
    with_ignore = ImageResult([truth(0, 10, 10)], [det(0, 0.9, 10, 10), det(2, 0.95, 300, 300, 5, 4)],
                              ignored)
    without = ImageResult([truth(0, 10, 10)], [det(0, 0.9, 10, 10), det(2, 0.95, 300, 300, 5, 4)])
    matrix_with = confusion_matrix([with_ignore], 3, 0.25)
    matrix_without = confusion_matrix([without], 3, 0.25)
    assert matrix_with[3, 2] == 0 and matrix_without[3, 2] == 1
    assert evaluate([with_ignore], NAMES).per_class[0].precision == pytest.approx(1.0)


def test_a_duplicate_detection_is_a_false_positive() -> None:
    metrics = evaluate([ImageResult([truth(0, 10, 10)], [det(0, 0.9, 10, 10), det(0, 0.8, 11, 10)])],
                       NAMES)
    assert metrics.per_class[0].precision == pytest.approx(0.5)
    assert metrics.per_class[0].ap50 == pytest.approx(1.0)  # the duplicate ranks below the hit


def test_background_row_and_column_count_false_positives_and_misses() -> None:
    matrix = confusion_matrix([ImageResult([truth(1, 0, 0)], [det(0, 0.9, 200, 200)])], 3, 0.25)
    assert matrix[1, 3] == 1  # the vehicle was missed
    assert matrix[3, 0] == 1  # a person where there is nothing


def test_nothing_to_evaluate_is_an_error() -> None:
    with pytest.raises(ValueError, match='no ground-truth box'):
        evaluate([ImageResult([], [det(0, 0.9, 0, 0)])], NAMES)


def test_as_dict_is_json_ready() -> None:
    import json
    metrics = evaluate([ImageResult([truth(0, 10, 10)], [det(0, 0.9, 10, 10)])], NAMES)
    data = json.loads(json.dumps(metrics.as_dict(), allow_nan=True))
    assert data['per_class']['person']['ap50'] == 1.0
    assert data['confusion_matrix']['labels'] == ['person', 'vehicle', 'drone', 'background']


def test_the_size_breakdown_scores_each_height_range_alone() -> None:
    small, large = truth(0, 10, 10, 6, 10), truth(0, 100, 10, 30, 60)
    results = [ImageResult([small, large], [det(0, 0.9, 100, 10, 30, 60)])]  # the small one missed
    metrics = evaluate(results, NAMES)
    assert metrics.map50_by_height['large (>=48 px)'] == pytest.approx(1.0)
    assert metrics.map50_by_height['small (<16 px)'] == pytest.approx(0.0)
    assert 'medium (16-48 px)' not in metrics.map50_by_height  # no truth of that height
