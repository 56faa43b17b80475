"""Detection datasets rendered by the embedded simulator, in YOLO format.

Layout of a dataset directory::

    data.yaml                  # ultralytics: path, train, val, nc, names
    images/{train,val}/*.png   # 8-bit RGB (or *.jpg with --image-format jpg)
    labels/{train,val}/*.txt   # YOLO: class cx cy w h (normalised), one line per object
    ignore/{train,val}/*.txt   # same format: regions neither positive nor negative
    index.jsonl                # one line per image: world, camera, conditions, counts
    dataset_card.{json,md}     # counts, seed, generator version, content hash
    preview.png                # a grid of images with their labels drawn

Why it is built this way:

* every image comes from one :class:`~scene_sampling.SampleSpec` drawn from a
  generator seeded by (seed, world, sample index), so the same seed gives the
  same dataset, byte for byte, on the same software stack (tested through the
  card's content hash);
* samples of a world are rendered in chunks that share one MuJoCo model (its
  extra actors and clutter); building a model per image would cost more than
  rendering it;
* the directory is written under a temporary name and renamed when complete:
  an interrupted run leaves no half-dataset that looks finished;
* the train/val split is drawn per image from the seed, so it does not depend
  on how many images were asked for.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import yaml

from sentinel_models.classes import CLASS_NAMES, validate_class_names
from sentinel_models.dataset_card import CARD_FORMAT, content_hash, read_card, write_card
from sentinel_models.label_rules import LabelRule, label_frame
from sentinel_models.paths import resolve_world
from sentinel_models.png import PngError, PngUnsupported, read_png, write_png
from sentinel_models.preview import PreviewTile, write_preview
from sentinel_models.yolo_format import LabelError, PixelBox, read_label_file, write_label_file

if TYPE_CHECKING:
    from sentinel_models.scene_render import RenderedSample

_LOG = logging.getLogger(__name__)

# Version of this generator; bump when the same seed would give different images or labels.
GENERATOR_VERSION = '1.0.0'
# Samples rendered with one MuJoCo model (one cast of extra actors and clutter).
DEFAULT_CHUNK_SIZE = 64
# Extra actors per class in each chunk, and clutter models.
DEFAULT_CAST = {'person': 8, 'vehicle': 5, 'drone': 6}
DEFAULT_CLUTTER = 12
# Saved image width (px); the height keeps each camera's aspect ratio (4:3 -> 240).
DEFAULT_WIDTH = 320
# Share of images in the validation split.
DEFAULT_VAL_FRACTION = 0.15
# Stored image formats. JPEG at quality 90 is about a twelfth of the PNG size of these
# noisy renders (8.6 kB against 100 kB at 320x240), for moving datasets between machines.
IMAGE_FORMATS = ('png', 'jpg')
DEFAULT_JPEG_QUALITY = 90
# Probability that a chunk renders with the sun's shadows (about 2.5x the render cost).
P_SHADOWS = 0.5
# Images in the preview grid, and its columns.
PREVIEW_IMAGES = 16
PREVIEW_COLUMNS = 4
# Sub-streams of the seed (numpy SeedSequence entropy), so each use draws independently.
STREAM_SAMPLE, STREAM_CAST, STREAM_SPLIT = 0, 1, 2
SPLITS = ('train', 'val')
INDEX_FILE = 'index.jsonl'
DATA_YAML = 'data.yaml'
# Suffix of the directory a run writes into before it is complete.
PARTIAL_SUFFIX = '.partial'


class DatasetError(ValueError):
    """A dataset that cannot be generated or used; the message says what and where."""


@dataclass(frozen=True)
class GenerateConfig:
    """What `sentinel-dataset generate` was asked for."""

    worlds: tuple[str, ...]
    images: int
    seed: int
    out: Path
    width: int = DEFAULT_WIDTH
    val_fraction: float = DEFAULT_VAL_FRACTION
    chunk_size: int = DEFAULT_CHUNK_SIZE
    rule: LabelRule = field(default_factory=LabelRule)
    cast: tuple[tuple[str, int], ...] = tuple(DEFAULT_CAST.items())
    clutter: int = DEFAULT_CLUTTER
    overwrite: bool = False
    worlds_dir: Path | None = None
    image_format: str = 'png'            # 'png' (lossless) or 'jpg' (about 12x smaller)
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    command: str = ''

    def __post_init__(self) -> None:
        if not self.worlds:
            raise DatasetError('name at least one world')
        if self.images < 1:
            raise DatasetError(f'images must be >= 1, got {self.images}')
        if not 32 <= self.width <= 4096:
            raise DatasetError(f'width must be in 32..4096 px, got {self.width}')
        if not 0.0 <= self.val_fraction <= 1.0:
            raise DatasetError(f'val fraction must be in [0, 1], got {self.val_fraction}')
        if self.chunk_size < 1:
            raise DatasetError(f'chunk size must be >= 1, got {self.chunk_size}')
        if self.image_format not in IMAGE_FORMATS:
            raise DatasetError(f'image format must be one of {", ".join(IMAGE_FORMATS)}, '
                               f'got {self.image_format!r}')
        if not 1 <= self.jpeg_quality <= 100:
            raise DatasetError(f'JPEG quality must be in 1..100, got {self.jpeg_quality}')


@dataclass
class _Tally:
    split: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    worlds: Counter[str] = field(default_factory=Counter)
    cameras: Counter[str] = field(default_factory=Counter)
    camera_kinds: Counter[str] = field(default_factory=Counter)
    conditions: Counter[str] = field(default_factory=Counter)
    sizes: Counter[str] = field(default_factory=Counter)


def split_of(seed: int, world_index: int, index: int, val_fraction: float) -> str:
    """The split of one sample, drawn from the seed."""
    draw = np.random.default_rng([seed, world_index, index, STREAM_SPLIT]).random()
    return 'val' if draw < val_fraction else 'train'


def _allocate(images: int, worlds: int) -> list[int]:
    """Images per world: as even as possible, earlier worlds take the remainder."""
    return [images // worlds + (1 if i < images % worlds else 0) for i in range(worlds)]


def _prepare_out(config: GenerateConfig) -> Path:
    out = config.out
    if out.exists() and any(out.iterdir()):
        if not config.overwrite:
            raise DatasetError(f'{out} exists and is not empty (use --overwrite to replace it)')
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    if partial.exists():
        shutil.rmtree(partial)
    for top in ('images', 'labels', 'ignore'):
        for split in SPLITS:
            (partial / top / split).mkdir(parents=True, exist_ok=True)
    return partial


def generate(config: GenerateConfig,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Render the dataset ``config`` asks for; returns its card."""
    # Imported here: generation is the only part that loads MuJoCo.
    from sentinel_sim.world import WorldError, load_world

    worlds = []
    for name in config.worlds:
        try:
            worlds.append(load_world(resolve_world(name, config.worlds_dir)))
        except (FileNotFoundError, WorldError) as error:
            raise DatasetError(str(error)) from None
    started = time.monotonic()
    partial = _prepare_out(config)
    try:
        card = _render_all(config, worlds, partial, started, progress)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # an interrupted run leaves nothing behind
        raise
    if config.out.exists():
        shutil.rmtree(config.out)
    partial.rename(config.out)
    _LOG.info('dataset of %d images written to %s (%s)', config.images, config.out,
              card['content_hash'])
    return card


def _render_all(config: GenerateConfig, worlds: Sequence[Any], partial: Path, started: float,
                progress: Callable[[int, int], None] | None) -> dict[str, Any]:
    """Render every sample into ``partial``, then its data.yaml, preview and card."""
    from sentinel_models.scene_assets import make_cast
    from sentinel_models.scene_render import ChunkRenderer
    from sentinel_models.scene_sampling import sample_scene

    tally = _Tally()
    preview: list[PreviewTile] = []
    done = 0
    allocation = _allocate(config.images, len(worlds))
    preview_every = max(1, config.images // PREVIEW_IMAGES)
    splits = [[split_of(config.seed, w, k, config.val_fraction) for k in range(n)]
              for w, n in enumerate(allocation)]
    _balance_splits(splits, config.val_fraction)
    cast_counts = dict(config.cast)
    with (partial / INDEX_FILE).open('w', encoding='utf-8') as index_file:
        for w, (world, count) in enumerate(zip(worlds, allocation, strict=True)):
            for chunk_start in range(0, count, config.chunk_size):
                chunk = chunk_start // config.chunk_size
                chunk_rng = np.random.default_rng([config.seed, w, chunk, STREAM_CAST])
                cast, roles = make_cast(world, cast_counts, config.clutter, chunk_rng)
                indices = range(chunk_start, min(count, chunk_start + config.chunk_size))
                specs = [sample_scene(world, cast, k, config.width,
                                      np.random.default_rng([config.seed, w, k, STREAM_SAMPLE]))
                         for k in indices]
                render_seed = int(chunk_rng.integers(2**31))
                shadows = bool(chunk_rng.random() < P_SHADOWS)
                with ChunkRenderer(world, cast, roles, specs, config.width, render_seed,
                                   shadows) as renderer:
                    for j, k in enumerate(indices):
                        sample = renderer.render(j)
                        split = splits[w][k]
                        tile = _write_sample(partial, sample, split, config, tally, index_file)
                        done += 1
                        if done % preview_every == 0 and len(preview) < PREVIEW_IMAGES:
                            preview.append(tile)
                        if progress is not None:
                            progress(done, config.images)
    _write_data_yaml(partial)
    write_preview(partial / 'preview.png', preview, CLASS_NAMES, PREVIEW_COLUMNS)
    card = _card(config, worlds, tally, partial, time.monotonic() - started)
    write_card(partial, card)
    return card


def _balance_splits(splits: list[list[str]], val_fraction: float) -> None:
    """At least one image in each split when there are two or more and the fraction allows."""
    flat = [(w, k) for w, ks in enumerate(splits) for k in range(len(ks))]
    if len(flat) < 2 or val_fraction in (0.0, 1.0):
        return
    for wanted, other in (('val', 'train'), ('train', 'val')):
        if not any(splits[w][k] == wanted for w, k in flat):
            w, k = flat[-1] if wanted == 'val' else flat[0]
            splits[w][k] = wanted


def _write_image(path: Path, image: np.ndarray, config: GenerateConfig) -> None:
    """PNG through this package's encoder; JPEG through Pillow (a runtime dependency)."""
    if config.image_format == 'png':
        write_png(path, image)
        return
    from PIL import Image

    Image.fromarray(image).save(path, 'JPEG', quality=config.jpeg_quality)


def _write_sample(root: Path, sample: RenderedSample, split: str, config: GenerateConfig,
                  tally: _Tally, index_file: TextIO) -> PreviewTile:
    spec = sample.spec
    a = spec.appearance
    image = sample.image
    height, width = image.shape[:2]
    frame = label_frame(sample.boxes, sample.scale, width, height, config.rule,
                        fog_density=a.fog, blackout=a.blackout)
    stem = f'{spec.world}_{spec.index:06d}'
    image_name = f'images/{split}/{stem}.{config.image_format}'
    _write_image(root / image_name, image, config)
    write_label_file(root / 'labels' / split / f'{stem}.txt', list(frame.labels), width, height)
    write_label_file(root / 'ignore' / split / f'{stem}.txt', list(frame.ignored), width, height)
    tally.split[split] += 1
    tally.sizes[f'{width}x{height}'] += 1
    tally.worlds[spec.world] += 1
    tally.cameras[f'{spec.world}/{spec.camera.camera}'] += 1
    tally.camera_kinds[spec.camera.kind] += 1
    conditions = [name for name, on in (('fog', a.fog > 0), ('night', a.night > 0),
                                        ('blackout', a.blackout), ('no_labels', not frame.labels))
                  if on]
    tally.conditions.update(conditions or ['clear'])
    for box in frame.labels:
        tally.labels[CLASS_NAMES[box.class_id]] += 1
    for box in frame.ignored:
        tally.ignored[CLASS_NAMES[box.class_id]] += 1
    record = {'image': image_name, 'split': split, 'world': spec.world,
              'camera': spec.camera.camera, 'camera_kind': spec.camera.kind,
              'camera_height': round(spec.camera.world_pose.z, 2),
              'camera_pitch': round(spec.camera.world_pose.pitch, 3),
              'fog': round(a.fog, 3), 'night': round(a.night, 3), 'blackout': a.blackout,
              'labels': len(frame.labels), 'ignored': len(frame.ignored),
              'placed': len([p for p in spec.placements if p.cls != 'clutter']),
              'clutter': len([p for p in spec.placements if p.cls == 'clutter'])}
    index_file.write(json.dumps(record, sort_keys=True) + '\n')
    return PreviewTile(image, frame.labels, frame.ignored, caption=f'{spec.world} {spec.camera.camera}')


def _write_data_yaml(root: Path) -> None:
    # No 'path' key: ultralytics then resolves train/val against this file's directory.
    data = {'train': 'images/train', 'val': 'images/val',
            'nc': len(CLASS_NAMES), 'names': list(CLASS_NAMES)}
    (root / DATA_YAML).write_text(yaml.safe_dump(data, sort_keys=False), encoding='utf-8')


def _card(config: GenerateConfig, worlds: Sequence[Any], tally: _Tally, root: Path,
          seconds: float) -> dict[str, Any]:
    return {
        'format': CARD_FORMAT,
        'name': config.out.name,
        'source': 'simulator',
        'generator': {'name': 'sentinel_models.dataset', 'version': GENERATOR_VERSION},
        'seed': config.seed,
        'worlds': [w.name for w in worlds],
        'image_size': sorted(tally.sizes),  # 'WxH' of the images written (one unless cameras differ)
        'image_format': config.image_format,
        'jpeg_quality': config.jpeg_quality if config.image_format == 'jpg' else None,
        'val_fraction': config.val_fraction,
        'chunk_size': config.chunk_size,
        'cast_per_chunk': dict(config.cast),
        'clutter_per_chunk': config.clutter,
        'classes': list(CLASS_NAMES),
        'label_rule': asdict(config.rule),
        'counts': {
            'images': sum(tally.split.values()),
            'images_per_split': dict(tally.split),
            'labels_per_class': {name: tally.labels.get(name, 0) for name in CLASS_NAMES},
            'ignored_per_class': {name: tally.ignored.get(name, 0) for name in CLASS_NAMES},
            'images_per_world': dict(tally.worlds),
            'images_per_camera': dict(tally.cameras),
            'images_per_camera_kind': dict(tally.camera_kinds),
            'conditions': dict(tally.conditions),
            'images_per_size': dict(tally.sizes),
        },
        'content_hash': content_hash(root),
        'preview': 'preview.png',
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'generation_seconds': round(seconds, 1),
        'command': config.command,
        'machine': machine_description(),
    }


def machine_description() -> dict[str, Any]:
    """Where a dataset or model was made (for cards)."""
    return {'host': platform.node(), 'platform': platform.platform(),
            'python': sys.version.split()[0], 'cpus': os.cpu_count()}


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class DatasetInfo:
    """A checked dataset: where its parts are and what it holds."""

    root: Path
    data_yaml: Path
    names: tuple[str, ...]
    images: dict[str, list[Path]]   # split -> image files
    labels: int                     # total label lines
    card: dict[str, Any] | None

    @property
    def content_hash(self) -> str:
        if self.card and isinstance(self.card.get('content_hash'), str):
            return str(self.card['content_hash'])
        return content_hash(self.root)


def label_path(image: Path) -> Path:
    """The label file of an image (YOLO convention: images/ -> labels/, .txt)."""
    parts = list(image.parts)
    index = len(parts) - 1 - parts[::-1].index('images')
    parts[index] = 'labels'
    return Path(*parts).with_suffix('.txt')


def ignore_path(image: Path) -> Path:
    """The ignore-region file of an image (images/ -> ignore/, .txt)."""
    parts = list(image.parts)
    index = len(parts) - 1 - parts[::-1].index('images')
    parts[index] = 'ignore'
    return Path(*parts).with_suffix('.txt')


IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, checking that it decodes."""
    if path.suffix.lower() == '.png':
        try:
            pixels = read_png(path)
            return pixels.shape[1], pixels.shape[0]
        except PngUnsupported:
            pass  # a valid PNG this package did not write: Pillow reads it below
        except PngError as error:
            raise DatasetError(f'{path}: not a readable image: {error}') from None
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DatasetError(f'{path}: cannot check this image without Pillow') from None
    try:
        with Image.open(path) as picture:
            picture.load()
            return picture.size
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f'{path}: not a readable image: {error}') from None


def load_dataset(root: Path, check_images: bool = True, splits: Sequence[str] = SPLITS) -> DatasetInfo:
    """Check a YOLO dataset directory and describe it; DatasetError says what is wrong.

    Checked: ``data.yaml`` with a class list, every split non-empty, every
    image readable (``check_images``), every label file parseable with boxes
    inside the image and class indices in range.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f'{root}: no such dataset directory')
    data_yaml = root / DATA_YAML
    try:
        data = yaml.safe_load(data_yaml.read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise DatasetError(f'{root}: no {DATA_YAML} (not a YOLO dataset)') from None
    except (OSError, yaml.YAMLError) as error:
        raise DatasetError(f'{data_yaml}: unreadable: {error}') from None
    if not isinstance(data, dict):
        raise DatasetError(f'{data_yaml}: expected a mapping')
    raw_names = data.get('names')
    if isinstance(raw_names, dict):
        raw_names = [raw_names[k] for k in sorted(raw_names)]
    try:
        names = validate_class_names(raw_names)
    except ValueError as error:
        raise DatasetError(f'{data_yaml}: {error}') from None
    images: dict[str, list[Path]] = {}
    labels = 0
    for split in splits:
        relative = data.get(split)
        if not isinstance(relative, str):
            raise DatasetError(f'{data_yaml}: no {split!r} image directory')
        directory = root / relative
        files = sorted(p for p in directory.glob('*') if p.suffix.lower() in IMAGE_SUFFIXES) \
            if directory.is_dir() else []
        if not files:
            raise DatasetError(f'{directory}: the {split} split has no images (empty dataset?)')
        images[split] = files
        for image in files:
            lab = label_path(image)
            width, height = image_size(image) if check_images else (1, 1)
            if lab.exists():
                try:
                    labels += len(read_label_file(lab, len(names), width, height))
                except LabelError as error:
                    raise DatasetError(str(error)) from None
    if labels == 0:
        raise DatasetError(f'{root}: no image has a label: nothing to learn or evaluate')
    try:
        card: dict[str, Any] | None = read_card(root)
    except ValueError:
        card = None
    return DatasetInfo(root, data_yaml, names, images, labels, card)


def read_boxes(image: Path, num_classes: int, width: int,
               height: int) -> tuple[list[PixelBox], list[PixelBox]]:
    """Labels and ignore regions of one image (empty lists when the files are absent)."""
    boxes = []
    ignored = []
    if label_path(image).exists():
        boxes = read_label_file(label_path(image), num_classes, width, height)
    if ignore_path(image).exists():
        ignored = read_label_file(ignore_path(image), num_classes, width, height)
    return boxes, ignored
