#!/usr/bin/env python3
"""Benchmark of the emergency stop: service call to stop command at the vehicles.

Why: the e-stop is the one path whose speed is a safety figure. The safety
watchdog runs as its own process, as launch starts it, with no vehicle
interface. Two parts, each against a baseline measured in the same run:

1. One emulated ArduCopter (the simulator's autopilot on its UDP hub, over a
   kinematic stand-in). Over N trials, from the moment ``/safety/trigger_estop``
   is called: until the autopilot sends the COMMAND_ACK accepting the stop mode
   sent over the watchdog's own MAVLink path; until the stop arrives as a
   VehicleCommand on ``/safety/approved_commands`` (what a vehicle interface
   would execute); until the service response arrives. Baseline: a direct
   pymavlink DO_SET_MODE round trip (command out, COMMAND_ACK back), no ROS.
2. Fleets of 1, 10 and 50 vehicles whose autopilot ports are plain UDP
   receivers. From the service call until the stop command has arrived at the
   first and at every vehicle's port. Baseline: this script sending the same
   COMMAND_LONG to every port itself with pymavlink, no ROS.

Prints p50 and p99 of each (p99 of N trials is the ceil(0.99 N)-th smallest) and
the ratio of the p50 against the baseline's. Goal: e-stop p99 < 20 ms to every
vehicle of a 10-vehicle fleet.

Run: ``.venv/bin/python bench/estop_latency.py [--trials N] [--fleets 1,10,50]``
(about 1 min 30 s on a 2-core machine; it prints the load average, since other
processes on the CPUs slow every figure). Timing goals live here, not in the tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import rclpy
import yaml
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sentinel_common.qos import EVENT_QOS
from sentinel_msgs.msg import VehicleCommand
from sentinel_msgs.srv import ReleaseEstop, TriggerEstop

ROOT = Path(__file__).resolve().parents[1]   # the repository
STANDIN = ROOT / 'src' / 'sentinel_safety' / 'test' / 'autopilot_standin.py'
SAFETY_YAML = ROOT / 'config' / 'safety.yaml'
WORLD_SDF = ROOT / 'worlds' / 'substation.sdf'
WATCHDOG_SYSTEM = 250      # must match mavlink.source_system in config/safety.yaml
BENCH_DOMAIN = 77          # ROS_DOMAIN_ID of this run, apart from other processes' default
STARTUP_TIMEOUT = 60.0     # s for the watchdog process to offer its services (loaded machine)
WAIT = 5.0                 # s, longest wait for one event of one trial
SETTLE = 0.2               # s between trials, so one trial's traffic does not spill over
QUIET_GRACE = 600.0        # s of start-up grace for the monitor: longer than the run


def _standin() -> ModuleType:
    spec = importlib.util.spec_from_file_location('estop_bench_standin', STANDIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stats(values: list[float]) -> tuple[float, float]:
    """(p50, p99): the median, and the ceil(0.99 n)-th smallest value."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[math.ceil(0.99 * len(ordered)) - 1]


def _safety_config(directory: Path) -> Path:
    data = yaml.safe_load(SAFETY_YAML.read_text(encoding='utf-8'))
    data['estop']['state_file'] = str(directory / 'estop.json')
    # No vehicle interface or mission control runs here: keep the monitor from holding the
    # drones for silence (stale state, dead nodes) while the e-stop is being timed.
    data['monitoring']['startup_grace'] = QUIET_GRACE
    data['heartbeats']['startup_grace'] = QUIET_GRACE
    safety = directory / 'safety.yaml'
    safety.write_text(yaml.safe_dump(data), encoding='utf-8')
    return safety


def _site_config(directory: Path, ports: list[int]) -> Path:
    """A 400 m square range with one drone per port, homes 10 m apart."""
    vehicles = ''.join(f'''
  - id: drone_{index + 1}
    kind: drone
    mavlink: {{url: "udpout:127.0.0.1:{port}", system_id: {index + 1}}}
    home: {{x: {-150.0 + 10.0 * (index % 30)}, y: {-150.0 + 10.0 * (index // 30)}, z: 0.0}}
    capabilities: []
    battery_capacity_wh: 90.0''' for index, port in enumerate(ports))
    site = directory / f'bench_site_{len(ports)}.yaml'
    site.write_text(f'''version: 1
site: {{name: bench_range, world: {WORLD_SDF}, timezone: UTC}}
zones:
  - {{name: range, kind: geofence_inclusion, polygon: [[-200, -200], [200, -200], [200, 200],
      [-200, 200]], floor: 0.0, ceiling: 60.0}}
cameras: []
vehicles:{vehicles}
''', encoding='utf-8')
    return site


class AckClock:
    """Times when the autopilot sends an accepted DO_SET_MODE ack to the watchdog."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, messages: list[Any], at: float) -> None:
        for msg in messages:
            if (msg.get_type() == 'COMMAND_ACK' and msg.command == mavlink.MAV_CMD_DO_SET_MODE
                    and msg.result == mavlink.MAV_RESULT_ACCEPTED
                    and msg.target_system == WATCHDOG_SYSTEM):
                with self._lock:
                    self.times.append(at)

    def first_after(self, start: float) -> float | None:
        with self._lock:
            return next((t for t in self.times if t >= start), None)


def baseline(station: Any, trials: int) -> list[float]:
    """Direct pymavlink DO_SET_MODE round trips, alternating BRAKE and GUIDED."""
    out: list[float] = []
    for index in range(trials):
        start = time.perf_counter()
        assert station.set_mode('BRAKE' if index % 2 == 0 else 'GUIDED') == 0
        out.append(time.perf_counter() - start)
    assert station.set_mode('GUIDED') == 0
    return out


class Operator:
    """The ROS side, on a context of its own: e-stop services, approved commands heard."""

    def __init__(self, domain: int) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node('estop_bench', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.trigger: Any = self.node.create_client(TriggerEstop, '/safety/trigger_estop')
        self.release: Any = self.node.create_client(ReleaseEstop, '/safety/release_estop')
        self.commands: list[float] = []
        self.node.create_subscription(VehicleCommand, '/safety/approved_commands',
                                      lambda _: self.commands.append(time.perf_counter()),
                                      EVENT_QOS)

    def spin_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise RuntimeError(f'timed out waiting for {what}')
            self.executor.spin_once(timeout_sec=0.001)

    def call(self, client: Any, request: Any) -> tuple[Any, float]:
        future = client.call_async(request)
        self.spin_until(future.done, WAIT, 'a service response')
        return future.result(), time.perf_counter()

    def engage(self) -> float:
        """Trigger a fleet e-stop; returns the time of the service response."""
        response, answered = self.call(self.trigger, TriggerEstop.Request(
            scope=TriggerEstop.Request.SCOPE_FLEET, requested_by='operator_console',
            reason='benchmark'))
        assert response.error_code == 0, response.error_msg
        return answered

    def disengage(self) -> None:
        released, _ = self.call(self.release, ReleaseEstop.Request(
            first_approver='safety_officer', second_approver='shift_supervisor',
            reason='benchmark'))
        assert released.error_code == 0, released.error_msg

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@contextmanager
def watchdog_process(site: Path, safety: Path, domain: int) -> Iterator[Operator]:
    """The watchdog as its own process, and an operator once its services are up."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    watchdog = subprocess.Popen(
        [sys.executable, '-m', 'sentinel_safety.safety_watchdog_node', '--ros-args',
         '-p', f'site_config:={site}', '-p', f'safety_config:={safety}',
         '--log-level', 'error'], env=env)
    operator = Operator(domain)
    try:
        operator.spin_until(lambda: operator.trigger.service_is_ready()
                            and operator.release.service_is_ready()
                            and operator.node.count_publishers('/safety/approved_commands'),
                            STARTUP_TIMEOUT, 'the watchdog to start')
        yield operator
    finally:
        operator.close()
        watchdog.terminate()
        watchdog.wait(timeout=10.0)


class Ports:
    """Plain UDP sockets standing for the autopilots: they time each stop that arrives.

    A thread of their own waits on every socket at once and stamps each
    COMMAND_LONG DO_SET_MODE from the watchdog's system id (or the baseline's).
    """

    def __init__(self, count: int) -> None:
        self.sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
        self._parsers = [mavlink.MAVLink(None) for _ in range(count)]
        self._selector = selectors.DefaultSelector()
        for index, sock in enumerate(self.sockets):
            sock.bind(('127.0.0.1', 0))
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, index)
        self.arrivals: list[list[float]] = [[] for _ in range(count)]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='bench-ports', daemon=True)
        self._thread.start()

    @property
    def ports(self) -> list[int]:
        return [sock.getsockname()[1] for sock in self.sockets]

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                at = time.perf_counter()
                index = key.data
                data = self.sockets[index].recv(65536)
                for msg in self._parsers[index].parse_buffer(data) or []:
                    if msg.get_type() == 'COMMAND_LONG' \
                            and msg.command == mavlink.MAV_CMD_DO_SET_MODE:
                        with self._lock:
                            self.arrivals[index].append(at)

    def all_after(self, start: float) -> tuple[float, float] | None:
        """(first, last) arrival after ``start`` once every port has one, else None."""
        with self._lock:
            firsts = [next((t for t in times if t >= start), None) for times in self.arrivals]
        if any(t is None for t in firsts):
            return None
        return min(firsts), max(firsts)  # type: ignore[type-var]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for sock in self.sockets:
            sock.close()


def fleet_baseline(ports: Ports, trials: int) -> list[tuple[float, float]]:
    """This script sends DO_SET_MODE (BRAKE) to every port itself: (first, every) latency."""
    encoder = mavlink.MAVLink(None, srcSystem=WATCHDOG_SYSTEM, srcComponent=190)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)
    results = []
    try:
        for _ in range(trials):
            start = time.perf_counter()
            for index, port in enumerate(ports.ports):
                message = encoder.command_long_encode(index + 1, 1, mavlink.MAV_CMD_DO_SET_MODE, 0,
                                                      mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
                                                      17, 0, 0, 0, 0, 0)
                out.sendto(message.pack(encoder), ('127.0.0.1', port))
            end = time.monotonic() + WAIT
            while (seen := ports.all_after(start)) is None:
                if time.monotonic() > end:
                    raise RuntimeError('baseline: a datagram was lost')
                time.sleep(0.0002)
            results.append((seen[0] - start, seen[1] - start))
            time.sleep(SETTLE / 4)
    finally:
        out.close()
    return results


def fleet_trials(operator: Operator, ports: Ports, trials: int
                 ) -> list[tuple[float, float, float]]:
    """E-stops of the whole fleet: (first port, every port, service response) latency."""
    results = []
    for _ in range(trials):
        start = time.perf_counter()
        answered = operator.engage()
        operator.spin_until(lambda: ports.all_after(start) is not None, WAIT,
                            'the stop at every port')
        first, last = ports.all_after(start)  # type: ignore[misc]
        results.append((first - start, last - start, answered - start))
        operator.disengage()
        time.sleep(SETTLE)
    return results


def single_autopilot(standin: ModuleType, directory: Path, trials: int
                     ) -> list[tuple[str, list[float]]]:
    """Part 1: one emulated ArduCopter, acknowledged stop mode."""
    clock = AckClock()
    with standin.SimulatedDrone(scale=2.0) as drone:
        drone.on_flush = clock
        site = _site_config(directory, [drone.port])
        # The watchdog first: its GCS heartbeat keeps the autopilot's GCS-loss failsafe away.
        with watchdog_process(site, _safety_config(directory), BENCH_DOMAIN) as operator:
            station = standin.GroundStation(drone.port)
            station.take_off(drone, 8.0)
            base = baseline(station, trials)
            to_ack, to_topic, to_response = [], [], []
            for _ in range(trials):
                assert drone.mode_name == 'GUIDED', drone.mode_name
                seen = len(operator.commands)
                start = time.perf_counter()
                answered = operator.engage()
                operator.spin_until(lambda: clock.first_after(start) is not None
                                    and len(operator.commands) > seen, WAIT, 'ack and command')
                to_ack.append(clock.first_after(start) - start)  # type: ignore[operator]
                to_topic.append(operator.commands[seen] - start)
                to_response.append(answered - start)
                operator.disengage()
                assert station.set_mode('GUIDED') == 0
                time.sleep(SETTLE)
            station.close()
    return [('baseline: pymavlink DO_SET_MODE -> COMMAND_ACK, no ROS', base),
            ('e-stop call -> autopilot acks the stop mode (own MAVLink)', to_ack),
            ('e-stop call -> VehicleCommand on approved_commands', to_topic),
            ('e-stop call -> service response', to_response)]


def fleet(size: int, directory: Path, trials: int, domain: int) -> list[tuple[str, list[float]]]:
    """Part 2: the stop command's arrival at every port of a fleet."""
    ports = Ports(size)
    try:
        base = fleet_baseline(ports, trials)
        site = _site_config(directory, ports.ports)
        with watchdog_process(site, _safety_config(directory), domain) as operator:
            runs = fleet_trials(operator, ports, trials)
    finally:
        ports.close()
    return [(f'{size:2d} vehicles, baseline: script sends to every port', [b[1] for b in base]),
            (f'{size:2d} vehicles, e-stop call -> first port has the stop', [r[0] for r in runs]),
            (f'{size:2d} vehicles, e-stop call -> every port has the stop', [r[1] for r in runs]),
            (f'{size:2d} vehicles, e-stop call -> service response', [r[2] for r in runs])]


def _print(rows: list[tuple[str, list[float]]]) -> None:
    base_median = _stats(rows[0][1])[0]
    for label, values in rows:
        median, p99 = _stats(values)
        print(f'{label:62s} {median * 1e3:10.2f} {p99 * 1e3:10.2f} '
              f'{median / base_median:11.2f}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--trials', type=int, default=40, help='e-stops per measure (default 40)')
    parser.add_argument('--fleets', default='1,10,50', help='fleet sizes (default 1,10,50)')
    args = parser.parse_args()
    sizes = [int(size) for size in args.fleets.split(',')]
    if args.trials < 1 or any(not 1 <= size <= 250 for size in sizes):
        parser.error('--trials must be >= 1 and every fleet size in 1..250')
    print(f'load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.trials} trials')
    with tempfile.TemporaryDirectory() as tmp:
        sections = [single_autopilot(_standin(), Path(tmp), args.trials)]
        sections += [fleet(size, Path(tmp), args.trials, BENCH_DOMAIN + 1 + index)
                     for index, size in enumerate(sizes)]
    print(f'{"measure":62s} {"p50 ms":>10s} {"p99 ms":>10s} {"p50 x base":>11s}')
    for rows in sections:
        _print(rows)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
