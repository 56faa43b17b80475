"""Frames from recorded MCAP files, with the current model's predictions as pre-labels.

Why: the simulator never shows everything the field will; frames recorded
from real cameras (or from the running system) are the next training data.
Labelling from scratch is slow, so each frame comes with the model's own
detections as YOLO label files to correct, and a review list that flags the
frames a person should look at first (no detection at all, or a detection
the model was unsure of).

Reading: a recording directory (with the recorder's ``index.json``) goes
through ``sentinel_bridge.recording.iter_messages``, which opens only the
files overlapping the time range; single ``.mcap`` files are read directly
with ``mcap`` + ``mcap-ros2-support``. Only ``sensor_msgs/msg/Image``
messages are used (encodings rgb8, bgr8, rgba8, bgra8, mono8).

Output (written under a temporary name, renamed when complete)::

    images/*.png  labels/*.txt (pre-labels)  data.yaml  review.csv  prelabels.jsonl
    dataset_card.{json,md}  preview.png
"""

from __future__ import annotations

import csv
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sentinel_models.dataset_card import CARD_FORMAT, content_hash, write_card
from sentinel_models.png import write_png
from sentinel_models.preview import PreviewTile, write_preview
from sentinel_models.yolo_format import PixelBox, write_label_file

_LOG = logging.getLogger(__name__)

# ROS type of the frames extracted (ROS 2 schema names carry the /msg/ part).
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/Image')
# Channels per pixel of the encodings this module converts to RGB.
ENCODINGS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}
# Frames shown in the preview grid.
PREVIEW_FRAMES = 16
# Nanoseconds per second.
NS_PER_S = 1_000_000_000
PARTIAL_SUFFIX = '.partial'


class ExtractError(ValueError):
    """Extraction that cannot proceed (no model, unreadable file, nothing extracted)."""


@dataclass(frozen=True)
class Frame:
    topic: str
    log_time_ns: int
    stamp_ns: int           # header stamp
    frame_id: str
    image: np.ndarray       # (h, w, 3) uint8 RGB


@dataclass(frozen=True)
class ExtractConfig:
    paths: tuple[Path, ...]
    out: Path
    model_version: str = ''
    db_url: str = ''
    models_dir: Path | None = None
    topics: list[str] | None = None
    start_s: float | None = None
    end_s: float | None = None
    min_interval_s: float = 1.0
    max_frames: int = 0
    conf_threshold: float = 0.25
    review_below: float = 0.5
    overwrite: bool = False
    command: str = ''


def image_to_rgb(message: Any) -> np.ndarray:
    """(h, w, 3) uint8 RGB of a decoded sensor_msgs/Image; ValueError for other encodings."""
    encoding = str(message.encoding)
    if encoding not in ENCODINGS:
        raise ValueError(f'image encoding {encoding!r} is not supported ({sorted(ENCODINGS)})')
    channels = ENCODINGS[encoding]
    height, width, step = int(message.height), int(message.width), int(message.step)
    data = np.frombuffer(bytes(message.data), dtype=np.uint8)
    if height <= 0 or width <= 0 or step < width * channels or data.size < step * height:
        raise ValueError(f'image {width}x{height} step {step} does not fit its {data.size} bytes')
    pixels = data[:step * height].reshape(height, step)[:, :width * channels].reshape(height, width,
                                                                                      channels)
    if encoding == 'mono8':
        return np.repeat(pixels, 3, axis=2)
    if encoding.startswith('bgr'):
        pixels = pixels[..., 2::-1]
    return np.ascontiguousarray(pixels[..., :3])


def _stamp_ns(message: Any) -> tuple[int, str]:
    header = getattr(message, 'header', None)
    if header is None:
        return 0, ''
    stamp = header.stamp
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec), str(header.frame_id)


def _decoded_messages(path: Path, topics: list[str] | None, start_ns: int | None,
                      end_ns: int | None) -> Iterator[tuple[str, str, int, Any]]:
    """(topic, type, log time, decoded message) of one MCAP file or recording directory."""
    if path.is_dir():
        try:
            from sentinel_bridge.recording import RecordingError, iter_messages
        except ImportError:
            raise ExtractError(f'{path} is a directory: reading recording directories needs '
                               'sentinel_bridge; pass the .mcap files instead') from None
        try:
            for record in iter_messages(path, topics, start_ns, end_ns):
                yield record.topic, record.type_name, record.log_time_ns, record.message
        except RecordingError as error:
            raise ExtractError(str(error)) from None
        return
    from mcap.exceptions import McapError
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    try:
        with path.open('rb') as stream:
            reader = make_reader(stream, decoder_factories=[DecoderFactory()])
            for schema, channel, message, decoded in reader.iter_decoded_messages(
                    topics=topics, starting_at=start_ns, ending_before=end_ns):
                yield channel.topic, schema.name if schema else '', message.log_time, decoded
    except (McapError, OSError, EOFError) as error:
        raise ExtractError(f'{path}: not a readable MCAP file: {error}') from None


def iter_frames(paths: tuple[Path, ...], topics: list[str] | None = None,
                start_ns: int | None = None, end_ns: int | None = None,
                min_interval_ns: int = 0) -> Iterator[Frame]:
    """Image frames of ``paths`` in [start, end), at least ``min_interval_ns`` apart per topic."""
    last: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for path in paths:
        if not path.exists():
            raise ExtractError(f'{path}: no such file or directory')
        for topic, type_name, log_time, message in _decoded_messages(path, topics, start_ns, end_ns):
            if type_name not in IMAGE_TYPES or message is None:
                continue
            if topic in last and log_time - last[topic] < min_interval_ns:
                continue
            try:
                image = image_to_rgb(message)
            except ValueError as error:
                skipped[topic] = skipped.get(topic, 0) + 1
                if skipped[topic] == 1:
                    _LOG.warning('%s: skipping frames of %s: %s', path, topic, error)
                continue
            last[topic] = log_time
            stamp, frame_id = _stamp_ns(message)
            yield Frame(topic, log_time, stamp, frame_id, image)


def _slug(topic: str) -> str:
    return re.sub(r'[^A-Za-z0-9]+', '_', topic).strip('_') or 'topic'


def load_model(config: ExtractConfig) -> tuple[Any, str]:
    """The detector of the requested (or active) registry version, and its version."""
    from sentinel_models.onnx_detector import ModelError, OnnxDetector
    from sentinel_models.registry import RegistryError, active_model, get, verify_file
    from sentinel_models.registry_db import RegistryDatabase

    try:
        with RegistryDatabase(config.db_url) as db, db.transaction() as session:
            if config.model_version:
                row = get(session, config.model_version)
                verify_file(row)
                path, names, size, version = (Path(row.file_path), tuple(row.class_names),
                                              row.input_size_px, row.version)
            else:
                active = active_model(session)
                if active is None:
                    raise ExtractError('no active model in the registry: pass --model VERSION '
                                       'or promote one (sentinel-models promote)')
                path, names, size, version = (active.file_path, active.class_names,
                                              active.input_size_px, active.version)
        return OnnxDetector(path, names, size, conf_threshold=config.conf_threshold), version
    except (RegistryError, ModelError) as error:
        raise ExtractError(str(error)) from None


def extract(config: ExtractConfig, progress: Callable[[int, int | None], None] | None = None,
            detector: Any = None, model_version: str = '') -> dict[str, Any]:
    """Extract frames with pre-labels into ``config.out``; returns a summary.

    ``detector`` (anything with ``detect`` and ``class_names``) replaces the
    registry lookup, for tests and for callers that hold a model already.
    """
    if detector is None:
        detector, model_version = load_model(config)
    out = config.out
    if out.exists() and any(out.iterdir()) and not config.overwrite:
        raise ExtractError(f'{out} exists and is not empty (use --overwrite to replace it)')
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    if partial.exists():
        shutil.rmtree(partial)
    (partial / 'images').mkdir(parents=True)
    (partial / 'labels').mkdir()
    names = tuple(detector.class_names)
    start_ns = int(config.start_s * NS_PER_S) if config.start_s is not None else None
    end_ns = int(config.end_s * NS_PER_S) if config.end_s is not None else None
    rows: list[dict[str, Any]] = []
    tiles: list[PreviewTile] = []
    try:
        with (partial / 'prelabels.jsonl').open('w', encoding='utf-8') as jsonl:
            for frame in iter_frames(config.paths, config.topics, start_ns, end_ns,
                                     int(config.min_interval_s * NS_PER_S)):
                boxes = detector.detect([frame.image])[0]
                stem = f'{_slug(frame.topic)}_{frame.log_time_ns}'
                height, width = frame.image.shape[:2]
                pixel_boxes = [PixelBox(b.class_id, b.x_min, b.y_min, b.x_max, b.y_max) for b in boxes]
                write_png(partial / 'images' / f'{stem}.png', frame.image)
                write_label_file(partial / 'labels' / f'{stem}.txt', pixel_boxes, width, height)
                confidences = [round(b.confidence, 4) for b in boxes]
                needs_review = not boxes or min(confidences) < config.review_below
                row = {'image': f'images/{stem}.png', 'topic': frame.topic,
                       'log_time_ns': frame.log_time_ns, 'stamp_ns': frame.stamp_ns,
                       'frame_id': frame.frame_id, 'detections': len(boxes),
                       'min_confidence': min(confidences) if confidences else '',
                       'classes': ' '.join(sorted({b.class_name for b in boxes})),
                       'needs_review': int(needs_review)}
                rows.append(row)
                jsonl.write(json.dumps({'image': row['image'], 'model': model_version, 'boxes': [
                    {'class': b.class_name, 'confidence': round(b.confidence, 4),
                     'xyxy': [round(v, 2) for v in (b.x_min, b.y_min, b.x_max, b.y_max)]}
                    for b in boxes]}) + '\n')
                if len(tiles) < PREVIEW_FRAMES:
                    tiles.append(PreviewTile(frame.image, pixel_boxes, confidences=confidences,
                                             caption=frame.topic))
                if progress is not None:
                    progress(len(rows), None)
                if config.max_frames and len(rows) >= config.max_frames:
                    break
        if not rows:
            raise ExtractError('no sensor_msgs/Image frame matched (check the topics and time range)')
        _write_review(partial / 'review.csv', rows)
        (partial / 'data.yaml').write_text(yaml.safe_dump(
            {'train': 'images', 'val': 'images', 'nc': len(names), 'names': list(names)},
            sort_keys=False), encoding='utf-8')
        write_preview(partial / 'preview.png', tiles, names)
        flagged = sum(r['needs_review'] for r in rows)
        card = {
            'format': CARD_FORMAT, 'name': out.name, 'source': 'mcap',
            'generator': {'name': 'sentinel_models.mcap_frames', 'version': '1.0.0'},
            'recordings': [str(p) for p in config.paths], 'model': model_version,
            'classes': list(names), 'conf_threshold': config.conf_threshold,
            'min_interval_s': config.min_interval_s,
            'counts': {'images': len(rows), 'needs_review': flagged,
                       'images_per_topic': _count(r['topic'] for r in rows),
                       'prelabels_per_class': _count(c for r in rows for c in r['classes'].split())},
            'content_hash': content_hash(partial, ('images', 'labels')),
            'preview': 'preview.png', 'command': config.command,
            'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
            'note': 'labels/ holds model predictions (pre-labels), not verified ground truth',
        }
        write_card(partial, card)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return {'frames': len(rows), 'needs_review': flagged, 'model': model_version, 'card': card}


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _write_review(path: Path, rows: list[dict[str, Any]]) -> None:
    """The review list: flagged frames first, then by topic and time."""
    ordered = sorted(rows, key=lambda r: (-r['needs_review'], r['topic'], r['log_time_ns']))
    with path.open('w', encoding='utf-8', newline='') as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(ordered)
