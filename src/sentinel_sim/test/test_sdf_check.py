"""Every world passes the reference SDFormat parser, and the loader agrees with it.

tools/sdf_check.cc is compiled against the system's libsdformat (Debian:
libsdformat-dev) once and cached under build/sdf_check/. Missing headers or
compiler fail these tests on purpose: a world that Gazebo would refuse must
not pass CI unnoticed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sentinel_sim.world import Pose, World, load_world

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / 'tools' / 'sdf_check.cc'
BUILD_DIR = REPO / 'build' / 'sdf_check'
WORLD_FILES = sorted((REPO / 'worlds').glob('*.sdf'))
SETUP_HINT = ('the SDFormat checker needs g++, pkg-config and the SDFormat development files: '
              'run the project setup (make setup), which installs the Debian packages '
              'libsdformat-dev, g++ and pkg-config')


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False,
                          timeout=240, **kwargs)  # type: ignore[arg-type]


def sdformat_module() -> str:
    """The newest sdformatN pkg-config module installed."""
    if shutil.which('pkg-config') is None:
        pytest.fail(f'pkg-config not found; {SETUP_HINT}')
    listing = run(['pkg-config', '--list-all']).stdout
    modules = re.findall(r'^(sdformat(\d+))\s', listing, flags=re.MULTILINE)
    if not modules:
        pytest.fail(f'no sdformat pkg-config module found; {SETUP_HINT}')
    return max(modules, key=lambda m: int(m[1]))[0]


@pytest.fixture(scope='module')
def sdf_check() -> Path:
    """Path of the compiled checker, rebuilt when its source or flags change."""
    compiler = shutil.which('g++')
    if compiler is None:
        pytest.fail(f'g++ not found; {SETUP_HINT}')
    module = sdformat_module()
    flags = run(['pkg-config', '--cflags', '--libs', module])
    if flags.returncode != 0:
        pytest.fail(f'pkg-config {module} failed: {flags.stderr.strip()}; {SETUP_HINT}')
    version = run([compiler, '--version']).stdout
    key = hashlib.sha256(SOURCE.read_bytes() + flags.stdout.encode() + version.encode())
    binary = BUILD_DIR / f'sdf_check-{key.hexdigest()[:16]}'
    if not binary.exists():
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(f'.tmp{os.getpid()}')
        build = run([compiler, '-std=c++17', '-O1', '-Wall', '-Wextra', '-o', str(partial),
                     str(SOURCE), *flags.stdout.split()])
        if build.returncode != 0:
            pytest.fail(f'compiling {SOURCE} failed ({SETUP_HINT}):\n{build.stderr[-4000:]}')
        partial.replace(binary)
        for stale in BUILD_DIR.glob('sdf_check-*'):
            if stale != binary:
                stale.unlink(missing_ok=True)
    return binary


def test_worlds_exist() -> None:
    assert {p.stem for p in WORLD_FILES} >= {'substation', 'solar_farm'}


@pytest.mark.parametrize('world', WORLD_FILES, ids=lambda p: p.name)
def test_world_passes_sdformat(sdf_check: Path, world: Path) -> None:
    result = run([str(sdf_check), str(world)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('world ')


def test_checker_rejects_invalid_sdf(sdf_check: Path, tmp_path: Path) -> None:
    bad = tmp_path / 'bad.sdf'
    bad.write_text('<?xml version="1.0"?>\n<sdf version="1.9"><world name="w">\n'
                   '<model name="m"><link name="l"><visual name="v"><geometry>\n'
                   '<boxx><size>1 1 1</size></boxx></geometry></visual></link>\n'
                   '<vehicle kind="drone"/></model></world></sdf>\n')
    result = run([str(sdf_check), str(bad)])
    assert result.returncode == 1
    assert 'boxx' in result.stderr and 'vehicle' in result.stderr


def parse_summary(text: str) -> dict[str, dict[str, list[str]]]:
    summary: dict[str, dict[str, list[str]]] = {'model': {}, 'link': {}, 'sensor': {},
                                                 'actor': {}, 'light': {}}
    for line in text.splitlines():
        kind, name, *rest = line.split()
        if kind in summary:
            summary[kind][name] = rest
    return summary


def pose_of(values: list[str]) -> Pose:
    return Pose(*(float(v) for v in values))


def assert_same_pose(a: Pose, b: Pose, what: str) -> None:
    assert np.allclose(a.matrix(), b.matrix(), atol=2e-5), f'{what}: {a} != {b}'


@pytest.mark.parametrize('world_file', WORLD_FILES, ids=lambda p: p.name)
def test_loader_agrees_with_sdformat(sdf_check: Path, world_file: Path) -> None:
    result = run([str(sdf_check), str(world_file)])
    assert result.returncode == 0, result.stderr
    reference = parse_summary(result.stdout)
    world: World = load_world(world_file)

    models = {m.name: m for m in world.models} | {v.name: v.model for v in world.vehicles}
    assert set(models) == set(reference['model'])
    links = {}
    for model in models.values():
        assert_same_pose(model.pose, pose_of(reference['model'][model.name]), model.name)
        for link in model.links:
            links[f'{model.name}::{link.name}'] = model.pose @ link.pose
    assert set(links) == set(reference['link'])
    for name, pose in links.items():
        assert_same_pose(pose, pose_of(reference['link'][name]), name)

    cameras = {f'{c.parent}::{c.name}': c for c in world.cameras}
    reference_cameras = {k: v for k, v in reference['sensor'].items() if v[0] == 'camera'}
    assert set(cameras) == set(reference_cameras)
    for name, camera in cameras.items():
        assert_same_pose(camera.pose, pose_of(reference_cameras[name][1:]), name)

    assert {a.name: len(a.waypoints) for a in world.actors} == {
        name: int(values[0]) for name, values in reference['actor'].items()}
    assert {light.name for light in world.lights} == set(reference['light'])
