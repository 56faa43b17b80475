"""Fixtures shared by the launcher tests: a fake install prefix and launch file writer."""

import os
import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    """A fake colcon install prefix with two node executables and a package share."""
    root = tmp_path / 'install'
    for executable in ('talker', 'listener'):
        path = root / 'lib' / 'fake_pkg' / executable
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('#!/bin/sh\nexit 0\n')
        path.chmod(0o755)
    (root / 'share' / 'fake_pkg' / 'launch').mkdir(parents=True)
    return root


@pytest.fixture
def environ(prefix: Path) -> dict[str, str]:
    """A small, fixed environment so results do not depend on the caller's shell."""
    return {'AMENT_PREFIX_PATH': str(prefix), 'PATH': os.environ.get('PATH', os.defpath),
            'HOME': '/home/op'}


@pytest.fixture
def write(tmp_path: Path):
    """Write a launch file; its first line is the first non-empty line of ``body``."""
    def write(name: str, body: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body).lstrip('\n'))
        return path
    return write
