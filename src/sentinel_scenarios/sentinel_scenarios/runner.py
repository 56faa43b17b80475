"""One scenario run: the whole system from the launch file, the scenario's events, the report.

The system is started in two steps, both from the launch file: first every
node but the simulator (``use_sim:=false``), then, once they all heartbeat,
the simulator with the command line the same launch file gives it (plus the
scenario's seed). Simulated time starts at zero only then, so the world's
scripted actors move while perception, fusion, mission control and safety
are all up: on a loaded two-core machine the nodes take a minute or two to
start, longer than the first intruder takes to climb the fence.

Each run is hermetic: a copy of the configuration whose e-stop latch lives in
the run's own directory, its own SQLite database, recordings and logs, and
ports picked by the operating system for the HTTP and WebSocket servers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor

from sentinel_launch.description import ProcessSpec, load
from sentinel_scenarios.event_log import EventLog
from sentinel_scenarios.observer_node import ScenarioObserver
from sentinel_scenarios.processes import CpuMeter, kill_node
from sentinel_scenarios.report import RunInfo, render_report
from sentinel_scenarios.scenario import Event, EventKind, Scenario

# Name of the simulator's process in the launch file.
SIMULATOR = 'simulator'
# Wall seconds between CPU samples of the system's processes.
CPU_PERIOD = 2.0
# Wall seconds to wait for the simulation clock once the simulator is started.
CLOCK_TIMEOUT = 120.0
# Wall seconds the launcher and the simulator get to stop after SIGINT before SIGKILL.
STOP_TIMEOUT = 60.0
# Executor spin slice, wall seconds: the scheduling resolution of scenario events.
SPIN_SLICE = 0.05
# Wall seconds the observer's DDS teardown may take before the report is written without it.
DDS_RELEASE_TIMEOUT = 15.0


class RunError(RuntimeError):
    """The run could not take place (the simulation never started)."""


@dataclass(frozen=True)
class RunOptions:
    launch_file: Path
    config_dir: Path
    out: Path
    startup_timeout: float = 300.0     # wall s for every node to heartbeat
    wall_limit: float | None = None    # wall s for the simulated part; None: no limit


@dataclass
class _Run:
    scenario: Scenario
    options: RunOptions
    observer: ScenarioObserver
    executor: SingleThreadedExecutor
    roots: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cpu: CpuMeter = field(default_factory=CpuMeter)
    next_cpu: float = 0.0

    def spin(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.executor.spin_once(timeout_sec=SPIN_SLICE)
            if time.monotonic() >= self.next_cpu:
                self.next_cpu = time.monotonic() + CPU_PERIOD
                self.cpu.sample(self.roots)


def prepare_config(source: Path, target: Path, data_dir: Path) -> Path:
    """A copy of the configuration for one run: e-stop latch under ``data_dir``.

    Site files name their world relative to themselves; the copy names it
    absolutely so that it still resolves from the new place.
    """
    shutil.copytree(source, target, dirs_exist_ok=True)
    safety_file = target / 'safety.yaml'
    safety = yaml.safe_load(safety_file.read_text(encoding='utf-8'))
    safety['estop']['state_file'] = str(data_dir / 'safety_estop.json')
    safety_file.write_text(yaml.safe_dump(safety, sort_keys=False), encoding='utf-8')
    for site_file in (target / 'sites').glob('*.yaml'):
        site = yaml.safe_load(site_file.read_text(encoding='utf-8'))
        world = Path(site['site']['world'])
        if not world.is_absolute():
            site['site']['world'] = str(((source / 'sites') / world).resolve())
        site_file.write_text(yaml.safe_dump(site, sort_keys=False), encoding='utf-8')
    return target


def launch_arguments(scenario: Scenario, config_dir: Path, data_dir: Path) -> dict[str, str]:
    """The launch file's arguments for this run (the simulator's switch aside)."""
    return {
        'world': scenario.world, 'config_dir': str(config_dir), 'data_dir': str(data_dir),
        'db_url': f'sqlite:///{data_dir / "sentinel.db"}', 'api_port': '0', 'foxglove_port': '0',
        'real_time_factor': repr(scenario.real_time_factor),
        'camera_rate_scale': repr(scenario.camera_rate_scale), 'record': 'true',
    }


def node_names(specs: tuple[ProcessSpec, ...]) -> set[str]:
    return {f'{s.namespace.rstrip("/")}/{s.name}' for s in specs if s.kind == 'node'}


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open('wb') as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, then SIGKILL to the whole process group if it does not end in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _carry_out(run: _Run, event: Event, clear: bool = False) -> None:
    observer = run.observer
    if event.kind is EventKind.FAULT:
        observer.inject_fault(event, clear=clear)
    elif event.kind is EventKind.KILL_NODE:
        try:
            pid = kill_node(run.roots, event.target)
            observer.record(event, True, f'SIGKILL to pid {pid}', pid=pid)
        except (LookupError, ProcessLookupError) as error:
            observer.record(event, False, str(error))
    elif event.kind is EventKind.ESTOP:
        observer.trigger_estop(event)
    elif event.kind is EventKind.RELEASE_ESTOP:
        observer.release_estop(event)
    elif event.kind is EventKind.ALERT:
        observer.publish_alert(event)
    else:
        observer.record(event, True, event.note)


def _wait_for_nodes(run: _Run, expected: set[str], launcher: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + run.options.startup_timeout
    while time.monotonic() < deadline and not expected <= run.observer.nodes_beating():
        if launcher.poll() is not None:
            raise RunError(f'the launcher exited with {launcher.returncode}; see '
                           f'{run.options.out / "launch.log"}')
        run.spin(0.5)
    missing = sorted(expected - run.observer.nodes_beating())
    if missing:
        run.notes.append(f'started the simulation without heartbeats from {", ".join(missing)} '
                         f'after {run.options.startup_timeout:.0f} s')


def _simulate(run: _Run, simulator: subprocess.Popen[bytes]) -> None:
    observer, scenario = run.observer, run.scenario
    deadline = time.monotonic() + CLOCK_TIMEOUT
    while not observer.clock_seen:
        if simulator.poll() is not None or time.monotonic() > deadline:
            raise RunError(f'no simulation clock; see {run.options.out / "simulator.log"}')
        run.spin(0.2)
    pending = [(e.at, e, False) for e in scenario.events]
    pending += [(e.at + e.duration, e, True) for e in scenario.events if e.duration is not None]
    pending.sort(key=lambda item: item[0])
    limit = None if run.options.wall_limit is None else time.monotonic() + run.options.wall_limit
    while observer.sim_time < scenario.duration:
        while pending and pending[0][0] <= observer.sim_time:
            _, event, clear = pending.pop(0)
            _carry_out(run, event, clear)
        if simulator.poll() is not None:
            run.notes.append(f'the simulator exited with {simulator.returncode} at '
                             f'{observer.sim_time:.1f} s')
            break
        if limit is not None and time.monotonic() > limit:
            run.notes.append(f'stopped at {observer.sim_time:.1f} simulated s: wall-time limit '
                             f'of {run.options.wall_limit:.0f} s reached')
            break
        run.spin(SPIN_SLICE)
    run.notes += [f'not carried out (the run ended first): {event.label} at {at:g} s'
                  for at, event, clear in pending if not clear]
    run.spin(1.0)   # answers of the last service calls


def _release_dds(executor: SingleThreadedExecutor, observer: ScenarioObserver) -> bool:
    """Shut the observer's executor, node and rclpy context down; False if that hung.

    Fast DDS 3.2 can deadlock a participant whose peers vanish at once (its event
    thread, checking a peer's lease, waits for a lock that a receive thread holds
    while it waits for the event thread), and then every call into it blocks.
    The system is stopped by then and the log is in memory, so the teardown runs
    in a daemon thread with a deadline instead of holding the report hostage.
    """
    def release() -> None:
        executor.shutdown()
        observer.destroy_node()
        rclpy.try_shutdown()

    worker = threading.Thread(target=release, name='dds-release', daemon=True)
    worker.start()
    worker.join(DDS_RELEASE_TIMEOUT)
    return not worker.is_alive()


def run_scenario(scenario: Scenario, options: RunOptions) -> Path:
    """Start the system, play the scenario, stop the system, write the report; returns it."""
    out = options.out
    data_dir = out / 'data'
    data_dir.mkdir(parents=True, exist_ok=True)
    config_dir = prepare_config(options.config_dir, out / 'config', data_dir)
    arguments = launch_arguments(scenario, config_dir, data_dir)
    rest = load(options.launch_file, {**arguments, 'use_sim': 'false'})
    simulator_spec = next(s for s in load(options.launch_file, {**arguments, 'use_sim': 'true'})
                          .processes if s.name == SIMULATOR)
    simulator_spec = replace(simulator_spec,
                             cmd=(*simulator_spec.cmd, '-p', f'seed:={scenario.seed}'))
    log = EventLog()
    started = datetime.now(timezone.utc).isoformat(timespec='seconds')
    rclpy.init()
    observer = ScenarioObserver(log)
    executor = SingleThreadedExecutor()
    executor.add_node(observer)
    run = _Run(scenario, options, observer, executor)
    launcher = _start([sys.executable, '-m', 'sentinel_launch', str(options.launch_file),
                       *(f'{k}:={v}' for k, v in arguments.items()), 'use_sim:=false'],
                      dict(os.environ), out / 'launch.log')
    run.roots.append(launcher.pid)
    simulator: subprocess.Popen[bytes] | None = None
    sim_start = observer.wall
    try:
        _wait_for_nodes(run, node_names(rest.processes), launcher)
        sim_start = observer.wall
        run.cpu.start(run.roots)
        simulator = _start(list(simulator_spec.cmd), {**os.environ, **dict(simulator_spec.env)},
                           out / 'simulator.log')
        run.roots.append(simulator.pid)
        _simulate(run, simulator)
        run.cpu.sample(run.roots)
    finally:
        wall_duration = observer.wall - sim_start
        for process in (launcher, simulator):
            if process is not None:
                _stop(process)
        if not _release_dds(executor, observer):
            run.notes.append(f'the observer\'s DDS participant did not shut down within '
                             f'{DDS_RELEASE_TIMEOUT:.0f} s (Fast DDS deadlock after peers vanish, '
                             'docs/operations.md); the report was written regardless')
    for record in run.cpu.records():
        log.add(record)
    log.write(out / 'events.jsonl')
    recordings = tuple(str(p.relative_to(out)) for p in sorted(data_dir.rglob('*.mcap')))
    info = RunInfo(started=started, wall_duration=wall_duration, recordings=recordings,
                   notes=tuple(run.notes))
    (out / 'run.json').write_text(json.dumps(asdict(info), indent=1), encoding='utf-8')
    return render_report(log, scenario, info, out)
