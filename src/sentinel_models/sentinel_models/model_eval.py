"""Score an ONNX detection model on a dataset split (what `sentinel-train` reports).

Why separate from :mod:`evaluation`: that module is pure arithmetic on boxes;
this one reads images and labels from disk and runs the detector.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from sentinel_models.dataset import DatasetError, DatasetInfo, read_boxes
from sentinel_models.evaluation import Detection, ImageResult, Metrics, evaluate
from sentinel_models.onnx_detector import OnnxDetector
from sentinel_models.png import PngError, PngUnsupported, read_png

# Score threshold for mAP: low, so the precision-recall curve is traced to high recall.
MAP_CONF_THRESHOLD = 0.001
# Operating confidence of precision, recall and the confusion matrix.
OPERATING_CONF = 0.25
# Images per detector batch.
EVAL_BATCH = 16


def read_image(path: Path) -> np.ndarray:
    """(h, w, 3) uint8 RGB pixels of a dataset image."""
    if path.suffix.lower() == '.png':
        try:
            return read_png(path)
        except PngUnsupported:
            pass  # a valid PNG this package did not write: Pillow reads every kind
        except PngError as error:
            raise DatasetError(str(error)) from None
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError(f'{path}: reading this image needs Pillow') from None
    with Image.open(path) as picture:
        return np.asarray(picture.convert('RGB'))


def evaluate_model(model_path: Path, names: tuple[str, ...], input_size: int, info: DatasetInfo,
                   split: str, progress: Callable[[int, int], None] | None = None) -> Metrics:
    """Metrics of the model at ``model_path`` on one split of a checked dataset."""
    detector = OnnxDetector(model_path, names, input_size, conf_threshold=MAP_CONF_THRESHOLD)
    files = info.images[split]
    results: list[ImageResult] = []
    for start in range(0, len(files), EVAL_BATCH):
        batch = files[start:start + EVAL_BATCH]
        images = [read_image(path) for path in batch]
        for path, image, boxes in zip(batch, images, detector.detect(images), strict=True):
            truth, ignored = read_boxes(path, len(names), image.shape[1], image.shape[0])
            results.append(ImageResult(
                truth, [Detection(b.class_id, b.confidence, b.x_min, b.y_min, b.x_max, b.y_max)
                        for b in boxes], ignored))
        if progress is not None:
            progress(len(results), len(files))
    return evaluate(results, names, OPERATING_CONF)


# Held-out images shown with the model's detections in the model card.
PREDICTION_TILES = 16


def prediction_preview(model_path: Path, names: tuple[str, ...], input_size: int,
                       info: DatasetInfo, split: str, path: Path) -> None:
    """A grid of held-out images with the model's detections (operating confidence) drawn."""
    from sentinel_models.preview import PreviewTile, write_preview
    from sentinel_models.yolo_format import PixelBox

    detector = OnnxDetector(model_path, names, input_size, conf_threshold=OPERATING_CONF)
    files = info.images[split]
    step = max(1, len(files) // PREDICTION_TILES)
    tiles = []
    for image_path in files[::step][:PREDICTION_TILES]:
        image = read_image(image_path)
        boxes = detector.detect([image])[0]
        _, ignored = read_boxes(image_path, len(names), image.shape[1], image.shape[0])
        tiles.append(PreviewTile(image, [PixelBox(b.class_id, b.x_min, b.y_min, b.x_max, b.y_max)
                                         for b in boxes], ignored,
                                 confidences=[b.confidence for b in boxes], caption=image_path.stem))
    write_preview(path, tiles, names)
