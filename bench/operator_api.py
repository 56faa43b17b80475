#!/usr/bin/env python3
"""Benchmark of the operator API: latency of state reads and the e-stop under 50 clients.

Why: in an incident many operators and dashboards poll the fleet at once, and
the e-stop must still answer promptly. The real ``operator_api`` process runs
(uvicorn, token and account checks, SQLite through SQLAlchemy, rclpy) on a
private DDS domain; a second process plays the rest of the graph with one
rclpy node, which publishes a 5-vehicle ``/fleet/state`` at 10 Hz and the
latched ``/safety/status`` and serves ``/safety/trigger_estop`` (engaging at
once, so the figures are the API's, not the watchdog's); this one plays the
operators with asyncio HTTP clients, each with its own connection and token.

For ``GET /fleet``, ``GET /safety/status`` and ``POST /estop`` (which also
writes the e-stop event and its audit entry in one transaction) it prints
p50 / p95 / p99 / max latency and requests/s for one client (the baseline)
and for ``--clients`` concurrent clients (default 50), measured in the same
run, with the p99 ratio to the baseline's p50. The clients share the machine
with the server (two cores here), which inflates the loaded figures.

Run: ``.venv/bin/python bench/operator_api.py [--clients 50] [--requests 20]`` (about 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sentinel_msgs.msg import FleetState, SafetyStatus, VehicleState
from sentinel_msgs.srv import TriggerEstop

from sentinel_bridge import accounts
from sentinel_bridge.auth import Role
from sentinel_bridge.persistence.database import Database
from sentinel_common.qos import LATCHED_QOS, SENSOR_QOS

USER = 'bench_operator'
PASSWORD = 'bench password 0123456789'
VEHICLES = 5
FLEET_RATE = 10.0             # Hz of /fleet/state
STARTUP_TIMEOUT = 120.0       # s for the API process to listen and see the fleet
LISTENING = re.compile(r'operator API listening on http://127\.0\.0\.1:(\d+)')


class Graph:
    """The ROS side the API talks to: fleet and safety publishers, an e-stop server.

    Its own process, so that the HTTP clients' CPU use does not starve its executor.
    """

    def __init__(self, domain: int) -> None:
        rclpy.init(domain_id=domain)
        self.node = Node('operator_api_bench_graph')
        self.fleet = self.node.create_publisher(FleetState, '/fleet/state', SENSOR_QOS)
        self.safety = self.node.create_publisher(SafetyStatus, '/safety/status', LATCHED_QOS)
        self.estops = 0
        self.node.create_service(TriggerEstop, '/safety/trigger_estop', self._estop)
        self.node.create_timer(1.0 / FLEET_RATE, self._publish)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin)

    def spin_until_stdin_closes(self) -> None:
        """Serve until the measuring process closes stdin; then print the e-stop count."""
        self.thread.start()
        sys.stdin.read()
        print(self.estops, flush=True)

    def _publish(self) -> None:
        stamp = self.node.get_clock().now().to_msg()
        message = FleetState()
        message.header.stamp = stamp
        for index in range(VEHICLES):
            state = VehicleState(vehicle_id=f'drone_{index + 1}', mode='GUIDED', armed=True,
                                 battery_remaining=0.8)
            state.header.stamp = stamp
            state.position.x = float(index)
            message.vehicles.append(state)
        self.fleet.publish(message)
        status = SafetyStatus()
        status.header.stamp = stamp
        self.safety.publish(status)

    def _estop(self, request: TriggerEstop.Request, response: TriggerEstop.Response
               ) -> TriggerEstop.Response:
        self.estops += 1
        response.status.estop_engaged = True
        response.status.estop_engaged_by = request.requested_by
        return response

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown()


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]

ENDPOINTS: dict[str, Request] = {
    'GET /fleet': lambda client: client.get('/fleet'),
    'GET /safety/status': lambda client: client.get('/safety/status'),
    'POST /estop': lambda client: client.post('/estop', json={'reason': 'benchmark'}),
}


async def _client(url: str, token: str, request: Request, count: int,
                  latencies: list[float], failures: Counter[int], start: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60.0,
                                 headers={'Authorization': f'Bearer {token}'}) as client:
        await request(client)          # connect and warm up outside the measurement
        await start.wait()
        for _ in range(count):
            began = time.perf_counter()
            answer = await request(client)
            latencies.append((time.perf_counter() - began) * 1000.0)
            if answer.status_code != 200:
                failures[answer.status_code] += 1


async def measure(url: str, token: str, request: Request, clients: int,
                  count: int) -> tuple[list[float], float, Counter[int]]:
    """Latencies (ms) of clients x count requests, requests/s, and non-200 answers by status."""
    latencies: list[float] = []
    failures: Counter[int] = Counter()
    start = asyncio.Event()
    tasks = [asyncio.create_task(_client(url, token, request, count, latencies, failures, start))
             for _ in range(clients)]
    await asyncio.sleep(1.0)           # let every client connect
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    return latencies, len(latencies) / (time.perf_counter() - began), failures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_api(directory: Path, domain: int) -> tuple[subprocess.Popen[str], int]:
    log = (directory / 'operator_api.log').open('w', encoding='utf-8')
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1')
    process = subprocess.Popen(
        [sys.executable, '-m', 'sentinel_bridge.operator_api_node', '--ros-args',
         '-p', 'port:=0', '-p', f'db_url:=sqlite:///{directory}/sentinel.db',
         '-p', f'data_dir:={directory}'], stdout=log, stderr=subprocess.STDOUT, text=True,
        env=env)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        found = LISTENING.search((directory / 'operator_api.log').read_text(encoding='utf-8'))
        if found:
            return process, int(found.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError('operator_api did not start:\n'
                       + (directory / 'operator_api.log').read_text(encoding='utf-8')[-3000:])


async def run(url: str, token: str, clients: int, count: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0,
                                 headers={'Authorization': f'Bearer {token}'}) as probe:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len((await probe.get('/fleet')).json().get('vehicles', [])) < VEHICLES:
            if time.monotonic() > deadline:
                raise RuntimeError('the API never saw the fleet')
            await asyncio.sleep(0.2)
    print(f'{"endpoint":20s} {"clients":>7s} {"n":>6s} {"p50 ms":>8s} {"p95 ms":>8s} '
          f'{"p99 ms":>8s} {"max ms":>8s} {"req/s":>7s} {"p99/base p50":>12s}  not 200')
    for name, request in ENDPOINTS.items():
        base = await measure(url, token, request, 1, count * 2)
        base_p50 = statistics.median(base[0])
        for label, (values, rate, failures) in (
                ('1', base), (str(clients), await measure(url, token, request, clients, count))):
            print(f'{name:20s} {label:>7s} {len(values):6d} {statistics.median(values):8.1f} '
                  f'{percentile(values, 0.95):8.1f} {percentile(values, 0.99):8.1f} '
                  f'{max(values):8.1f} {rate:7.0f} {percentile(values, 0.99) / base_p50:12.1f}  '
                  f'{dict(failures) or "-"}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--clients', type=int, default=50, help='concurrent clients')
    parser.add_argument('--requests', type=int, default=20, help='requests per client')
    parser.add_argument('--graph', type=int, metavar='DOMAIN', help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.graph is not None:
        graph = Graph(options.graph)
        graph.spin_until_stdin_closes()
        graph.close()
        return 0
    if options.clients < 1 or options.requests < 1:
        parser.error('--clients and --requests must be >= 1')
    domain = 100 + os.getpid() % 100
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        database = Database.open(f'sqlite:///{directory}/sentinel.db')
        accounts.add_user(database, USER, Role.OPERATOR, PASSWORD, 'bench')
        database.close()
        graph = subprocess.Popen([sys.executable, __file__, '--graph', str(domain)],
                                 env=dict(os.environ, ROS_DOMAIN_ID=str(domain)),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        api, port = start_api(directory, domain)
        try:
            url = f'http://127.0.0.1:{port}'
            token = httpx.post(f'{url}/auth/token', data={'username': USER, 'password': PASSWORD},
                               timeout=30.0).json()['access_token']
            print(f'operator_api pid {api.pid} on {url}, DDS domain {domain}, SQLite; '
                  f'{options.clients} clients x {options.requests} requests per endpoint')
            asyncio.run(run(url, token, options.clients, options.requests))
            served, _ = graph.communicate(timeout=30)
            print(f'e-stop calls served by the stub watchdog: {served.strip()}')
        except httpx.HTTPError:
            if api.poll() is not None:
                print(f'operator_api exited with {api.returncode}:\n' + (
                    directory / 'operator_api.log').read_text(encoding='utf-8')[-3000:])
            raise
        finally:
            for process in (api, graph):
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(15)
                    except subprocess.TimeoutExpired:
                        process.kill()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
