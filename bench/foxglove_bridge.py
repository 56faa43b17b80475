#!/usr/bin/env python3
"""Benchmark of the Foxglove bridge: do camera images starve the small state channels?

Why: the bridge must stream every camera to operators without delaying the
vehicle and safety state they act on. The bridge queues images latest-wins
per camera, encodes them off the ROS executor thread and sends state first;
this measures whether that holds under load.

Three processes on a private DDS domain: the real bridge node; a publisher
of a vehicle state at 10 Hz (stamped with the wall clock at publication)
and, in the loaded phase, four 640x480 rgb8 cameras at 10 Hz; and this one,
which reads everything back through a plain WebSocket client subscribed like
the Foxglove app, and also subscribes to the vehicle state over DDS directly
(the reference: what any ROS node would see on the same loaded machine). It
prints, for a state-only baseline and for the run with images, measured in
the same run:

* state latency, publication -> WebSocket client and publication -> plain
  DDS subscriber, p50 / p95 / max, and loaded / baseline ratios;
* image throughput: published, arrived at the bridge over DDS, encoded,
  replaced by a newer frame (latest wins), sent, received by the client;
  and the bridge process's CPU use;
* fan-out (``--clients N``): N - 1 more clients subscribed to every camera
  in the loaded phase; frames each client received and the share it missed
  (a slow client loses older frames, latest wins, rather than queueing).

Run: ``.venv/bin/python bench/foxglove_bridge.py [--fastdds-defaults] [--clients 5 --rate 5]``
(about 35 s).
Timing goals live here, not in the tests: figures depend on the machine and
its load.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import psutil
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from sentinel_msgs.msg import VehicleState

from sentinel_bridge import foxglove_topics as topics
from sentinel_bridge.foxglove_client import FoxgloveClient
from sentinel_common.qos import SENSOR_QOS

CAMERAS = ('bench_cam_1', 'bench_cam_2', 'bench_cam_3', 'bench_cam_4')
VEHICLE = 'bench_drone'
STATE_TOPIC = f'/vehicles/{VEHICLE}/state'
WIDTH, HEIGHT = 640, 480      # px, each camera
RATE = 10.0                   # Hz, cameras and vehicle state (default of --rate)
VARIANTS = 10                 # pre-built frames per camera, cycled (building them is not measured)
STARTUP_TIMEOUT = 20.0        # s, for the processes and the bridge's channels
SETTLE = 1.0                  # s after each switch before measuring
_NS_PER_S = 1_000_000_000


# --------------------------------------------------------------------------
# Publisher process
# --------------------------------------------------------------------------

def _frames(camera_index: int) -> list[Image]:
    """A gradient with a moving block: compresses like a real scene, not like noise."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([(x * 255 // WIDTH), (y * 255 // HEIGHT),
                     np.full_like(x, 60 * camera_index)], axis=-1).astype(np.uint8)
    frames = []
    for variant in range(VARIANTS):
        pixels = base.copy()
        left = 40 + variant * 50
        pixels[200:280, left:left + 60] = (250, 250, 250)
        frames.append(Image(width=WIDTH, height=HEIGHT, encoding='rgb8', step=WIDTH * 3,
                            data=pixels.tobytes()))
    return frames


def run_publisher(domain: int, rate: float) -> int:
    """Publish the state at rate; cameras too after 'images' arrives on stdin.

    On stdin EOF, print the camera frame rate published since then and exit.
    """
    rclpy.init(domain_id=domain)
    node = Node('foxglove_bench_publisher')
    state_publisher = node.create_publisher(VehicleState, STATE_TOPIC, SENSOR_QOS)
    cameras = {c: node.create_publisher(Image, f'/cameras/{c}/image_raw', SENSOR_QOS)
               for c in CAMERAS}
    frames = {c: _frames(i) for i, c in enumerate(CAMERAS)}
    images_since: list[float] = []
    stop = threading.Event()

    def control() -> None:
        for line in sys.stdin:
            if line.strip() == 'images':
                images_since.append(time.monotonic())
        stop.set()

    threading.Thread(target=control, daemon=True).start()
    state = VehicleState(vehicle_id=VEHICLE, mode='GUIDED', armed=True)
    published = tick = 0
    next_at = time.monotonic()
    while not stop.is_set():
        if images_since:
            for camera, publisher in cameras.items():
                frame = frames[camera][tick % VARIANTS]
                frame.header.stamp = node.get_clock().now().to_msg()
                publisher.publish(frame)
                published += 1
        state.header.stamp.sec, state.header.stamp.nanosec = divmod(time.time_ns(), _NS_PER_S)
        state.position.x = float(tick)
        state_publisher.publish(state)
        tick += 1
        next_at += 1.0 / rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    seconds = time.monotonic() - images_since[0] if images_since else 0.0
    print(json.dumps({'frames_per_s': published / seconds if seconds else 0.0}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


# --------------------------------------------------------------------------
# Measuring process
# --------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    via_bridge_ms: list[float] = field(default_factory=list)
    via_dds_ms: list[float] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)
    jpeg_bytes: int = 0
    seconds: float = 0.0
    bridge_cpu_percent: float = 0.0
    fanout: list[dict[str, int]] = field(default_factory=list)   # frames per camera, per extra client
    first_report: dict[str, float] | None = None   # the bridge's counters at the start ...
    last_report: dict[str, float] | None = None    # ... and at the end of the phase

    def delta(self, key: str) -> float:
        if self.first_report is None or self.last_report is None:
            return float('nan')
        return self.last_report[key] - self.first_report[key]


class DdsReference:
    """Latency of the same vehicle state to a plain rclpy subscriber in this process."""

    def __init__(self, domain: int) -> None:
        rclpy.init(domain_id=domain)
        self._node = Node('foxglove_bench_reference')
        self.sink: list[float] | None = None
        self._node.create_subscription(VehicleState, STATE_TOPIC, self._on_state, SENSOR_QOS)
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self._node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _on_state(self, message: VehicleState) -> None:
        stamp = message.header.stamp.sec * _NS_PER_S + message.header.stamp.nanosec
        if self.sink is not None:
            self.sink.append((time.time_ns() - stamp) / 1e6)

    def _spin(self) -> None:
        while not self._stop.is_set():
            self._executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._node.destroy_node()
        rclpy.try_shutdown()


async def _measure(client: FoxgloveClient, reference: DdsReference, phase: Phase,
                   seconds: float, bridge: psutil.Process) -> None:
    await asyncio.sleep(SETTLE)
    while not client._data.empty():     # drop what queued up while settling
        client._data.get_nowait()
    bridge.cpu_percent()                 # start the CPU window
    reference.sink = phase.via_dds_ms
    loop = asyncio.get_running_loop()
    started = loop.time()
    end = started + seconds
    state_topic = topics.vehicle_status(VEHICLE)
    while loop.time() < end:
        try:
            message = await client.next_message(end - loop.time())
        except TimeoutError:
            break
        if message.topic == state_topic:
            stamp = json.loads(message.payload)['stamp_ns']
            phase.via_bridge_ms.append((message.received_ns - stamp) / 1e6)
        elif message.topic == topics.BRIDGE_STATS:
            report = json.loads(message.payload)
            if phase.first_report is None:
                phase.first_report = report
            phase.last_report = report
        else:
            phase.frames[message.topic] = phase.frames.get(message.topic, 0) + 1
            phase.jpeg_bytes += len(message.payload)
    reference.sink = None
    phase.seconds = loop.time() - started
    phase.bridge_cpu_percent = bridge.cpu_percent()


async def _count_frames(client: FoxgloveClient, counts: dict[str, int], seconds: float) -> None:
    """Read one extra client's frames for the phase (after the same settling pause)."""
    await asyncio.sleep(SETTLE)
    while not client._data.empty():
        client._data.get_nowait()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            message = await client.next_message(end - loop.time())
        except TimeoutError:
            break
        counts[message.topic] = counts.get(message.topic, 0) + 1


async def _connect(url: str) -> FoxgloveClient:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            return await FoxgloveClient.connect(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _run(port: int, publisher: subprocess.Popen, reference: DdsReference,
               seconds: float, bridge: psutil.Process, clients: int,
               rate: float) -> tuple[Phase, Phase]:
    url = f'ws://127.0.0.1:{port}'
    async with await _connect(url) as client:
        state_topic = topics.vehicle_status(VEHICLE)
        await client.wait_for_channels([state_topic, topics.BRIDGE_STATS], STARTUP_TIMEOUT)
        await client.subscribe([state_topic, topics.BRIDGE_STATS])
        baseline = Phase('state only (baseline)')
        await _measure(client, reference, baseline, seconds, bridge)

        assert publisher.stdin is not None
        publisher.stdin.write(b'images\n')
        publisher.stdin.flush()
        image_topics = [topics.camera_image(c) for c in CAMERAS]
        await client.wait_for_channels(image_topics, STARTUP_TIMEOUT)
        await client.subscribe(image_topics)
        loaded = Phase(f'state + 4 cameras 640x480 @ {rate:g} Hz, {clients} client(s)')
        extra = [await _connect(url) for _ in range(clients - 1)]
        try:
            for other in extra:
                await other.wait_for_channels(image_topics, STARTUP_TIMEOUT)
                await other.subscribe(image_topics)
            loaded.fanout = [{} for _ in extra]
            await asyncio.gather(_measure(client, reference, loaded, seconds, bridge),
                                 *(_count_frames(other, counts, seconds)
                                   for other, counts in zip(extra, loaded.fanout)))
        finally:
            for other in extra:
                await other.close()
        return baseline, loaded


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float('nan')


def _row(name: str, values: list[float], cpu: str) -> str:
    if not values:
        return f'{name:44s}     0 (no messages)'
    return (f'{name:44s} {len(values):5d} {statistics.median(values):8.2f} '
            f'{_percentile(values, 0.95):8.2f} {max(values):8.2f} {cpu:>10s}')


def _ratio(loaded: list[float], baseline: list[float], q: float) -> float:
    return _percentile(loaded, q) / _percentile(baseline, q)


def _report(baseline: Phase, loaded: Phase, published_fps: float, rate: float) -> None:
    print(f'{"state latency":44s} {"n":>5s} {"p50 ms":>8s} {"p95 ms":>8s} {"max ms":>8s} '
          f'{"bridge CPU":>10s}')
    for phase in (baseline, loaded):
        print(_row(f'{phase.name}, via bridge', phase.via_bridge_ms,
                   f'{phase.bridge_cpu_percent:.0f}%'))
        print(_row(f'{phase.name}, plain DDS', phase.via_dds_ms, ''))
    bridge = (loaded.via_bridge_ms, baseline.via_bridge_ms)
    dds = (loaded.via_dds_ms, baseline.via_dds_ms)
    print(f'loaded / baseline, via bridge: p50 x{_ratio(*bridge, 0.5):.2f}, '
          f'p95 x{_ratio(*bridge, 0.95):.2f}; plain DDS: p50 x{_ratio(*dds, 0.5):.2f}, '
          f'p95 x{_ratio(*dds, 0.95):.2f}')
    bridge_extra = [statistics.median(p.via_bridge_ms) - statistics.median(p.via_dds_ms)
                    for p in (baseline, loaded)]
    print(f'bridge adds (p50 via bridge - p50 plain DDS): baseline {bridge_extra[0]:.2f} ms, '
          f'loaded {bridge_extra[1]:.2f} ms')
    received = sum(loaded.frames.values())
    s = loaded.seconds
    print(f'images, frames/s: published {published_fps:.1f}; at the bridge: arrived over DDS '
          f'{loaded.delta("frames_received") / s:.1f}, replaced by a newer frame before '
          f'encoding {loaded.delta("frames_replaced_before_encoding") / s:.1f}, encoded '
          f'{loaded.delta("frames_encoded") / s:.1f} '
          f'({(loaded.last_report or {}).get("encode_ms_mean", float("nan"))} ms each), '
          f'replaced before sending {loaded.delta("images_replaced_before_sending") / s:.1f}, '
          f'sent {loaded.delta("images_sent") / s:.1f}; received by the client '
          f'{received / s:.1f} ({min(loaded.frames.values(), default=0) / s:.1f} for the '
          f'slowest camera)')
    print(f'JPEG: {loaded.jpeg_bytes / s / 1e6:.2f} MB/s, '
          f'{loaded.jpeg_bytes / max(received, 1) / 1e3:.1f} kB/frame; state messages via '
          f'bridge {len(baseline.via_bridge_ms) / baseline.seconds:.1f}/s baseline, '
          f'{len(loaded.via_bridge_ms) / s:.1f}/s loaded (published {rate:g}/s)')
    clients = [loaded.frames] + loaded.fanout
    nominal = rate * len(CAMERAS)   # the publisher's rate; its measured one spans another window
    for index, frames in enumerate(clients, start=1):
        fps = sum(frames.values()) / s
        print(f'client {index}/{len(clients)}: {fps:.1f} frames/s received of {nominal:g} '
              f'nominal ({100 * max(0.0, 1.0 - fps / nominal):.1f}% missed, latest wins), '
              f'slowest camera {min(frames.values(), default=0) / s:.1f}/s')


def _write_empty_fastdds_profile() -> str:
    """A profile file without settings: Fast DDS then keeps its defaults.

    The workspace's Python sets FASTDDS_DEFAULT_PROFILES_FILE only where it is
    unset, so pointing it at an empty profile is how every child process of
    the benchmark gets the defaults.
    """
    handle, path = tempfile.mkstemp(prefix='fastdds-defaults-', suffix='.xml')
    with os.fdopen(handle, 'w', encoding='utf-8') as profile:
        profile.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                      '<dds xmlns="http://www.eprosima.com"><profiles/></dds>\n')
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=10.0, help='length of each phase')
    parser.add_argument('--fastdds-defaults', action='store_true',
                        help="run every process on Fast DDS's default transports instead of "
                             "the stack's profile config/fastdds.xml")
    parser.add_argument('--clients', type=int, default=1,
                        help='WebSocket clients watching every camera in the loaded phase')
    parser.add_argument('--rate', type=float, default=RATE,
                        help='Hz of every camera and of the vehicle state')
    parser.add_argument('--publisher', type=int, metavar='DOMAIN', help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.clients < 1 or not options.rate > 0:
        parser.error('--clients must be >= 1 and --rate > 0')
    if options.publisher is not None:
        return run_publisher(options.publisher, options.rate)
    if options.fastdds_defaults:
        profile = _write_empty_fastdds_profile()
        atexit.register(os.unlink, profile)
        os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = profile
    # This process runs the WebSocket client and the DDS reference side by side; a short
    # GIL switch interval keeps either from delaying the other's timestamps (as in the bridge).
    sys.setswitchinterval(0.0005)
    domain = 100 + os.getpid() % 100   # a private DDS domain: no other run interferes
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    with tempfile.TemporaryDirectory() as data_dir:
        bridge = subprocess.Popen(
            [sys.executable, '-m', 'sentinel_bridge.foxglove_bridge_node', '--ros-args',
             '-p', f'port:={port}', '-p', f'auth_data_dir:={data_dir}',
             '-p', f'db_url:=sqlite:///{data_dir}/sentinel.db',
             '-p', 'discovery_period:=0.2', '--log-level', 'warn'], env=env)
        publisher = subprocess.Popen([sys.executable, __file__, '--publisher', str(domain),
                                      '--rate', str(options.rate)],
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        reference = DdsReference(domain)
        try:
            transport = 'defaults' if options.fastdds_defaults else 'config/fastdds.xml'
            print(f'bridge pid {bridge.pid} on port {port}, DDS domain {domain}, Fast DDS '
                  f'transports: {transport}, {options.seconds:g} s per phase')
            baseline, loaded = asyncio.run(_run(port, publisher, reference, options.seconds,
                                                psutil.Process(bridge.pid), options.clients,
                                                options.rate))
            out, _ = publisher.communicate(timeout=10)
            published_fps = json.loads(out.decode().strip().splitlines()[-1])['frames_per_s']
            _report(baseline, loaded, published_fps, options.rate)
        finally:
            reference.close()
            for process in (publisher, bridge):
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(10)
                    except subprocess.TimeoutExpired:
                        process.kill()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
