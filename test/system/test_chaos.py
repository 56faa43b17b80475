"""Chaos: the whole system under process kills, a cut vehicle link and a database outage.

One start of the launch file (substation, embedded simulator, PostgreSQL as
the operations database) on a DDS domain of the test's own, observed from
outside by the scenario observer, in three acts:

1. Every respawning node but the operator API is SIGKILLed in turn; each must
   heartbeat again from a new process, and the safety watchdog must then
   count no node down (every main loop progressing again).
2. An airborne drone's MAVLink link is cut in the simulator; from ground truth
   it must reach a safe state (returning home, landing, or stopped on the ground)
   within LINK_SAFE_BOUND simulated seconds, and Sentinel must report the
   link lost. The bound is documented in docs/operations.md.
3. PostgreSQL is stopped; an operator engages the e-stop through the API
   (the one action allowed while the database is down) and the operator API
   itself is SIGKILLed; after the database returns, the e-stop's event and
   audit entry are stored exactly once, no alert state is stored twice, and
   the audit chain verifies.

A second test repeats a short scenario with DDS and MAVLink traffic delayed and
dropped by netem in a network namespace; it needs root, ``ip netns`` and the
kernel's netem qdisc, and is skipped with the reason when they are missing.

Both run in `make test`; `make chaos` runs this file alone.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import rclpy
from geometry_msgs.msg import Point
from rclpy.executors import SingleThreadedExecutor
from sentinel_msgs.msg import VehicleCommand
from sentinel_msgs.srv import CommandVehicle
from sqlalchemy import create_engine, text

from sentinel_scenarios.event_log import (AlertRecord, EntitySample, EventLog, SafetyRecord,
                                         VehicleRecord)
from sentinel_scenarios.metrics import link_cut_results, restart_results
from sentinel_scenarios.observer_node import ScenarioObserver
from sentinel_scenarios.processes import kill_node
from sentinel_scenarios.runner import prepare_config
from sentinel_scenarios.scenario import Event, EventKind, Fault

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / 'launch' / 'sentinel.launch.xml'
STARTUP_TIMEOUT = 240.0   # wall s: every node heartbeating on a loaded two-core machine
RESPAWN_TIMEOUT = 240.0   # wall s: every killed node back (they restart together)
WAIT = 120.0              # wall s: any other expected change
# Every node the launcher respawns, but the operator API (act 3 kills it during the outage).
KILLED = ('/perception/detector', '/perception/fusion', '/perception/drift_monitor',
          '/control/mission_control', '/control/vehicle_interface', '/safety/safety_watchdog',
          '/bridge/foxglove_bridge')
KILL_SPACING = 2.0        # wall s between two kills
# Simulated seconds from a cut link to a safe state: the autopilot's GCS-loss failsafe
# (FS_GCS_TIMEOUT 5 s) plus the climb to RTL_ALT (15 m) and the first 5 m towards home.
LINK_SAFE_BOUND = 15.0
AIRBORNE_HEIGHT = 8.0     # m (box centre) above which a drone counts as airborne
AWAY_FROM_HOME = 10.0     # m from its first ground-truth position before its link is cut
FLIGHT_HEIGHT = 15.0      # m: where a drone taken off by this test flies
DRONES = ('drone_1', 'drone_2', 'drone_3')
# A supervisor named in config/safety.yaml's authorization.estop_engage (the watchdog checks it).
ACCOUNT = ('shift_supervisor', 'chaos-test-password-1')
OUTAGE_HOLD = 8.0         # wall s the database stays down after the operator API was killed
DELIVERY = 2.0            # wall s for a message to reach every subscriber on a loaded machine
NETEM = 'delay 20ms 5ms loss 2%'


def domain_id() -> int:
    """A DDS domain of this test's own, clear of the other system tests' ranges."""
    return 180 + os.getpid() % 50


def _bridge_test_support() -> ModuleType:
    """The operator API tests' PostgreSQL helper (initdb + pg_ctl on a free port), reused."""
    path = ROOT / 'src' / 'sentinel_bridge' / 'test' / 'conftest.py'
    spec = importlib.util.spec_from_file_location('sentinel_bridge_test_support', path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module    # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- the system

@dataclass
class System:
    launcher: subprocess.Popen[bytes]
    log_file: Path
    database: Any           # the bridge tests' PostgresServer
    db_url: str
    observer: ScenarioObserver
    executor: SingleThreadedExecutor

    @property
    def log(self) -> EventLog:
        return self.observer.log

    def spin_until(self, done: Callable[[], bool], what: str, timeout: float = WAIT,
                   detail: Callable[[], object] = lambda: '') -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.launcher.poll() is not None:
                raise AssertionError(f'the launcher exited: {self.tail()}')
            assert time.monotonic() < deadline, f'not within {timeout:.0f} s: {what} {detail()}'
            self.executor.spin_once(timeout_sec=0.05)

    def pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        self.spin_until(lambda: time.monotonic() >= until, 'a pause', seconds + 5.0)

    def tail(self) -> str:
        return self.log_file.read_text(encoding='utf-8', errors='replace')[-4000:]

    def api_url(self) -> str:
        """The operator API's address, as its newest process logged it (port 0: a free one)."""
        ports = re.findall(r'operator API listening on (http://[\d.]+:\d+)',
                           self.log_file.read_text(encoding='utf-8', errors='replace'))
        assert ports, f'the operator API never listened: {self.tail()}'
        return ports[-1]


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[System]:
    support = _bridge_test_support()
    database = support.PostgresServer(support._pg_bin())
    launcher: subprocess.Popen[bytes] | None = None
    observer: ScenarioObserver | None = None
    executor: SingleThreadedExecutor | None = None
    try:
        db_url = database.create_database()
        subprocess.run([sys.executable, '-m', 'sentinel_bridge.users_cli', '--db-url', db_url,
                        'add', ACCOUNT[0], '--role', 'supervisor'], input=ACCOUNT[1] + '\n',
                       text=True, check=True, capture_output=True, timeout=120)
        data_dir = tmp_path / 'data'
        data_dir.mkdir()
        config = prepare_config(ROOT / 'config', tmp_path / 'config', data_dir)
        monkeypatch.setenv('ROS_DOMAIN_ID', str(domain_id()))
        log_file = tmp_path / 'launch.log'
        with log_file.open('wb') as out:
            launcher = subprocess.Popen(
                [sys.executable, '-m', 'sentinel_launch', str(LAUNCH_FILE), 'world:=substation',
                 f'config_dir:={config}', f'data_dir:={data_dir}', f'db_url:={db_url}',
                 'api_port:=0', 'foxglove_port:=0', 'record:=false', 'camera_rate_scale:=0.1'],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        rclpy.init()
        observer = ScenarioObserver(EventLog())
        executor = SingleThreadedExecutor()
        executor.add_node(observer)
        yield System(launcher, log_file, database, db_url, observer, executor)
    finally:
        if launcher is not None and launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            try:
                launcher.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
                launcher.wait()
        if executor is not None:
            executor.shutdown()
        if observer is not None:
            observer.log.write(tmp_path / 'events.jsonl')   # for the post-mortem of a failure
            observer.destroy_node()
        rclpy.try_shutdown()
        database.destroy()


# ---------------------------------------------------------------- the acts

def _kill(system: System, node: str) -> None:
    pid = kill_node([system.launcher.pid], node)
    system.observer.record(Event(system.observer.sim_time, EventKind.KILL_NODE, target=node),
                           True, f'SIGKILL to pid {pid}', pid=pid)


def act_kill_every_node(system: System) -> None:
    for node in KILLED:
        _kill(system, node)
        system.pause(KILL_SPACING)
    def missing() -> list[str]:
        return [r.node for r in restart_results(system.log) if r.back_after is None]
    system.spin_until(lambda: not missing(), 'every killed node heartbeating from a new process',
                      RESPAWN_TIMEOUT, detail=missing)
    back = max(r.killed_at for r in restart_results(system.log))

    def nobody_down() -> bool:
        return any(s.t >= back and not s.degraded for s in system.log.of(SafetyRecord))
    system.spin_until(nobody_down, 'the watchdog counting every node alive again')


def _airborne_away(system: System) -> str | None:
    for drone in DRONES:
        samples = [s for s in system.log.of(EntitySample) if s.entity == drone]
        if samples and samples[-1].z > AIRBORNE_HEIGHT and math.hypot(
                samples[-1].x - samples[0].x, samples[-1].y - samples[0].y) > AWAY_FROM_HOME:
            return drone
    return None


def _propose(client: Any, vehicle: str, kind: int, target: EntitySample, north: float) -> Any:
    command = VehicleCommand(command_id=f'chaos-{uuid.uuid4().hex[:8]}', vehicle_id=vehicle,
                             command=kind, speed_limit=5.0, issued_by='operator',
                             target=Point(x=target.x, y=target.y + north, z=FLIGHT_HEIGHT))
    return client.call_async(CommandVehicle.Request(command=command))


def _accepted(future: Any | None) -> bool:
    return future is not None and future.done() and \
        future.result().error_code == CommandVehicle.Response.ERROR_NONE


def act_cut_a_flying_drone_link(system: System) -> None:
    """Cut the link of a drone in flight: mission control's patrol drone, or one sent up here.

    The gate refuses motion until it has heard healthy state, and for separation from
    other vehicles' paths; a refused takeoff is tried again with the next drone, and a
    refused hop north of the pad is tried again.
    """
    client: Any = system.observer.create_client(CommandVehicle, '/safety/command_vehicle')
    candidates = itertools.cycle(DRONES)
    drone = next(candidates)
    takeoff = hop = None
    refusals: list[str] = []
    deadline = time.monotonic() + WAIT
    while _airborne_away(system) is None:
        samples = [s for s in system.log.of(EntitySample) if s.entity == drone]
        assert time.monotonic() < deadline, \
            f'no drone flew away from its pad: {refusals[-6:]}, {drone} at {samples[-1:]}'
        if client.service_is_ready() and samples:
            if takeoff is None:
                takeoff = _propose(client, drone, VehicleCommand.COMMAND_TAKEOFF, samples[0], 0.0)
            elif takeoff.done() and not _accepted(takeoff):
                refusals.append(f'{drone}: {takeoff.result().command.verdict.reasons}')
                drone, takeoff = next(candidates), None
            elif _accepted(takeoff) and samples[-1].z > AIRBORNE_HEIGHT and (
                    hop is None or (hop.done() and not _accepted(hop))):
                if hop is not None:
                    refusals.append(f'{drone} hop: {hop.result().command.verdict.reasons}')
                hop = _propose(client, drone, VehicleCommand.COMMAND_GOTO, samples[0], 25.0)
        system.pause(3.0)
    drone = _airborne_away(system)
    assert drone is not None
    cut = Event(system.observer.sim_time, EventKind.FAULT, fault=Fault.LINK_CUT, target=drone)
    system.observer.inject_fault(cut)
    system.spin_until(lambda: bool(link_cut_results(system.log)), 'the link cut answered')
    cut_at = link_cut_results(system.log)[0].cut_at
    system.spin_until(lambda: system.observer.sim_time > cut_at + LINK_SAFE_BOUND + 5.0,
                      f'{LINK_SAFE_BOUND + 5.0:.0f} simulated s after the cut')
    [result] = link_cut_results(system.log)
    assert result.safe is not None and result.safe <= LINK_SAFE_BOUND, \
        f'{drone} not safe within {LINK_SAFE_BOUND} s of its link cut: {result}'
    states = [(round(v.t, 1), v.link) for v in system.log.of(VehicleRecord)
              if v.vehicle == drone and v.t >= cut_at - 5.0]
    assert result.reported_lost is not None, \
        f'Sentinel never reported {drone} link lost; its states from 5 s before the cut ' \
        f'(sim s, link): {states[:3]} ... {states[-3:]} of {len(states)}'
    system.observer.inject_fault(cut, clear=True)


def _rows(db_url: str, query: str, **params: Any) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query), params))
    finally:
        engine.dispose()


def act_database_outage(system: System) -> None:
    reason = f'chaos drill {uuid.uuid4().hex[:8]}'
    with httpx.Client(base_url=system.api_url(), timeout=30.0) as api:
        login = api.post('/auth/token', data={'username': ACCOUNT[0], 'password': ACCOUNT[1]})
        assert login.status_code == 200, login.text
        token = {'Authorization': f'Bearer {login.json()["access_token"]}'}
        outage_start = system.observer.wall
        system.database.stop()
        try:
            refused = api.get('/alerts', headers=token)
            assert refused.status_code == 503, refused.text
            engaged = api.post('/estop', headers=token, json={'reason': reason})
            assert engaged.status_code == 200 and engaged.json()['engaged'], engaged.text
            system.pause(DELIVERY)
            killed_at = system.observer.wall
            _kill(system, '/bridge/operator_api')
            system.pause(OUTAGE_HOLD)
        finally:
            system.database.start()

    def stored() -> bool:
        return bool(_rows(system.db_url, "SELECT 1 FROM audit_entries WHERE action = "
                                         "'engage_estop' AND detail_json LIKE :r", r=f'%{reason}%'))
    system.spin_until(stored, 'the e-stop audit entry stored after the outage', RESPAWN_TIMEOUT)
    system.pause(10.0)   # anything replayed twice would land by now
    audits = _rows(system.db_url, "SELECT event_key FROM audit_entries WHERE action = "
                                  "'engage_estop' AND detail_json LIKE :r", r=f'%{reason}%')
    events = _rows(system.db_url, "SELECT id FROM estop_events WHERE kind = 'engage' AND "
                                  "reason = :r", r=reason)
    assert (len(audits), len(events)) == (1, 1), (audits, events)
    twice = _rows(system.db_url, 'SELECT alert_id, state, changed_at, COUNT(*) FROM '
                                 'alert_state_history GROUP BY alert_id, state, changed_at '
                                 'HAVING COUNT(*) > 1')
    assert not twice, f'alert states stored twice: {twice}'
    # Alerts raised while the database was down, and heard before the API was killed, were
    # queued and journaled: they must be stored now.
    queued = {a.alert_id for a in system.log.of(AlertRecord)
              if outage_start <= a.wall <= killed_at - DELIVERY}
    stored_alerts = {row[0] for row in _rows(system.db_url, 'SELECT alert_id FROM alerts')}
    assert queued <= stored_alerts, f'lost in the outage: {sorted(queued - stored_alerts)}'
    with httpx.Client(base_url=system.api_url(), timeout=30.0) as api:
        login = api.post('/auth/token', data={'username': ACCOUNT[0], 'password': ACCOUNT[1]})
        verify = api.get('/audit/verify',
                         headers={'Authorization': f'Bearer {login.json()["access_token"]}'})
        assert verify.status_code == 200 and verify.json()['ok'], verify.text


@pytest.mark.timeout(1500)
def test_the_system_survives_kills_a_cut_link_and_a_database_outage(system: System) -> None:
    expected = {'/sim/simulator', '/bridge/operator_api', *KILLED}
    system.spin_until(lambda: expected <= system.observer.nodes_beating(),
                      'every node heartbeating', STARTUP_TIMEOUT)
    act_kill_every_node(system)
    act_cut_a_flying_drone_link(system)
    act_database_outage(system)


# ---------------------------------------------------------------- netem

def _netem_unavailable() -> str | None:
    """Why netem in a network namespace cannot be used here, or None if it can."""
    if os.geteuid() != 0:
        return 'needs root (network namespaces and qdiscs)'
    if shutil.which('ip') is None or shutil.which('tc') is None:
        return 'needs iproute2 (ip, tc)'
    probe = f'sentinel-probe-{os.getpid()}'
    steps = [['ip', 'netns', 'add', probe], ['ip', 'netns', 'exec', probe, 'ip', 'link', 'set',
                                              'lo', 'up'],
             ['ip', 'netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem',
              *NETEM.split()]]
    try:
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                return f'`{" ".join(step)}` failed: {result.stderr.strip()}'
        return None
    finally:
        subprocess.run(['ip', 'netns', 'del', probe], capture_output=True, check=False)


@pytest.mark.timeout(900)
def test_a_scenario_under_delayed_and_dropped_traffic(tmp_path: Path) -> None:
    """The smoke scenario inside a namespace whose loopback delays and drops packets.

    Every process (the system and the observing demo) shares the namespace, so
    DDS discovery (UDP multicast) and every MAVLink UDP packet pass the netem
    queue; DDS data between processes goes over shared memory and does not.
    """
    reason = _netem_unavailable()
    if reason is not None:
        print(f'netem chaos skipped: {reason}')
        pytest.skip(f'netem in a network namespace is not available: {reason}')
    namespace = f'sentinel-chaos-{os.getpid()}'
    subprocess.run(['ip', 'netns', 'add', namespace], check=True)
    try:
        inside = ['ip', 'netns', 'exec', namespace]
        subprocess.run([*inside, 'ip', 'link', 'set', 'lo', 'up'], check=True)
        subprocess.run([*inside, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem',
                        *NETEM.split()], check=True)
        out = tmp_path / 'run'
        result = subprocess.run(
            [*inside, sys.executable, '-m', 'sentinel_scenarios',
             str(ROOT / 'scenarios' / 'substation_smoke.yaml'), '--out', str(out),
             '--camera-rate-scale', '0.1'],
            env=dict(os.environ, ROS_DOMAIN_ID=str(domain_id())), capture_output=True,
            text=True, timeout=840, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        log = EventLog.read(out / 'events.jsonl')
        assert all(r.back_after is not None for r in restart_results(log))
        assert any(s.estop for s in log.of(SafetyRecord)), 'the e-stop never got through'
    finally:
        subprocess.run(['ip', 'netns', 'del', namespace], capture_output=True, check=False)
