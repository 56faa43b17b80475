"""Data drift: is what the cameras see now still what the model was trained on?

Why: a detector trained on clear daytime frames silently loses recall in fog
or at night; nothing crashes, alerts just stop coming. The cure is to watch
the model's *inputs* and *outputs* against the training data and say so when
they no longer match, so that an operator knows the system is degraded (and
the model team gets a report).

What is compared, for all cameras together (and per camera where the
baseline has that camera's own statistics), over a rolling window of live
frames:

* image statistics, computed on a grid of tiles of a downscaled luma image
  (tiles rather than whole frames: sky and ground differ, and a frame gives
  ``grid^2`` samples instead of one): ``brightness`` (mean luma, 0..255),
  ``contrast`` (luma standard deviation) and ``sharpness`` (log10 of
  1 + the variance of the Laplacian); fog lowers contrast and sharpness and
  raises brightness, night lowers brightness and adds noise;
* model outputs, when a baseline has them: ``confidence`` of every detection,
  and ``class_mix`` (share of each class among detections).

Each continuous statistic is compared with the baseline's by the population
stability index over the baseline's deciles (PSI; 0.1 is commonly read as
"moderate", 0.25 as "significant" shift) and by a two-sample
Kolmogorov-Smirnov test (scipy); class mix by a categorical PSI. A metric has
drifted when its PSI exceeds the threshold *and* the KS test rejects sameness
at the configured level: PSI alone is noisy on small windows, KS alone flags
shifts too small to matter on large ones. Windows with fewer samples than the
minimum are not judged.

The baseline (:class:`Baseline`) is JSON, written by the
``sentinel-drift-baseline`` CLI from the model's training set (YOLO layout).
Its overall statistics mix every camera of the training set, so they are
compared with all live cameras together: one pole camera's view alone is a
narrow slice of that mix and would look "drifted" against it. Per-camera
verdicts need per-camera baselines (the CLI derives them when image file
names carry the camera id). No rclpy.
"""

from __future__ import annotations

import json
import math
from collections import Counter, deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

# Version of the baseline JSON layout.
BASELINE_VERSION = 1
# Names of the image statistics, in report order.
IMAGE_METRICS = ('brightness', 'contrast', 'sharpness')
CONFIDENCE_METRIC = 'confidence'
CLASS_MIX_METRIC = 'class_mix'
# Frames are reduced to about this width (px) before statistics, so that a
# 4K training image and a 640 px live frame are judged at the same scale.
ANALYSIS_WIDTH = 320
# Tiles per side of the grid the statistics are taken over.
DEFAULT_GRID = 4
# Luma weights (ITU-R BT.601), as most image libraries compute grey.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# PSI bins: the baseline's deciles.
PSI_BINS = 10
# Floor on a bin's share so that an empty bin gives a large, finite PSI.
PSI_EPSILON = 1e-4
# Most samples of one metric kept in a baseline file (seeded subsample).
MAX_BASELINE_SAMPLES = 5000


# --------------------------------------------------------------------------
# Statistics of one image
# --------------------------------------------------------------------------

def _downscale(luma: np.ndarray, target_width: int) -> np.ndarray:
    """Block-average by the integer factor that brings the width nearest to target_width."""
    factor = max(1, int(round(luma.shape[1] / target_width)))
    if factor == 1:
        return luma
    height, width = (luma.shape[0] // factor) * factor, (luma.shape[1] // factor) * factor
    blocks = luma[:height, :width].reshape(height // factor, factor, width // factor, factor)
    reduced: np.ndarray = blocks.mean(axis=(1, 3))
    return reduced


def image_statistics(image: np.ndarray, grid: int = DEFAULT_GRID) -> dict[str, np.ndarray]:
    """Per-tile brightness, contrast and sharpness of an (h, w, 3) uint8 RGB frame.

    Returns one array of ``grid * grid`` values per metric; an image too small
    to tile (fewer than 3 px per tile side) raises ValueError.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an (h, w, 3) image, got shape {image.shape}')
    luma = _downscale(image.astype(np.float32) @ LUMA, ANALYSIS_WIDTH)
    height, width = luma.shape
    tile_h, tile_w = height // grid, width // grid
    if tile_h < 3 or tile_w < 3:
        raise ValueError(f'image {image.shape[1]}x{image.shape[0]} is too small for a '
                         f'{grid}x{grid} grid')
    luma = luma[:tile_h * grid, :tile_w * grid]
    laplacian = np.zeros_like(luma)
    laplacian[1:-1, 1:-1] = (luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:]
                             - 4.0 * luma[1:-1, 1:-1])
    tiles = luma.reshape(grid, tile_h, grid, tile_w).transpose(0, 2, 1, 3).reshape(grid * grid, -1)
    lap_tiles = laplacian.reshape(grid, tile_h, grid, tile_w).transpose(0, 2, 1, 3) \
        .reshape(grid * grid, -1)
    return {
        'brightness': tiles.mean(axis=1),
        'contrast': tiles.std(axis=1),
        'sharpness': np.log10(1.0 + lap_tiles.var(axis=1)),
    }


# --------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------

def psi_edges(baseline: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Interior bin edges at the baseline's quantiles (duplicates removed)."""
    quantiles = np.quantile(np.asarray(baseline, dtype=float), np.linspace(0, 1, bins + 1)[1:-1])
    edges: np.ndarray = np.unique(quantiles)
    return edges


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side='right'), minlength=len(edges) + 1)
    shares: np.ndarray = np.maximum(counts / max(1, len(values)), PSI_EPSILON)
    return shares


def psi(baseline_shares: np.ndarray, live_shares: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    expected = np.maximum(np.asarray(baseline_shares, dtype=float), PSI_EPSILON)
    actual = np.maximum(np.asarray(live_shares, dtype=float), PSI_EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class MetricBaseline:
    """The training distribution of one metric."""

    name: str
    samples: tuple[float, ...] = ()          # continuous metrics (subsampled)
    edges: tuple[float, ...] = ()            # PSI bin edges (continuous)
    shares: tuple[float, ...] = ()           # baseline share per bin (or per category)
    categories: tuple[str, ...] = ()         # categorical metrics

    @property
    def categorical(self) -> bool:
        return bool(self.categories)

    @staticmethod
    def continuous(name: str, values: Iterable[float], seed: int = 0) -> MetricBaseline:
        data = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
        if data.size == 0:
            raise ValueError(f'no finite samples for metric {name!r}')
        edges = psi_edges(data)
        shares = _shares(data, edges)
        if data.size > MAX_BASELINE_SAMPLES:
            data = np.random.default_rng(seed).choice(data, MAX_BASELINE_SAMPLES, replace=False)
        return MetricBaseline(name, tuple(float(v) for v in np.sort(data)),
                              tuple(float(e) for e in edges), tuple(float(s) for s in shares))

    @staticmethod
    def categorical_from(name: str, labels: Iterable[str]) -> MetricBaseline:
        counts = Counter(labels)
        total = sum(counts.values())
        if total == 0:
            raise ValueError(f'no samples for metric {name!r}')
        categories = tuple(sorted(counts))
        return MetricBaseline(name, shares=tuple(counts[c] / total for c in categories),
                              categories=categories)


@dataclass(frozen=True)
class Baseline:
    """Training-set distributions the live data is compared with."""

    metrics: Mapping[str, MetricBaseline]
    grid: int = DEFAULT_GRID
    source: str = ''              # dataset directory it came from
    image_count: int = 0
    model_version: str = ''       # model whose outputs gave confidence / class mix, if any
    class_mix_source: str = ''    # 'labels' or 'predictions'
    cameras: Mapping[str, Mapping[str, MetricBaseline]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            'version': BASELINE_VERSION, 'grid': self.grid, 'source': self.source,
            'image_count': self.image_count, 'model_version': self.model_version,
            'class_mix_source': self.class_mix_source,
            'metrics': _metrics_json(self.metrics),
            'cameras': {camera: _metrics_json(metrics) for camera, metrics in self.cameras.items()},
        }

    @staticmethod
    def from_json(document: Mapping[str, Any], where: str = 'baseline') -> Baseline:
        """Parse a baseline; ValueError naming ``where`` and the problem otherwise."""
        try:
            if document['version'] != BASELINE_VERSION:
                raise ValueError(f'version {document["version"]!r}, expected {BASELINE_VERSION}')
            metrics = _metrics_from_json(document['metrics'])
            cameras = {str(camera): _metrics_from_json(raw)
                       for camera, raw in document.get('cameras', {}).items()}
            grid = int(document.get('grid', DEFAULT_GRID))
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f'{where}: not a drift baseline ({error!r})') from error
        except ValueError as error:
            raise ValueError(f'{where}: {error}') from error
        return Baseline(metrics, grid, str(document.get('source', '')),
                        int(document.get('image_count', 0)),
                        str(document.get('model_version', '')),
                        str(document.get('class_mix_source', '')), cameras)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f'.{path.name}.tmp')
        temporary.write_text(json.dumps(self.to_json()), encoding='utf-8')
        temporary.replace(path)

    @staticmethod
    def load(path: Path) -> Baseline:
        try:
            document = json.loads(Path(path).read_text(encoding='utf-8'))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f'{path}: cannot read a drift baseline: {error}') from error
        return Baseline.from_json(document, str(path))


def _metrics_json(metrics: Mapping[str, MetricBaseline]) -> dict[str, Any]:
    return {name: {'samples': list(m.samples), 'edges': list(m.edges), 'shares': list(m.shares),
                   'categories': list(m.categories)} for name, m in metrics.items()}


def _metrics_from_json(document: Mapping[str, Any]) -> dict[str, MetricBaseline]:
    metrics = {}
    for name, raw in document.items():
        metric = MetricBaseline(
            name, tuple(float(v) for v in raw.get('samples', ())),
            tuple(float(v) for v in raw.get('edges', ())),
            tuple(float(v) for v in raw['shares']),
            tuple(str(c) for c in raw.get('categories', ())))
        expected = len(metric.categories) if metric.categorical else len(metric.edges) + 1
        if len(metric.shares) != expected or (not metric.categorical and not metric.samples):
            raise ValueError(f'metric {name!r} is inconsistent')
        metrics[name] = metric
    return metrics


@dataclass(frozen=True)
class MetricResult:
    """One metric of one window against its baseline (fields of DriftMetric)."""

    name: str
    psi: float
    ks_statistic: float     # NaN for categorical metrics
    p_value: float          # NaN for categorical metrics
    threshold: float        # PSI threshold used
    drifted: bool
    sample_count: int
    live_samples: tuple[float, ...] = ()       # for the report's plots (continuous)
    live_shares: tuple[float, ...] = ()        # for the report's plots (categorical)


def compare_continuous(baseline: MetricBaseline, live: Sequence[float] | np.ndarray, psi_threshold: float,
                       alpha: float) -> MetricResult:
    values = np.asarray(live, dtype=float)
    values = values[np.isfinite(values)]
    shares = _shares(values, np.asarray(baseline.edges))
    index = psi(np.asarray(baseline.shares), shares)
    ks = stats.ks_2samp(values, np.asarray(baseline.samples))
    statistic, p_value = float(ks.statistic), float(ks.pvalue)
    return MetricResult(baseline.name, index, statistic, p_value, psi_threshold,
                        index > psi_threshold and p_value < alpha, int(values.size),
                        tuple(float(v) for v in values))


def compare_categorical(baseline: MetricBaseline, live: Sequence[str],
                        psi_threshold: float) -> MetricResult:
    counts = Counter(live)
    total = max(1, len(live))
    shares = np.array([counts.get(c, 0) / total for c in baseline.categories])
    unseen = sum(n for c, n in counts.items() if c not in baseline.categories) / total
    index = psi(np.asarray(baseline.shares), shares) + (
        unseen * math.log(unseen / PSI_EPSILON) if unseen > 0 else 0.0)
    return MetricResult(baseline.name, index, math.nan, math.nan, psi_threshold,
                        index > psi_threshold, len(live), live_shares=tuple(float(s) for s in shares))


# --------------------------------------------------------------------------
# Rolling windows
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class DriftSettings:
    window: float = 60.0             # s of live data each verdict looks at
    psi_threshold: float = 0.25      # PSI above which a metric may count as drifted
    alpha: float = 0.01              # KS significance level
    min_frames: int = 10             # frames in a window before image metrics are judged
    min_detections: int = 30         # detections before confidence / class mix are judged
    # Detections a baseline needs before its confidence / class mix are a reference at all:
    # fewer describe a few objects of the recording (a parked car seen 50 times), not the
    # model's outputs, and any intruder then reads as drift.
    min_baseline_detections: int = 300

    def __post_init__(self) -> None:
        if not (math.isfinite(self.window) and self.window > 0.0):
            raise ValueError(f'window must be > 0 s, got {self.window!r}')
        if not (self.psi_threshold > 0.0 and 0.0 < self.alpha < 1.0):
            raise ValueError('psi_threshold must be > 0 and alpha in (0, 1)')


@dataclass(frozen=True)
class WindowResult:
    """The verdict on one camera's (or all cameras') window."""

    camera_id: str            # '' for all cameras together
    window_start: float       # s
    window_end: float         # s
    frame_count: int
    metrics: tuple[MetricResult, ...]

    @property
    def drifted(self) -> bool:
        return any(m.drifted for m in self.metrics)

    @property
    def sample_count(self) -> int:
        return self.frame_count

    def worst(self) -> MetricResult | None:
        drifted = [m for m in self.metrics if m.drifted]
        return max(drifted, key=lambda m: m.psi) if drifted else None


@dataclass
class _Window:
    frames: deque[tuple[float, dict[str, np.ndarray]]] = field(default_factory=deque)
    detections: deque[tuple[float, float, str]] = field(default_factory=deque)

    def trim(self, start: float) -> None:
        while self.frames and self.frames[0][0] < start:
            self.frames.popleft()
        while self.detections and self.detections[0][0] < start:
            self.detections.popleft()


class DriftMonitor:
    """Rolling windows of live statistics per camera, judged against a baseline."""

    def __init__(self, baseline: Baseline, settings: DriftSettings | None = None,
                 moving_cameras: Collection[str] = ()) -> None:
        """``moving_cameras`` (on drones and rovers) get no verdict of their own: one that
        moves sees another scene on every mission, so a baseline of its view in one
        recording is not its normal. Their frames still count for all cameras together."""
        self.baseline = baseline
        self.settings = settings or DriftSettings()
        self.moving_cameras = frozenset(moving_cameras)
        self._windows: dict[str, _Window] = {}
        self._latest = -math.inf

    def add_frame(self, camera_id: str, stamp: float, image: np.ndarray) -> dict[str, np.ndarray]:
        """Record a frame's statistics (computed here); returns them."""
        statistics = image_statistics(image, self.baseline.grid)
        self.add_statistics(camera_id, stamp, statistics)
        return statistics

    def add_statistics(self, camera_id: str, stamp: float,
                       statistics: Mapping[str, np.ndarray]) -> None:
        self._windows.setdefault(camera_id, _Window()).frames.append((stamp, dict(statistics)))
        self._latest = max(self._latest, stamp)

    def add_detections(self, camera_id: str, stamp: float,
                       detections: Iterable[tuple[float, str]]) -> None:
        """Record (confidence, class name) of every detection of one frame."""
        window = self._windows.setdefault(camera_id, _Window())
        for confidence, class_name in detections:
            window.detections.append((stamp, float(confidence), class_name))
        self._latest = max(self._latest, stamp)

    def cameras(self) -> list[str]:
        return sorted(self._windows)

    def judges_outputs(self, reference: Mapping[str, MetricBaseline] | None = None) -> bool:
        """Whether the baseline (all cameras', or ``reference``) has enough detections to
        judge the model's outputs against.

        A baseline from predictions keeps every detection's confidence, and its
        class mix comes from those same detections, so their count decides both.
        A class mix from a dataset's labels (no confidence) stands on its own.
        """
        confidence = (self.baseline.metrics if reference is None else reference).get(
            CONFIDENCE_METRIC)
        return confidence is None or \
            len(confidence.samples) >= self.settings.min_baseline_detections

    def evaluate(self, now: float | None = None) -> list[WindowResult]:
        """Verdicts for all cameras together, and for each camera the baseline knows.

        A camera without its own baseline still feeds the overall window.
        """
        end = self._latest if now is None else now
        start = end - self.settings.window
        results = []
        merged = _Window()
        for camera_id in self.cameras():
            window = self._windows[camera_id]
            window.trim(start)
            merged.frames.extend(window.frames)
            merged.detections.extend(window.detections)
            reference = None if camera_id in self.moving_cameras \
                else self.baseline.cameras.get(camera_id)
            if reference:
                result = self._judge(camera_id, window, reference, start, end)
                if result is not None:
                    results.append(result)
        overall = self._judge('', merged, self.baseline.metrics, start, end)
        if overall is not None:
            results.append(overall)
        return results

    def _judge(self, camera_id: str, window: _Window, reference: Mapping[str, MetricBaseline],
               start: float, end: float) -> WindowResult | None:
        cfg = self.settings
        metrics: list[MetricResult] = []
        if len(window.frames) >= cfg.min_frames:
            for name in IMAGE_METRICS:
                baseline = reference.get(name)
                if baseline is None:
                    continue
                values = np.concatenate([s[name] for _, s in window.frames])
                metrics.append(compare_continuous(baseline, values, cfg.psi_threshold, cfg.alpha))
        if len(window.detections) >= cfg.min_detections and self.judges_outputs(reference):
            confidence = reference.get(CONFIDENCE_METRIC)
            if confidence is not None:
                metrics.append(compare_continuous(
                    confidence, [c for _, c, _ in window.detections], cfg.psi_threshold, cfg.alpha))
            mix = reference.get(CLASS_MIX_METRIC)
            if mix is not None:
                metrics.append(compare_categorical(
                    mix, [n for _, _, n in window.detections], cfg.psi_threshold))
        if not metrics:
            return None
        return WindowResult(camera_id, start, end, len(window.frames), tuple(metrics))


def describe(result: WindowResult) -> str:
    """One line for logs and alert descriptions."""
    where = f'camera {result.camera_id}' if result.camera_id else 'all cameras'
    worst = result.worst()
    if worst is None:
        return f'{where}: inputs match the training baseline'
    others = ', '.join(m.name for m in result.metrics if m.drifted and m is not worst)
    detail = f'{worst.name} PSI {worst.psi:.2f} > {worst.threshold:.2f}'
    if math.isfinite(worst.p_value):
        detail += f' (KS D {worst.ks_statistic:.2f}, p {worst.p_value:.1e})'
    return f'{where}: drift from the training data: {detail}' + (f'; also {others}' if others else '')
