"""Benchmark: the vehicle interface's CPU, state rate and latencies with 10, 50 and 100 vehicles.

What is compared, in the same run and against the same emulated fleet:

  sentinel   the vehicle_interface node: every link on one thread behind one
             selector (sentinel_control.fleet_link).
  baseline   the naive design: one pymavlink ``mavutil`` connection per vehicle,
             each read by its own thread blocking in ``recv_match``, the same
             telemetry conversion and ROS publication (10 Hz), and approved
             commands sent straight from the ROS callback.

Both request the same stream rates, so both parse the same traffic. The fleet
is the simulator's emulated ArduPilot autopilots on its UDP hub
(sentinel_sim.mavlink_endpoint) with a kinematic stand-in for the physics,
run in a separate process whose CPU is not counted. Measured per run:

  CPU        the process's user+system time over the window (100 % = one core)
  rate       VehicleState messages per vehicle per second seen by an outside subscriber
  state latency    MAVLink in -> ROS out: from a GLOBAL_POSITION_INT of the probe
             vehicle arriving (at a UDP relay in front of the measured process)
             to the first VehicleState that carries that position. The probe
             drives a circle on its own, so every position is new. Includes the
             wait for the next 10 Hz publication (50 ms on average) by design.
  command latency  ROS in -> MAVLink out: from publishing an approved GOTO for
             the probe on /safety/approved_commands to the first command message
             for it leaving the measured process (seen at the relay).

    .venv/bin/python bench/vehicle_interface.py [--sizes 10 50 100] [--seconds 6]

For reference, MAVROS is reported at about 250 % CPU per instance for 4-7
vehicles (docs/control.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import selectors
import signal
import socket
import statistics
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
WARMUP_TIMEOUT = 90.0     # s for every link to come up before measuring (100 links on a loaded machine)
SETTLE = 1.0              # s after all links are up, before measuring (stream-rate requests)
ROUNDS = 2                # measurements of each implementation per fleet size, alternated
STOP_TIMEOUT = 10.0       # s for a measured process to exit after SIGINT
PROBE_RADIUS = 20.0       # m, the probe vehicle's circle
PROBE_SPEED = 3.0         # m/s along it: every 10 Hz position report is a new position
COMMAND_PERIOD = 0.5      # s between approved GOTOs for the probe; a command's first MAVLink message
                          # must leave within this to count
GOAL_VEHICLES = 50        # the goal: this many vehicles at STATE_RATE ...
GOAL_CPU = 50.0           # ... with less than this % of one core
ROVER_GUIDED = 15         # ArduRover custom mode number of GUIDED
# MAVLink messages from a ground station that carry a command (stream-rate requests excluded).
COMMAND_MESSAGES = frozenset({'COMMAND_LONG', 'COMMAND_INT', 'SET_MODE', 'SET_POSITION_TARGET_GLOBAL_INT',
                              'SET_POSITION_TARGET_LOCAL_NED', 'MISSION_COUNT'})
STREAM_COMMANDS = frozenset({511, 512})   # MAV_CMD_SET_MESSAGE_INTERVAL, MAV_CMD_REQUEST_MESSAGE
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
    """``count`` drones and rovers on a grid inside the substation fence; the first, a rover, is the probe."""
    fleet = _fleet_module()
    from sentinel_sim.vehicle_types import VehicleKind
    specs = []
    for i in range(count):
        kind = VehicleKind.DRONE if i % 3 else VehicleKind.GROUND
        name = f'{"drone" if kind is VehicleKind.DRONE else "rover"}_{i + 1}'
        specs.append(fleet.VehicleSpec(name, i + 1, kind, (-120.0 + 10.0 * (i % 25), -80.0 + 10.0 * (i // 25))))
    return specs


# ---------------------------------------------------------------------- the fleet process

class CirclingBody:
    """The probe's body: drives a circle whatever its autopilot asks, so each position report is new."""

    def __init__(self, body: Any) -> None:
        self.body = body
        self.centre = (body.position.x, body.position.y + PROBE_RADIUS)
        self.angle = -math.pi / 2.0

    def state(self) -> Any:
        return self.body.state()

    def apply(self, _setpoint: Any, dt: float) -> None:
        from sentinel_sim.vehicle_types import Vector3
        self.angle += PROBE_SPEED / PROBE_RADIUS * dt
        self.body.position = Vector3(self.centre[0] + PROBE_RADIUS * math.cos(self.angle),
                                     self.centre[1] + PROBE_RADIUS * math.sin(self.angle), 0.0)


def run_fleet(count: int) -> None:
    """Serve ``count`` emulated vehicles until stdin closes; print their ports as JSON first."""
    specs = _specs(count)
    fleet = _fleet_module().EmulatedFleet(specs, scale=1.0, dt=PHYSICS_DT)
    probe = specs[0].system_id
    fleet.bodies[probe] = CirclingBody(fleet.bodies[probe])
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
    from sentinel_msgs.msg import FleetState, VehicleCommand, VehicleState

    from sentinel_common.qos import EVENT_QOS, SENSOR_QOS
    from sentinel_control.conversions import state_to_msg
    from sentinel_control.site import load_site, vehicle_type
    from sentinel_control.telemetry import LinkState, Telemetry
    from sentinel_sim.geo import enu_to_wgs84

    loaded = load_site(site)
    stop = threading.Event()
    lock = threading.Lock()
    telemetry: dict[str, Telemetry] = {}
    last_heartbeat: dict[str, float] = {}
    rates = {mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: STATE_RATE, mavlink.MAVLINK_MSG_ID_ATTITUDE: STATE_RATE,
             mavlink.MAVLINK_MSG_ID_SYS_STATUS: 1.0, mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
             mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0, mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0}

    connections = {v.id: mavutil.mavlink_connection(v.mavlink_url, source_system=255, source_component=190)
                   for v in loaded.config.vehicles}
    system_ids = {v.id: v.system_id for v in loaded.config.vehicles}

    def reader(vehicle: Any) -> None:
        conn = connections[vehicle.id]
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

    def on_command(command: Any) -> None:
        """GOTO as a naive ground station sends it: GUIDED, arm, position target, no waiting for ACKs."""
        conn = connections.get(command.vehicle_id)
        if conn is None or command.command != VehicleCommand.COMMAND_GOTO:
            return
        origin = loaded.origin
        lat, lon, _ = enu_to_wgs84(command.target.x, command.target.y, command.target.z,
                                   origin.latitude_deg, origin.longitude_deg, origin.altitude)
        target = system_ids[command.vehicle_id]
        conn.mav.set_mode_send(target, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, ROVER_GUIDED)
        conn.mav.command_long_send(target, 1, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
        conn.mav.set_position_target_global_int_send(
            0, target, 1, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b0000111111111000,
            int(lat * 1e7), int(lon * 1e7), command.target.z, 0, 0, 0, 0, 0, 0, 0, 0)

    node.create_timer(1.0 / STATE_RATE, publish)
    node.create_subscription(VehicleCommand, '/safety/approved_commands', on_command, EVENT_QOS)
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

class ProbeRelay:
    """A UDP relay in front of the probe's autopilot: times position reports in and commands out.

    The measured process's link to the probe vehicle points at ``port``; every
    datagram is forwarded both ways at once, so the probe behaves as it would
    without the relay, and the relay sees exactly what the process receives
    and sends, when it does.
    """

    def __init__(self, autopilot_port: int) -> None:
        from pymavlink.dialects.v20 import ardupilotmega as mavlink
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # the measured process talks to this
        self.front.bind(('127.0.0.1', 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)    # this talks to the autopilot
        self.back.bind(('127.0.0.1', 0))
        self.back.connect(('127.0.0.1', autopilot_port))
        self.port = self.front.getsockname()[1]
        self._client: tuple[str, int] | None = None
        self._from_vehicle = mavlink.MAVLink(None)
        self._from_process = mavlink.MAVLink(None)
        for parser in (self._from_vehicle, self._from_process):
            parser.robust_parsing = True
        self.positions: dict[tuple[int, int], float] = {}   # (lat, lon) degE7 -> first arrival
        self.commands: list[float] = []                     # departures of command messages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='probe-relay', daemon=True)
        self._thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.front, selectors.EVENT_READ)
        selector.register(self.back, selectors.EVENT_READ)
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.1):
                if key.fileobj is self.front:
                    data, self._client = self.front.recvfrom(65535)
                    now = time.monotonic()
                    self.back.send(data)
                    for msg in self._from_process.parse_buffer(data) or []:
                        if msg.get_type() in COMMAND_MESSAGES and not (
                                msg.get_type() == 'COMMAND_LONG' and msg.command in STREAM_COMMANDS):
                            self.commands.append(now)
                else:
                    data = self.back.recv(65535)
                    now = time.monotonic()
                    if self._client is not None:
                        self.front.sendto(data, self._client)
                    for msg in self._from_vehicle.parse_buffer(data) or []:
                        if msg.get_type() == 'GLOBAL_POSITION_INT':
                            self.positions.setdefault((msg.lat, msg.lon), now)
        selector.close()

    def reset(self) -> None:
        self.positions = {}
        self.commands = []

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.front.close()
        self.back.close()


class Observer:
    """Counts FleetState and VehicleState on a sample of vehicles; sees links come up; drives the probe.

    Only a sample of the per-vehicle topics is subscribed: a Python subscriber
    taking every state of 100 vehicles would become the bottleneck it measures.
    """

    SAMPLE = 5   # per-vehicle topics counted

    def __init__(self, vehicle_ids: list[str]) -> None:
        import rclpy
        from rclpy.node import Node
        from sentinel_msgs.msg import FleetState, VehicleCommand, VehicleState

        from sentinel_common.qos import EVENT_QOS, SENSOR_QOS
        self.rclpy = rclpy
        self.command_type = VehicleCommand
        self.node = Node('bench_observer')
        self.total = len(vehicle_ids)
        self.probe = vehicle_ids[0]
        sample = vehicle_ids[::max(1, len(vehicle_ids) // self.SAMPLE)][:self.SAMPLE]
        self.counts = {vid: 0 for vid in sample}
        self.fleet_count = 0
        self.ok = 0          # links reported OK
        self.up = 0          # links reported OK or DEGRADED (not LOST)
        self.probe_seen: dict[tuple[int, int], float] = {}   # (lat, lon) degE7 -> first VehicleState with it
        self.published: list[float] = []                     # when each probe command was published
        for vid in sample:
            self.node.create_subscription(VehicleState, f'/vehicles/{vid}/state', self._on_state, SENSOR_QOS)
        self.node.create_subscription(VehicleState, f'/vehicles/{self.probe}/state', self._on_probe, SENSOR_QOS)
        self.node.create_subscription(FleetState, '/fleet/state', self._on_fleet, SENSOR_QOS)
        self.approved = self.node.create_publisher(VehicleCommand, '/safety/approved_commands', EVENT_QOS)
        self._command_ids = 0

    def _on_state(self, msg: Any) -> None:
        self.counts[msg.vehicle_id] += 1

    def _on_probe(self, msg: Any) -> None:
        lat, lon = msg.geo_position.latitude_deg, msg.geo_position.longitude_deg
        if math.isfinite(lat) and math.isfinite(lon):   # NaN until the first position arrives
            self.probe_seen.setdefault((round(lat * 1e7), round(lon * 1e7)), time.monotonic())

    def _on_fleet(self, msg: Any) -> None:
        self.fleet_count += 1
        self.ok = sum(1 for v in msg.vehicles if v.link_state == 0)
        self.up = sum(1 for v in msg.vehicles if v.link_state != 2)

    def _command_probe(self) -> None:
        """An approved GOTO for the probe, alternating between two points 10 m apart."""
        from sentinel_msgs.msg import SafetyVerdict
        self._command_ids += 1
        msg = self.command_type()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.command_id = f'bench-{os.getpid()}-{self._command_ids}'
        msg.vehicle_id = self.probe
        msg.command = self.command_type.COMMAND_GOTO
        msg.target.x, msg.target.y = -120.0 + 10.0 * (self._command_ids % 2), -60.0
        msg.issued_by = 'bench'
        msg.verdict.decision = SafetyVerdict.APPROVED
        self.published.append(time.monotonic())
        self.approved.publish(msg)

    def spin(self, seconds: float, command_probe: bool = False) -> None:
        end = time.monotonic() + seconds
        next_command = time.monotonic()
        while time.monotonic() < end:
            if command_probe and time.monotonic() >= next_command:
                self._command_probe()
                next_command += COMMAND_PERIOD
            self.rclpy.spin_once(self.node, timeout_sec=0.01 if command_probe else 0.02)

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)
        self.fleet_count = 0
        self.ok = 0
        self.up = 0
        self.probe_seen = {}
        self.published = []


def _percentiles(values: list[float]) -> tuple[float, float]:
    """Median and 95th percentile, in ms (NaN without samples)."""
    if not values:
        return math.nan, math.nan
    if len(values) == 1:
        return values[0] * 1e3, values[0] * 1e3
    return statistics.median(values) * 1e3, statistics.quantiles(values, n=20)[18] * 1e3


def latencies(observer: Observer, relay: ProbeRelay) -> dict[str, float]:
    state = [seen - relay.positions[key] for key, seen in observer.probe_seen.items() if key in relay.positions]
    command, missed = [], 0
    departures = sorted(relay.commands)
    for published in observer.published:
        first = next((t for t in departures if published <= t < published + COMMAND_PERIOD), None)
        if first is None:
            missed += 1
        else:
            command.append(first - published)
    state_median, state_p95 = _percentiles(state)
    command_median, command_p95 = _percentiles(command)
    return {'state_ms': state_median, 'state_p95_ms': state_p95, 'state_samples': len(state),
            'command_ms': command_median, 'command_p95_ms': command_p95, 'commands': len(command),
            'missed': missed}


def measure(command: list[str], observer: Observer, relay: ProbeRelay, count: int,
            seconds: float) -> dict[str, float]:
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
        observer.spin(SETTLE, command_probe=True)   # the probe's first GOTO arms it and sets GUIDED
        proc = psutil.Process(process.pid)
        observer.reset()
        relay.reset()
        before, start = proc.cpu_times(), time.monotonic()
        observer.spin(seconds, command_probe=True)
        after, elapsed = proc.cpu_times(), time.monotonic() - start
        rates = [c / elapsed for c in observer.counts.values()]
        fleet_rate, threads, up = observer.fleet_count / elapsed, proc.num_threads(), observer.up
        observer.spin(COMMAND_PERIOD)                # the last command's messages
        cpu = 100.0 * ((after.user - before.user) + (after.system - before.system)) / elapsed
        return {'cpu': cpu, 'rate_min': min(rates), 'rate_mean': sum(rates) / len(rates),
                'fleet_rate': fleet_rate, 'threads': threads, 'up': up, **latencies(observer, relay)}
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _mean(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per key, the mean over the runs that measured it (a latency is NaN in a run without samples)."""
    out = {}
    for key in runs[0]:
        values = [run[key] for run in runs if math.isfinite(run[key])]
        out[key] = sum(values) / len(values) if values else math.nan
    return out


def _ratio(base: float, ours: float) -> float:
    return base / ours if ours > 0.0 and math.isfinite(base) and math.isfinite(ours) else math.nan


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
            specs = _specs(count)
            relay = None
            try:
                ports = {int(k): v for k, v in json.loads(fleet.stdout.readline()).items()}
                relay = ProbeRelay(ports[specs[0].system_id])
                urls = {s.system_id: f'udpout:127.0.0.1:{ports[s.system_id]}' for s in specs}
                urls[specs[0].system_id] = f'udpout:127.0.0.1:{relay.port}'
                with tempfile.TemporaryDirectory() as tmp:
                    site = fleet_module.site_yaml(Path(tmp), [(s, urls[s.system_id]) for s in specs])
                    observer = Observer([s.vehicle_id for s in specs])
                    ours_cmd = [PYTHON, '-m', 'sentinel_control.vehicle_interface_node', '--ros-args',
                                '-p', f'site_config:={site}', '-p', f'state_rate:={STATE_RATE}',
                                '--log-level', 'warn']
                    base_cmd = [PYTHON, __file__, '--baseline', str(site)]
                    runs: dict[str, list[dict[str, float]]] = {'sentinel': [], 'baseline': []}
                    try:
                        for _ in range(ROUNDS):   # alternated, so a change in machine load hits both
                            runs['sentinel'].append(measure(ours_cmd, observer, relay, count, seconds))
                            runs['baseline'].append(measure(base_cmd, observer, relay, count, seconds))
                    finally:
                        observer.node.destroy_node()
                ours, base = (_mean(runs['sentinel']), _mean(runs['baseline']))
                rows.append((count, ours, base))
                for name, row in (('sentinel', ours), ('baseline', base)):
                    print(f'{count:>3} vehicles  {name:8}  {row["cpu"]:6.1f} % CPU  VehicleState '
                          f'{row["rate_mean"]:5.1f} Hz (min {row["rate_min"]:4.1f})  FleetState '
                          f'{row["fleet_rate"]:5.1f} Hz  links up {row["up"]:.0f}/{count}  '
                          f'{row["threads"]:.0f} threads  state latency {row["state_ms"]:5.1f} ms '
                          f'(p95 {row["state_p95_ms"]:5.1f}, {row["state_samples"]:.0f} samples)  command '
                          f'latency {row["command_ms"]:5.1f} ms (p95 {row["command_p95_ms"]:5.1f}, '
                          f'{row["commands"]:.0f} commands, {row["missed"]:.0f} without MAVLink out)',
                          flush=True)
            finally:
                if relay is not None:
                    relay.close()
                fleet.stdin.close()
                fleet.wait(timeout=STOP_TIMEOUT)
    finally:
        rclpy.try_shutdown()
    print()
    print('Means of the runs; latencies are medians in ms (p95 in brackets); ratios are baseline / sentinel.')
    print(f'{"vehicles":>8} | {"sentinel CPU %":>14} | {"state Hz":>8} | {"state ms":>14} | {"command ms":>14} | '
          f'{"baseline CPU %":>14} | {"state Hz":>8} | {"state ms":>14} | {"command ms":>14} | '
          f'{"CPU ratio":>9} | {"state ms ratio":>14} | {"command ms ratio":>16}')
    for count, ours, base in rows:
        print(f'{count:>8} | {ours["cpu"]:14.1f} | {ours["rate_mean"]:8.1f} | '
              f'{ours["state_ms"]:5.1f} ({ours["state_p95_ms"]:5.1f}) | '
              f'{ours["command_ms"]:5.1f} ({ours["command_p95_ms"]:5.1f}) | {base["cpu"]:14.1f} | '
              f'{base["rate_mean"]:8.1f} | {base["state_ms"]:5.1f} ({base["state_p95_ms"]:5.1f}) | '
              f'{base["command_ms"]:5.1f} ({base["command_p95_ms"]:5.1f}) | '
              f'{_ratio(base["cpu"], ours["cpu"]):9.2f} | {_ratio(base["state_ms"], ours["state_ms"]):14.2f} | '
              f'{_ratio(base["command_ms"], ours["command_ms"]):16.2f}')
    goal = next(((ours, base) for count, ours, base in rows if count == GOAL_VEHICLES), None)
    if goal is not None:
        ours, base = goal
        met = ours['cpu'] < GOAL_CPU and ours['rate_mean'] >= 0.9 * STATE_RATE
        print(f'goal ({GOAL_VEHICLES} vehicles at {STATE_RATE:g} Hz with less than {GOAL_CPU:g} % of a core): '
              f'{"met" if met else "NOT met"} ({ours["cpu"]:.1f} % CPU, {ours["rate_mean"]:.1f} Hz; the baseline '
              f'reached {base["rate_mean"]:.1f} Hz on the same machine)')
    print(f'machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end')
    print(f'(state rate requested: {STATE_RATE:g} Hz per vehicle; 100 % CPU = one core; '
          f'MAVROS: ~250 % per instance for 4-7 vehicles; total {time.monotonic() - started:.0f} s)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[10, 50, 100], help='fleet sizes to measure')
    parser.add_argument('--seconds', type=float, default=6.0, help='measurement window per run, s')
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
