"""``sentinel-drift-baseline DATASET --out FILE.json``: the drift monitor's reference.

Why: drift is only meaningful against what the model learned from. This CLI
reads the model's training set in the YOLO layout (``data.yaml`` with
``names`` and ``train``/``val`` image folders, label files beside them under
``labels/``; or simply an ``images/`` and ``labels/`` folder) and writes the
distributions the drift monitor compares live data with:

* image statistics of every image (see ``drift.image_statistics``);
* the class mix of the labels, or, with ``--model``, of the model's own
  predictions on those images together with their confidence distribution
  (what the live detector's outputs should then resemble);
* per-camera statistics when ``--camera-regex`` extracts a camera id from
  image file names (e.g. ``'^(cam_[a-z]+)_'``), for per-camera verdicts.

``--normal-only`` keeps the images that the simulator's dataset index
(``index.jsonl``) does not mark as fog, night or blackout: a training set
randomizes those conditions on purpose, but the baseline must describe normal
operation, or the monitor would take fog for normal.

Exit status: 0 written, 2 unusable input (the message says which file and why).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image, UnidentifiedImageError

from sentinel_perception.drift import (CLASS_MIX_METRIC, CONFIDENCE_METRIC, DEFAULT_GRID,
                                       IMAGE_METRICS, Baseline, MetricBaseline, image_statistics)

_LOG = logging.getLogger('sentinel-drift-baseline')

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
DATA_FILES = ('data.yaml', 'dataset.yaml')
SPLITS = ('train', 'val', 'test')
MODEL_BATCH = 8   # images per model call when --model is given
MODEL_CARD = 'model_card.json'  # beside a registry model: names its version
INDEX_FILE = 'index.jsonl'  # per-image conditions of a simulator dataset (sentinel-dataset)


class DatasetError(ValueError):
    """A dataset that cannot be read; the message names the file and the reason."""


def _names(raw: Any, where: Path) -> list[str]:
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        return list(raw)
    if isinstance(raw, dict):
        try:
            return [str(raw[i]) for i in range(len(raw))]
        except KeyError:
            pass
    raise DatasetError(f'{where}: "names" must be a list, or a mapping 0..n-1 -> name')


def find_dataset(root: Path) -> tuple[list[Path], list[str]]:
    """Image files and class names of a YOLO dataset directory."""
    if not root.is_dir():
        raise DatasetError(f'{root}: not a directory')
    names: list[str] = []
    folders: list[Path] = []
    data_file = next((root / n for n in DATA_FILES if (root / n).is_file()), None)
    if data_file is not None:
        try:
            document = yaml.safe_load(data_file.read_text(encoding='utf-8')) or {}
        except (OSError, yaml.YAMLError) as error:
            raise DatasetError(f'{data_file}: cannot read: {error}') from None
        if not isinstance(document, dict):
            raise DatasetError(f'{data_file}: expected a mapping')
        if 'names' in document:
            names = _names(document['names'], data_file)
        base = root / str(document.get('path', '.'))
        for split in SPLITS:
            entries = document.get(split)
            for entry in entries if isinstance(entries, list) else [entries] if entries else []:
                folders.append((base / str(entry)).resolve())
    if not folders:
        folders = [root / 'images' if (root / 'images').is_dir() else root]
    images = sorted({p for folder in folders if folder.is_dir() for p in folder.rglob('*')
                     if p.suffix.lower() in IMAGE_SUFFIXES})
    if not images:
        raise DatasetError(f'{root}: no images ({", ".join(IMAGE_SUFFIXES)}) found')
    return images, names


def label_path(image: Path) -> Path:
    """YOLO convention: .../images/x.png -> .../labels/x.txt."""
    parts = list(image.parts)
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] == 'images':
            parts[index] = 'labels'
            break
    return Path(*parts).with_suffix('.txt')


def label_classes(path: Path, names: Sequence[str]) -> list[str]:
    """Class names of the boxes in one label file (missing file: no boxes)."""
    if not path.is_file():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            index = int(fields[0])
        except ValueError:
            raise DatasetError(f'{path}:{number}: class index {fields[0]!r} is not an integer') \
                from None
        out.append(names[index] if 0 <= index < len(names) else str(index))
    return out


def read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert('RGB'))
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f'{path}: not a readable image: {error}') from None


def adverse_images(root: Path) -> set[Path]:
    """Images the dataset index marks as fog, night or blackout (resolved paths)."""
    index = root / INDEX_FILE
    if not index.is_file():
        raise DatasetError(f'{index}: missing (--normal-only needs the simulator dataset index)')
    adverse = set()
    for number, line in enumerate(index.read_text(encoding='utf-8').splitlines(), 1):
        try:
            record = json.loads(line)
            if record['fog'] > 0 or record['night'] > 0 or record['blackout']:
                adverse.add((root / record['image']).resolve())
        except (ValueError, KeyError, TypeError) as error:
            raise DatasetError(f'{index}:{number}: not an index record ({error})') from None
    return adverse


def spread_sample(images: list[Path], count: int) -> list[Path]:
    """``count`` images evenly spread over the sorted list (a prefix would be one world)."""
    if count >= len(images):
        return images
    return [images[i * len(images) // count] for i in range(count)]


def build_baseline(root: Path, grid: int = DEFAULT_GRID, camera_regex: str | None = None,
                   model: Any = None, max_images: int | None = None,
                   normal_only: bool = False) -> Baseline:
    """Compute a baseline from a dataset directory (``model``: a detector backend, optional)."""
    images, names = find_dataset(root)
    if normal_only:
        adverse = adverse_images(root)
        images = [path for path in images if path.resolve() not in adverse]
    if max_images is not None:
        images = spread_sample(images, max_images)
    pattern = re.compile(camera_regex) if camera_regex else None
    overall: dict[str, list[np.ndarray]] = defaultdict(list)
    per_camera: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    classes: list[str] = []
    confidences: list[float] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        for boxes in model.detect(pending):
            for box in boxes:
                confidences.append(box.confidence)
                classes.append(box.class_name)
        pending.clear()

    for path in images:
        image = read_rgb(path)
        try:
            statistics = image_statistics(image, grid)
        except ValueError as error:
            raise DatasetError(f'{path}: {error}') from None
        match = pattern.search(path.stem) if pattern is not None else None
        for name in IMAGE_METRICS:
            overall[name].append(statistics[name])
            if match is not None:
                per_camera[match.group(1)][name].append(statistics[name])
        if model is None:
            classes.extend(label_classes(label_path(path), names))
        else:
            pending.append(image)
            if len(pending) >= MODEL_BATCH:
                flush()
    if model is not None and pending:
        flush()
    metrics = {name: MetricBaseline.continuous(name, np.concatenate(values))
               for name, values in overall.items()}
    if classes:
        metrics[CLASS_MIX_METRIC] = MetricBaseline.categorical_from(CLASS_MIX_METRIC, classes)
    if confidences:
        metrics[CONFIDENCE_METRIC] = MetricBaseline.continuous(CONFIDENCE_METRIC, confidences)
    cameras = {camera: {name: MetricBaseline.continuous(name, np.concatenate(values))
                        for name, values in found.items()}
               for camera, found in per_camera.items()}
    return Baseline(metrics, grid, str(root.resolve()), len(images),
                    model.spec.version if model is not None else '',
                    ('predictions' if model is not None else 'labels') if classes else '',
                    cameras)


def _model_version(model: Path) -> str:
    """The registry version when the model sits in its models/<version>/ directory."""
    card = model.parent / MODEL_CARD
    try:
        return str(json.loads(card.read_text(encoding='utf-8'))['version'])
    except (OSError, ValueError, KeyError, TypeError):
        return model.stem


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='sentinel-drift-baseline', description=__doc__.split(
        '\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('dataset', type=Path, help='dataset directory (YOLO layout)')
    parser.add_argument('--out', type=Path, required=True, help='baseline JSON to write')
    parser.add_argument('--grid', type=int, default=DEFAULT_GRID,
                        help='tiles per side for the image statistics (default %(default)s)')
    parser.add_argument('--camera-regex', default=None,
                        help='regex whose group 1 is the camera id in image file names')
    parser.add_argument('--model', type=Path, default=None,
                        help='ONNX model: baseline its confidences and predicted class mix')
    parser.add_argument('--input-size', type=int, default=640,
                        help='network input side of --model, px (default %(default)s)')
    parser.add_argument('--max-images', type=int, default=None,
                        help='use at most this many, spread evenly over the dataset')
    parser.add_argument('--normal-only', action='store_true',
                        help="skip images index.jsonl marks as fog, night or blackout")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s')
    args = _parser().parse_args(argv)
    try:
        if args.grid < 1:
            raise DatasetError(f'--grid must be >= 1, got {args.grid}')
        model = None
        if args.model is not None:
            from sentinel_perception.models import (BACKEND_ONNXRUNTIME, ModelError, ModelSpec,
                                                    open_backend)
            _, names = find_dataset(args.dataset)
            if not names:
                raise DatasetError(f'{args.dataset}: --model needs the class names (data.yaml)')
            try:
                model = open_backend(ModelSpec(_model_version(args.model), args.model, tuple(names),
                                               args.input_size), BACKEND_ONNXRUNTIME, 0.25)
            except ModelError as error:
                raise DatasetError(str(error)) from None
        if args.max_images is not None and args.max_images < 1:
            raise DatasetError(f'--max-images must be >= 1, got {args.max_images}')
        baseline = build_baseline(args.dataset, args.grid, args.camera_regex, model,
                                  args.max_images, args.normal_only)
        baseline.save(args.out)
    except (DatasetError, re.error) as error:
        _LOG.error('%s', error)
        return 2
    except OSError as error:
        _LOG.error('cannot write %s: %s', args.out, error)
        return 2
    _LOG.info('wrote %s: %d images, metrics %s%s', args.out, baseline.image_count,
              ', '.join(baseline.metrics),
              f'; cameras {", ".join(sorted(baseline.cameras))}' if baseline.cameras else '')
    return 0


if __name__ == '__main__':
    sys.exit(main())
