"""MAVLink UDP endpoint: real sockets on loopback, pymavlink clients, one hub for many vehicles and GCSes."""

from __future__ import annotations

import importlib.util
import logging
import math
import socket
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim import geo
from sentinel_sim.autopilot import Autopilot, CopterMode
from sentinel_sim.mavlink_endpoint import MAX_PEERS, PEER_TIMEOUT_S, LinkConfig, LinkConfigError, MavlinkHub
from sentinel_sim.vehicle_types import Vector3, VehicleKind


def _harness() -> ModuleType:
    """The shared harness, loaded by path: pytest's importlib mode puts no test folder on sys.path."""
    name = 'sentinel_sim_autopilot_harness'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name('test_autopilot_harness.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


H = _harness()
WAIT_S = 10.0          # wall-clock limit for any one expected reply
KEY = bytes(range(32))  # a test signing key


def fast_drone(sysid: int) -> Any:
    return H.make_config(system_id=sysid, cruise_speed_m_s=10.0, rtl_altitude_m=10.0, rtl_loiter_s=0.0,
                         descent_speed_m_s=3.0, land_speed_m_s=3.0, gcs_timeout_s=30.0, auto_disarm_s=30.0)


class Client:
    """A GCS built on pymavlink's mavutil, the way scripts and MAVProxy talk to SITL.

    While it waits it sends a GCS heartbeat every ``beat_s`` seconds, and it keeps
    every message it receives in ``received``.
    """

    def __init__(self, port: int, source_system: int = 255, beat_s: float = 0.5, **kwargs: Any) -> None:
        self.conn = mavutil.mavlink_connection(f'udpout:127.0.0.1:{port}', source_system=source_system, **kwargs)
        self.beat_s = beat_s
        self.last_beat = 0.0
        self.received: list[Any] = []

    @property
    def address(self) -> tuple[str, int]:
        """The address the vehicle sees this GCS at (its socket is unbound: any interface, loopback here)."""
        return '127.0.0.1', self.conn.port.getsockname()[1]

    def close(self) -> None:
        self.conn.close()

    def beat(self) -> None:
        now = time.monotonic()
        if now - self.last_beat > self.beat_s:
            self.last_beat = now
            self.conn.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)

    def wait(self, msg_type: str, predicate: Any = None, timeout: float = WAIT_S) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.beat()
            msg = self.conn.recv_match(blocking=True, timeout=0.05)
            if msg is None:
                continue
            self.received.append(msg)
            if msg.get_type() == msg_type and (predicate is None or predicate(msg)):
                return msg
        raise AssertionError(f'no {msg_type} within {timeout} s')

    def listen(self, seconds: float) -> None:
        """Keep beating and receiving for a while."""
        with pytest.raises(AssertionError):
            self.wait('NEVER', timeout=seconds)

    def drain(self) -> list[Any]:
        """What has arrived, without waiting and without sending anything."""
        got = []
        while (msg := self.conn.recv_match(blocking=False)) is not None:
            got.append(msg)
        self.received.extend(got)
        return got

    def command(self, sysid: int, command: int, *params: float) -> int:
        values = (list(params) + [0.0] * 7)[:7]
        self.conn.mav.command_long_send(sysid, 1, command, 0, *values)
        return self.wait('COMMAND_ACK', lambda m: m.command == command).result

    def position(self, sysid: int, predicate: Any, timeout: float = WAIT_S) -> Any:
        return self.wait('GLOBAL_POSITION_INT', lambda m: m.get_srcSystem() == sysid and predicate(m), timeout)


def enu_of(msg: Any) -> Vector3:
    e, n, _ = geo.wgs84_to_enu(msg.lat / 1e7, msg.lon / 1e7, H.ORIGIN[2], *H.ORIGIN)
    return Vector3(e, n, msg.relative_alt / 1000.0)


def fly_with_mavutil(loop: Any, sysid: int) -> None:
    client = Client(loop.ports[sysid])
    try:
        client.beat()
        hb = client.wait('HEARTBEAT', lambda m: m.get_srcSystem() == sysid)
        assert (hb.type, hb.autopilot) == (mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA)
        assert client.conn.mavlink20()
        accepted = mavlink.MAV_RESULT_ACCEPTED
        assert client.command(sysid, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1) == accepted
        assert client.command(sysid, mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
                              CopterMode.GUIDED) == accepted
        client.wait('HEARTBEAT', lambda m: m.custom_mode == CopterMode.GUIDED
                    and m.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
        assert client.command(sysid, mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, math.nan, 0, 0, 8.0) == accepted
        client.position(sysid, lambda m: m.relative_alt > 7500)
        lat, lon, _ = geo.enu_to_wgs84(40.0, 30.0, 0.0, *H.ORIGIN)
        client.conn.mav.command_int_send(sysid, 1, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                                         mavlink.MAV_CMD_DO_REPOSITION, 0, 0, -1, 0, 0, math.nan,
                                         round(lat * 1e7), round(lon * 1e7), 12.0)
        ack = client.wait('COMMAND_ACK', lambda m: m.command == mavlink.MAV_CMD_DO_REPOSITION)
        assert ack.result == accepted
        there = client.position(sysid, lambda m: H.dist(enu_of(m), Vector3(40, 30, 12)) < 1.0)
        assert there.get_srcSystem() == sysid
        assert client.command(sysid, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH) == accepted
        client.position(sysid, lambda m: H.dist(enu_of(m), Vector3(0, 0, 0)) < 0.5, timeout=20.0)
        client.wait('HEARTBEAT', lambda m: not m.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED
                    and m.custom_mode == CopterMode.RTL)
    finally:
        client.close()


def test_two_vehicles_fly_over_udp_with_mavutil() -> None:
    with H.HubLoop([fast_drone(1), fast_drone(2)]) as loop:
        assert loop.ports[1] != loop.ports[2]
        fly_with_mavutil(loop, 1)
        assert loop.physics[2].position == Vector3()   # the other vehicle did not move
        fly_with_mavutil(loop, 2)
        assert loop.autopilots[1].snapshot()['armed'] is False


def test_two_ground_stations_share_one_vehicle_over_udp() -> None:
    """Sentinel's vehicle interface and safety watchdog on one autopilot port, as in the running system."""
    config = H.make_config(gcs_timeout_s=2.0)
    accepted = mavlink.MAV_RESULT_ACCEPTED
    with H.HubLoop([config], links={1: {'peer_timeout_s': 1.0}}, scale=1.0) as loop:
        link, autopilot = loop.hub.links[1], loop.autopilots[1]
        control = Client(loop.ports[1], source_system=255, source_component=190, beat_s=0.25)
        watchdog = Client(loop.ports[1], source_system=250, source_component=191, beat_s=0.25)
        try:
            for station in (control, watchdog):   # both see the vehicle and its telemetry
                station.wait('HEARTBEAT', lambda m: m.get_srcSystem() == 1)
                station.wait('GLOBAL_POSITION_INT')
            control.conn.mav.command_long_send(1, 1, mavlink.MAV_CMD_DO_SET_MODE, 0,
                                               mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, CopterMode.GUIDED,
                                               0, 0, 0, 0, 0)
            watchdog.conn.mav.command_long_send(1, 1, mavlink.MAV_CMD_REQUEST_MESSAGE, 0,
                                                mavlink.MAVLINK_MSG_ID_HOME_POSITION, 0, 0, 0, 0, 0, 0)
            assert control.wait('COMMAND_ACK').command == mavlink.MAV_CMD_DO_SET_MODE
            assert watchdog.wait('COMMAND_ACK').command == mavlink.MAV_CMD_REQUEST_MESSAGE
            control.listen(0.3)
            watchdog.listen(0.3)
            for station, command in ((control, mavlink.MAV_CMD_DO_SET_MODE),
                                     (watchdog, mavlink.MAV_CMD_REQUEST_MESSAGE)):
                assert [(a.command, a.result) for a in acks(station.received)] == [(command, accepted)]
            assert set(link.gcs_peers) == {control.address, watchdog.address}

            # the watchdog goes quiet: dropped after peer_timeout_s; no failsafe, the other still beats
            control.listen(2.5)
            assert set(link.gcs_peers) == {control.address}
            assert not autopilot.gcs_failsafe
            watchdog.drain()                               # what reached it before it was dropped
            mark = len(control.received)
            control.listen(1.2)
            assert watchdog.drain() == []                  # nothing since, while control is still served:
            assert {'HEARTBEAT', 'GLOBAL_POSITION_INT'} <= {m.get_type() for m in control.received[mark:]}
            assert not autopilot.gcs_failsafe

            # now neither station beats: the failsafe fires
            end = time.monotonic() + WAIT_S
            while not autopilot.gcs_failsafe and time.monotonic() < end:
                time.sleep(0.05)
            assert autopilot.gcs_failsafe
        finally:
            control.close()
            watchdog.close()


def raw_client() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    sock.settimeout(0.005)
    return sock


def pump(hub: MavlinkHub, sock: socket.socket, until: Any, timeout: float = WAIT_S) -> list[Any]:
    """Poll the hub from this thread and parse what the client socket receives, until a predicate holds."""
    parser = mavlink.MAVLink(None)
    got: list[Any] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        hub.poll(0.0, timeout=0.01)
        while True:  # drain everything that has arrived
            try:
                data = sock.recv(65535)
            except (TimeoutError, BlockingIOError):
                break
            got.extend(parser.parse_buffer(data) or [])
        if until(got):
            return got
    raise AssertionError(f'condition not met; got {len(got)} messages, {len(acks(got))} acks')


def acks(messages: list[Any]) -> list[Any]:
    return [m for m in messages if m.get_type() == 'COMMAND_ACK']


def encode(msg: Any, sysid: int = 255, signed_with: bytes | None = None) -> bytes:
    mav = mavlink.MAVLink(None, sysid, 190)
    if signed_with is not None:
        mav.signing.secret_key = signed_with
        mav.signing.sign_outgoing = True
        mav.signing.link_id = 1
        mav.signing.timestamp = int((time.time() - 1420070400) * 100_000)
    return msg.pack(mav)


def request_version(sysid: int = 1) -> Any:
    return mavlink.MAVLink_command_long_message(sysid, 1, mavlink.MAV_CMD_REQUEST_MESSAGE, 0,
                                                mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0)


def test_garbage_and_truncated_packets_are_counted_and_the_vehicle_keeps_answering(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger='sentinel_sim.mavlink_endpoint')
    with MavlinkHub() as hub:
        link = hub.add(LinkConfig(1, 0), Autopilot(H.make_config()))
        sock = raw_client()
        good = encode(request_version())
        bad_crc = bytearray(good)
        bad_crc[-1] ^= 0xFF
        for junk in (b'\x00garbage\xff' * 20, good[:9], bytes(bad_crc), b'\xfd' + b'\xff' * 300, b''):
            sock.sendto(junk, link.address)
        sock.sendto(good, link.address)
        got = pump(hub, sock, lambda m: any(a.command == mavlink.MAV_CMD_REQUEST_MESSAGE for a in acks(m)))
        assert [a.result for a in acks(got)] == [mavlink.MAV_RESULT_ACCEPTED]
        assert link.stats.bad_packets >= 4
        assert 'bad packets' in caplog.text
        assert len([r for r in caplog.records if 'bad packets' in r.getMessage()]) == 1  # throttled


class RawGcs:
    """A bare UDP socket speaking as one MAVLink system, for deterministic routing checks."""

    def __init__(self, sysid: int, compid: int) -> None:
        self.sock = raw_client()
        self.ids = (sysid, compid)
        self.parser = mavlink.MAVLink(None)
        self.got: list[Any] = []

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def send(self, msg: Any, to: tuple[str, int]) -> None:
        mav = mavlink.MAVLink(None, *self.ids)
        self.sock.sendto(msg.pack(mav), to)

    def drain(self) -> list[Any]:
        got = []
        while True:
            try:
                data = self.sock.recv(65535)
            except (TimeoutError, BlockingIOError):
                break
            got.extend(self.parser.parse_buffer(data) or [])
        self.got.extend(got)
        return got

    def types(self) -> list[str]:
        return [m.get_type() for m in self.got]


def serve(hub: MavlinkHub, stations: list[RawGcs], polls: int = 30) -> None:
    """Let the hub answer, then collect what each station received."""
    for _ in range(polls):
        hub.poll(0.0, timeout=0.005)
    for station in stations:
        station.drain()


def test_telemetry_reaches_every_recent_gcs_and_each_ack_only_its_sender() -> None:
    clock = [100.0]
    tap = RawGcs(1, 1)  # the fixed udpout address: sees everything
    with MavlinkHub(clock=lambda: clock[0]) as hub:
        link = hub.add(LinkConfig(1, 0, gcs_address=tap.address, peer_timeout_s=10.0),
                       Autopilot(H.make_config()))
        control, watchdog = RawGcs(255, 190), RawGcs(250, 191)
        control.send(request_version(), link.address)
        serve(hub, [control, watchdog, tap])
        watchdog.send(request_version(), link.address)
        serve(hub, [control, watchdog, tap])
        assert set(link.gcs_peers) == {control.address, watchdog.address}
        for station in (control, watchdog):
            assert [(a.target_system, a.target_component) for a in acks(station.got)] == [station.ids]
        # untargeted replies reach every peer: control was one when the watchdog asked, not the reverse
        assert control.types().count('AUTOPILOT_VERSION') == 2 and watchdog.types().count('AUTOPILOT_VERSION') == 1
        assert len(acks(tap.got)) == 2 and tap.types().count('AUTOPILOT_VERSION') == 2

        hub.send(1, [mavlink.MAVLink_statustext_message(6, b'to all')])
        serve(hub, [control, watchdog, tap], polls=1)
        assert all('STATUSTEXT' in s.types() for s in (control, watchdog, tap))

        # an ACK for a system no current peer speaks for still reaches every peer rather than nobody
        hub.send(1, [mavlink.MAVLink_command_ack_message(400, 0, 0, 0, 77, 1)])
        serve(hub, [control, watchdog, tap], polls=1)
        assert all(any(a.target_system == 77 for a in acks(s.got)) for s in (control, watchdog, tap))

        clock[0] += 8.0
        watchdog.send(request_version(), link.address)   # the watchdog is still there, control went quiet
        serve(hub, [control, watchdog, tap])
        clock[0] += 2.5                                  # control: 10.5 s silent; watchdog: 2.5 s
        assert set(link.gcs_peers) == {watchdog.address} and link.stats.peers_expired == 1
        before = len(control.got)
        hub.send(1, [mavlink.MAVLink_statustext_message(6, b'later')])
        serve(hub, [control, watchdog, tap], polls=1)
        assert len(control.got) == before
        assert [m.text for m in watchdog.got if m.get_type() == 'STATUSTEXT'][-1] == 'later'
        assert [m.text for m in tap.got if m.get_type() == 'STATUSTEXT'][-1] == 'later'

        control.send(request_version(), link.address)    # speaking again makes it a peer again
        serve(hub, [control])
        assert control.address in link.gcs_peers and acks(control.got[before:])


def test_a_flood_of_addresses_is_capped_and_bad_packets_make_no_peer() -> None:
    with MavlinkHub() as hub:
        link = hub.add(LinkConfig(1, 0, signing_key=KEY), Autopilot(H.make_config()))
        stranger = raw_client()
        stranger.sendto(encode(request_version()), link.address)            # unsigned on a signed link
        stranger.sendto(b'\xfd garbage', link.address)
        for _ in range(10):
            hub.poll(0.0, timeout=0.005)
        assert link.gcs_peers == {} and link.remote is None
        senders = [raw_client() for _ in range(MAX_PEERS + 4)]
        for sock in senders:
            sock.sendto(encode(request_version(), signed_with=KEY), link.address)
            hub.poll(0.0, timeout=0.05)
        assert len(link.gcs_peers) == MAX_PEERS and link.stats.peers_evicted == 4
        assert senders[-1].getsockname() in link.gcs_peers and senders[0].getsockname() not in link.gcs_peers


def test_udpout_address_gets_telemetry_without_asking() -> None:
    listener = raw_client()
    listener.settimeout(2.0)
    gcs = listener.getsockname()
    with MavlinkHub() as hub:
        ap = Autopilot(H.make_config(system_id=7))
        hub.add(LinkConfig(7, 0, gcs_address=(gcs[0], gcs[1])), ap)
        out = ap.step(0.0, H.FakePhysics(VehicleKind.DRONE).state())
        hub.send(7, out.messages)
        parsed = mavlink.MAVLink(None).parse_buffer(listener.recv(65535))
        assert parsed is not None and parsed[0].get_srcSystem() == 7


def test_signed_link_accepts_only_signed_packets_and_signs_its_own(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with MavlinkHub() as hub:
        link = hub.add(LinkConfig(1, 0, signing_key=KEY, signing_link_id=3), Autopilot(H.make_config()))
        assert KEY.hex() not in repr(link.config)
        sock = raw_client()
        sock.sendto(encode(request_version()), link.address)                       # unsigned: dropped
        sock.sendto(encode(request_version(), signed_with=bytes(32)), link.address)  # wrong key: dropped
        with pytest.raises(AssertionError):
            pump(hub, sock, lambda m: bool(acks(m)), timeout=0.5)
        assert link.stats.bad_packets == 2
        sock.sendto(encode(request_version(), signed_with=KEY), link.address)
        raw: list[bytes] = []
        end = time.monotonic() + WAIT_S
        while not raw and time.monotonic() < end:
            hub.poll(0.0, 0.01)
            try:
                raw.append(sock.recv(65535))
            except (TimeoutError, BlockingIOError):
                pass
        assert raw, 'no reply to a signed command'
        checker = mavlink.MAVLink(None)
        checker.signing.secret_key = KEY
        reply = checker.parse_buffer(raw[0])
        assert reply is not None and reply[0].get_signed() and reply[0].get_link_id() == 3
    assert KEY.hex() not in caplog.text and str(KEY) not in caplog.text


def test_signed_link_may_allow_unsigned_packets() -> None:
    with MavlinkHub() as hub:
        link = hub.add(LinkConfig(1, 0, signing_key=KEY, allow_unsigned=True), Autopilot(H.make_config()))
        sock = raw_client()
        sock.sendto(encode(request_version()), link.address)
        assert acks(pump(hub, sock, lambda m: bool(acks(m))))


def test_one_hub_serves_a_hundred_vehicles_from_one_thread() -> None:
    count = 100
    threads_before = threading.active_count()
    with MavlinkHub() as hub:
        autopilots = {i: Autopilot(H.make_config(system_id=i)) for i in range(1, count + 1)}
        links = {i: hub.add(LinkConfig(i, 0), ap) for i, ap in autopilots.items()}
        assert len({link.address for link in links.values()}) == count
        sock = raw_client()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for i, link in links.items():
            sock.sendto(encode(request_version(i)), link.address)
        got = pump(hub, sock, lambda m: len(acks(m)) == count)
        assert sorted(a.get_srcSystem() for a in acks(got)) == list(range(1, count + 1))
        body = H.FakePhysics(VehicleKind.DRONE).state()
        for i, ap in autopilots.items():
            hub.send(i, [m for m in ap.step(0.0, body).messages if m.get_type() == 'HEARTBEAT'])
        beats = pump(hub, sock, lambda m: len({x.get_srcSystem() for x in m if x.get_type() == 'HEARTBEAT'}) == count)
        assert len({x.get_srcSystem() for x in beats if x.get_type() == 'HEARTBEAT'}) == count
        assert threading.active_count() == threads_before


def test_link_config_validation_and_mapping() -> None:
    config = LinkConfig.from_mapping({'system_id': 2, 'port': 5762, 'gcs_address': '127.0.0.1:14550',
                                      'signing_key_hex': KEY.hex(), 'peer_timeout_s': 3})
    assert config.gcs_address == ('127.0.0.1', 14550) and config.signing_key == KEY
    assert config.peer_timeout_s == 3 and LinkConfig(1, 0).peer_timeout_s == PEER_TIMEOUT_S
    assert KEY.hex() not in repr(config)
    for bad in ({'system_id': 0, 'port': 1}, {'system_id': 1, 'port': 70000},
                {'system_id': 1, 'port': 1, 'signing_key_hex': 'zz'},
                {'system_id': 1, 'port': 1, 'signing_key_hex': 'ab'},
                {'system_id': 1, 'port': 1, 'gcs_address': 'nowhere'},
                {'system_id': 1, 'port': 1, 'colour': 'red'},
                {'system_id': 1, 'port': 1, 'peer_timeout_s': 0.0},
                {'system_id': 1, 'port': 1, 'peer_timeout_s': math.inf},
                {'system_id': 1, 'port': 1, 'peer_timeout_s': '10'}):
        with pytest.raises(LinkConfigError):
            LinkConfig.from_mapping(bad, 'site.yaml')


def test_a_taken_port_is_a_clear_error() -> None:
    with MavlinkHub() as hub:
        link = hub.add(LinkConfig(1, 0), Autopilot(H.make_config()))
        with pytest.raises(OSError, match=f'vehicle 2: cannot bind UDP 127.0.0.1:{link.address[1]}'):
            hub.add(LinkConfig(2, link.address[1]), Autopilot(H.make_config(system_id=2)))
        with pytest.raises(ValueError):
            hub.add(LinkConfig(1, 0), Autopilot(H.make_config()))


@settings(max_examples=30, deadline=None)
@given(junk=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=5),
       prefix=st.sampled_from([b'', b'\xfd', b'\xfe', b'\xfd\x09\x00\x00']))
def test_random_datagrams_never_stop_the_link(junk: list[bytes], prefix: bytes) -> None:
    with MavlinkHub() as hub:
        link = hub.add(LinkConfig(1, 0), Autopilot(H.make_config()))
        sock = raw_client()
        for data in junk:
            sock.sendto(prefix + data, link.address)
        sock.sendto(encode(request_version()), link.address)
        got = pump(hub, sock, lambda m: bool(acks(m)))
        assert [a.result for a in acks(got)] == [mavlink.MAV_RESULT_ACCEPTED]
