"""Shared fixtures of the model lifecycle tests."""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')  # before anything imports mujoco

import importlib.util  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402

import pytest  # noqa: E402

from sentinel_models.paths import repo_root  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'train: trains a toy model with torch + ultralytics (the '
                            'train extra); runs in make test, deselect with -m "not train"')


@pytest.fixture(scope='session')
def worlds_dir() -> Path:
    root = repo_root()
    assert root is not None, 'tests run from the source checkout'
    return root / 'worlds'


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return f'sqlite:///{tmp_path}/registry.db'


def load_helper(name: str) -> ModuleType:
    """A module that sits next to the tests (no test folder is on sys.path in importlib mode)."""
    qualified = f'sentinel_models_test_{name}'
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, Path(__file__).with_name(f'{name}.py'))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def fakes() -> ModuleType:
    """Hand-built ONNX models with the YOLO layout (onnx_fakes.py)."""
    return load_helper('onnx_fakes')


@pytest.fixture(autouse=True)
def pillow_as_shipped():
    """Undo ultralytics' replacement of ``PIL.Image.open`` after each test.

    Importing ultralytics swaps Pillow's opener for one that tries to install
    a HEIF plugin on unreadable files; the whole suite runs in one process, so
    other packages' tests would otherwise meet that patch instead of Pillow.
    """
    from PIL import Image

    original = Image.open
    yield
    Image.open = original
