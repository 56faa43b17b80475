"""Frames from MCAP recordings with pre-labels: a small MCAP written here, read back."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from sentinel_models.mcap_frames import ExtractConfig, ExtractError, extract, iter_frames
from sentinel_models.onnx_detector import Box
from sentinel_models.png import read_png
from sentinel_models.registry import import_dir, promote
from sentinel_models.registry_db import RegistryDatabase

IMAGE_DEFINITION = """std_msgs/Header header
uint32 height
uint32 width
string encoding
uint8 is_bigendian
uint32 step
uint8[] data
================================================================================
MSG: std_msgs/Header
builtin_interfaces/Time stamp
string frame_id
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
"""
NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def _image(value: tuple[int, int, int], encoding: str, stamp: int) -> dict[str, object]:
    pixels = np.zeros((24, 32, 3), np.uint8)
    pixels[...] = value
    if encoding == 'bgr8':
        pixels = pixels[..., ::-1]
    data = pixels.tobytes() if encoding in ('rgb8', 'bgr8') else b'\x00' * (24 * 32 * 2)
    return {'header': {'stamp': {'sec': stamp // NS, 'nanosec': stamp % NS}, 'frame_id': 'cam'},
            'height': 24, 'width': 32, 'encoding': encoding, 'is_bigendian': 0,
            'step': 32 * (3 if encoding in ('rgb8', 'bgr8') else 2), 'data': data}


@pytest.fixture()
def recording(tmp_path: Path) -> Path:
    from mcap_ros2.writer import Writer

    path = tmp_path / 'rec.mcap'
    with path.open('wb') as stream:
        writer = Writer(stream)
        image = writer.register_msgdef('sensor_msgs/msg/Image', IMAGE_DEFINITION)
        text = writer.register_msgdef('std_msgs/msg/String', 'string data')
        for i in range(10):  # 5 Hz on camera a: bright red, then dark
            t = T0 + i * NS // 5
            colour = (200, 30, 30) if i < 5 else (5, 5, 5)
            writer.write_message('/cameras/a/image_raw', image, _image(colour, 'rgb8', t), t, t)
        for i in range(3):  # 1 Hz on camera b, BGR encoded
            t = T0 + i * NS
            writer.write_message('/cameras/b/image_raw', image, _image((10, 200, 40), 'bgr8', t), t, t)
        writer.write_message('/cameras/c/depth', image, _image((0, 0, 0), '16UC1', T0), T0, T0)
        writer.write_message('/chatter', text, {'data': 'hello'}, T0, T0)
        writer.finish()
    return path


class RedDetector:
    """Finds a 'person' in frames whose mean red is high; confidence 0.9 or 0.3 by camera."""

    class_names = ('person', 'vehicle', 'drone')

    def detect(self, images: list[np.ndarray]) -> list[list[Box]]:
        results = []
        for image in images:
            if image[..., 0].mean() > 100:
                results.append([Box(0, 'person', 0.9, 4.0, 2.0, 20.0, 22.0)])
            elif image[..., 1].mean() > 100:
                results.append([Box(1, 'vehicle', 0.3, 0.0, 0.0, 32.0, 24.0)])
            else:
                results.append([])
        return results


def test_frames_are_decoded_throttled_and_filtered(recording: Path) -> None:
    frames = list(iter_frames((recording,), min_interval_ns=NS // 2))
    topics = [f.topic for f in frames]
    assert topics.count('/cameras/a/image_raw') == 4  # t = 0, 0.6, 1.2, 1.8 s of 0..1.8 s at 0.2 s
    assert topics.count('/cameras/b/image_raw') == 3
    assert '/cameras/c/depth' not in topics and '/chatter' not in topics  # 16UC1, and not an Image
    b = next(f for f in frames if f.topic == '/cameras/b/image_raw')
    assert tuple(b.image[0, 0]) == (10, 200, 40)  # BGR became RGB
    assert b.stamp_ns == T0 and b.frame_id == 'cam'
    windowed = list(iter_frames((recording,), ['/cameras/a/image_raw'], T0 + NS // 2, T0 + NS))
    assert [f.log_time_ns for f in windowed] == [T0 + 3 * NS // 5, T0 + 4 * NS // 5]


def test_extraction_writes_prelabels_and_a_review_list(tmp_path: Path, recording: Path) -> None:
    out = tmp_path / 'review'
    summary = extract(ExtractConfig((recording,), out, min_interval_s=0.5), detector=RedDetector(),
                      model_version='det-test')
    assert summary['frames'] == 7
    rows = list(csv.DictReader((out / 'review.csv').open()))
    flagged = [r for r in rows if r['needs_review'] == '1']
    assert len(flagged) == summary['needs_review'] == 5  # 2 dark frames with nothing, 3 unsure ones
    assert rows[:len(flagged)] == flagged  # flagged frames first
    red = next(r for r in rows if r['classes'] == 'person')
    assert (out / red['image'].replace('images/', 'labels/').replace('.png', '.txt')).read_text() \
        == '0 0.375000 0.500000 0.500000 0.833333\n'
    assert read_png(out / red['image']).shape == (24, 32, 3)
    card = json.loads((out / 'dataset_card.json').read_text())
    assert card['source'] == 'mcap' and card['model'] == 'det-test'
    assert card['counts']['images'] == 7 and card['content_hash'].startswith('sha256:')
    assert (out / 'preview.png').exists() and (out / 'data.yaml').exists()


def test_the_registry_model_is_used_by_version(tmp_path: Path, recording: Path, db_url: str,
                                               fakes: ModuleType) -> None:
    model_dir = tmp_path / 'models' / 'det-fake'
    model_dir.mkdir(parents=True)
    fakes.write_fake_model(model_dir / 'model.onnx',
                           fakes.anchor_table([(160.0, 160.0, 100.0, 100.0, 2, 0.95)], 3), input_size=320)
    (model_dir / 'model_card.json').write_text(json.dumps(
        {'version': 'det-fake', 'classes': ['person', 'vehicle', 'drone'], 'input_size': 320}))
    config = ExtractConfig((recording,), tmp_path / 'out', db_url=db_url, max_frames=2)
    with pytest.raises(ExtractError, match='no active model'):
        extract(config)
    with RegistryDatabase(db_url) as db, db.transaction() as session:
        import_dir(session, model_dir)
        promote(session, 'det-fake')
    summary = extract(config)
    assert summary['model'] == 'det-fake' and summary['frames'] == 2
    labels = sorted((tmp_path / 'out' / 'labels').glob('*.txt'))
    assert all(p.read_text().startswith('2 ') for p in labels)


def test_bad_recordings_are_refused(tmp_path: Path, recording: Path) -> None:
    junk = tmp_path / 'junk.mcap'
    junk.write_bytes(b'not an mcap file at all')
    with pytest.raises(ExtractError, match='not a readable MCAP'):
        extract(ExtractConfig((junk,), tmp_path / 'o1'), detector=RedDetector())
    with pytest.raises(ExtractError, match='no such file'):
        extract(ExtractConfig((tmp_path / 'missing.mcap',), tmp_path / 'o2'), detector=RedDetector())
    with pytest.raises(ExtractError, match='no sensor_msgs/Image frame matched'):
        extract(ExtractConfig((recording,), tmp_path / 'o3', topics=['/chatter']),
                detector=RedDetector())
    assert not (tmp_path / 'o3').exists() and not (tmp_path / 'o3.partial').exists()
