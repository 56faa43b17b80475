"""Detection metrics: mAP50, mAP50-95, per-class precision and recall, confusion matrix.

Why our own and not ultralytics' validator: the shipped artifact is the ONNX
file run through :class:`~onnx_detector.OnnxDetector`, so that is what is
scored; and the dataset's ignore regions (objects too small, hidden or fogged
to label, see :mod:`label_rules`) must be neither misses nor false positives,
which ultralytics cannot express.

Conventions (COCO's): a detection matches the unmatched ground-truth box of
its class with the highest IoU at or above the threshold, detections taken
from the most confident down; an unmatched detection whose area lies at least
``IGNORE_IOA`` inside an ignore region is dropped; AP is the area under the
precision envelope sampled at 101 recall points; mAP averages the classes
that have ground truth; mAP50-95 averages IoU thresholds 0.50, 0.55 ... 0.95.
Precision, recall and the confusion matrix are taken at one operating
confidence (``conf_threshold``) and IoU 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sentinel_models.onnx_detector import box_iou
from sentinel_models.yolo_format import PixelBox

# IoU thresholds of mAP50-95.
IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
# Recall points of the interpolated precision-recall curve (COCO).
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
# Share of a detection's area inside an ignore region that makes it neither TP nor FP.
IGNORE_IOA = 0.5
# IoU of the operating point (precision, recall, confusion matrix).
OPERATING_IOU = 0.5
# Truth box heights (px, [low, high)) of the size breakdown: how far away a model still sees.
HEIGHT_BUCKETS = {'small (<16 px)': (0.0, 16.0), 'medium (16-48 px)': (16.0, 48.0),
                  'large (>=48 px)': (48.0, float('inf'))}


@dataclass(frozen=True)
class Detection:
    class_id: int
    confidence: float
    x_min: float
    y_min: float
    x_max: float
    y_max: float


@dataclass(frozen=True)
class ImageResult:
    """Ground truth, ignore regions and detections of one image."""

    truth: Sequence[PixelBox]
    detections: Sequence[Detection]
    ignored: Sequence[PixelBox] = ()


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    instances: int        # ground-truth boxes
    ap50: float
    ap50_95: float
    precision: float      # at the operating confidence and IoU 0.5
    recall: float


@dataclass(frozen=True)
class Metrics:
    map50: float
    map50_95: float
    precision: float      # mean over classes with ground truth
    recall: float
    per_class: tuple[ClassMetrics, ...]
    confusion: np.ndarray = field(repr=False)  # (nc + 1, nc + 1): rows truth, columns predicted;
    #                                             last row/column: background
    images: int = 0
    conf_threshold: float = 0.25
    map50_by_height: dict[str, float] = field(default_factory=dict)  # bucket -> mAP50

    def as_dict(self) -> dict[str, object]:
        return {
            'map50': round(self.map50, 4), 'map50_95': round(self.map50_95, 4),
            'precision': round(self.precision, 4), 'recall': round(self.recall, 4),
            'images': self.images, 'conf_threshold': self.conf_threshold,
            'iou_thresholds': list(IOU_THRESHOLDS), 'ignore_ioa': IGNORE_IOA,
            'map50_by_height': {k: round(v, 4) for k, v in self.map50_by_height.items()},
            'per_class': {c.name: {'instances': c.instances, 'ap50': round(c.ap50, 4),
                                   'ap50_95': round(c.ap50_95, 4),
                                   'precision': round(c.precision, 4), 'recall': round(c.recall, 4)}
                          for c in self.per_class},
            'confusion_matrix': {'rows': 'truth', 'columns': 'predicted',
                                 'labels': [c.name for c in self.per_class] + ['background'],
                                 'counts': self.confusion.astype(int).tolist()},
        }


def _xyxy(boxes: Sequence[PixelBox] | Sequence[Detection]) -> np.ndarray:
    return np.array([[b.x_min, b.y_min, b.x_max, b.y_max] for b in boxes], dtype=float).reshape(-1, 4)


def _inside_ignore(dets: np.ndarray, ignored: np.ndarray) -> np.ndarray:
    """(n,) True where a detection's area lies at least IGNORE_IOA inside some ignore region."""
    if dets.shape[0] == 0 or ignored.shape[0] == 0:
        return np.zeros(dets.shape[0], dtype=bool)
    lt = np.maximum(dets[:, None, :2], ignored[None, :, :2])
    rb = np.minimum(dets[:, None, 2:], ignored[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=2)
    area = np.prod(np.clip(dets[:, 2:] - dets[:, :2], 1e-12, None), axis=1)
    result: np.ndarray = np.max(inter / area[:, None], axis=1) >= IGNORE_IOA
    return result


def match_image(result: ImageResult, class_id: int, iou_threshold: float,
                heights: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(confidences, is-TP flags) of the counted detections of one class, and its truth count.

    With ``heights`` (px, [low, high)) only truth boxes of that height count (COCO's
    area ranges): a detection matched to another truth box, or unmatched and
    itself outside the range, is not counted either way.
    """
    truth = [b for b in result.truth if b.class_id == class_id]
    counted = np.array([heights is None or heights[0] <= b.height < heights[1] for b in truth],
                       dtype=bool)
    dets = sorted((d for d in result.detections if d.class_id == class_id),
                  key=lambda d: -d.confidence)
    det_boxes, truth_boxes = _xyxy(dets), _xyxy(truth)
    ious = box_iou(det_boxes, truth_boxes) if dets and truth else np.zeros((len(dets), len(truth)))
    ignored = _inside_ignore(det_boxes, _xyxy(result.ignored))
    if heights is not None and dets:
        det_heights = det_boxes[:, 3] - det_boxes[:, 1]
        ignored |= (det_heights < heights[0]) | (det_heights >= heights[1])
    taken = np.zeros(len(truth), dtype=bool)
    confidences, flags = [], []
    for i, det in enumerate(dets):
        candidates = np.where(~taken & (ious[i] >= iou_threshold))[0] if truth else np.array([], int)
        if candidates.size:
            best = candidates[np.argmax(ious[i, candidates])]
            taken[best] = True
            if counted[best]:
                confidences.append(det.confidence)
                flags.append(True)
        elif not ignored[i]:
            confidences.append(det.confidence)
            flags.append(False)
    return np.asarray(confidences, dtype=float), np.asarray(flags, dtype=bool), int(counted.sum())


def average_precision(confidences: np.ndarray, tp: np.ndarray, instances: int) -> float:
    """Area under the interpolated precision-recall curve (101 recall points)."""
    if instances == 0:
        return float('nan')
    if confidences.size == 0:
        return 0.0
    order = np.argsort(-confidences, kind='stable')
    hits = tp[order].astype(float)
    tp_cum = np.cumsum(hits)
    fp_cum = np.cumsum(1.0 - hits)
    recall = tp_cum / instances
    precision = tp_cum / np.maximum(tp_cum + fp_cum, 1e-12)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    indices = np.searchsorted(recall, RECALL_POINTS, side='left')
    sampled = np.where(indices < envelope.size, envelope[np.minimum(indices, envelope.size - 1)], 0.0)
    return float(np.mean(sampled))


def confusion_matrix(results: Sequence[ImageResult], num_classes: int, conf_threshold: float,
                     iou_threshold: float = OPERATING_IOU) -> np.ndarray:
    """Counts (truth row, predicted column), background last, class-agnostic matching by IoU."""
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    background = num_classes
    for result in results:
        dets = [d for d in result.detections if d.confidence >= conf_threshold]
        truth_boxes, det_boxes = _xyxy(result.truth), _xyxy(dets)
        ious = box_iou(truth_boxes, det_boxes) if dets and result.truth else \
            np.zeros((len(result.truth), len(dets)))
        pairs = sorted(((ious[t, d], t, d) for t, d in zip(*np.nonzero(ious >= iou_threshold),
                                                             strict=True)), reverse=True)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, t, d in pairs:
            if t in used_t or d in used_d:
                continue
            used_t.add(t)
            used_d.add(d)
            matrix[result.truth[t].class_id, dets[d].class_id] += 1
        for t, box in enumerate(result.truth):
            if t not in used_t:
                matrix[box.class_id, background] += 1
        ignored = _inside_ignore(det_boxes, _xyxy(result.ignored))
        for d, det in enumerate(dets):
            if d not in used_d and not ignored[d]:
                matrix[background, det.class_id] += 1
    return matrix


def evaluate(results: Sequence[ImageResult], names: Sequence[str],
             conf_threshold: float = 0.25) -> Metrics:
    """Every metric of the module docstring over ``results``."""
    per_class = []
    for c, name in enumerate(names):
        aps = []
        operating = (0.0, 0.0)
        instances = 0
        for t in IOU_THRESHOLDS:
            matched = [match_image(r, c, t) for r in results]
            confidences = np.concatenate([m[0] for m in matched]) if matched else np.zeros(0)
            flags = np.concatenate([m[1] for m in matched]) if matched else np.zeros(0, bool)
            instances = sum(m[2] for m in matched)
            aps.append(average_precision(confidences, flags, instances))
            if t == OPERATING_IOU:
                kept = confidences >= conf_threshold
                tp = int(np.count_nonzero(flags[kept]))
                precision = tp / int(np.count_nonzero(kept)) if np.any(kept) else 0.0
                recall = tp / instances if instances else 0.0
                operating = (precision, recall)
        per_class.append(ClassMetrics(name, instances, aps[0], float(np.mean(aps)) if instances
                                      else float('nan'), operating[0], operating[1]))
    scored = [c for c in per_class if c.instances > 0]
    if not scored:
        raise ValueError('no ground-truth box to evaluate against')
    by_height = {}
    for bucket, heights in HEIGHT_BUCKETS.items():
        aps = []
        for c in range(len(names)):
            matched = [match_image(r, c, OPERATING_IOU, heights) for r in results]
            instances = sum(m[2] for m in matched)
            if instances:
                aps.append(average_precision(np.concatenate([m[0] for m in matched]),
                                             np.concatenate([m[1] for m in matched]), instances))
        if aps:
            by_height[bucket] = float(np.mean(aps))
    return Metrics(map50=float(np.mean([c.ap50 for c in scored])),
                   map50_95=float(np.mean([c.ap50_95 for c in scored])),
                   precision=float(np.mean([c.precision for c in scored])),
                   recall=float(np.mean([c.recall for c in scored])),
                   per_class=tuple(per_class),
                   confusion=confusion_matrix(results, len(names), conf_threshold),
                   images=len(results), conf_threshold=conf_threshold,
                   map50_by_height=by_height)
