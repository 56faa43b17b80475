"""Benchmark: the vehicle interface's CPU and state-publication rate with 4, 10 and 50 vehicles.

What is compared, in the same run and against the same emulated fleet:

  sentinel   the vehicle_interface node: every link on one thread behind one
             selector (sentinel_control.fleet_link).
  baseline   the naive design: one pymavlink ``mavutil`` connection per vehicle,
             each read by its own thread blocking in ``recv_match``, and the
             same telemetry conversion and ROS publication (10 Hz).

Both request the same stream rates, so both parse the same traffic. The fleet
is the simulator's emulated ArduPilot autopilots on its UDP hub
(sentinel_sim.mavlink_endpoint) with a kinematic stand-in for the physics,
run in a separate process whose CPU is not counted. CPU is the process's
user+system time over the measurement window (100 % = one core); the rate
is VehicleState messages received per vehicle per second by an outside
subscriber.

    .venv/bin/python bench/vehicle_interface.py [--sizes 4 10 50] [--seconds 6]

For reference, MAVROS is reported at about 250 % CPU per instance for 4-7
vehicles (docs/control.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
STATE_RATE = 10.0         # Hz, VehicleState publication rate of both implementations
PHYSICS_DT = 0.1          # s, emulated fleet step (10 Hz keeps the fleet process light)
WARMUP_TIMEOUT = 30.0     # s for every link to come up before measuring
SETTLE = 1.0              # s after all links are up, before measuring (stream-rate requests)
ROUNDS = 2                # measurements of each implementation per fleet size, alternated
STOP_TIMEOUT = 10.0       # s for a measured process to exit after SIGINT
# A DDS domain of this benchmark alone (inherited by the processes it starts), so that tests or
# a running system on the same machine neither disturb nor are disturbed by the measurement.
BENCH_DOMAIN_ID = 200 + os.getpid() % 30


def _fleet_module() -> ModuleType:
    name = 'sentinel_control_bench_emulated_fleet'
    if name not in sys.modules:
        path = REPO / 'src' / 'sentinel_control' / 'test' / 'emulated_fleet.py'
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def _specs(count: int) -> list[Any]:
    """``count`` drones and rovers on a grid inside the substation fence."""
    fleet = _fleet_module()
    from sentinel_sim.vehicle_types import VehicleKind
    specs = []
    for i in range(count):
        kind = VehicleKind.DRONE if i % 3 else VehicleKind.GROUND
        name = f'{"drone" if kind is VehicleKind.DRONE else "rover"}_{i + 1}'
        specs.append(fleet.VehicleSpec(name, i + 1, kind, (-120.0 + 10.0 * (i % 25), -80.0 + 10.0 * (i // 25))))
    return specs


# ---------------------------------------------------------------------- the fleet process

def run_fleet(count: int) -> None:
    """Serve ``count`` emulated vehicles until stdin closes; print their ports as JSON first."""
    fleet = _fleet_module().EmulatedFleet(_specs(count), scale=1.0, dt=PHYSICS_DT)
    with fleet:
        sys.stdout.write(json.dumps(fleet.ports) + '\n')
        sys.stdout.flush()
        sys.stdin.read()


# ---------------------------------------------------------------------- the baseline

def run_baseline(site: str) -> None:
    """A naive vehicle interface: mavutil connection + blocking reader thread per vehicle."""
    import rclpy
    from pymavlink import mavutil
    from pymavlink.dialects.v20 import ardupilotmega as mavlink
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node
    from sentinel_msgs.msg import FleetState, VehicleState

    from sentinel_common.qos import SENSOR_QOS
    from sentinel_control.conversions import state_to_msg
    from sentinel_control.site import load_site, vehicle_type
    from sentinel_control.telemetry import LinkState, Telemetry

    loaded = load_site(site)
    stop = threading.Event()
    lock = threading.Lock()
    telemetry: dict[str, Telemetry] = {}
    last_heartbeat: dict[str, float] = {}
    rates = {mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: STATE_RATE, mavlink.MAVLINK_MSG_ID_ATTITUDE: STATE_RATE,
             mavlink.MAVLINK_MSG_ID_SYS_STATUS: 1.0, mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
             mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0, mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0}

    def reader(vehicle: Any) -> None:
        conn = mavutil.mavlink_connection(vehicle.mavlink_url, source_system=255, source_component=190)
        requested = False
        next_beat = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + 1.0
                conn.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 4)
            msg = conn.recv_match(blocking=True, timeout=0.5)
            if msg is None or msg.get_srcSystem() != vehicle.system_id:
                continue
            if msg.get_type() == 'HEARTBEAT' and not requested:
                requested = True
                for msg_id, rate in rates.items():
                    conn.mav.command_long_send(vehicle.system_id, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0,
                                               msg_id, 1e6 / rate, 0, 0, 0, 0, 0)
            with lock:
                if msg.get_type() == 'HEARTBEAT':
                    last_heartbeat[vehicle.id] = time.monotonic()
                telemetry[vehicle.id].update(msg)
        conn.close()

    rclpy.init()
    node = Node('baseline_vehicle_interface')
    publishers = {v.id: node.create_publisher(VehicleState, f'/vehicles/{v.id}/state', SENSOR_QOS)
                  for v in loaded.config.vehicles}
    fleet_pub = node.create_publisher(FleetState, '/fleet/state', SENSOR_QOS)
    for vehicle in loaded.config.vehicles:
        telemetry[vehicle.id] = Telemetry(vehicle.id, vehicle_type(vehicle), loaded.origin)

    def publish() -> None:
        stamp = node.get_clock().now().to_msg()
        fleet = FleetState()
        fleet.header.stamp = stamp
        now = time.monotonic()
        with lock:
            states = [t.snapshot(LinkState.OK if now - last_heartbeat.get(vid, -1e9) < 3.0 else LinkState.LOST,
                                 1.0, '') for vid, t in telemetry.items()]
        for state in states:
            msg = state_to_msg(state, stamp)
            publishers[state.vehicle_id].publish(msg)
            fleet.vehicles.append(msg)
        fleet_pub.publish(fleet)

    node.create_timer(1.0 / STATE_RATE, publish)
    threads = [threading.Thread(target=reader, args=(v,), daemon=True) for v in loaded.config.vehicles]
    for thread in threads:
        thread.start()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=2.0)
        node.destroy_node()
        rclpy.try_shutdown()


# ---------------------------------------------------------------------- measuring

class Observer:
    """Counts FleetState messages and VehicleState on a sample of vehicles; sees links come up.

    Only a sample of the per-vehicle topics is subscribed: a Python subscriber
    taking every state of 50 vehicles would become the bottleneck it measures.
    """

    SAMPLE = 5   # per-vehicle topics counted

    def __init__(self, vehicle_ids: list[str]) -> None:
        import rclpy
        from rclpy.node import Node
        from sentinel_msgs.msg import FleetState, VehicleState

        from sentinel_common.qos import SENSOR_QOS
        self.rclpy = rclpy
        self.node = Node('bench_observer')
        self.total = len(vehicle_ids)
        sample = vehicle_ids[::max(1, len(vehicle_ids) // self.SAMPLE)][:self.SAMPLE]
        self.counts = {vid: 0 for vid in sample}
        self.fleet_count = 0
        self.ok = 0          # links reported OK
        self.up = 0          # links reported OK or DEGRADED (not LOST)
        for vid in sample:
            self.node.create_subscription(VehicleState, f'/vehicles/{vid}/state', self._on_state, SENSOR_QOS)
        self.node.create_subscription(FleetState, '/fleet/state', self._on_fleet, SENSOR_QOS)

    def _on_state(self, msg: Any) -> None:
        self.counts[msg.vehicle_id] += 1

    def _on_fleet(self, msg: Any) -> None:
        self.fleet_count += 1
        self.ok = sum(1 for v in msg.vehicles if v.link_state == 0)
        self.up = sum(1 for v in msg.vehicles if v.link_state != 2)

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.rclpy.spin_once(self.node, timeout_sec=0.02)

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)
        self.fleet_count = 0
        self.ok = 0
        self.up = 0


def measure(command: list[str], observer: Observer, count: int, seconds: float) -> dict[str, float]:
    import psutil
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               cwd=REPO, start_new_session=True)
    try:
        observer.reset()
        deadline = time.monotonic() + WARMUP_TIMEOUT
        while observer.up < count:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f'links not up ({observer.up}/{count}): '
                                   f'{process.stderr.read() if process.poll() is not None else ""}')
            observer.spin(0.2)
        observer.spin(SETTLE)
        proc = psutil.Process(process.pid)
        observer.reset()
        before, start = proc.cpu_times(), time.monotonic()
        observer.spin(seconds)
        after, elapsed = proc.cpu_times(), time.monotonic() - start
        cpu = 100.0 * ((after.user - before.user) + (after.system - before.system)) / elapsed
        rates = [c / elapsed for c in observer.counts.values()]
        return {'cpu': cpu, 'rate_min': min(rates), 'rate_mean': sum(rates) / len(rates),
                'fleet_rate': observer.fleet_count / elapsed, 'threads': proc.num_threads(),
                'up': observer.up}
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _mean(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(run[key] for run in runs) / len(runs) for key in runs[0]}


def bench(sizes: list[int], seconds: float) -> None:
    import rclpy
    os.environ['ROS_DOMAIN_ID'] = str(BENCH_DOMAIN_ID)
    fleet_module = _fleet_module()
    rclpy.init(domain_id=BENCH_DOMAIN_ID)
    rows = []
    started = time.monotonic()
    try:
        for count in sizes:
            fleet = subprocess.Popen([PYTHON, __file__, '--fleet', str(count)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=REPO, start_new_session=True)
            try:
                ports = {int(k): v for k, v in json.loads(fleet.stdout.readline()).items()}
                specs = _specs(count)
                with tempfile.TemporaryDirectory() as tmp:
                    site = fleet_module.site_yaml(Path(tmp), [(s, f'udpout:127.0.0.1:{ports[s.system_id]}')
                                                              for s in specs])
                    observer = Observer([s.vehicle_id for s in specs])
                    ours_cmd = [PYTHON, '-m', 'sentinel_control.vehicle_interface_node', '--ros-args',
                                '-p', f'site_config:={site}', '-p', f'state_rate:={STATE_RATE}',
                                '--log-level', 'warn']
                    base_cmd = [PYTHON, __file__, '--baseline', str(site)]
                    runs: dict[str, list[dict[str, float]]] = {'sentinel': [], 'baseline': []}
                    try:
                        for _ in range(ROUNDS):   # alternated, so a change in machine load hits both
                            runs['sentinel'].append(measure(ours_cmd, observer, count, seconds))
                            runs['baseline'].append(measure(base_cmd, observer, count, seconds))
                    finally:
                        observer.node.destroy_node()
                ours, base = (_mean(runs['sentinel']), _mean(runs['baseline']))
                rows.append((count, ours, base))
                for name, row in (('sentinel', ours), ('baseline', base)):
                    print(f'{count:>3} vehicles  {name:8}  {row["cpu"]:6.1f} % CPU  VehicleState '
                          f'{row["rate_mean"]:5.1f} Hz (min {row["rate_min"]:4.1f})  FleetState '
                          f'{row["fleet_rate"]:5.1f} Hz  links up {row["up"]:.0f}/{count}  '
                          f'{row["threads"]:.0f} threads', flush=True)
            finally:
                fleet.stdin.close()
                fleet.wait(timeout=STOP_TIMEOUT)
    finally:
        rclpy.try_shutdown()
    print()
    print(f'{"vehicles":>8} | {"sentinel CPU %":>14} | {"state Hz":>8} | {"baseline CPU %":>14} | '
          f'{"state Hz":>8} | {"CPU baseline/sentinel":>21} | {"sentinel CPU % per vehicle":>26}')
    for count, ours, base in rows:
        print(f'{count:>8} | {ours["cpu"]:14.1f} | {ours["rate_mean"]:8.1f} | {base["cpu"]:14.1f} | '
              f'{base["rate_mean"]:8.1f} | {base["cpu"] / max(ours["cpu"], 1e-9):21.2f} | '
              f'{ours["cpu"] / count:26.2f}')
    print(f'machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end')
    print(f'(state rate requested: {STATE_RATE:g} Hz per vehicle; 100 % CPU = one core; '
          f'MAVROS: ~250 % per instance for 4-7 vehicles; total {time.monotonic() - started:.0f} s)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[4, 10, 50], help='fleet sizes to measure')
    parser.add_argument('--seconds', type=float, default=3.0, help='measurement window per run, s')
    parser.add_argument('--fleet', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--baseline', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fleet is not None:
        run_fleet(args.fleet)
    elif args.baseline is not None:
        run_baseline(args.baseline)
    else:
        bench(args.sizes, args.seconds)


if __name__ == '__main__':
    main()
