"""The MAVLink path's I/O thread with fake connections: heartbeats, stops, acks, slow opens."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_safety.config import MavlinkConfig
from sentinel_safety.domain import VehicleType
from sentinel_safety.mavlink_path import Endpoint, MavlinkPath, open_connection
from sentinel_safety.stop_commands import COPTER_BRAKE, StopKind

CONFIG = MavlinkConfig(source_system=250, source_component=190, heartbeat_period=0.1,
                       resend_interval=0.05, command_timeout=1.0)
WAIT = 5.0           # s, longest wait for an expected send
SLOW_OPEN = 1.5      # s a fake TCP connect blocks


class FakeMav:
    """Records what would go on the wire."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...], float]] = []
        self.lock = threading.Lock()

    def heartbeat_send(self, *args: Any) -> None:
        with self.lock:
            self.sent.append(('HEARTBEAT', args, time.monotonic()))

    def command_long_send(self, *args: Any) -> None:
        with self.lock:
            self.sent.append(('COMMAND_LONG', args, time.monotonic()))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [args for name, args, _ in self.sent if name == kind]


class FakeConnection:
    """A connection whose incoming messages the test injects (a socket pair wakes the selector)."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = options
        self._ours, self._theirs = socket.socketpair()
        self._ours.setblocking(False)
        self.fd = self._ours.fileno()
        self.mav = FakeMav()
        self.inbox: list[Any] = []
        self.lock = threading.Lock()

    def inject(self, msg: Any) -> None:
        with self.lock:
            self.inbox.append(msg)
        self._theirs.send(b'x')

    def recv_msg(self) -> Any:
        try:
            self._ours.recv(64)
        except BlockingIOError:
            pass
        with self.lock:
            return self.inbox.pop(0) if self.inbox else None

    def close(self) -> None:
        self._ours.close()
        self._theirs.close()


class Factory:
    """Stands in for mavutil.mavlink_connection; TCP opens block like a slow handshake."""

    def __init__(self) -> None:
        self.made: dict[str, FakeConnection] = {}

    def __call__(self, device: str, **options: Any) -> FakeConnection:
        if device.startswith('tcp:'):
            time.sleep(SLOW_OPEN)
        self.made[device] = FakeConnection(device, **options)
        return self.made[device]


def message(kind: str, system: int, **fields: Any) -> Any:
    """A decoded message as pymavlink would hand it over, from ``system``."""
    encoder = mavlink.MAVLink(None, system, 1)
    if kind == 'HEARTBEAT':
        msg = encoder.heartbeat_encode(mavlink.MAV_TYPE_QUADROTOR,
                                       mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                       fields.get('base_mode', 0), fields['custom_mode'], 0)
    else:
        msg = encoder.command_ack_encode(fields['command'], fields['result'], 0, 0,
                                         fields['target_system'], 190)
    return mavlink.MAVLink(None).parse_buffer(msg.pack(encoder))[0]


def wait_for(predicate: Any, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < WAIT, f'not within {WAIT} s: {what}'
        time.sleep(0.005)
    return time.monotonic() - start


def test_serial_urls_are_split_for_pymavlink() -> None:
    factory = Factory()
    open_connection(factory, '/dev/ttyUSB0,57600', 250, 190)
    assert factory.made['/dev/ttyUSB0'].options == {'source_system': 250, 'source_component': 190,
                                                   'retries': 0, 'baud': 57600}
    open_connection(factory, 'udpout:127.0.0.1:14551', 250, 190)
    assert 'baud' not in factory.made['udpout:127.0.0.1:14551'].options


def test_stops_heartbeats_and_acks_with_a_slow_neighbour() -> None:
    factory = Factory()
    path = MavlinkPath([Endpoint('drone_1', 'udpout:127.0.0.1:14551', 1, VehicleType.DRONE),
                        Endpoint('rover_1', 'tcp:10.0.0.9:5760', 11, VehicleType.GROUND)],
                       CONFIG, logging.getLogger('test.mavlink_path'), connect=factory)
    path.start()
    try:
        wait_for(lambda: 'udpout:127.0.0.1:14551' in factory.made, 'the UDP link')
        drone = factory.made['udpout:127.0.0.1:14551']
        started = time.monotonic()
        path.request_stop('drone_1', StopKind.BRAKE, latched=True, reason='test')
        wait_for(lambda: drone.mav.of('COMMAND_LONG'), 'the BRAKE command')
        assert time.monotonic() - started < SLOW_OPEN / 2, 'delayed by the TCP neighbour'
        target, component, command, confirmation, *params = drone.mav.of('COMMAND_LONG')[0]
        assert (target, component, command, confirmation) == (1, 1, mavlink.MAV_CMD_DO_SET_MODE, 0)
        assert params[1] == COPTER_BRAKE
        wait_for(lambda: len(drone.mav.of('COMMAND_LONG')) >= 3, 'resends')
        assert [args[3] for args in drone.mav.of('COMMAND_LONG')][:3] == [0, 1, 2]
        drone.inject(message('COMMAND_ACK', 1, command=mavlink.MAV_CMD_DO_SET_MODE,
                             result=mavlink.MAV_RESULT_ACCEPTED, target_system=250))
        drone.inject(message('HEARTBEAT', 1, custom_mode=COPTER_BRAKE,
                             base_mode=mavlink.MAV_MODE_FLAG_SAFETY_ARMED))
        wait_for(lambda: path.views()['drone_1'].custom_mode == COPTER_BRAKE, 'the heartbeat')
        sent = len(drone.mav.of('COMMAND_LONG'))
        time.sleep(0.3)
        assert len(drone.mav.of('COMMAND_LONG')) == sent, 'resent after the ack'
        view = path.views()['drone_1']
        assert view.armed and view.pending is None and view.last_heartbeat is not None
        assert len(drone.mav.of('HEARTBEAT')) >= 2   # GCS heartbeat every 0.1 s here
        assert drone.mav.of('HEARTBEAT')[0][0] == mavlink.MAV_TYPE_GCS
        wait_for(lambda: 'tcp:10.0.0.9:5760' in factory.made, 'the TCP link, eventually')
        # A message from another system on the link is not taken for the vehicle's.
        drone.inject(message('HEARTBEAT', 7, custom_mode=4))
        time.sleep(0.1)
        assert path.views()['drone_1'].custom_mode == COPTER_BRAKE
        assert path.alive
    finally:
        path.close()
    assert not path.alive
