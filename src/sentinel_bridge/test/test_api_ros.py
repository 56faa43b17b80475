"""In-process ROS test: the real operator_api node (rclpy + uvicorn) against stub services.

A stub node serves /safety/command_vehicle and /alerts/acknowledge and
publishes on /alerts, as the safety watchdog and fusion would. Over real HTTP
on a free port: a goto is answered with the stub's verdict, and a published
alert shows up in GET /alerts and on the live SSE stream.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sentinel_msgs.msg import Alert, SafetyVerdict
from sentinel_msgs.srv import AcknowledgeAlert, CommandVehicle

from sentinel_bridge import accounts
from sentinel_bridge.auth import Role
from sentinel_bridge.operator_api.server import make_server
from sentinel_bridge.operator_api_node import OperatorApiNode
from sentinel_bridge.persistence.database import Database
from sentinel_common.qos import EVENT_QOS

# Seconds allowed for discovery, a round trip or an event to arrive.
DEADLINE_S = 20.0
OPERATOR = 'op_one'
PASSWORD = 'op one long password'


class StubSafetyAndFusion(Node):
    """Answers like the safety gate (refusing with a geofence reason) and owns alerts."""

    def __init__(self) -> None:
        super().__init__('stub_safety_and_fusion')
        self.commands: list[object] = []
        self.create_service(CommandVehicle, '/safety/command_vehicle', self._command)
        self.create_service(AcknowledgeAlert, '/alerts/acknowledge', self._acknowledge)
        self.alerts = self.create_publisher(Alert, '/alerts', EVENT_QOS)

    def _command(self, request, response):
        self.commands.append(request.command)
        response.command = request.command
        response.command.verdict.decision = SafetyVerdict.REFUSED
        response.command.verdict.reasons = ['geofence: target 40 m outside the inclusion zone']
        response.command.verdict.checks_failed = ['geofence']
        response.error_code = CommandVehicle.Response.ERROR_REFUSED
        response.error_msg = 'refused by the safety gate'
        return response

    def _acknowledge(self, request, response):
        response.alert.alert_id = request.alert_id
        response.alert.state = Alert.STATE_ACKNOWLEDGED
        response.alert.acknowledged_by = request.operator_id
        return response


def _spin_in_thread(node: Node) -> tuple[SingleThreadedExecutor, threading.Thread]:
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return executor, thread


@pytest.fixture
def running_api(tmp_path) -> Iterator[tuple[str, StubSafetyAndFusion]]:
    db_url = f'sqlite:///{tmp_path}/ros.db'
    database = Database.open(db_url)
    accounts.add_user(database, OPERATOR, Role.OPERATOR, PASSWORD, 'test')
    database.close()
    rclpy.init()
    node = OperatorApiNode(parameter_overrides=[
        Parameter('port', value=0), Parameter('db_url', value=db_url),
        Parameter('data_dir', value=str(tmp_path / 'data')),
        Parameter('service_timeout_s', value=10.0)])
    stub = StubSafetyAndFusion()
    executors = [_spin_in_thread(node), _spin_in_thread(stub)]
    server = make_server(node.app, node.get_logger())
    http = threading.Thread(target=server.run, kwargs={'sockets': [node.socket]}, daemon=True)
    http.start()
    try:
        assert _wait(lambda: server.started, DEADLINE_S), 'uvicorn did not start'
        yield f'http://127.0.0.1:{node.port}', stub
    finally:
        server.should_exit = True
        http.join(10.0)
        for executor, thread in executors:
            executor.shutdown(timeout_sec=2.0)
            thread.join(5.0)
        stub.destroy_node()
        node.destroy_node()
        rclpy.try_shutdown()


def _wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _read_stream(url: str, headers: dict[str, str], events: list[tuple[str, dict]],
                 connected: threading.Event, stop: threading.Event) -> None:
    with httpx.Client(timeout=DEADLINE_S) as client:
        with client.stream('GET', f'{url}/stream', headers=headers) as response:
            connected.set()
            kind = ''
            for line in response.iter_lines():
                if line.startswith('event: '):
                    kind = line[len('event: '):]
                elif line.startswith('data: '):
                    events.append((kind, json.loads(line[len('data: '):])))
                if stop.is_set():
                    return


def test_http_goto_gets_the_stub_verdict_and_alerts_reach_api_and_stream(running_api):
    url, stub = running_api
    with httpx.Client(base_url=url, timeout=DEADLINE_S) as client:
        token = client.post('/auth/token', data={'username': OPERATOR, 'password': PASSWORD})
        assert token.status_code == 200, token.text
        headers = {'Authorization': f"Bearer {token.json()['access_token']}"}

        response = client.post('/vehicles/drone_2/commands', headers=headers, json={
            'command': 'goto', 'target': {'x': 410.0, 'y': -20.0, 'z': 25.0}, 'speed_limit': 6.0})
        assert response.status_code == 200, response.text
        verdict = response.json()
        assert verdict['decision'] == 'refused' and not verdict['accepted']
        assert verdict['reasons'] == ['geofence: target 40 m outside the inclusion zone']
        assert verdict['checks_failed'] == ['geofence']
        (sent,) = stub.commands
        assert (sent.vehicle_id, sent.issued_by, sent.target.x) == ('drone_2', OPERATOR, 410.0)
        assert sent.command_id == verdict['command_id']

        events: list[tuple[str, dict]] = []
        connected, stop = threading.Event(), threading.Event()
        reader = threading.Thread(target=_read_stream, args=(url, headers, events, connected, stop),
                                  daemon=True)
        reader.start()
        assert connected.wait(DEADLINE_S)

        alert = Alert()
        alert.header.stamp = stub.get_clock().now().to_msg()
        alert.alert_id = 'intrusion-north-gate-7'
        alert.severity = Alert.SEVERITY_CRITICAL
        alert.category = 'intrusion'
        alert.zone_id = 'north_gate'
        alert.description = 'person at the north gate'

        def alert_listed() -> bool:
            stub.alerts.publish(alert)   # republished until seen: discovery takes a moment
            listed = client.get('/alerts', headers=headers).json()
            return any(a['alert_id'] == alert.alert_id for a in listed)

        assert _wait(alert_listed, DEADLINE_S), 'the alert never reached GET /alerts'
        assert _wait(lambda: any(k == 'alert' and d['alert_id'] == alert.alert_id
                                 for k, d in events), DEADLINE_S), f'stream saw {events}'
        stop.set()
        detail = client.get(f'/alerts/{alert.alert_id}', headers=headers).json()
        assert (detail['severity'], detail['state'], detail['zone_id']) == (
            'critical', 'new', 'north_gate')

        acked = client.post(f'/alerts/{alert.alert_id}/acknowledge', headers=headers, json={})
        assert acked.status_code == 200 and acked.json()['acknowledged_by'] == OPERATOR
        health = client.get('/health').json()
        assert health['database'] == 'ok'
