"""System test: the operator flow of the README, through both doors, against running nodes.

The simulator (substation, no rendering), vehicle interface, safety watchdog,
mission control, operator API and Foxglove bridge run as separate processes
on a DDS domain of their own, with the namespaces launch gives them. This test
is the outside world: the user CLI creates the accounts, an HTTP client and a
Foxglove WebSocket client act as operators, and a small rclpy node stands in
for the alert owner (it raises an alert on ``/alerts`` and serves
``/alerts/acknowledge``, which perception's fusion does in the full system).

In order: accounts are created; the operator and two supervisors log in; the
live fleet is read through the API and through a Foxglove state channel; an
alert is acknowledged; a goto out of the geofence is answered with the safety
gate's refusal; the operator engages the e-stop from Foxglove; one supervisor
alone cannot release it, two can; and the audit chain, read and verified
through the API, holds every one of these actions, the Foxglove one included.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sentinel_msgs.msg import Alert
from sentinel_msgs.srv import AcknowledgeAlert

from sentinel_bridge import foxglove_topics as topics
from sentinel_bridge.foxglove_client import FoxgloveClient
from sentinel_common.qos import EVENT_QOS

sys.path.insert(0, str(Path(__file__).parent))
import sim_system  # noqa: E402
from sim_system import POLICY, SITE, NodeProcesses, node_env, write_site  # noqa: E402

DRONE = 'drone_1'
OPERATOR, SUPERVISOR_A, SUPERVISOR_B = 'olga', 'sam', 'sue'
PASSWORD = 'correct horse battery staple'
ALERT_ID = 'flow-alert-1'
STARTUP_TIMEOUT = 150.0   # s, wall: six node processes with heavy imports on two busy cores
WAIT = 30.0               # s, wall: longest wait for any other expected change
HEALTH_CHECKS = {'stale_state', 'link_lost', 'gps_lost'}   # the gate's refusals while starting up
# Where the two servers say which port they took (both are started with port 0).
API_PORT = re.compile(r'operator API listening on http://127\.0\.0\.1:(\d+)')
FOXGLOVE_PORT = re.compile(r'Foxglove WebSocket on ws://127\.0\.0\.1:(\d+)')


def domain_id() -> int:
    """A DDS domain of this test's own, clear of the other system tests' domains."""
    return sim_system.domain_id(100, 60)


def port_offset() -> int:
    """Shifts the autopilots' UDP ports clear of `make run` and of the other system tests."""
    return sim_system.port_offset(4000)


def _authorise_accounts(data: dict[str, Any]) -> None:
    data['authorization']['estop_engage'].append(OPERATOR)
    data['authorization']['estop_release'] += [SUPERVISOR_A, SUPERVISOR_B]


def write_safety(directory: Path) -> Path:
    """config/safety.yaml with this run's accounts authorised and the e-stop latch kept here.

    The watchdog authorises principals by the names the API and the bridge
    vouch for, so the test's operator may engage and its supervisors release,
    as a site would list its own staff. Perception is not started: the grace
    for never-heard nodes is long.
    """
    return sim_system.write_safety(directory, _authorise_accounts)


@dataclass
class System(NodeProcesses):
    """The node processes of one run and their logs."""

    def wait_for(self, done: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        """Poll until done() is truthy (its value is returned), failing if a node died."""
        deadline = time.monotonic() + timeout
        while True:
            self.alive()
            value = done()
            if value:
                return value
            assert time.monotonic() < deadline, f'not within {timeout:.0f} s: {what}'
            time.sleep(0.2)

    def port(self, name: str, pattern: re.Pattern[str]) -> int:
        return int(self.wait_for(lambda: pattern.search(self.log(name)),
                                 f'{name} listening', STARTUP_TIMEOUT).group(1))


def add_user(db_url: str, name: str, role: str, env: dict[str, str]) -> None:
    """`sentinel-users add` as an administrator runs it (password on stdin)."""
    done = subprocess.run([sys.executable, '-m', 'sentinel_bridge.users_cli', '--db-url', db_url,
                           'add', name, '--role', role], input=PASSWORD + '\n', text=True,
                          capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def system(tmp_path: Path) -> Iterator[tuple[System, str]]:
    offset = port_offset()
    site = write_site(tmp_path, offset)
    db_url = f'sqlite:///{tmp_path}/sentinel.db'
    env = node_env(domain_id())
    env.pop('SENTINEL_JWT_SECRET', None)   # the two servers must share the secret file
    for name, role in ((OPERATOR, 'operator'), (SUPERVISOR_A, 'supervisor'),
                       (SUPERVISOR_B, 'supervisor')):
        add_user(db_url, name, role, env)
    running = System(tmp_path, env)
    try:
        running.start_simulator(offset, '/sim')
        running.start('vehicle_interface', 'sentinel_control.vehicle_interface_node',
                      {'site_config': site}, '/control')
        running.start('watchdog', 'sentinel_safety.safety_watchdog_node',
                      {'site_config': site, 'safety_config': write_safety(tmp_path)}, '/safety')
        running.start('mission_control', 'sentinel_control.mission_control_node',
                      {'site_config': site, 'response_policy': POLICY}, '/control')
        running.start('operator_api', 'sentinel_bridge.operator_api_node',
                      {'port': 0, 'db_url': db_url, 'data_dir': tmp_path}, '/bridge')
        running.start('foxglove_bridge', 'sentinel_bridge.foxglove_bridge_node',
                      {'port': 0, 'db_url': db_url, 'auth_data_dir': tmp_path,
                       'site_config': SITE},   # scenery only: the unshifted ports are not used
                      '/bridge')
        yield running, db_url
    finally:
        running.interrupt_all()


class AlertOwner:
    """Raises one alert and answers acknowledgements of it, as fusion does for its own."""

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id())
        self.node = Node('flow_alert_owner', context=self.context)
        self.alert = Alert(alert_id=ALERT_ID, severity=Alert.SEVERITY_INFO, category='system',
                           state=Alert.STATE_NEW, description='operator flow test alert')
        self.publisher = self.node.create_publisher(Alert, '/alerts', EVENT_QOS)
        self.acknowledged_by: list[str] = []
        self.node.create_service(AcknowledgeAlert, '/alerts/acknowledge', self._acknowledge)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def raise_alert(self) -> None:
        now = self.node.get_clock().now().to_msg()
        self.alert.header.stamp = self.alert.first_raised = now
        self.publisher.publish(self.alert)

    def _acknowledge(self, request: Any, response: Any) -> Any:
        if request.alert_id != ALERT_ID:
            response.error_code = AcknowledgeAlert.Response.ERROR_UNKNOWN_ALERT
            response.error_msg = f'no alert {request.alert_id}'
            return response
        self.acknowledged_by.append(request.operator_id)
        self.alert.state = Alert.STATE_ACKNOWLEDGED
        self.alert.acknowledged_by = request.operator_id
        self.alert.header.stamp = self.node.get_clock().now().to_msg()
        self.publisher.publish(self.alert)
        response.alert = self.alert
        return response

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


async def foxglove_session(url: str, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read drone_1's state channel, log in, engage the e-stop; (state, e-stop answer)."""
    channel = topics.vehicle_status(DRONE)
    async with await FoxgloveClient.connect(url) as client:
        await client.wait_for_channels([channel], STARTUP_TIMEOUT)
        await client.subscribe([channel])
        while True:
            message = await client.next_message(WAIT)
            if message.topic == channel:
                state = json.loads(message.payload)
                break
        login = await client.call_service(topics.SERVICE_LOGIN, {'token': token}, WAIT)
        assert login.ok, login.message
        estop = await client.call_service(topics.SERVICE_ESTOP, {
            'scope': 'fleet', 'reason': 'intruder at the gate (flow test)'}, WAIT)
        assert estop.ok, estop.message
        return state, json.loads(estop.payload)


@pytest.mark.timeout(900)   # minutes of the whole stack on a loaded 2-core machine
def test_operator_flow_through_the_api_and_foxglove(system: tuple[System, str]) -> None:
    running, _db_url = system
    api_port = running.port('operator_api', API_PORT)
    foxglove_port = running.port('foxglove_bridge', FOXGLOVE_PORT)
    owner = AlertOwner()
    http = httpx.Client(base_url=f'http://127.0.0.1:{api_port}', timeout=WAIT)
    try:
        # Log in: one token per person, used for the API and for Foxglove alike.
        tokens = {}
        for name in (OPERATOR, SUPERVISOR_A, SUPERVISOR_B):
            answer = http.post('/auth/token', data={'username': name, 'password': PASSWORD})
            assert answer.status_code == 200, answer.text
            tokens[name] = {'Authorization': f'Bearer {answer.json()["access_token"]}'}
        wrong = http.post('/auth/token', data={'username': OPERATOR, 'password': 'not it at all'})
        assert wrong.status_code == 401

        # The live fleet through the API...
        def drone_in_fleet() -> dict[str, Any] | None:
            answer = http.get(f'/vehicles/{DRONE}', headers=tokens[OPERATOR])
            return answer.json() if answer.status_code == 200 else None

        vehicle = running.wait_for(drone_in_fleet, f'{DRONE} in GET /fleet', STARTUP_TIMEOUT)
        assert vehicle['vehicle_type'] == 'drone' and vehicle['link_state'] == 'ok'

        # ... an alert acknowledged by the operator, stored with its history...
        def alert_stored() -> bool:
            # Raised again until it lands: DDS may still be matching the API's subscription.
            owner.raise_alert()
            time.sleep(0.2)
            return http.get(f'/alerts/{ALERT_ID}', headers=tokens[OPERATOR]).status_code == 200

        running.wait_for(alert_stored, 'the alert stored by the API')
        acknowledged = http.post(f'/alerts/{ALERT_ID}/acknowledge', headers=tokens[OPERATOR],
                                 json={'note': 'on it'})
        assert acknowledged.status_code == 200, acknowledged.text
        assert acknowledged.json()['state'] == 'acknowledged'
        assert owner.acknowledged_by == [OPERATOR]

        # ... a vehicle sent out of the geofence: the answer is the safety gate's verdict
        # (repeated while the gate still refuses for start-up health alone).
        def verdict() -> dict[str, Any] | None:
            answer = http.post(f'/vehicles/{DRONE}/commands', headers=tokens[OPERATOR], json={
                'command': 'goto', 'target': {'x': -60.0, 'y': 200.0, 'z': 20.0},
                'speed_limit': 5.0})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            return None if set(body['checks_failed']) <= HEALTH_CHECKS else body

        goto = running.wait_for(verdict, 'a verdict on the goto beyond start-up health',
                                STARTUP_TIMEOUT)
        assert goto['decision'] == 'refused' and not goto['accepted']
        assert 'geofence' in goto['checks_failed'] and goto['reasons']

        # The same fleet, and the e-stop, through Foxglove with the operator's token.
        token = tokens[OPERATOR]['Authorization'].removeprefix('Bearer ')
        state, estop = asyncio.run(foxglove_session(f'ws://127.0.0.1:{foxglove_port}', token))
        assert state['vehicle_id'] == DRONE and state['mode']
        assert estop['ok'] and estop['estop_engaged'] and estop['requested_by'] == OPERATOR

        def safety() -> dict[str, Any]:
            answer = http.get('/safety/status', headers=tokens[OPERATOR])
            return answer.json() if answer.status_code == 200 else {}

        status = running.wait_for(lambda: safety().get('estop_engaged') and safety(),
                                  'the API sees the e-stop engaged')
        assert status['estop_engaged_by'] == OPERATOR and status['estop_scope'] == 'fleet'

        # Release: an operator may not ask; one supervisor alone cannot; two can.
        reason = {'vehicle_ids': [], 'reason': 'intruder gone, site checked'}
        assert http.post('/estop/release-requests', headers=tokens[OPERATOR],
                         json=reason).status_code == 403
        filed = http.post('/estop/release-requests', headers=tokens[SUPERVISOR_A], json=reason)
        assert filed.status_code == 201, filed.text
        confirm = f'/estop/release-requests/{filed.json()["request_id"]}/confirm'
        alone = http.post(confirm, headers=tokens[SUPERVISOR_A])
        assert alone.status_code == 409, alone.text
        assert safety()['estop_engaged']
        released = http.post(confirm, headers=tokens[SUPERVISOR_B])
        assert released.status_code == 200, released.text
        assert released.json()['released']
        assert (released.json()['first_approver'], released.json()['second_approver']) == (
            SUPERVISOR_A, SUPERVISOR_B)
        running.wait_for(lambda: safety() and not safety()['estop_engaged'],
                         'the API sees the e-stop released')

        # The audit chain, through the API: intact, with both doors' actions in it.
        def audit() -> list[dict[str, Any]]:
            answer = http.get('/audit', headers=tokens[SUPERVISOR_B], params={'limit': 1000})
            assert answer.status_code == 200, answer.text
            return answer.json()

        def foxglove_estop() -> list[dict[str, Any]]:
            return [e for e in audit() if e['action'] == 'engage_estop'
                    and e['detail'].get('via') == 'foxglove']

        (engaged,) = running.wait_for(foxglove_estop, 'the Foxglove e-stop in the audit log')
        assert (engaged['actor'], engaged['target'], engaged['outcome']) == (
            OPERATOR, 'fleet', 'engaged')
        actions = {(e['actor'], e['action'], e['outcome']) for e in audit()}
        assert {(OPERATOR, 'login', 'ok'), (OPERATOR, 'acknowledge_alert', 'ok'),
                (OPERATOR, 'command_vehicle', 'refused'),
                (OPERATOR, 'permission_denied', 'refused'),
                (SUPERVISOR_A, 'release_requested', 'waiting for a second supervisor'),
                (SUPERVISOR_B, 'release', 'released')} <= actions, sorted(actions)
        assert any(actor == SUPERVISOR_A and action == 'release_confirm'
                   for actor, action, _outcome in actions)
        entries = audit()
        verified = http.get('/audit/verify', headers=tokens[SUPERVISOR_B]).json()
        assert verified['ok'] and verified['first_broken_seq'] is None
        assert verified['checked'] == len(entries)
        assert verified['head_hash'] == entries[-1]['entry_hash']
    finally:
        http.close()
        owner.close()
