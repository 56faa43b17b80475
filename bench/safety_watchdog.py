#!/usr/bin/env python3
"""Benchmark of the safety watchdog's monitor and gate: dead-node detection and gate throughput.

Why: a dead mission control must be noticed quickly for the degraded-mode
hold to mean anything, and every motion command of the fleet passes the gate.
Each figure is printed with a baseline measured in the same run:

1. Dead-node detection. The watchdog runs as its own process, watching one node
   that this script plays: it beats every 50 ms, then falls silent. Measured
   from the last heartbeat sent until a SafetyStatus listing the node as down
   arrives, for the shipped lease of mission control and the vehicle interface
   (1.0 s, monitoring period 0.1 s) and for the shortest lease the loader
   accepts (0.2 s, period 0.02 s). The overshoot past the lease is set against
   the baseline: one heartbeat's trip from this script's publisher to its own
   subscriber over DDS. Goal: with the 0.2 s lease, found within 250 ms.
2. Gate throughput, commands judged per second. In process: ``Watchdog.check_command``
   on a GOTO in the substation (every check, five vehicles, separation against
   the other four), against the bare geofence path check of the same leg.
   Over ROS: sequential ``/safety/command_vehicle`` calls to the watchdog
   process, against a CommandVehicle server of the same type that answers at
   once (its own process too).

Run: ``.venv/bin/python bench/safety_watchdog.py [--trials N]`` (about 1 min 30 s on a
2-core machine; it prints the load average, since other processes on the CPUs
slow every figure).
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rclpy
import yaml
from geometry_msgs.msg import Point
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sentinel_common.qos import HEARTBEAT_QOS, LATCHED_QOS, SENSOR_QOS
from sentinel_msgs.msg import NodeHeartbeat, SafetyStatus, VehicleCommand, VehicleState
from sentinel_msgs.srv import CommandVehicle

from sentinel_safety import geofence
from sentinel_safety.config import load_safety_config
from sentinel_safety.domain import (Command, CommandKind, GpsFix, LinkState, Vec3, VehicleSnapshot,
                                    VehicleType)
from sentinel_safety.estop import EstopState
from sentinel_safety.site import bind, load_site
from sentinel_safety.watchdog import Watchdog

ROOT = Path(__file__).resolve().parents[1]   # the repository
SAFETY_YAML = ROOT / 'config' / 'safety.yaml'
SITE_YAML = ROOT / 'config' / 'sites' / 'substation.yaml'
WORLD_SDF = ROOT / 'worlds' / 'substation.sdf'
BENCH_DOMAIN = 87          # ROS_DOMAIN_IDs of this run start here, apart from the default
STARTUP_TIMEOUT = 60.0     # s for a process to offer its services (loaded machine)
WAIT = 10.0                # s, longest wait for one event
BEAT_PERIOD = 0.05         # s between the played node's heartbeats
NODE_NAME = '/bench/played_node'
LEASES = (1.0, 0.2)        # s: shipped lease of the critical nodes, shortest accepted lease
QUIET_GRACE = 600.0        # s: start-up graces longer than the run
GATE_SECONDS = 2.0         # s of calls per in-process throughput figure
DRONE = 'drone_1'
TARGET = Vec3(-60.0, 40.0, 15.0)   # 60 m north of drone_1's pad, clear of every zone
ALTITUDE = 15.0            # m: the vehicles hover over their pads

# A CommandVehicle server that approves at once: the service baseline, in its own process.
NOOP_SERVER = '''
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sentinel_msgs.srv import CommandVehicle
def answer(request, response):
    response.command = request.command
    return response
rclpy.init()
node = Node('noop_gate')
node.create_service(CommandVehicle, '/safety/command_vehicle', answer)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
'''


def _stats(values: list[float]) -> tuple[float, float]:
    """(p50, p99): the median, and the ceil(0.99 n)-th smallest value."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[math.ceil(0.99 * len(ordered)) - 1]


class Dummies:
    """UDP sockets held open as the vehicles' MAVLink ports, so the watchdog's path talks to
    nobody else's autopilot on this machine."""

    def __init__(self, count: int) -> None:
        self.sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
        for sock in self.sockets:
            sock.bind(('127.0.0.1', 0))

    def site(self, directory: Path) -> Path:
        """The substation site with its vehicles' MAVLink URLs on these sockets."""
        data = yaml.safe_load(SITE_YAML.read_text(encoding='utf-8'))
        data['site']['world'] = str(WORLD_SDF)
        for vehicle, sock in zip(data['vehicles'], self.sockets, strict=True):
            vehicle['mavlink']['url'] = f'udpout:127.0.0.1:{sock.getsockname()[1]}'
        path = directory / 'bench_site.yaml'
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding='utf-8')
        return path

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def _safety(directory: Path, lease: float | None) -> Path:
    """The shipped config, quiet about silent vehicles; with ``lease``, watching only the
    node this script plays, at the fastest monitoring period the loader allows."""
    data = yaml.safe_load(SAFETY_YAML.read_text(encoding='utf-8'))
    data['estop']['state_file'] = str(directory / 'estop.json')
    data['monitoring']['startup_grace'] = QUIET_GRACE
    data['heartbeats']['startup_grace'] = QUIET_GRACE
    if lease is not None:
        data['heartbeats']['nodes'] = [{'name': NODE_NAME, 'role': 'other', 'lease': lease,
                                        'main_loop': True}]
        data['monitoring']['period'] = round(0.1 * lease, 6)
    path = directory / f'safety_{lease}.yaml'
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding='utf-8')
    return path


@contextmanager
def process(args: list[str], domain: int) -> Iterator[None]:
    child = subprocess.Popen([sys.executable, *args], env=dict(os.environ,
                                                               ROS_DOMAIN_ID=str(domain)))
    try:
        yield
    finally:
        child.terminate()
        child.wait(timeout=10.0)


def watchdog_args(site: Path, safety: Path) -> list[str]:
    return ['-m', 'sentinel_safety.safety_watchdog_node', '--ros-args', '-p',
            f'site_config:={site}', '-p', f'safety_config:={safety}', '--log-level', 'error']


class Bench:
    """This script's ROS side on a context of its own: the played node, status, a gate client."""

    def __init__(self, domain: int) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node('played_node', namespace='/bench', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.beats = self.node.create_publisher(NodeHeartbeat, '/heartbeats', HEARTBEAT_QOS)
        self.pings = self.node.create_publisher(NodeHeartbeat, '/bench/ping', HEARTBEAT_QOS)
        self.pinged: list[float] = []
        self.node.create_subscription(NodeHeartbeat, '/bench/ping',
                                      lambda _: self.pinged.append(time.perf_counter()),
                                      HEARTBEAT_QOS)
        self.down: bool | None = None   # whether the last status listed the played node
        self.down_at = 0.0
        every_status = QoSProfile(history=LATCHED_QOS.history, depth=100,
                                  reliability=LATCHED_QOS.reliability,
                                  durability=LATCHED_QOS.durability)
        self.node.create_subscription(SafetyStatus, '/safety/status', self._on_status,
                                      every_status)
        self.states = self.node.create_publisher(VehicleState, f'/vehicles/{DRONE}/state',
                                                 SENSOR_QOS)
        self.gate: Any = self.node.create_client(CommandVehicle, '/safety/command_vehicle')
        self._sequence = 0

    def _on_status(self, status: SafetyStatus) -> None:
        down = NODE_NAME in status.degraded_nodes
        if down and not self.down:
            self.down_at = time.perf_counter()
        self.down = down

    def beat(self) -> float:
        self._sequence += 1
        self.beats.publish(NodeHeartbeat(node_name=NODE_NAME, pid=os.getpid(),
                                         sequence=self._sequence, progress_counter=self._sequence,
                                         health=NodeHeartbeat.HEALTH_OK))
        return time.perf_counter()

    def spin_until(self, done: Callable[[], bool], timeout: float, what: str,
                   every: Callable[[], None] | None = None) -> None:
        """Spin until ``done``; ``every`` is called each BEAT_PERIOD meanwhile."""
        end = time.monotonic() + timeout
        due = 0.0
        while not done():
            if time.monotonic() > end:
                raise RuntimeError(f'timed out waiting for {what}')
            if every is not None and time.monotonic() >= due:
                every()
                due = time.monotonic() + BEAT_PERIOD
            self.executor.spin_once(timeout_sec=0.001)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def detection(bench: Bench, trials: int) -> list[float]:
    """Seconds from the last heartbeat until a status says the node is down."""
    out = []
    for _ in range(trials):
        bench.spin_until(lambda: bench.down is False, STARTUP_TIMEOUT, 'the node seen alive',
                         every=bench.beat)
        settle = time.monotonic() + 0.3   # a few beats more: the lease restarts cleanly
        bench.spin_until(lambda: time.monotonic() >= settle, 2.0, 'beating', every=bench.beat)
        last = bench.beat()
        bench.spin_until(lambda: bool(bench.down), WAIT, 'the node reported down')
        out.append(bench.down_at - last)
    return out


def dds_hop(bench: Bench, trials: int) -> list[float]:
    """Seconds for one heartbeat from this script's publisher to its own subscriber."""
    out = []
    for _ in range(trials):
        seen = len(bench.pinged)
        start = time.perf_counter()
        bench.pings.publish(NodeHeartbeat(node_name='/bench/ping'))
        bench.spin_until(lambda: len(bench.pinged) > seen, WAIT, 'the ping')
        out.append(bench.pinged[seen] - start)
    return out


def _snapshot(vehicle_id: str, kind: VehicleType, home: Vec3, now: float) -> VehicleSnapshot:
    height = ALTITUDE if kind is VehicleType.DRONE else 0.0
    return VehicleSnapshot(vehicle_id, kind, True, 'GUIDED', Vec3(home.x, home.y, height),
                           Vec3(0.0, 0.0, 0.0), 0.9, LinkState.OK, GpsFix.FIX_3D, False, now)


def _per_second(call: Callable[[], object]) -> float:
    calls = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < GATE_SECONDS:
        call()
        calls += 1
    return calls / elapsed


def gate_in_process() -> tuple[float, float]:
    """(bare geofence checks/s of the leg, full gate checks/s of the GOTO)."""
    config = load_safety_config(SAFETY_YAML)
    site = load_site(SITE_YAML)
    bind(config, site)
    dog = Watchdog(config, site, EstopState(), time.monotonic())
    for vid, info in site.vehicles.items():
        dog.on_vehicle_state(_snapshot(vid, info.vehicle_type, info.home, time.monotonic()))
    command = Command('bench', DRONE, CommandKind.GOTO, TARGET, (), 5.0, '', 'operator')
    outcome = dog.check_command(command, time.monotonic(), None)
    assert not outcome.verdict.checks_failed, outcome.verdict.reasons
    limits = config.vehicle_types[VehicleType.DRONE]
    inclusions, exclusions = site.fence_zones(limits.zone_kinds, None)
    home = site.vehicles[DRONE].home
    start = Vec3(home.x, home.y, ALTITUDE)
    margins = geofence.Margins(10.0, 5.0, limits.vertical_uncertainty, True)
    bare = _per_second(lambda: geofence.check_path(start, TARGET, inclusions, exclusions,
                                                   margins))
    full = _per_second(lambda: dog.check_command(command, time.monotonic(), None))
    return bare, full


def gate_calls(bench: Bench, calls: int, feed_state: bool) -> float:
    """Sequential CommandVehicle calls per second (each waits for its answer)."""
    bench.spin_until(bench.gate.service_is_ready, STARTUP_TIMEOUT, 'the gate service')
    home = load_site(SITE_YAML).vehicles[DRONE].home
    state = VehicleState(vehicle_id=DRONE, vehicle_type=VehicleState.TYPE_DRONE, armed=True,
                         mode='GUIDED', position=Point(x=home.x, y=home.y, z=ALTITUDE),
                         battery_remaining=0.9, gps_fix=VehicleState.GPS_3D)
    request = CommandVehicle.Request(command=VehicleCommand(
        command_id='bench', vehicle_id=DRONE, command=VehicleCommand.COMMAND_GOTO,
        target=Point(x=TARGET.x, y=TARGET.y, z=TARGET.z), speed_limit=5.0, issued_by='operator'))
    last_state = 0.0

    def call() -> Any:
        nonlocal last_state
        if feed_state and time.monotonic() - last_state > 0.1:   # a vehicle interface's rate
            bench.states.publish(state)
            last_state = time.monotonic()
        future = bench.gate.call_async(request)
        bench.spin_until(future.done, WAIT, 'a gate answer')
        return future.result()

    for _ in range(20):   # until the watchdog has a fresh state and approves
        if call().error_code == CommandVehicle.Response.ERROR_NONE:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError('the gate never approved the benchmark GOTO')
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return calls / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--trials', type=int, default=20,
                        help='detections per lease (default 20); gate calls are 10x this')
    args = parser.parse_args()
    if args.trials < 1:
        parser.error('--trials must be >= 1')
    print(f'load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.trials} trials')
    rows: list[str] = []
    dummies = Dummies(len(load_site(SITE_YAML).vehicles))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            site = dummies.site(Path(tmp))
            for index, lease in enumerate(LEASES):
                domain = BENCH_DOMAIN + index
                bench = Bench(domain)
                try:
                    with process(watchdog_args(site, _safety(Path(tmp), lease)), domain):
                        found = detection(bench, args.trials)
                    hop = dds_hop(bench, args.trials)
                finally:
                    bench.close()
                (hop50, hop99), (d50, d99) = _stats(hop), _stats(found)
                rows.append(f'{"baseline: one heartbeat over DDS, publisher to subscriber":66s} '
                            f'{hop50 * 1e3:10.2f} {hop99 * 1e3:10.2f} {1.0:11.2f}')
                rows.append(f'{f"lease {lease:g} s: last heartbeat -> status lists it down":66s} '
                            f'{d50 * 1e3:10.2f} {d99 * 1e3:10.2f} {d50 / hop50:11.2f}')
                rows.append(f'{f"lease {lease:g} s: the same, past the lease":66s} '
                            f'{(d50 - lease) * 1e3:10.2f} {(d99 - lease) * 1e3:10.2f} '
                            f'{(d50 - lease) / hop50:11.2f}')
            bare, full = gate_in_process()
            domain = BENCH_DOMAIN + len(LEASES)
            bench = Bench(domain)
            try:
                with process(['-c', NOOP_SERVER], domain):
                    noop = gate_calls(bench, 10 * args.trials, feed_state=False)
            finally:
                bench.close()
            domain += 1
            bench = Bench(domain)
            try:
                with process(watchdog_args(site, _safety(Path(tmp), None)), domain):
                    served = gate_calls(bench, 10 * args.trials, feed_state=True)
            finally:
                bench.close()
    finally:
        dummies.close()
    print(f'{"dead-node detection":66s} {"p50 ms":>10s} {"p99 ms":>10s} {"p50 x base":>11s}')
    print('\n'.join(rows))
    print(f'{"gate throughput":66s} {"per s":>10s} {"":>10s} {"x base":>11s}')
    for label, value, base in (
            ('baseline: bare geofence check of the leg, in process', bare, bare),
            ('Watchdog.check_command (every check, 5 vehicles), in process', full, bare),
            ('baseline: CommandVehicle server answering at once, sequential calls', noop, noop),
            ('/safety/command_vehicle of the watchdog process, sequential calls', served, noop)):
        print(f'{label:66s} {value:10.0f} {"":>10s} {value / base:11.2f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
