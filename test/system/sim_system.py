"""What the simulator system tests share: their own DDS domain and MAVLink ports, copies of the
shipped configuration that point at them, and node processes started as launch starts them.

Each system test runs the simulator and some of the nodes as separate processes, so that DDS,
MAVLink/UDP and process failures are real. Several such systems may run at once (other suites,
`make run`, a second test module in the same pytest process), so each picks a domain and a port
range of its own from its process id, and the nodes read copies of the site and safety files
that name those ports and keep their state in the test's temporary folder.

The test modules import this one by putting this folder on ``sys.path`` (pytest runs with
``--import-mode=importlib``, which does not do it for them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from sentinel_launch.shared_memory import remove_stale_shared_memory

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / 'config' / 'sites' / 'substation.yaml'
SAFETY = ROOT / 'config' / 'safety.yaml'
POLICY = ROOT / 'config' / 'response_policy.yaml'
WORLD = ROOT / 'worlds' / 'substation.sdf'

PORT_SLOTS = 40      # port ranges a test module chooses among
PORT_STRIDE = 20     # UDP ports per range: room for every autopilot of the site


# ---------------------------------------------------------------- domains and ports

def domain_id(base: int, span: int, shift: int = 0) -> int:
    """A DDS domain in ``base`` .. ``base + span - 1``, chosen by this process's id.

    Domain 0 is everyone's default; a domain of the test's own keeps other
    suites and a running system from cross-talking with it. Each test module
    has its own ``base`` and ``span``; ``shift`` separates two systems of one
    module that run in the same process.
    """
    return base + (os.getpid() + shift) % span


def port_offset(base: int, shift: int = 0) -> int:
    """How far to shift every autopilot's UDP port, chosen by this process's id.

    Keeps the autopilots' ports clear of `make run` and of the other simulator
    tests: each test module has its own ``base``, above which its ranges of
    PORT_STRIDE ports lie; ``shift`` separates two systems of one module.
    """
    return base + ((os.getpid() + shift) % PORT_SLOTS) * PORT_STRIDE


def node_env(domain: int) -> dict[str, str]:
    """This process's environment for a node on ``domain``, its output unbuffered so that a
    log read while it runs (or after a SIGKILL) holds everything it printed."""
    return dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1')


# ---------------------------------------------------------------- configuration copies

def write_yaml(path: Path, data: Any) -> Path:
    """``data`` as YAML at ``path``, keys in their given order (as the shipped files have them)."""
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding='utf-8')
    return path


def write_site(directory: Path, offset: int) -> Path:
    """The substation site with every MAVLink port shifted by ``offset`` and the world path made
    absolute, so that nodes reading the copy from ``directory`` talk to this test's autopilots
    and find the world wherever they run."""
    data = yaml.safe_load(SITE.read_text(encoding='utf-8'))
    data['site']['world'] = str(WORLD)
    for vehicle in data['vehicles']:
        scheme, host, port = vehicle['mavlink']['url'].rsplit(':', 2)
        vehicle['mavlink']['url'] = f'{scheme}:{host}:{int(port) + offset}'
    return write_yaml(directory / 'substation.yaml', data)


def write_safety(directory: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """config/safety.yaml with the latched e-stop state kept in ``directory``.

    The latch file is the test's own, so a run never inherits another's
    e-stop. The node roster is left as it is, but the grace for never-heard
    nodes is long: the nodes a test does not start (perception, the bridge)
    are not under test, and their absence must not hold the drones.
    ``change`` edits the data further, for what a test needs of its own.
    """
    data = yaml.safe_load(SAFETY.read_text(encoding='utf-8'))
    data['estop']['state_file'] = str(directory / 'safety_estop.json')
    data['heartbeats']['startup_grace'] = 600.0
    if change is not None:
        change(data)
    return write_yaml(directory / 'safety.yaml', data)


# ---------------------------------------------------------------- processes

@dataclass
class NodeProcesses:
    """The node processes of one run, by name, each logging to ``<logs>/<name>.log``."""

    # A process that exits with SIGKILL was killed by the test itself (a simulated crash) and
    # does not count as a node failing: only for tests that kill nodes on purpose.
    SIGKILL_EXPECTED: ClassVar[bool] = False

    logs: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict, kw_only=True)

    def start(self, name: str, module: str, params: dict[str, Any], namespace: str = '') -> None:
        """``python -m module --ros-args`` with ``params``, in ``namespace`` if one is given,
        as launch starts a node (launch gives the same names and namespaces); the first
        start clears DDS shared memory left by dead processes, as sentinel-launch does."""
        if not self.processes:
            remove_stale_shared_memory()
        args = [sys.executable, '-m', module, '--ros-args']
        if namespace:
            args += ['-r', f'__ns:={namespace}']
        for key, value in params.items():
            args += ['-p', f'{key}:={value}']
        with (self.logs / f'{name}.log').open('w', encoding='utf-8') as out:
            self.processes[name] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                                    text=True, env=self.env)

    def start_simulator(self, offset: int, namespace: str = '',
                        real_time_factor: float | None = None) -> None:
        """The simulator of the substation world, without rendering, its autopilots' ports
        shifted by ``offset``; at its default speed unless ``real_time_factor`` is given.

        The simulator checks the site's URLs against the world's autopilot
        ports, so it reads the repository's site file and shifts its ports
        itself; the other nodes read the copy written by write_site.
        """
        params: dict[str, Any] = {'world_file': WORLD, 'site_config': SITE,
                                  'render_cameras': 'false'}
        if real_time_factor is not None:
            params['real_time_factor'] = real_time_factor
        params['mavlink_port_offset'] = offset
        self.start('simulator', 'sentinel_sim.simulator_node', params, namespace)

    def log(self, name: str) -> str:
        """What the named node has written so far."""
        return (self.logs / f'{name}.log').read_text(encoding='utf-8', errors='replace')

    def alive(self) -> None:
        """Fail, with the end of its log, if a node has exited: a test waiting on a dead node
        would otherwise only time out, without saying why."""
        for name, process in self.processes.items():
            if process.poll() is None:
                continue
            if self.SIGKILL_EXPECTED and process.returncode == -signal.SIGKILL:
                continue
            raise AssertionError(f'{name} exited with {process.returncode}:\n'
                                 f'{self.log(name)[-4000:]}')

    def kill(self, name: str) -> None:
        """SIGKILL: no chance to say goodbye, as in a crash."""
        process = self.processes[name]
        process.kill()
        process.wait(timeout=10)

    def kill_all(self, timeout: float = 30.0) -> None:
        """SIGKILL every node still running and reap them all: nothing outlives the test."""
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            process.wait(timeout=timeout)

    def interrupt_all(self, timeout: float = 15.0) -> None:
        """SIGINT every node still running, as Ctrl-C would, so that each shuts down as it
        would in use; one that does not within ``timeout`` is killed."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
