"""Detection models as the detector node uses them: load, validate, swap atomically.

Why: the model changes while the site is watched (a retrained version is
promoted in the registry, or an operator rolls back). The detector must keep
processing frames with the old model while the new one loads, switch in one
step, and refuse a broken file without losing the model it has. So a model is
loaded *beside* the running one, validated by a real inference on a blank
frame (the file opens, the outputs parse, the class list fits), and only
then published through :class:`ModelSlot`, whose swap is a single reference
assignment under a lock.

Backends:

* ``onnxruntime`` (default): ``sentinel_models.onnx_detector.OnnxDetector``,
  the project's batched ONNX YOLO runner (letterbox, decoding, NMS).
* ``ultralytics``: the ultralytics package's own predictor, for comparisons
  (benchmarks, accuracy checks): on the PyTorch checkpoint that training keeps
  beside the ONNX file (``weights.pt``) when there is one, else on the ONNX
  file itself; imported only when selected, and only if installed (it pulls in
  torch, which the runtime install avoids).

Model versions come from the registry (``sentinel_models.registry``), or
from a file given directly (no registry needed, e.g. in tests and benches).
No rclpy.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sentinel_perception.tracking import BoxDetection

# Backends this module can build.
BACKEND_ONNXRUNTIME = 'onnxruntime'
BACKEND_ULTRALYTICS = 'ultralytics'
BACKENDS = (BACKEND_ONNXRUNTIME, BACKEND_ULTRALYTICS)
# Grey level of the validation frame: mid-grey gives a network no reason to
# output anything, yet exercises the whole pre- and post-processing path.
VALIDATION_GREY = 114
# px, side of the blank frame that lets ultralytics finish its device set-up
STRIDE_PROBE = 32


class ModelError(RuntimeError):
    """A model that cannot be used (missing file, bad graph, wrong outputs); says why."""


class UnknownVersionError(ModelError):
    """The registry has no such version."""


@dataclass(frozen=True)
class ModelSpec:
    """A model version and what is needed to run it (the fields of ModelInfo)."""

    version: str
    file: Path
    class_names: tuple[str, ...]
    input_size: int                   # px, network input side (the longer one for a rectangle)
    parent_version: str = ''
    status: int = 1                   # ModelInfo.STATUS_*: 1 = active
    dataset_hash: str = ''
    map50: float = math.nan           # 0..1
    map50_95: float = math.nan        # 0..1
    created: float | None = None      # s since the epoch


class DetectorBackend(Protocol):
    """Anything that turns a batch of RGB frames into boxes."""

    spec: ModelSpec
    name: str

    def detect(self, images: Sequence[np.ndarray]) -> list[list[BoxDetection]]:
        """Boxes per image (pixels of that image), in input order."""
        ...


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------

@dataclass
class OnnxRuntimeBackend:
    """``sentinel_models``' ONNX detector behind the backend interface."""

    spec: ModelSpec
    min_confidence: float = 0.25
    threads: int | None = None        # onnxruntime's intra-op threads; None: one per core
    name: str = BACKEND_ONNXRUNTIME
    _detector: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            from sentinel_models.onnx_detector import OnnxDetector
        except ImportError as error:
            raise ModelError(f'the onnxruntime backend needs sentinel_models.onnx_detector: '
                             f'{error}') from error
        try:
            self._detector = OnnxDetector(self.spec.file, list(self.spec.class_names),
                                          self.spec.input_size, conf_threshold=self.min_confidence,
                                          threads=self.threads)
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelError(f'{self.spec.file}: {error}') from error
        except Exception as error:  # onnxruntime raises its own exception types (Fail, InvalidGraph ...)
            raise ModelError(f'{self.spec.file}: onnxruntime refused the model: {error}') from error

    def detect(self, images: Sequence[np.ndarray]) -> list[list[BoxDetection]]:
        batches = self._detector.detect(list(images))
        return [[_box(box, self.spec.class_names) for box in boxes] for boxes in batches]


def _box(box: Any, class_names: Sequence[str]) -> BoxDetection:
    """sentinel_models' Box to ours."""
    class_id = int(box.class_id)
    name = class_names[class_id] if 0 <= class_id < len(class_names) else str(class_id)
    return BoxDetection(float(box.x_min), float(box.y_min), float(box.x_max), float(box.y_max),
                        float(box.confidence), class_id, name)


@dataclass
class UltralyticsBackend:
    """The ultralytics predictor on the model's checkpoint (comparison only)."""

    spec: ModelSpec
    min_confidence: float = 0.25
    threads: int | None = None        # torch's threads; None: ultralytics' own (one less than the cores)
    name: str = BACKEND_ULTRALYTICS
    source: Path = field(init=False)   # what ultralytics runs: the checkpoint or the ONNX file
    _model: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            from ultralytics import YOLO  # type: ignore[import-not-found]
        except ImportError as error:
            raise ModelError('the ultralytics backend needs the ultralytics package '
                             f'(pip install ultralytics): {error}') from error
        from sentinel_models.training import WEIGHTS_FILE

        checkpoint = self.spec.file.with_name(WEIGHTS_FILE)
        self.source = checkpoint if checkpoint.is_file() else self.spec.file
        try:
            self._model = YOLO(str(self.source), task='detect')
        except Exception as error:  # ultralytics raises many types for unreadable models
            raise ModelError(f'{self.source}: ultralytics cannot load it: {error}') from error
        if self.threads is not None:
            # ultralytics sets torch's thread count when its first predict picks the
            # device, so that run goes first and the requested count after it.
            import torch  # type: ignore[import-not-found]
            self._model.predict(np.zeros((STRIDE_PROBE, STRIDE_PROBE, 3), np.uint8), verbose=False)
            torch.set_num_threads(self.threads)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[BoxDetection]]:
        # On the checkpoint, ultralytics' own predict does it all: its letterbox
        # (to the stride-multiple rectangle of the frames), inference, NMS and
        # boxes in frame pixels. An ONNX file is letterboxed to its square input
        # first: ultralytics would otherwise letterbox a dynamic-batch ONNX file to a
        # rectangle its fixed-size graph refuses. ultralytics takes OpenCV's BGR order.
        from sentinel_models.onnx_detector import Letterbox, letterbox
        frames = [np.ascontiguousarray(image) for image in images]
        if self.source.suffix == '.onnx':
            fitted = [letterbox(frame, self.spec.input_size) for frame in frames]
        else:
            fitted = [(frame, Letterbox(1.0, 0, 0, frame.shape[1], frame.shape[0]))
                      for frame in frames]
        results = self._model.predict([np.ascontiguousarray(canvas[..., ::-1])
                                       for canvas, _ in fitted],
                                      imgsz=self.spec.input_size, conf=self.min_confidence,
                                      verbose=False)
        out = []
        for result, (_, fit) in zip(results, fitted, strict=True):
            boxes = result.boxes
            xyxy = boxes.xyxy.cpu().numpy() if len(boxes) else np.empty((0, 4))
            conf = boxes.conf.cpu().numpy() if len(boxes) else np.empty(0)
            cls = boxes.cls.cpu().numpy().astype(int) if len(boxes) else np.empty(0, dtype=int)
            frame = []
            for i in range(len(conf)):
                x0, y0, x1, y1 = (float(v) for v in xyxy[i])
                x0, x1 = ((x - fit.pad_x) / fit.scale for x in (x0, x1))
                y0, y1 = ((y - fit.pad_y) / fit.scale for y in (y0, y1))
                x0, x1 = max(0.0, x0), min(float(fit.width), x1)
                y0, y1 = max(0.0, y0), min(float(fit.height), y1)
                if x1 <= x0 or y1 <= y0:
                    continue
                class_id = int(cls[i])
                frame.append(BoxDetection(x0, y0, x1, y1, float(conf[i]), class_id,
                                          self.spec.class_names[class_id]
                                          if 0 <= class_id < len(self.spec.class_names)
                                          else str(class_id)))
            out.append(frame)
        return out


BackendFactory = Callable[[ModelSpec, float], DetectorBackend]


def open_backend(spec: ModelSpec, backend: str, min_confidence: float,
                 threads: int | None = None) -> DetectorBackend:
    """Build and validate a backend for ``spec``; ModelError says why it cannot run.

    ``threads`` sets onnxruntime's intra-op threads (None: one per core), or
    torch's threads for the ultralytics backend (None: ultralytics' choice).
    """
    if not spec.file.is_file():
        raise ModelError(f'model file not found: {spec.file}')
    if backend == BACKEND_ONNXRUNTIME:
        built: DetectorBackend = OnnxRuntimeBackend(spec, min_confidence, threads)
    elif backend == BACKEND_ULTRALYTICS:
        built = UltralyticsBackend(spec, min_confidence, threads)
    else:
        raise ModelError(f'unknown backend {backend!r} (one of: {", ".join(BACKENDS)})')
    validate(built)
    return built


def validate(backend: DetectorBackend) -> None:
    """Run one blank frame through the backend and check what comes out.

    Catches files that open but cannot run (wrong input shape, missing
    outputs) and class lists that do not fit the network's outputs, before the
    model is allowed near live frames.
    """
    size = backend.spec.input_size
    if size <= 0:
        raise ModelError(f'input size must be positive, got {size}')
    frame = np.full((size, size, 3), VALIDATION_GREY, dtype=np.uint8)
    try:
        result = backend.detect([frame, frame])
    except ModelError:
        raise
    except Exception as error:  # any failure of a foreign model at run time means "invalid"
        raise ModelError(f'{backend.spec.file}: inference on a test frame failed: '
                         f'{type(error).__name__}: {error}') from error
    if not isinstance(result, list) or len(result) != 2:
        raise ModelError(f'{backend.spec.file}: expected boxes for 2 frames, got {result!r:.80}')
    for boxes in result:
        for box in boxes:
            values = (box.x_min, box.y_min, box.x_max, box.y_max, box.confidence)
            if not all(math.isfinite(v) for v in values) or not 0.0 <= box.confidence <= 1.0:
                raise ModelError(f'{backend.spec.file}: output box {box} is not a valid detection')
            if not 0 <= box.class_id < len(backend.spec.class_names):
                raise ModelError(f'{backend.spec.file}: class index {box.class_id} is outside the '
                                 f'{len(backend.spec.class_names)} configured class names')


# --------------------------------------------------------------------------
# The slot the inference thread reads
# --------------------------------------------------------------------------

class ModelSlot:
    """Holds the backend in use; readers take a reference, a swap replaces it in one step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backend: DetectorBackend | None = None
        self.generation = 0   # increments with every swap

    def get(self) -> DetectorBackend | None:
        with self._lock:
            return self._backend

    def swap(self, backend: DetectorBackend) -> DetectorBackend | None:
        """Install ``backend``; returns the previous one (still usable by a batch in flight)."""
        with self._lock:
            previous, self._backend = self._backend, backend
            self.generation += 1
            return previous
