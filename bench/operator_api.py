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

The baseline is a bare FastAPI application (one ``async def`` endpoint
answering a constant) served by uvicorn with the API's own settings in a
process of its own: what any request costs on this machine at this moment.
For it, ``GET /fleet``, ``GET /safety/status`` and ``POST /estop`` (which
also calls the watchdog and stores the e-stop event and its audit entry before
answering) it prints p50 / p95 / p99 / max latency and requests/s for one
client and for ``--clients`` concurrent clients (default 50), measured in the
same run, and each p99 as a multiple of the baseline's p99 with as many
clients. The clients share the machine with the servers (two cores here),
which inflates the loaded figures.

Run: ``.venv/bin/python bench/operator_api.py [--clients 50] [--requests 20]`` (about 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
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
from fastapi import FastAPI
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sentinel_msgs.msg import FleetState, SafetyStatus, VehicleState
from sentinel_msgs.srv import TriggerEstop

from sentinel_bridge import accounts
from sentinel_bridge.auth import Role
from sentinel_bridge.operator_api.server import bind_socket, make_server
from sentinel_bridge.persistence.database import Database
from sentinel_common.qos import LATCHED_QOS, SENSOR_QOS

USER = 'bench_operator'
PASSWORD = 'bench password 0123456789'
VEHICLES = 5
FLEET_RATE = 10.0             # Hz of /fleet/state
STARTUP_TIMEOUT = 120.0       # s for the API process to listen and see the fleet
KEEPALIVE_EXPIRY_S = 4.0      # s a client keeps an idle connection (uvicorn closes at 5 s)
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


def serve_bare() -> None:
    """The baseline: a bare FastAPI app on uvicorn as the API configures it; prints its port."""
    app = FastAPI()

    @app.get('/bare')
    async def bare() -> dict[str, object]:
        return {'stamp': None, 'vehicles': []}

    sock = bind_socket('127.0.0.1', 0)
    print(sock.getsockname()[1], flush=True)
    make_server(app, logging.getLogger('bare')).run(sockets=[sock])


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]

BASELINE = 'bare FastAPI'
ENDPOINTS: dict[str, Request] = {
    'GET /fleet': lambda client: client.get('/fleet'),
    'GET /safety/status': lambda client: client.get('/safety/status'),
    'POST /estop': lambda client: client.post('/estop', json={'reason': 'benchmark'}),
}


async def _client(url: str, token: str, request: Request, count: int,
                  latencies: list[float], failures: Counter[int], ready: asyncio.Queue[None],
                  start: asyncio.Event) -> None:
    # A connection idle for longer than uvicorn's keep-alive timeout (5 s) is closed
    # by the server, possibly just as a request is sent on it: let the client drop it
    # first and reconnect (only slow warm-ups ever leave a connection idle that long).
    async with httpx.AsyncClient(base_url=url, timeout=60.0,
                                 limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S),
                                 headers={'Authorization': f'Bearer {token}'}) as client:
        await request(client)          # connect and warm up outside the measurement
        ready.put_nowait(None)
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
    ready: asyncio.Queue[None] = asyncio.Queue()
    start = asyncio.Event()
    tasks = [asyncio.create_task(_client(url, token, request, count, latencies, failures,
                                         ready, start)) for _ in range(clients)]
    for _ in range(clients):           # start as soon as every client is connected
        await ready.get()
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


async def run(url: str, bare_url: str, token: str, clients: int, count: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0,
                                 headers={'Authorization': f'Bearer {token}'}) as probe:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len((await probe.get('/fleet')).json().get('vehicles', [])) < VEHICLES:
            if time.monotonic() > deadline:
                raise RuntimeError('the API never saw the fleet')
            await asyncio.sleep(0.2)
    print(f'{"endpoint":20s} {"clients":>7s} {"n":>6s} {"p50 ms":>8s} {"p95 ms":>8s} '
          f'{"p99 ms":>8s} {"max ms":>8s} {"req/s":>7s} {"p99 x base":>10s}  not 200')
    targets = [(BASELINE, bare_url, lambda client: client.get('/bare')),
               *((name, url, request) for name, request in ENDPOINTS.items())]
    for target, path in ((bare_url, '/bare'), (url, '/fleet')):
        # Untimed: the first burst after start pays for connection pools, worker
        # threads and lazily built code paths, whichever endpoint comes first.
        await measure(target, token, lambda client, path=path: client.get(path), clients, 2)
    baseline_p99: dict[int, float] = {}
    for name, target, request in targets:
        for concurrency, per_client in ((1, count * 2), (clients, count)):
            values, rate, failures = await measure(target, token, request, concurrency,
                                                   per_client)
            p99 = percentile(values, 0.99)
            baseline_p99.setdefault(concurrency, p99)
            print(f'{name:20s} {concurrency:7d} {len(values):6d} {statistics.median(values):8.1f} '
                  f'{percentile(values, 0.95):8.1f} {p99:8.1f} {max(values):8.1f} {rate:7.0f} '
                  f'{p99 / baseline_p99[concurrency]:10.1f}  {dict(failures) or "-"}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--clients', type=int, default=50, help='concurrent clients')
    parser.add_argument('--requests', type=int, default=20, help='requests per client')
    parser.add_argument('--graph', type=int, metavar='DOMAIN', help=argparse.SUPPRESS)
    parser.add_argument('--bare', action='store_true', help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.bare:
        serve_bare()
        return 0
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
        bare = subprocess.Popen([sys.executable, __file__, '--bare'], stdout=subprocess.PIPE,
                                text=True)
        api, port = start_api(directory, domain)
        try:
            assert bare.stdout is not None
            bare_url = f'http://127.0.0.1:{int(bare.stdout.readline())}'
            url = f'http://127.0.0.1:{port}'
            token = httpx.post(f'{url}/auth/token', data={'username': USER, 'password': PASSWORD},
                               timeout=30.0).json()['access_token']
            print(f'operator_api pid {api.pid} on {url}, DDS domain {domain}, SQLite; '
                  f'{options.clients} clients x {options.requests} requests per endpoint')
            asyncio.run(run(url, bare_url, token, options.clients, options.requests))
            served, _ = graph.communicate(timeout=30)
            print(f'e-stop calls served by the stub watchdog: {served.strip()}')
        except httpx.HTTPError:
            if api.poll() is not None:
                print(f'operator_api exited with {api.returncode}:\n' + (
                    directory / 'operator_api.log').read_text(encoding='utf-8')[-3000:])
            raise
        finally:
            for process in (api, graph, bare):
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(15)
                    except subprocess.TimeoutExpired:
                        process.kill()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
