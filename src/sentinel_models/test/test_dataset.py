"""Dataset generation from the simulator: label geometry, determinism, layout, bad datasets."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from sentinel_sim.world import Box, Link, Model, Pose, Shape, ShapeRole, load_world

from sentinel_models.dataset import DatasetError, GenerateConfig, generate, load_dataset
from sentinel_models.image_effects import ImageEffects
from sentinel_models.label_rules import LabelRule, label_frame
from sentinel_models.scene_assets import Slot, make_cast
from sentinel_models.scene_render import ChunkRenderer
from sentinel_models.scene_sampling import Appearance, CameraPlan, Placement, SampleSpec
from sentinel_models.yolo_format import read_label_file

WIDTH = 320
PLAIN = Appearance(sun_direction=(-0.4, 0.3, -0.87), sun_diffuse=(0.8, 0.8, 0.8),
                   ambient=(0.35, 0.35, 0.35), ground_rgb=(0.42, 0.48, 0.33), colour_seed=7,
                   fog=0.0, night=0.0, blackout=False, effects=ImageEffects(), noise_seed=0)


def _scene(worlds_dir: Path, wall: bool) -> tuple[list[SampleSpec], ChunkRenderer]:
    """A pole camera looking at one person 10 m ahead (sample 0) or at nothing (sample 1)."""
    world = dataclasses.replace(load_world(worlds_dir / 'substation.sdf'), actors=())
    cast, roles = make_cast(world, {'person': 1}, 1, np.random.default_rng(0))
    wall_model = Model('dr_clutter_0', Pose(), True, (Link('dr_clutter_0::link', Pose(), (
        Shape('wall', ShapeRole.VISUAL, Box((0.4, 8.0, 6.0)), Pose(z=3.0), (0.6, 0.6, 0.6, 1.0)),)),))
    slots = tuple(s for s in cast.slots if s.source != 'clutter') + (
        Slot('dr_clutter_0', 'clutter', 'clutter', (0.4, 8.0, 6.0), (0.0, 0.0, 3.0), False),)
    cast = dataclasses.replace(cast, clutter=(wall_model,), slots=slots)
    camera = world.camera('cam_nw')
    yaw = camera.pose.yaw
    ahead = np.array([math.cos(yaw), math.sin(yaw)])
    person = camera.pose.position[0] + 20.0 * ahead[0], camera.pose.position[1] + 20.0 * ahead[1]
    plan = CameraPlan(camera.name, 'fixed', None, None, camera.pose, camera.pose, camera.width,
                      camera.height, camera.horizontal_fov, camera.near, camera.far)
    placed = [Placement('dr_actor_person_0', 'person', Pose(person[0], person[1], 0.0))]
    if wall:
        middle = np.asarray(camera.pose.position[:2]) + 10.0 * ahead
        placed.append(Placement('dr_clutter_0', 'clutter', Pose(middle[0], middle[1], 0.0, yaw=yaw)))
    specs = [SampleSpec(world.name, 0, plan, tuple(placed), PLAIN),
             SampleSpec(world.name, 1, plan, tuple(p for p in placed if p.cls == 'clutter'), PLAIN)]
    return specs, ChunkRenderer(world, cast, roles, specs, WIDTH, seed=1, shadows=False)


def test_the_label_box_frames_the_rendered_object(worlds_dir: Path) -> None:
    specs, renderer = _scene(worlds_dir, wall=False)
    with renderer:
        with_person, empty = renderer.render(0), renderer.render(1)
    frame = label_frame(with_person.boxes, with_person.scale, WIDTH, 240, LabelRule())
    assert len(frame.labels) == 1 and frame.labels[0].class_id == 0
    label = frame.labels[0]
    changed = np.any(np.abs(with_person.image.astype(int) - empty.image.astype(int)) > 8, axis=2)
    ys, xs = np.nonzero(changed)
    assert xs.size > 20, 'the person is not visible in the image'
    drawn = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    # Every changed pixel lies inside the label (1 px of rounding allowed) ...
    assert label.x_min - 1 <= drawn[0] and drawn[2] <= label.x_max + 1
    assert label.y_min - 1 <= drawn[1] and drawn[3] <= label.y_max + 1
    # ... and the label is not much larger than what was drawn (the projected 3D box is a
    # little looser than the silhouette).
    area = (drawn[2] - drawn[0]) * (drawn[3] - drawn[1])
    assert area / ((label.x_max - label.x_min) * (label.y_max - label.y_min)) > 0.5
    x0, y0, x1, y1 = (int(round(v)) for v in (label.x_min, label.y_min, label.x_max, label.y_max))
    inside = with_person.image[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
    background = empty.image[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
    assert np.abs(inside - background).max() > 10


def test_an_occluded_object_gets_no_label(worlds_dir: Path) -> None:
    specs, renderer = _scene(worlds_dir, wall=True)
    with renderer:
        sample = renderer.render(0)
    person = [b for b in sample.boxes if b.entity_id == 'dr_actor_person_0']
    assert person and person[0].unoccluded < 0.3
    frame = label_frame(sample.boxes, sample.scale, WIDTH, 240, LabelRule())
    assert not [b for b in frame.labels if b.class_id == 0]


def _config(tmp_path: Path, worlds_dir: Path, seed: int, name: str) -> GenerateConfig:
    return GenerateConfig(('substation', 'solar_farm'), 6, seed, tmp_path / name, width=160,
                          val_fraction=0.3, chunk_size=3, worlds_dir=worlds_dir)


def test_same_seed_same_hash_other_seed_other_hash(tmp_path: Path, worlds_dir: Path) -> None:
    first = generate(_config(tmp_path, worlds_dir, 5, 'a'))
    # Another process with another string-hash seed: nothing may depend on set or dict order.
    subprocess.run([sys.executable, '-m', 'sentinel_models.cli_dataset', 'generate', '--worlds',
                    'substation', 'solar_farm', '--images', '6', '--seed', '5', '--width', '160',
                    '--val-fraction', '0.3', '--chunk-size', '3', '--worlds-dir', str(worlds_dir),
                    '--out', str(tmp_path / 'b')], check=True, capture_output=True,
                   env={**os.environ, 'PYTHONHASHSEED': '12345'}, timeout=120)
    second = json.loads((tmp_path / 'b' / 'dataset_card.json').read_text())
    other = generate(_config(tmp_path, worlds_dir, 6, 'c'))
    assert first['content_hash'] == second['content_hash'] != other['content_hash']
    root = tmp_path / 'a'
    info = load_dataset(root)
    assert info.names == ('person', 'vehicle', 'drone')
    assert sum(len(v) for v in info.images.values()) == 6
    assert first['counts']['images_per_world'] == {'substation': 3, 'solar_farm': 3}
    assert sum(first['counts']['images_per_split'].values()) == 6
    assert (root / 'preview.png').stat().st_size > 1000
    assert (root / 'dataset_card.md').read_text().count('content hash') == 1
    index = [json.loads(line) for line in (root / 'index.jsonl').read_text().splitlines()]
    assert {r['world'] for r in index} == {'substation', 'solar_farm'}
    labels = sum(len(read_label_file(p, 3, 160, 120)) for p in (root / 'labels').rglob('*.txt'))
    assert labels == sum(first['counts']['labels_per_class'].values())
    assert not (tmp_path / 'a.partial').exists()


def test_an_existing_dataset_is_not_overwritten_without_asking(tmp_path: Path, worlds_dir: Path) -> None:
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'keep.txt').write_text('x')
    with pytest.raises(DatasetError, match='--overwrite'):
        generate(_config(tmp_path, worlds_dir, 5, 'a'))
    with pytest.raises(DatasetError, match='no world'):
        generate(dataclasses.replace(_config(tmp_path, worlds_dir, 5, 'b'), worlds=('atlantis',)))


def test_a_jpeg_dataset_holds_the_same_scenes_with_the_same_labels(tmp_path: Path,
                                                                    worlds_dir: Path) -> None:
    png = generate(_config(tmp_path, worlds_dir, 5, 'png'))
    jpg = generate(dataclasses.replace(_config(tmp_path, worlds_dir, 5, 'jpg'), image_format='jpg',
                                       jpeg_quality=90))
    assert jpg['image_format'] == 'jpg' and jpg['jpeg_quality'] == 90
    assert png['jpeg_quality'] is None
    assert jpg['counts']['labels_per_class'] == png['counts']['labels_per_class']
    info = load_dataset(tmp_path / 'jpg')
    images = [p for split in info.images.values() for p in split]
    assert len(images) == 6 and {p.suffix for p in images} == {'.jpg'}
    png_bytes = sum(p.stat().st_size for p in (tmp_path / 'png' / 'images').rglob('*.png'))
    jpg_bytes = sum(p.stat().st_size for p in (tmp_path / 'jpg' / 'images').rglob('*.jpg'))
    assert jpg_bytes < png_bytes / 3
    index = [json.loads(line) for line in (tmp_path / 'jpg' / 'index.jsonl').read_text().splitlines()]
    assert all(r['image'].endswith('.jpg') and (tmp_path / 'jpg' / r['image']).is_file()
               for r in index)


def test_bad_generation_settings_are_refused_with_the_reason(tmp_path: Path,
                                                              worlds_dir: Path) -> None:
    base = _config(tmp_path, worlds_dir, 5, 'x')
    with pytest.raises(DatasetError, match="image format must be one of png, jpg, got 'gif'"):
        dataclasses.replace(base, image_format='gif')
    with pytest.raises(DatasetError, match='JPEG quality must be in 1..100, got 0'):
        dataclasses.replace(base, image_format='jpg', jpeg_quality=0)


@pytest.fixture()
def small_dataset(tmp_path: Path, worlds_dir: Path) -> Path:
    generate(_config(tmp_path, worlds_dir, 11, 'ds'))
    return tmp_path / 'ds'


def test_bad_datasets_are_refused_with_the_reason(tmp_path: Path, small_dataset: Path) -> None:
    with pytest.raises(DatasetError, match='no such dataset directory'):
        load_dataset(tmp_path / 'nowhere')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DatasetError, match='no data.yaml'):
        load_dataset(tmp_path / 'empty')

    broken = tmp_path / 'broken'
    shutil.copytree(small_dataset, broken)
    data = yaml.safe_load((broken / 'data.yaml').read_text())
    (broken / 'data.yaml').write_text(yaml.safe_dump({k: v for k, v in data.items() if k != 'names'}))
    with pytest.raises(DatasetError, match='class list is missing'):
        load_dataset(broken)
    (broken / 'data.yaml').write_text(yaml.safe_dump(data))

    label = sorted((broken / 'labels' / 'train').glob('*.txt'))[0]
    original = label.read_text()
    label.write_text(original + '0 0.98 0.5 0.1 0.1\n')
    with pytest.raises(DatasetError, match=rf'{label.name}:\d+: .*outside the image'):
        load_dataset(broken)
    label.write_text(original)

    image = sorted((broken / 'images' / 'val').glob('*.png'))[0]
    image.write_bytes(b'\x89PNG\r\n\x1a\n garbage')
    with pytest.raises(DatasetError, match='not a readable image'):
        load_dataset(broken)

    for path in (broken / 'images' / 'val').glob('*.png'):
        path.unlink()
    with pytest.raises(DatasetError, match='val split has no images'):
        load_dataset(broken)
