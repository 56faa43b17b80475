"""Transports, framing and MAVLink 2 signing, against the simulator's UDP hub where it matters."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control.mavlink_link import (LinkSettings, MavlinkLink, SigningError, SigningSettings,
                                           StreamRequester, load_signing_key, signing_key_from_text)
from sentinel_control.transport import (Endpoint, SerialTransport, TcpTransport, TransportError,
                                        open_transport, parse_url)
from sentinel_sim.autopilot import Autopilot, AutopilotConfig
from sentinel_sim.mavlink_endpoint import LinkConfig, MavlinkHub
from sentinel_sim.vehicle_types import BodyState, Vector3, VehicleKind

KEY = bytes(range(32))
WAIT_S = 5.0   # wall-clock limit for anything expected over loopback


@pytest.mark.parametrize('url,expected', [
    ('udpout:127.0.0.1:14551', Endpoint('udpout', '127.0.0.1', 14551)),
    ('udp:0.0.0.0:14550', Endpoint('udpin', '0.0.0.0', 14550)),
    ('tcp:10.0.0.5:5760', Endpoint('tcp', '10.0.0.5', 5760)),
    ('/dev/ttyUSB0,115200', Endpoint('serial', device='/dev/ttyUSB0', baud=115200)),
    ('/dev/ttyACM0', Endpoint('serial', device='/dev/ttyACM0', baud=57600)),
])
def test_urls(url: str, expected: Endpoint) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize('url', ['http://x', 'udpout:host', 'udpout:h:0', '/dev/ttyS0,12345'])
def test_bad_urls_say_why(url: str) -> None:
    with pytest.raises(TransportError):
        parse_url(url)


def test_signing_keys_from_hex_passphrase_env_and_file(tmp_path: Any) -> None:
    assert signing_key_from_text('00' * 32) == bytes(32)
    assert len(signing_key_from_text('correct horse')) == 32
    assert load_signing_key('KEY_VAR', '', {'KEY_VAR': KEY.hex()}) == KEY
    path = tmp_path / 'key'
    path.write_text(KEY.hex() + '\n', encoding='utf-8')
    assert load_signing_key('', str(path)) == KEY
    assert load_signing_key('', '') is None
    with pytest.raises(SigningError, match='KEY_VAR .* is not set'):
        load_signing_key('KEY_VAR', '', {})
    with pytest.raises(SigningError, match='not both'):
        load_signing_key('A', 'b')
    with pytest.raises(SigningError) as info:
        load_signing_key('', str(tmp_path / 'missing'))
    assert KEY.hex() not in str(info.value)
    assert KEY.hex() not in repr(SigningSettings(KEY)) and str(list(KEY)) not in repr(SigningSettings(KEY))


def _autopilot(system_id: int) -> Autopilot:
    ap = Autopilot(AutopilotConfig(system_id=system_id, kind=VehicleKind.DRONE, origin_lat_deg=40.0,
                                   origin_lon_deg=-105.0, origin_alt_m=1500.0, gps_noise_m=0.0))
    return ap


def _exchange(hub: MavlinkHub, autopilot: Autopilot, link: MavlinkLink, seconds: float = 0.6) -> list[Any]:
    """Heartbeat the hub from our link while stepping the autopilot, until a heartbeat comes back."""
    got: list[Any] = []
    body = BodyState(Vector3(), Vector3(), 0.0, 0.0, 0.0, True, False)
    end = time.monotonic() + seconds
    t = 0.0
    while time.monotonic() < end:
        link.send(link.gcs_heartbeat())
        hub.poll(t, timeout=0.01)
        out = autopilot.step(t, body)
        hub.send(autopilot.config.system_id, out.messages)
        t += 0.1
        got += link.read()
        if any(m.get_type() == 'HEARTBEAT' for m in got):
            break
        time.sleep(0.01)
    return got


def _link(port: int, system_id: int = 3, signing: SigningSettings | None = None) -> MavlinkLink:
    transport = open_transport(parse_url(f'udpout:127.0.0.1:{port}'))
    return MavlinkLink(LinkSettings('v', transport.endpoint, system_id, signing=signing), transport)


@pytest.mark.parametrize('hub_key,our_key,heard', [
    (KEY, KEY, True), (None, None, True), (KEY, bytes(32), False), (None, KEY, False), (KEY, None, False)],
    ids=['same key', 'no signing', 'wrong key', 'only we sign', 'only the vehicle signs'])
def test_signing_against_the_simulator_hub(hub_key: bytes | None, our_key: bytes | None, heard: bool) -> None:
    with MavlinkHub() as hub:
        autopilot = _autopilot(3)
        port = hub.add(LinkConfig(3, 0, signing_key=hub_key), autopilot).address[1]
        link = _link(port, signing=SigningSettings(our_key) if our_key else None)
        try:
            got = _exchange(hub, autopilot, link)
        finally:
            link.close()
    heartbeats = [m for m in got if m.get_type() == 'HEARTBEAT']
    assert bool(heartbeats) is heard
    if hub_key is None and our_key is not None:
        assert link.counters.bad_signatures > 0, 'unsigned packets are refused when we sign'


def test_packets_from_other_systems_are_counted_not_returned() -> None:
    with MavlinkHub() as hub:
        autopilot = _autopilot(3)
        port = hub.add(LinkConfig(3, 0), autopilot).address[1]
        link = _link(port, system_id=9)   # we expect system 9; the hub speaks as 3
        try:
            got = _exchange(hub, autopilot, link)
        finally:
            link.close()
    assert got == [] and link.counters.foreign > 0


def _free_port(kind: int) -> int:
    probe = socket.socket(socket.AF_INET, kind)
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_udpin_answers_whoever_spoke_first() -> None:
    port = _free_port(socket.SOCK_DGRAM)
    server = open_transport(parse_url(f'udpin:127.0.0.1:{port}'))
    ours = MavlinkLink(LinkSettings('v', server.endpoint, 5), server)
    vehicle = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    vehicle.bind(('127.0.0.1', 0))
    try:
        assert not ours.send(ours.gcs_heartbeat()), 'nobody to talk to yet'
        beat = mavlink.MAVLink_heartbeat_message(2, 3, 0, 0, 4, 3).pack(mavlink.MAVLink(None, 5, 1))
        vehicle.sendto(beat, ('127.0.0.1', port))
        deadline = time.monotonic() + WAIT_S
        got: list[Any] = []
        while not got and time.monotonic() < deadline:
            got = ours.read()
        assert got and got[0].get_type() == 'HEARTBEAT'
        assert ours.send(ours.gcs_heartbeat())
        vehicle.settimeout(WAIT_S)
        data, _ = vehicle.recvfrom(1024)
        parsed = mavlink.MAVLink(None).parse_buffer(data)
        assert parsed[0].get_srcSystem() == 255 and parsed[0].type == mavlink.MAV_TYPE_GCS
    finally:
        vehicle.close()
        ours.close()


def test_tcp_client_reconnects_to_a_tcpin_server() -> None:
    port = _free_port(socket.SOCK_STREAM)
    server = TcpTransport(parse_url(f'tcpin:127.0.0.1:{port}'))
    client = TcpTransport(parse_url(f'tcp:127.0.0.1:{port}'))
    try:
        now = 0.0
        deadline = time.monotonic() + WAIT_S
        received: list[bytes] = []
        while not received and time.monotonic() < deadline:
            client.maintain(now)
            server.read()                      # accepts
            client.write(b'hello')
            received = [d for d, _ in server.read()]
            now += 0.1
            time.sleep(0.01)
        assert b''.join(received).startswith(b'hello')
        server.close()
        for _ in range(5):
            client.read()
        assert client.fileno() == -1 or client.last_error, 'the client notices the server went away'
    finally:
        client.close()
        server.close()


def test_serial_transport_over_a_pty() -> None:
    master, slave = os.openpty()
    serial = SerialTransport(parse_url(f'{os.ttyname(slave)},115200'))
    try:
        serial.maintain(0.0)
        assert serial.fileno() >= 0, serial.last_error
        os.write(master, b'\xfd\x09abc')
        deadline = time.monotonic() + WAIT_S
        data = b''
        while len(data) < 5 and time.monotonic() < deadline:
            data += b''.join(d for d, _ in serial.read())
        assert data == b'\xfd\x09abc'
        assert serial.write(b'xyz') and os.read(master, 3) == b'xyz'
    finally:
        serial.close()
        os.close(master)
        os.close(slave)


def test_stream_requests_go_one_at_a_time_and_fall_back() -> None:
    requester = StreamRequester({33: 10.0, 1: 1.0}, ack_timeout=1.0, attempts=2)
    [first] = requester.restart(3, 1, 0.0)
    assert (first.command, first.param1, first.param2) == (mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 1.0, 1e6)
    ok = mavlink.MAVLink_command_ack_message(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0, 0, 0, 255, 190)
    [second] = requester.on_ack(ok, 0.1)
    assert (second.param1, second.param2) == (33.0, 1e5)
    assert requester.on_ack(ok, 0.2) == [] and not requester.busy and requester.failed == []
    requester.restart(3, 1, 1.0)
    unsupported = mavlink.MAVLink_command_ack_message(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL,
                                                      mavlink.MAV_RESULT_UNSUPPORTED, 0, 0, 255, 190)
    [fallback] = requester.on_ack(unsupported, 1.1)
    assert fallback.get_type() == 'REQUEST_DATA_STREAM' and fallback.req_message_rate == 10
    requester.restart(3, 1, 2.0)
    assert requester.tick(3.0)[0].confirmation == 1
    requester.tick(4.0)
    assert requester.failed == [1]
