"""The bridge node end to end: ROS in, a real Foxglove WebSocket client out, gated services.

The node runs in-process with real rclpy and DDS; the client is the plain
``websockets`` implementation in ``foxglove_client`` (not foxglove-sdk), so
what is checked is what the Foxglove app would receive.
"""

import asyncio
import json
import os
import threading
import time

import numpy as np
import pytest
import rclpy
import simplejpeg
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from sentinel_msgs.msg import VehicleState
from sentinel_msgs.srv import TriggerEstop

from sentinel_bridge import foxglove_topics as topics
from sentinel_bridge.auth import DEFAULT_AUDIENCE, SECRET_ENV_VAR, Role, TokenService
from sentinel_bridge.foxglove_bridge_node import FoxgloveBridgeNode
from sentinel_bridge.foxglove_client import FoxgloveClient, protobuf_fields
from sentinel_bridge.persistence import store
from sentinel_bridge.persistence.database import Database
from sentinel_common.qos import SENSOR_QOS

pytestmark = pytest.mark.ros

SECRET = 'e2e-secret-0123456789abcdef0123456789'
CAMERA = 'cam_test'
VEHICLE = 'drone_9'
TIMEOUT = 15.0   # s, generous for two slow cores
# A DDS domain of its own, so that no other test or running system on this host answers
# the bridge's e-stop call or sees its stub.
DOMAIN = 120 + os.getpid() % 100


@pytest.fixture
def graph(monkeypatch, tmp_path):
    """The bridge, a helper node publishing a camera and a vehicle, and a stub e-stop server."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    rclpy.init(domain_id=DOMAIN)
    bridge = FoxgloveBridgeNode(parameter_overrides=[
        Parameter('port', value=0), Parameter('auth_data_dir', value=str(tmp_path)),
        Parameter('db_url', value=f'sqlite:///{tmp_path}/sentinel.db'),
        Parameter('discovery_period', value=0.2), Parameter('scene_rate', value=10.0),
        Parameter('service_timeout', value=5.0)])
    helper = Node('e2e_helper')
    estops = []

    def serve_estop(request, response):
        estops.append(request)
        response.status.estop_engaged = True
        return response

    helper.create_service(TriggerEstop, '/safety/trigger_estop', serve_estop)
    images = helper.create_publisher(Image, f'/cameras/{CAMERA}/image_raw', SENSOR_QOS)
    states = helper.create_publisher(VehicleState, f'/vehicles/{VEHICLE}/state', SENSOR_QOS)
    executor = SingleThreadedExecutor()
    executor.add_node(bridge)
    executor.add_node(helper)
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    def publish():
        pixels = np.zeros((48, 64, 3), np.uint8)
        pixels[..., 1] = 180   # green
        image = Image(width=64, height=48, encoding='rgb8', step=64 * 3,
                      data=pixels.tobytes())
        state = VehicleState(vehicle_id=VEHICLE, mode='GUIDED', armed=True,
                             battery_remaining=0.5)
        state.position.x, state.position.y, state.position.z = 3.0, 4.0, 12.0
        while not stop.is_set():
            now = bridge.get_clock().now().to_msg()
            image.header.stamp = state.header.stamp = now
            images.publish(image)
            states.publish(state)
            time.sleep(0.1)

    threads = [threading.Thread(target=spin), threading.Thread(target=publish)]
    for thread in threads:
        thread.start()
    try:
        yield bridge, estops
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        bridge.destroy_node()
        helper.destroy_node()
        rclpy.try_shutdown()


async def _receive(client, wanted, timeout):
    """The first message of each wanted topic."""
    got = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while set(wanted) - set(got):
        message = await client.next_message(deadline - loop.time())
        got.setdefault(message.topic, message)
    return got


def test_client_receives_jpeg_and_vehicle_state_and_only_operators_may_stop(graph, tmp_path):
    bridge, estops = graph
    image_topic = topics.camera_image(CAMERA)
    state_topic = topics.vehicle_status(VEHICLE)
    tokens = TokenService(SECRET.encode(), DEFAULT_AUDIENCE, 600.0)

    async def scenario():
        url = f'ws://127.0.0.1:{bridge._server.port}'
        async with await FoxgloveClient.connect(url) as client:
            wanted = [image_topic, state_topic, topics.SCENE_STATIC]
            await client.wait_for_channels(wanted, TIMEOUT)
            assert client.channels[image_topic]['schemaName'] == 'foxglove.CompressedImage'
            assert client.channels[state_topic]['encoding'] == 'json'
            assert client.channels[topics.SCENE_STATIC]['schemaName'] == 'foxglove.SceneUpdate'
            await client.subscribe(wanted)
            # The static scene was published before this client connected: it is latched.
            got = await _receive(client, wanted, TIMEOUT)

            fields = protobuf_fields(got[image_topic].payload)
            assert fields[3] == [b'jpeg'] and fields[4] == [f'{CAMERA}_optical'.encode()]
            pixels = simplejpeg.decode_jpeg(fields[2][0])
            assert pixels.shape == (48, 64, 3) and pixels[..., 1].mean() > 160
            state = json.loads(got[state_topic].payload)
            assert state['vehicle_id'] == VEHICLE and state['mode'] == 'GUIDED'
            assert (state['x'], state['y'], state['z']) == (3.0, 4.0, 12.0)

            assert topics.SERVICE_ESTOP in client.services
            viewer = await client.call_service(topics.SERVICE_ESTOP, {
                'token': tokens.issue('victor', Role.VIEWER), 'reason': 'try'}, TIMEOUT)
            assert not viewer.ok and 'not authorized' in viewer.message
            assert estops == []

            operator = await client.call_service(topics.SERVICE_ESTOP, {
                'token': tokens.issue('olivia', Role.OPERATOR), 'reason': 'intruder at gate'},
                TIMEOUT)
            assert operator.ok, operator.message
            assert json.loads(operator.payload) == {
                'ok': True, 'error_code': 0, 'error_msg': '', 'estop_engaged': True,
                'requested_by': 'olivia'}

    asyncio.run(scenario())
    (request,) = estops
    assert request.requested_by == 'olivia' and request.reason == 'intruder at gate'
    assert bridge._server.stats.images_encoded >= 1

    # Both the refusal and the e-stop are in the operator API's audit chain.
    assert bridge._audit.wait_idle(TIMEOUT)
    database = Database.open(f'sqlite:///{tmp_path}/sentinel.db')
    try:
        with database.read() as session:
            entries = store.query_audit(session, store.AuditFilter())
            report = store.verify_audit(session)
    finally:
        database.close()
    assert [(e.actor, e.action, e.target, e.outcome) for e in entries] == [
        ('victor', 'permission_denied', 'foxglove trigger_estop', 'refused'),
        ('olivia', 'engage_estop', 'fleet', 'engaged')]
    detail = json.loads(entries[1].detail_json)
    assert detail['via'] == 'foxglove' and detail['reason'] == 'intruder at gate'
    assert report.ok and report.checked == 2
