"""The whole lifecycle at toy size: render -> train -> export -> score -> register -> detect.

Needs the train extra (torch, ultralytics, onnx). Without it this test FAILS
(it does not skip): a checkout that cannot train cannot rebuild its model.

Training runs in its own process, as `sentinel-train` always does: triton's
bundled LLVM (loaded by torch when deterministic training is switched on)
crashes a process in which Mesa's llvmpipe has rendered, and this test
process renders (dataset generation, the simulator's tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sentinel_models import registry
from sentinel_models.cli_train import main as train_main
from sentinel_models.dataset import GenerateConfig, generate
from sentinel_models.dataset_card import file_sha256
from sentinel_models.model_eval import read_image
from sentinel_models.onnx_detector import OnnxDetector
from sentinel_models.registry_db import RegistryDatabase
from sentinel_models.training import TrainConfig, TrainingDependencyError, check_train_dependencies

# Seconds the training subprocess may take before the test gives up (under pytest's 300 s;
# it takes about 30 s on an idle 2-core machine, longer when the machine is shared).
TRAIN_TIMEOUT_S = 270.0


@pytest.mark.train
def test_render_train_export_register_detect(tmp_path: Path, worlds_dir: Path, db_url: str) -> None:
    try:
        check_train_dependencies()
    except TrainingDependencyError as error:
        pytest.fail(str(error))
    generate(GenerateConfig(('substation', 'solar_farm'), 12, 3, tmp_path / 'data', width=128,
                            val_fraction=0.25, chunk_size=6, worlds_dir=worlds_dir))
    models = tmp_path / 'models'
    _train(tmp_path, db_url, 'toy-1')
    model_dir = models / 'toy-1'
    card = json.loads((model_dir / 'model_card.json').read_text())
    for name in ('model.onnx', 'model_card.json', 'model_card.md', 'confusion_matrix.png',
                 'heldout_predictions.png', 'dataset_card.json', 'weights.pt'):
        assert (model_dir / name).is_file(), name
    assert card['sha256'] == file_sha256(model_dir / 'model.onnx')
    assert card['dataset']['content_hash'].startswith('sha256:')
    assert set(card['metrics']['per_class']) == {'person', 'vehicle', 'drone'}
    assert 0.0 <= card['metrics']['map50'] <= 1.0
    assert card['version'] == 'toy-1' and card['training']['command'].startswith('sentinel-train')

    with RegistryDatabase(db_url) as db, db.transaction() as session:
        assert registry.get(session, 'toy-1').status == 'candidate'
        registry.promote(session, 'toy-1')
        active = registry.active_model(session)
    assert active is not None and active.input_size_px == 96
    detector = OnnxDetector(active.file_path, active.class_names, active.input_size_px)
    image = read_image(next((tmp_path / 'data' / 'images' / 'val').glob('*.png')))
    results = detector.detect([image, image])
    assert len(results) == 2 and results[0] == results[1]

    # A child version fine-tuned from the parent's checkpoint keeps the lineage.
    _train(tmp_path, db_url, 'toy-2', '--model-yaml', str(model_dir / 'weights.pt'),
           '--parent', 'toy-1')
    with RegistryDatabase(db_url) as db, db.transaction() as session:
        child = registry.get(session, 'toy-2')
        assert (child.status, child.parent_version) == ('candidate', 'toy-1')


def _train(tmp_path: Path, db_url: str, version: str, *extra: str) -> None:
    """sentinel-train at toy size, in its own process (see the module docstring)."""
    run = subprocess.run(
        [sys.executable, '-m', 'sentinel_models.cli_train', '--data', str(tmp_path / 'data'),
         '--models-dir', str(tmp_path / 'models'), '--epochs', '1', '--imgsz', '96',
         '--batch', '4', '--version', version, '--work-dir', str(tmp_path / 'work'),
         '--no-cache', '--db-url', db_url, *extra], capture_output=True, text=True,
        timeout=TRAIN_TIMEOUT_S, env={**os.environ, 'YOLO_CONFIG_DIR': str(tmp_path / 'ultralytics')})
    assert run.returncode == 0, f'sentinel-train failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}'
    assert 'held-out mAP50' in run.stdout


def test_training_without_the_train_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, 'ultralytics', None)  # makes `import ultralytics` fail
    with pytest.raises(TrainingDependencyError, match='train extra'):
        check_train_dependencies()


def test_training_on_an_empty_dataset_stops_with_the_reason(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / 'empty').mkdir()
    code = train_main(['--data', str(tmp_path / 'empty'), '--models-dir', str(tmp_path / 'm'),
                       '--no-register', '--epochs', '1'])
    assert code == 2
    assert 'no data.yaml' in capsys.readouterr().err
    assert not (tmp_path / 'm').exists() or not any((tmp_path / 'm').iterdir())


def test_a_corrupt_image_in_the_dataset_is_reported_before_training(
        tmp_path: Path, worlds_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(GenerateConfig(('substation',), 4, 1, tmp_path / 'd', width=96, val_fraction=0.5,
                            chunk_size=4, worlds_dir=worlds_dir))
    victim = next((tmp_path / 'd' / 'images' / 'train').glob('*.png'))
    victim.write_bytes(np.zeros(10, np.uint8).tobytes())
    assert train_main(['--data', str(tmp_path / 'd'), '--models-dir', str(tmp_path / 'm'),
                       '--no-register']) == 2
    assert 'not a readable image' in capsys.readouterr().err


def test_the_training_device_decides_workers_and_is_checked(tmp_path: Path) -> None:
    cpu = TrainConfig(data=tmp_path, models_dir=tmp_path)
    assert (cpu.gpu_indices(), cpu.dataloader_workers(), cpu.on_gpu) == ('cpu', 0, False)
    gpu = TrainConfig(data=tmp_path, models_dir=tmp_path, device='cuda:1')
    assert gpu.on_gpu and gpu.gpu_indices() == '1' and gpu.dataloader_workers() >= 1
    assert TrainConfig(data=tmp_path, models_dir=tmp_path, device='cuda').gpu_indices() == '0'
    assert TrainConfig(data=tmp_path, models_dir=tmp_path, device='0,1', workers=3) \
        .dataloader_workers() == 3
    with pytest.raises(ValueError, match="device must be cpu, cuda, cuda:N or GPU indices"):
        TrainConfig(data=tmp_path, models_dir=tmp_path, device='gpu')
    with pytest.raises(ValueError, match='workers must be >= 0'):
        TrainConfig(data=tmp_path, models_dir=tmp_path, workers=-1)
