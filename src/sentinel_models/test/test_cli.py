"""The command lines: exit codes and messages (the logic is tested in the modules' own tests)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from sentinel_models.cli_dataset import main as dataset_main
from sentinel_models.cli_models import main as models_main


def _model_dir(root: Path, fakes: ModuleType, version: str, created: str) -> Path:
    directory = root / version
    directory.mkdir(parents=True)
    fakes.write_fake_model(directory / 'model.onnx', fakes.anchor_table([], 3))
    (directory / 'model_card.json').write_text(json.dumps(
        {'version': version, 'classes': ['person', 'vehicle', 'drone'], 'input_size': 320,
         'created': created, 'metrics': {'map50': 0.8, 'map50_95': 0.5}}))
    return directory


def test_registry_commands(tmp_path: Path, db_url: str, fakes: ModuleType,
                           capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / 'models'
    _model_dir(models, fakes, 'det-a', '2026-01-01T00:00:00+00:00')
    second = _model_dir(tmp_path / 'elsewhere', fakes, 'det-b', '2026-02-01T00:00:00+00:00')
    base = ['--db-url', db_url, '--models-dir', str(models)]
    assert models_main([*base, 'list']) == 0
    assert 'no model versions' in capsys.readouterr().out
    assert models_main([*base, 'ensure-default']) == 0
    assert 'active model: det-a' in capsys.readouterr().out
    assert models_main([*base, 'import', str(second)]) == 0
    assert models_main([*base, 'promote', 'det-b']) == 0
    assert 'det-b is active; det-a retired' in capsys.readouterr().out
    assert models_main([*base, 'rollback']) == 0
    assert 'det-a is active again' in capsys.readouterr().out
    assert models_main([*base, 'show', 'det-b']) == 0
    assert json.loads(capsys.readouterr().out)['status'] == 'retired'
    (second / 'model.onnx').write_bytes(b'changed')
    assert models_main([*base, 'promote', 'det-b']) == 2
    assert 'does not match the registry' in capsys.readouterr().err
    assert models_main([*base, 'retire', 'det-a']) == 2
    assert models_main([*base, 'show', 'det-zzz']) == 2
    assert "no model version 'det-zzz'" in capsys.readouterr().err
    assert models_main(['--db-url', 'mysql://nope/db', 'list']) == 2


def test_dataset_check_reports_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / 'd').mkdir()
    assert dataset_main(['check', str(tmp_path / 'd')]) == 2
    assert 'no data.yaml' in capsys.readouterr().err


def test_from_mcap_without_a_model_says_so(tmp_path: Path, db_url: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    recording = tmp_path / 'r.mcap'
    recording.write_bytes(b'')
    assert dataset_main(['from-mcap', str(recording), '--out', str(tmp_path / 'o'),
                         '--db-url', db_url]) == 2
    assert 'no active model' in capsys.readouterr().err


def test_evaluate_scores_a_model_directory_on_a_dataset(tmp_path: Path, fakes: ModuleType,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    model = _model_dir(tmp_path / 'models', fakes, 'det-a', '2026-01-01T00:00:00+00:00')
    # The fake network always reports one person at the centre of its 320 px input.
    fakes.write_fake_model(model / 'model.onnx', fakes.anchor_table([(160, 160, 80, 80, 0, 0.9)], 3))
    data = tmp_path / 'data'
    for sub in ('images/val', 'labels/val'):
        (data / sub).mkdir(parents=True)
    Image.new('RGB', (320, 320)).save(data / 'images/val/a.png')
    (data / 'labels/val/a.txt').write_text('0 0.5 0.5 0.25 0.25\n')
    (data / 'data.yaml').write_text('train: images/val\nval: images/val\nnames: [person, vehicle, drone]\n')
    out = tmp_path / 'metrics.json'
    assert models_main(['evaluate', str(model), '--data', str(data), '--json', str(out)]) == 0
    assert 'det-a on' in capsys.readouterr().out
    assert json.loads(out.read_text())['metrics']['map50'] == pytest.approx(1.0)
    assert models_main(['evaluate', str(tmp_path), '--data', str(data)]) == 2
    assert 'not a model directory' in capsys.readouterr().err
    assert models_main(['evaluate', str(model), '--data', str(tmp_path / 'none')]) == 2
    assert 'no such dataset directory' in capsys.readouterr().err
    (data / 'data.yaml').write_text('train: images/val\nval: images/val\nnames: [cat, dog, drone]\n')
    assert models_main(['evaluate', str(model), '--data', str(data)]) == 2
    assert "differ from the model's" in capsys.readouterr().err
