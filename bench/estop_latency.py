#!/usr/bin/env python3
"""Benchmark of the emergency stop: service call to mode change on a MAVLink vehicle.

Why: the e-stop is the one path whose speed is a safety figure. This script
flies one emulated ArduCopter (the simulator's autopilot on its UDP hub, over
a kinematic stand-in) and starts the safety watchdog as its own process, as
launch does, with no vehicle interface. Over N trials it measures, from the
moment ``/safety/trigger_estop`` is called:

- until the autopilot sends the COMMAND_ACK accepting the stop mode that the
  watchdog sent over its own MAVLink path;
- until the stop arrives as a VehicleCommand on ``/safety/approved_commands``
  (what a vehicle interface would execute);
- until the service response arrives;

and prints median and 95th percentile of each, with the ratio against a
baseline measured in the same run on the same autopilot: a direct pymavlink
DO_SET_MODE round trip (command out, COMMAND_ACK back) without ROS.

Run: ``.venv/bin/python bench/estop_latency.py [--trials N]`` (about 20 s on
an idle 2-core machine; it prints the load average, since other processes on
the CPUs slow every figure). Timing goals live here, not in the tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import rclpy
import yaml
from pymavlink.dialects.v20 import ardupilotmega as mavlink
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
STARTUP_TIMEOUT = 20.0     # s for the watchdog process to offer its services
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
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def _write_configs(directory: Path, port: int) -> tuple[Path, Path]:
    site = directory / 'bench_site.yaml'
    site.write_text(f'''version: 1
site: {{name: bench_range, world: {WORLD_SDF}, timezone: UTC}}
zones:
  - {{name: range, kind: geofence_inclusion, polygon: [[-200, -200], [200, -200], [200, 200],
      [-200, 200]], floor: 0.0, ceiling: 60.0}}
cameras: []
vehicles:
  - id: drone_1
    kind: drone
    mavlink: {{url: "udpout:127.0.0.1:{port}", system_id: 1}}
    home: {{x: 0.0, y: 0.0, z: 0.0}}
    capabilities: []
    battery_capacity_wh: 90.0
''', encoding='utf-8')
    data = yaml.safe_load(SAFETY_YAML.read_text(encoding='utf-8'))
    data['estop']['state_file'] = str(directory / 'estop.json')
    # No vehicle interface or mission control runs here: keep the monitor from holding the
    # drone for silence (stale state, dead nodes) while the e-stop is being timed.
    data['monitoring']['startup_grace'] = QUIET_GRACE
    data['heartbeats']['startup_grace'] = QUIET_GRACE
    safety = directory / 'safety.yaml'
    safety.write_text(yaml.safe_dump(data), encoding='utf-8')
    return site, safety


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
    """The ROS side: e-stop services and a listener on the approved commands."""

    def __init__(self) -> None:
        self.node = Node('estop_bench')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.trigger: Any = self.node.create_client(TriggerEstop, '/safety/trigger_estop')
        self.release: Any = self.node.create_client(ReleaseEstop, '/safety/release_estop')
        self.commands: list[float] = []
        self.node.create_subscription(VehicleCommand, '/safety/approved_commands',
                                      lambda _: self.commands.append(time.perf_counter()),
                                      EVENT_QOS)

    def spin_until(self, predicate: Any, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise RuntimeError(f'timed out waiting for {what}')
            self.executor.spin_once(timeout_sec=0.001)

    def call(self, client: Any, request: Any) -> tuple[Any, float]:
        future = client.call_async(request)
        self.spin_until(future.done, WAIT, 'a service response')
        return future.result(), time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--trials', type=int, default=20, help='e-stops to time (default 20)')
    args = parser.parse_args()
    standin = _standin()
    print(f'load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.trials} trials')
    clock = AckClock()
    with standin.SimulatedDrone(scale=2.0) as drone, tempfile.TemporaryDirectory() as tmp:
        drone.on_flush = clock
        station = standin.GroundStation(drone.port)
        station.take_off(drone, 8.0)
        base = baseline(station, args.trials)
        site, safety = _write_configs(Path(tmp), drone.port)
        env = dict(os.environ, ROS_DOMAIN_ID=str(BENCH_DOMAIN))
        watchdog = subprocess.Popen(
            [sys.executable, '-m', 'sentinel_safety.safety_watchdog_node', '--ros-args',
             '-p', f'site_config:={site}', '-p', f'safety_config:={safety}',
             '--log-level', 'error'], env=env)
        rclpy.init(domain_id=BENCH_DOMAIN)
        try:
            operator = Operator()
            operator.spin_until(lambda: operator.trigger.service_is_ready()
                                and operator.release.service_is_ready()
                                and operator.node.count_publishers('/safety/approved_commands'),
                                STARTUP_TIMEOUT, 'the watchdog to start')
            to_ack, to_topic, to_response = [], [], []
            for _ in range(args.trials):
                assert drone.mode_name == 'GUIDED', drone.mode_name
                seen = len(operator.commands)
                start = time.perf_counter()
                response, answered = operator.call(operator.trigger, TriggerEstop.Request(
                    scope=TriggerEstop.Request.SCOPE_FLEET, requested_by='operator_console',
                    reason='benchmark'))
                assert response.error_code == 0, response.error_msg
                operator.spin_until(lambda: clock.first_after(start) is not None
                                    and len(operator.commands) > seen, WAIT, 'ack and command')
                to_ack.append(clock.first_after(start) - start)  # type: ignore[operator]
                to_topic.append(operator.commands[seen] - start)
                to_response.append(answered - start)
                released, _ = operator.call(operator.release, ReleaseEstop.Request(
                    first_approver='safety_officer', second_approver='shift_supervisor',
                    reason='benchmark'))
                assert released.error_code == 0, released.error_msg
                assert station.set_mode('GUIDED') == 0
                time.sleep(SETTLE)
            operator.node.destroy_node()
        finally:
            rclpy.try_shutdown()
            watchdog.terminate()
            watchdog.wait(timeout=10.0)
        station.close()
    base_median, base_p95 = _stats(base)
    print(f'{"measure":58s} {"median ms":>10s} {"p95 ms":>10s} {"x baseline":>11s}')
    print(f'{"baseline: pymavlink DO_SET_MODE -> COMMAND_ACK, no ROS":58s} '
          f'{base_median * 1e3:10.2f} {base_p95 * 1e3:10.2f} {1.0:11.2f}')
    for label, values in (('e-stop call -> autopilot acks the stop mode (own MAVLink)', to_ack),
                          ('e-stop call -> VehicleCommand on approved_commands', to_topic),
                          ('e-stop call -> service response', to_response)):
        median, p95 = _stats(values)
        print(f'{label:58s} {median * 1e3:10.2f} {p95 * 1e3:10.2f} '
              f'{median / base_median:11.2f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
