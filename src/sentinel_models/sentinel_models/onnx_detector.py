"""Run an exported YOLO detection model with onnxruntime: letterbox, infer, decode, NMS.

Why its own module with no torch and no rclpy: this is all perception needs
at run time (onnxruntime is a few tens of MB; torch is gigabytes), and the
perception node wraps it in a thin rclpy layer. The API is deliberately
small: ``OnnxDetector(path, class_names, input_size).detect(images)``.

The model is checked when it is loaded, so a bad file fails at once with a
message rather than producing nonsense later: it must parse, take one
``[batch, 3, H, W]`` float input with H = W = ``input_size`` (or dynamic),
and give one ``[batch, 4 + classes, anchors]`` output whose class count
matches ``class_names`` (and the class names stored in the file's metadata,
when it has them). This is the layout ultralytics exports for YOLOv8/11
detection: boxes as centre x, y, width, height in input pixels, class scores
already through a sigmoid, no NMS inside.

Preprocessing matches ultralytics' own: aspect-preserving resize (bilinear,
half-pixel centres like OpenCV's INTER_LINEAR), centred padding with grey
114, RGB, 0..1 floats. Images are (h, w, 3) uint8 RGB, as
``sensor_msgs/Image`` ``rgb8`` frames arrive.

Rectangular inputs: a square ``input_size`` canvas wastes work on padding
(a 4:3 camera leaves a fifth of it grey, a 16:9 one two fifths). A YOLO
export whose graph computes its anchors from the input's shape (ultralytics'
``dynamic=True``) runs on any stride-multiple size even when the file pins
its input to the square, so the detector lifts that pin when it loads the
model and checks it with a trial run: if the network answers a rectangular
input with anchors in proportion to its area, batches are padded only up to
the next multiple of 32 of their largest image (as ultralytics' predict does
for a PyTorch checkpoint); otherwise they are padded to the square.
"""

from __future__ import annotations

import ast
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sentinel_models.classes import validate_class_names

_LOG = logging.getLogger(__name__)

# Grey of the letterbox padding (ultralytics' value, so inputs match training).
PAD_VALUE = 114
# Default score threshold of a reported detection.
DEFAULT_CONF_THRESHOLD = 0.25
# Default IoU above which NMS suppresses the lower-scoring box of the same class.
DEFAULT_IOU_THRESHOLD = 0.45
# Most detections reported per image.
DEFAULT_MAX_DETECTIONS = 300
# Most candidates entering NMS per image (highest scores first): bounds its cost.
MAX_NMS_CANDIDATES = 3000
# Coordinates of boxes from different classes are offset by this much (px) so one NMS
# pass never suppresses across classes.
CLASS_OFFSET = 10_000.0
# Metadata key where ultralytics stores class names ("{0: 'person', ...}").
METADATA_NAMES = 'names'
# Input sides that make sense for a detector (px): YOLO strides need a multiple of 32.
MIN_INPUT_SIZE, MAX_INPUT_SIZE, STRIDE = 32, 4096, 32
# uint8 pixel to the network's 0..1 float.
_TO_UNIT = np.float32(1.0 / 255.0)


class ModelError(ValueError):
    """A model file that cannot be used as this detector; the message says why."""


@dataclass(frozen=True)
class Box:
    """One detection in the original image's pixels."""

    class_id: int
    class_name: str
    confidence: float   # 0..1
    x_min: float        # px, continuous, within [0, width]
    y_min: float        # px, within [0, height]
    x_max: float
    y_max: float


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square network input."""

    scale: float   # input px per image px
    pad_x: int     # px of padding on the left
    pad_y: int     # px of padding on the top
    width: int     # original image size
    height: int


def resize_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """(h, w, c) uint8 image resized with bilinear interpolation and half-pixel centres.

    Separable (rows, then columns). An exact halving, the common case of a
    640x480 camera into a 320 px network, is a 2x2 average, which is what
    bilinear sampling at half-pixel centres gives there.
    """
    src_h, src_w = image.shape[:2]
    if (src_w, src_h) == (width, height):
        return image
    if (src_w, src_h) == (2 * width, 2 * height):
        # Rows first (whole contiguous rows), then neighbouring pixels of the row
        # sums, seen as one 2c-wide pixel: twice as fast as four strided views.
        channels = image.shape[2]
        rows = np.add(image[0::2], image[1::2], dtype=np.uint16).reshape(height, width,
                                                                           2 * channels)
        total = rows[:, :, :channels] + rows[:, :, channels:]
        total += 2  # round to nearest
        total >>= 2
        halved: np.ndarray = total.astype(np.uint8)
        return halved

    def axis(dst: int, src: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        coord = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
        coord = np.clip(coord, 0.0, src - 1)
        low = np.floor(coord).astype(np.int64)
        high = np.minimum(low + 1, src - 1)
        return low, high, (coord - low).astype(np.float32)

    y0, y1, fy = axis(height, src_h)
    x0, x1, fx = axis(width, src_w)
    img = image.astype(np.float32)
    rows = img[:, x0] * (1 - fx)[None, :, None] + img[:, x1] * fx[None, :, None]
    out = rows[y0] * (1 - fy)[:, None, None] + rows[y1] * fy[:, None, None]
    resized: np.ndarray = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return resized


def fitted_size(height: int, width: int, size: int) -> tuple[float, int, int]:
    """Scale and resized (height, width) of an image whose longer side becomes ``size``."""
    scale = min(size / height, size / width)
    return scale, int(round(height * scale)), int(round(width * scale))


def _offsets(canvas_h: int, canvas_w: int, new_h: int, new_w: int) -> tuple[int, int]:
    """Top and left padding of a centred image (ultralytics' rounding of the split)."""
    return int(round((canvas_h - new_h) / 2.0 - 0.1)), int(round((canvas_w - new_w) / 2.0 - 0.1))


def canvas_shape(images: list[np.ndarray], size: int) -> tuple[int, int]:
    """Smallest stride-multiple (height, width) that holds every image of a batch, fitted."""
    fits = [fitted_size(image.shape[0], image.shape[1], size) for image in images]
    return (max(-(-new_h // STRIDE) * STRIDE for _, new_h, _ in fits),
            max(-(-new_w // STRIDE) * STRIDE for _, _, new_w in fits))


def letterbox_into(image: np.ndarray, size: int, out: np.ndarray) -> Letterbox:
    """Fit ``image`` into the network input ``out`` (3, H, W) float32, centred on grey.

    Written straight into the batch tensor, scaled to 0..1 on the way: one pass
    over the pixels instead of a uint8 canvas, a transpose and a scaling.
    """
    height, width = image.shape[:2]
    canvas_h, canvas_w = out.shape[1:]
    scale, new_h, new_w = fitted_size(height, width, size)
    resized = resize_bilinear(image, new_w, new_h)
    top, left = _offsets(canvas_h, canvas_w, new_h, new_w)
    grey = np.float32(PAD_VALUE) * _TO_UNIT
    out[:, :top] = grey
    out[:, top + new_h:] = grey
    out[:, top:top + new_h, :left] = grey
    out[:, top:top + new_h, left + new_w:] = grey
    np.multiply(resized.transpose(2, 0, 1), _TO_UNIT, out=out[:, top:top + new_h, left:left + new_w])
    return Letterbox(scale, left, top, width, height)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """``image`` fitted into a ``size`` x ``size`` uint8 canvas (aspect kept, centred, grey)."""
    height, width = image.shape[:2]
    scale, new_h, new_w = fitted_size(height, width, size)
    resized = resize_bilinear(image, new_w, new_h)
    top, left = _offsets(size, size, new_h, new_w)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas, Letterbox(scale, left, top, width, height)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (n, m) of xyxy boxes ``a`` (n, 4) and ``b`` (m, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    iou: np.ndarray = np.where(union > 0.0, inter / np.maximum(union, 1e-12), 0.0)
    return iou


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, highest score first."""
    order = np.argsort(-scores, kind='stable')
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        overlap = box_iou(boxes[best:best + 1], boxes[rest])[0]
        order = rest[overlap <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode(output: np.ndarray, num_classes: int, conf_threshold: float, iou_threshold: float,
           max_detections: int) -> np.ndarray:
    """Detections (k, 6: x0, y0, x1, y1, score, class) of one image's raw output (4 + nc, anchors)."""
    if output.shape[0] != 4 + num_classes:
        raise ModelError(f'output has {output.shape[0]} channels per anchor, expected '
                         f'{4 + num_classes} (4 box values + {num_classes} class scores)')
    predictions = output.T.astype(np.float32, copy=False)        # (anchors, 4 + nc)
    scores_all = predictions[:, 4:]
    classes = np.argmax(scores_all, axis=1)
    scores = scores_all[np.arange(scores_all.shape[0]), classes]
    mask = scores >= conf_threshold
    if not np.any(mask):
        return np.zeros((0, 6), dtype=np.float32)
    boxes, scores, classes = predictions[mask, :4], scores[mask], classes[mask]
    if scores.size > MAX_NMS_CANDIDATES:
        top = np.argsort(-scores, kind='stable')[:MAX_NMS_CANDIDATES]
        boxes, scores, classes = boxes[top], scores[top], classes[top]
    xyxy = np.column_stack((boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2,
                            boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2))
    keep = nms(xyxy + classes[:, None] * CLASS_OFFSET, scores, iou_threshold)[:max_detections]
    return np.column_stack((xyxy[keep], scores[keep], classes[keep].astype(np.float32)))


def _parse_names(raw: str) -> list[str] | None:
    """Class names from ultralytics' metadata string, or None if it is not that format."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, dict):
        try:
            return [str(value[k]) for k in sorted(value)]
        except TypeError:
            return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return None


def _ort_errors() -> tuple[type[BaseException], ...]:
    """onnxruntime's own exception types (they derive from Exception directly)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(value for value in vars(state).values()
                 if isinstance(value, type) and issubclass(value, Exception))


class OnnxDetector:
    """A YOLO detection model loaded with onnxruntime, checked at load time."""

    def __init__(self, path: str | Path, class_names: Any, input_size: int,
                 conf_threshold: float = DEFAULT_CONF_THRESHOLD,
                 iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                 max_detections: int = DEFAULT_MAX_DETECTIONS, threads: int | None = None) -> None:
        self.path = Path(path)
        self.class_names = validate_class_names(class_names)
        if not isinstance(input_size, int) or not MIN_INPUT_SIZE <= input_size <= MAX_INPUT_SIZE \
                or input_size % STRIDE:
            raise ValueError(f'input_size must be a multiple of {STRIDE} in '
                             f'{MIN_INPUT_SIZE}..{MAX_INPUT_SIZE} px, got {input_size!r}')
        for name, value in (('conf_threshold', conf_threshold), ('iou_threshold', iou_threshold)):
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f'{name} must be in [0, 1], got {value!r}')
        if max_detections < 1:
            raise ValueError(f'max_detections must be >= 1, got {max_detections}')
        self.input_size = input_size
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        options = self._options(threads)
        self._session = self._open(self.path, options)
        self._check_io()
        # True when batches run at their own stride-multiple size rather than the square.
        self.rectangular = self._lift_square_pin(options)

    @staticmethod
    def _options(threads: int | None) -> Any:
        import onnxruntime as ort  # deferred: importing it costs ~0.3 s

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: ORT warns about harmless initialisers
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Waiting workers sleep instead of spinning: on a machine the whole system
            # shares, a spinning pool takes cores the other processes need.
            options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        return options

    def _open(self, model: Path | bytes, options: Any) -> Any:
        """An onnxruntime session of the file (or of the serialized model ``model``)."""
        import onnxruntime as ort

        if isinstance(model, Path) and not model.is_file():
            raise ModelError(f'{self.path}: model file not found')
        try:
            return ort.InferenceSession(str(model) if isinstance(model, Path) else model, options,
                                        providers=['CPUExecutionProvider'])
        except (*_ort_errors(), RuntimeError, OSError, ValueError) as error:
            text = str(error).strip()
            raise ModelError(f'{self.path}: not a valid ONNX model: '
                             f'{text.splitlines()[0] if text else type(error).__name__}') from None

    def _lift_square_pin(self, options: Any) -> bool:
        """Switch to a session that takes rectangular inputs, if the network computes them right.

        The file's square input and fixed anchor count are made free, and a
        trial at the square and at a half-height rectangle must give anchors in
        proportion to the input's area (a graph with anchors baked for the
        square fails or answers with the same count). Without the ``onnx``
        package, or on any failure, the pinned session stays and inputs stay square.
        """
        try:
            import onnx
        except ImportError:
            return False
        try:
            model = onnx.load(str(self.path))
        except Exception:  # noqa: BLE001 - a file onnxruntime runs but onnx cannot read stays square
            return False
        sides = model.graph.input[0].type.tensor_type.shape.dim
        anchors = model.graph.output[0].type.tensor_type.shape.dim
        sides[2].dim_param, sides[3].dim_param, anchors[2].dim_param = 'height', 'width', 'anchors'
        size = self.input_size
        short = max(STRIDE, size // 2 // STRIDE * STRIDE)
        try:
            session = self._open(model.SerializeToString(), options)
            square, rectangle = (
                session.run(None, {self._input_name: np.zeros((1, 3, h, size), np.float32)})[0]
                for h in (size, short))
        except (ModelError, *_ort_errors(), RuntimeError, ValueError):
            return False
        if short == size or square.ndim != 3 or rectangle.ndim != 3 \
                or rectangle.shape[2] * size != square.shape[2] * short:
            return False
        self._session = session
        return True

    def _check_io(self) -> None:
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(f'{self.path}: expected one image input and a detection output, got '
                             f'{len(inputs)} inputs and {len(outputs)} outputs')
        shape = list(inputs[0].shape)
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f'{self.path}: input {inputs[0].name} has shape {shape}, '
                             'expected [batch, 3, height, width]')
        for side in shape[2:]:
            if isinstance(side, int) and side != self.input_size:
                raise ModelError(f'{self.path}: input is {shape[2]}x{shape[3]} px but the '
                                 f'registry says {self.input_size}; wrong input size')
        if 'float' not in inputs[0].type:
            raise ModelError(f'{self.path}: input type {inputs[0].type}, expected float')
        self._input_name = inputs[0].name
        self._batch_dynamic = not isinstance(shape[0], int)
        out_shape = list(outputs[0].shape)
        if len(out_shape) != 3:
            raise ModelError(f'{self.path}: output {outputs[0].name} has shape {out_shape}, '
                             'expected [batch, 4 + classes, anchors]')
        channels = out_shape[1]
        if isinstance(channels, int) and channels != 4 + len(self.class_names):
            raise ModelError(f'{self.path}: the model predicts {channels - 4} classes but '
                             f'{len(self.class_names)} class names were given '
                             f'({list(self.class_names)}); wrong class list')
        meta = self._session.get_modelmeta().custom_metadata_map
        stored = _parse_names(meta[METADATA_NAMES]) if METADATA_NAMES in meta else None
        if stored is not None and tuple(stored) != self.class_names:
            raise ModelError(f'{self.path}: the model was trained on classes {stored}, '
                             f'not {list(self.class_names)}')

    def preprocess(self, images: list[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        """The network input batch (n, 3, H, W) float32 and each image's letterbox.

        H = W = ``input_size`` for a square-only model; otherwise the smallest
        stride multiples that hold every image of the batch fitted to ``input_size``.
        """
        for i, image in enumerate(images):
            if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
                    or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
                raise ValueError(f'image {i}: expected an (h, w, 3) uint8 RGB array, got '
                                 f'{getattr(image, "dtype", type(image))} '
                                 f'{getattr(image, "shape", "")}')
        height, width = canvas_shape(images, self.input_size) if self.rectangular \
            else (self.input_size, self.input_size)
        batch = np.empty((len(images), 3, height, width), dtype=np.float32)
        return batch, [letterbox_into(image, self.input_size, batch[i])
                       for i, image in enumerate(images)]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw network output (n, 4 + classes, anchors) of a preprocessed batch."""
        if self._batch_dynamic or batch.shape[0] == 1:
            result: np.ndarray = self._session.run(None, {self._input_name: batch})[0]
            return result
        return np.concatenate([self._session.run(None, {self._input_name: batch[i:i + 1]})[0]
                               for i in range(batch.shape[0])])

    def detect(self, images: list[np.ndarray]) -> list[list[Box]]:
        """Detections of each image (one network run for the whole batch)."""
        if not images:
            return []
        batch, boxes = self.preprocess(images)
        output = self.infer(batch)
        return [self._boxes(output[i], boxes[i]) for i in range(len(images))]

    def _boxes(self, output: np.ndarray, fit: Letterbox) -> list[Box]:
        found = decode(output, len(self.class_names), self.conf_threshold, self.iou_threshold,
                       self.max_detections)
        result = []
        for x0, y0, x1, y1, score, cls in found.tolist():
            bx0 = min(max((x0 - fit.pad_x) / fit.scale, 0.0), float(fit.width))
            by0 = min(max((y0 - fit.pad_y) / fit.scale, 0.0), float(fit.height))
            bx1 = min(max((x1 - fit.pad_x) / fit.scale, 0.0), float(fit.width))
            by1 = min(max((y1 - fit.pad_y) / fit.scale, 0.0), float(fit.height))
            if bx1 <= bx0 or by1 <= by0:
                continue  # wholly in the padding
            c = int(cls)
            result.append(Box(c, self.class_names[c], float(score), bx0, by0, bx1, by1))
        return result
