"""UDP plumbing between emulated autopilots and MAVLink ground stations, SITL style.

Why: each simulated vehicle must be reachable exactly like an ArduPilot SITL
instance, one UDP port per vehicle, so any GCS can connect with
``udpout:host:port``. Unlike a bare SITL port, several ground stations talk to
one vehicle at once in Sentinel: the vehicle interface, the safety watchdog's
own MAVLink path and perhaps an operator's QGroundControl. So each link keeps
every address that sent it a valid packet within the last ``peer_timeout_s``
(a *GCS peer*; a packet that fails parsing or signing never makes one) and
serves them all, as MAVProxy does for its outputs. It can also push everything
to a fixed GCS address (``udpout``, e.g. QGroundControl listening on 14550).

Routing, the MAVLink way: a message without a target (telemetry, STATUSTEXT)
goes to every peer. A reply with a ``target_system`` (COMMAND_ACK, the mission
protocol) goes only to the peers that system was heard from, so one station
never takes another's ACK for its own; when no current peer matches, it goes to
every peer rather than being lost. The fixed address gets everything. Whether
the vehicle's GCS failsafe fires is the autopilot's business: any ground
station's heartbeat keeps it away.

One ``MavlinkHub`` owns every vehicle's socket and serves them all from a single
selector, so a hundred vehicles cost one thread, not a hundred. The hub decides
nothing about a vehicle: it parses bytes into messages for an autopilot's
``receive`` and sends what the autopilot returns to the right addresses. Bad or
corrupt packets are counted and logged at a throttled rate; nothing a peer
sends can raise out of ``poll``.
"""

from __future__ import annotations

import logging
import math
import selectors
import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymavlink.dialects.v20 import ardupilotmega as mavlink

_LOG = logging.getLogger(__name__)

MAX_DATAGRAM = 65535            # largest UDP payload accepted
READS_PER_POLL = 64             # datagrams read from one socket per poll, so one flood cannot starve others
LOG_THROTTLE_S = 5.0            # bad-packet and send-error warnings are logged at most this often per vehicle
SIGNING_KEY_LEN = 32            # MAVLink 2 signing secret key length in bytes
SIGNING_EPOCH_UNIX_S = 1420070400  # MAVLink signing timestamps count from 2015-01-01 00:00:00 UTC
SIGNING_TICKS_PER_S = 100_000   # signing timestamp unit: 10 microseconds
DEFAULT_HOST = '127.0.0.1'      # SITL binds loopback by default
PEER_TIMEOUT_S = 10.0           # a GCS address not heard from for this long stops getting telemetry
MAX_PEERS = 16                  # addresses served at once; a newcomer beyond this replaces the stalest

Address = tuple[str, int]


class MavlinkPeer(Protocol):
    """What the hub needs from an autopilot (``sentinel_sim.autopilot.Autopilot`` is one)."""

    def receive(self, msg: mavlink.MAVLink_message, now: float) -> None: ...

    def flush(self, now: float) -> list[mavlink.MAVLink_message]: ...


class LinkConfigError(ValueError):
    """A link configuration value is invalid; names the key and why."""


@dataclass(frozen=True)
class LinkConfig:
    """Where one vehicle's MAVLink lives on the network, and how it is signed."""

    system_id: int
    port: int                                   # UDP port to bind; 0 picks a free one (tests)
    host: str = DEFAULT_HOST
    gcs_address: Address | None = None          # also send everything here (udpout), e.g. ('127.0.0.1', 14550)
    component_id: int = mavlink.MAV_COMP_ID_AUTOPILOT1
    signing_key: bytes | None = field(default=None, repr=False)  # 32-byte MAVLink 2 secret; never logged
    signing_link_id: int = 0                    # link id stamped into outgoing signatures
    allow_unsigned: bool = False                # with signing on, still accept unsigned packets
    peer_timeout_s: float = PEER_TIMEOUT_S      # forget a GCS address after this long without a valid packet

    def __post_init__(self) -> None:
        if not (isinstance(self.system_id, int) and 1 <= self.system_id <= 254):
            raise LinkConfigError('system_id: must be 1..254')
        if not (isinstance(self.port, int) and 0 <= self.port <= 65535):
            raise LinkConfigError('port: must be 0..65535')
        if not self.host:
            raise LinkConfigError('host: must not be empty')
        if self.gcs_address is not None:
            host, port = self.gcs_address
            if not host or not (isinstance(port, int) and 1 <= port <= 65535):
                raise LinkConfigError('gcs_address: must be (host, port 1..65535)')
        if self.signing_key is not None and len(self.signing_key) != SIGNING_KEY_LEN:
            raise LinkConfigError(f'signing_key: must be {SIGNING_KEY_LEN} bytes')
        if not 0 <= self.signing_link_id <= 255:
            raise LinkConfigError('signing_link_id: must be 0..255')
        timeout = self.peer_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0.0 < timeout < math.inf:
            raise LinkConfigError('peer_timeout_s: must be a positive number of seconds')

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = 'config') -> LinkConfig:
        """Build from a config section; the key comes as ``signing_key_hex`` (64 hex digits)."""
        values = dict(data)
        key_hex = values.pop('signing_key_hex', None)
        if key_hex is not None:
            try:
                values['signing_key'] = bytes.fromhex(str(key_hex))
            except ValueError:
                raise LinkConfigError(f'{source}: signing_key_hex: not hexadecimal') from None
        gcs = values.get('gcs_address')
        if isinstance(gcs, str):
            host, _, port = gcs.rpartition(':')
            if not port.isdigit():
                raise LinkConfigError(f'{source}: gcs_address: expected host:port, got {gcs!r}')
            values['gcs_address'] = (host, int(port))
        elif isinstance(gcs, (list, tuple)):
            values['gcs_address'] = (str(gcs[0]), int(gcs[1]))
        try:
            return cls(**values)
        except LinkConfigError as error:
            raise LinkConfigError(f'{source}: {error}') from None
        except TypeError as error:
            raise LinkConfigError(f'{source}: {error}') from None


@dataclass
class LinkStats:
    """Counters of one vehicle's link, for diagnostics and tests."""

    datagrams_in: int = 0
    messages_in: int = 0
    bad_packets: int = 0
    messages_out: int = 0
    send_errors: int = 0
    encode_errors: int = 0
    peers_expired: int = 0
    peers_evicted: int = 0


@dataclass
class GcsPeer:
    """A ground station address the link serves, and the MAVLink (system, component) ids heard from it."""

    address: Address
    last_heard: float                                       # link clock (monotonic seconds)
    ids: set[tuple[int, int]] = field(default_factory=set)

    def is_target(self, system: int, component: int) -> bool:
        """Whether a message for (system, component) belongs here; component 0 means any component."""
        return any(s == system and component in (0, c) for s, c in self.ids)


class VehicleLink:
    """One vehicle's socket, parser, encoder and set of GCS peers. Non-blocking; owned by a MavlinkHub.

    ``clock`` (seconds, monotonic) times peer expiry and throttled warnings; it is
    the wall clock by default because peers live on the network, not in simulation time.
    """

    def __init__(self, config: LinkConfig, peer: MavlinkPeer, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.peer = peer
        self.stats = LinkStats()
        self.remote: Address | None = None            # last address that sent a valid packet
        self._clock = clock
        self._peers: dict[Address, GcsPeer] = {}      # insertion order: first heard first
        self._last_log: dict[str, float] = {}
        self._encoder = mavlink.MAVLink(None, config.system_id, config.component_id)
        self._signing = self._encoder.signing
        if config.signing_key is not None:
            self._signing.secret_key = config.signing_key
            self._signing.sign_outgoing = True
            self._signing.link_id = config.signing_link_id
            self._signing.timestamp = int(max(0.0, time.time() - SIGNING_EPOCH_UNIX_S) * SIGNING_TICKS_PER_S)
            if config.allow_unsigned:
                self._signing.allow_unsigned_callback = lambda _mav, _msg_id: True
        self._parser = self._new_parser()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setblocking(False)
            self.sock.bind((config.host, config.port))
        except OSError as error:
            self.sock.close()
            raise OSError(f'vehicle {config.system_id}: cannot bind UDP {config.host}:{config.port}: {error}') \
                from error
        self.address: tuple[str, int] = self.sock.getsockname()

    def _new_parser(self) -> mavlink.MAVLink:
        parser = mavlink.MAVLink(None)
        parser.robust_parsing = True
        parser.signing = self._signing  # shares key and replay-protection timestamps with the encoder
        return parser

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def _warn(self, key: str, message: str, *args: Any) -> None:
        now = self._clock()
        if now - self._last_log.get(key, -LOG_THROTTLE_S) >= LOG_THROTTLE_S:
            self._last_log[key] = now
            _LOG.warning('vehicle %d: ' + message, self.config.system_id, *args)

    def read(self) -> list[mavlink.MAVLink_message]:
        """Valid messages from the datagrams waiting on the socket (bad ones are counted)."""
        messages: list[mavlink.MAVLink_message] = []
        for _ in range(READS_PER_POLL):
            try:
                data, sender = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:  # e.g. ICMP errors surfacing on the socket; the link stays up
                self._warn('recv', 'receive error: %s', error)
                break
            self.stats.datagrams_in += 1
            valid = self._parse(data, sender)
            if valid:
                self._heard(sender, valid)
                messages.extend(valid)
        return messages

    def _heard(self, sender: Address, messages: list[mavlink.MAVLink_message]) -> None:
        """A valid packet came from ``sender``: (re)register it as a peer, noting who spoke."""
        now = self._clock()
        self.remote = sender
        peer = self._peers.get(sender)
        if peer is None:
            self._expire(now)
            if len(self._peers) >= MAX_PEERS:  # a flood of addresses: warn (throttled), do not log each
                stalest = min(self._peers.values(), key=lambda p: p.last_heard)
                del self._peers[stalest.address]
                self.stats.peers_evicted += 1
                self._warn('evict', 'more than %d GCS addresses; dropped %s:%d', MAX_PEERS, *stalest.address)
            else:
                _LOG.info('vehicle %d: GCS %s:%d connected', self.config.system_id, sender[0], sender[1])
            peer = self._peers[sender] = GcsPeer(sender, now)
        peer.last_heard = now
        peer.ids.update((msg.get_srcSystem(), msg.get_srcComponent()) for msg in messages)

    def _expire(self, now: float) -> None:
        for address in [a for a, p in self._peers.items() if now - p.last_heard > self.config.peer_timeout_s]:
            del self._peers[address]
            self.stats.peers_expired += 1
            _LOG.info('vehicle %d: GCS %s:%d silent for %.0f s; no longer served', self.config.system_id,
                      address[0], address[1], self.config.peer_timeout_s)

    @property
    def gcs_peers(self) -> Mapping[Address, GcsPeer]:
        """The GCS addresses served now (heard from within ``peer_timeout_s``)."""
        self._expire(self._clock())
        return dict(self._peers)

    def _parse(self, data: bytes, sender: tuple[str, int]) -> list[mavlink.MAVLink_message]:
        try:
            parsed = self._parser.parse_buffer(data) or []
        except (mavlink.MAVError, struct.error, ValueError, IndexError) as error:
            parsed = [mavlink.MAVLink_bad_data(bytearray(data), str(error))]
            self._parser = self._new_parser()
        valid = []
        reasons = []
        for msg in parsed:
            if msg.get_type() == 'BAD_DATA':
                reasons.append(getattr(msg, 'reason', 'bad data'))
            else:
                valid.append(msg)
        if self._parser.buf_len() > 0:
            # a UDP datagram carries whole packets: a leftover is a truncated packet, and
            # keeping it would swallow the start of the next datagram
            reasons.append('truncated packet')
            self._parser = self._new_parser()
        if reasons:
            self.stats.bad_packets += len(reasons)
            self._warn('bad', '%d bad packets so far (latest from %s:%d: %s)', self.stats.bad_packets,
                       sender[0], sender[1], reasons[-1])
        self.stats.messages_in += len(valid)
        return valid

    def destinations(self, msg: mavlink.MAVLink_message | None = None) -> list[Address]:
        """Where a message goes: its target system's peers if it has a known target, else every peer.

        The fixed ``gcs_address`` is always included. Without ``msg``: where a
        broadcast (telemetry) goes.
        """
        self._expire(self._clock())
        chosen = list(self._peers)
        system = getattr(msg, 'target_system', 0) if msg is not None else 0
        if system:
            component = getattr(msg, 'target_component', 0)
            addressed = [a for a, p in self._peers.items() if p.is_target(system, component)]
            chosen = addressed or chosen  # an unknown target still reaches someone: never drop an ACK
        gcs = self.config.gcs_address
        if gcs is not None and gcs not in chosen:
            chosen.append(gcs)
        return chosen

    def send(self, messages: Iterable[mavlink.MAVLink_message]) -> int:
        """Pack and send each message to its destinations; returns how many were sent."""
        broadcast = self.destinations()
        sent = 0
        for msg in messages:
            try:
                data = msg.pack(self._encoder)
            except (struct.error, TypeError, ValueError) as error:  # a field out of its wire range
                self.stats.encode_errors += 1
                _LOG.error('vehicle %d: cannot encode %s: %s', self.config.system_id, msg.get_type(), error)
                continue
            self._encoder.seq = (self._encoder.seq + 1) % 256
            if not broadcast:
                continue
            targets = self.destinations(msg) if getattr(msg, 'target_system', 0) else broadcast
            for target in targets:
                try:
                    self.sock.sendto(data, target)
                except OSError as error:  # full buffer or unreachable: drop, as UDP would
                    self.stats.send_errors += 1
                    self._warn('send', 'send to %s:%d failed: %s', target[0], target[1], error)
            sent += 1
            self.stats.messages_out += 1
        return sent


class MavlinkHub:
    """All vehicles' MAVLink sockets behind one selector; drive it with ``poll`` and ``send``.

    Typical loop in the simulator, once per physics step at simulation time ``now``::

        hub.poll(now)                                   # deliver GCS traffic, send replies
        for vehicle in vehicles:
            out = vehicle.autopilot.step(now, body)
            hub.send(vehicle.system_id, out.messages)

    ``now`` is the autopilots' clock (simulation time), so it must not run ahead of
    the next ``step``; between steps the loop may poll with a timeout to sleep.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock   # for peer expiry (network time, not simulation time)
        self._selector = selectors.DefaultSelector()
        self._links: dict[int, VehicleLink] = {}

    def __enter__(self) -> MavlinkHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def links(self) -> Mapping[int, VehicleLink]:
        return self._links

    def add(self, config: LinkConfig, peer: MavlinkPeer) -> VehicleLink:
        """Bind a vehicle's port and start serving it."""
        if config.system_id in self._links:
            raise ValueError(f'vehicle {config.system_id} already has a link')
        link = VehicleLink(config, peer, self._clock)
        self._links[config.system_id] = link
        self._selector.register(link.sock, selectors.EVENT_READ, link)
        _LOG.info('vehicle %d: MAVLink on udp %s:%d%s%s', config.system_id, link.address[0], link.address[1],
                  f', udpout {config.gcs_address[0]}:{config.gcs_address[1]}' if config.gcs_address else '',
                  ', signed' if config.signing_key is not None else '')
        return link

    def remove(self, system_id: int) -> None:
        link = self._links.pop(system_id, None)
        if link is not None:
            self._selector.unregister(link.sock)
            link.close()

    def poll(self, now: float, timeout: float = 0.0) -> int:
        """Wait up to ``timeout`` s for traffic, deliver it and send the replies; returns messages delivered."""
        if not self._links:
            if timeout > 0:
                time.sleep(timeout)
            return 0
        delivered = 0
        for key, _ in self._selector.select(timeout):
            link: VehicleLink = key.data
            messages = link.read()
            for msg in messages:
                link.peer.receive(msg, now)
            delivered += len(messages)
            link.send(link.peer.flush(now))
        return delivered

    def send(self, system_id: int, messages: Sequence[mavlink.MAVLink_message]) -> int:
        """Send an autopilot's step output from its vehicle's port."""
        link = self._links.get(system_id)
        if link is None:
            raise KeyError(f'no link for vehicle {system_id}')
        return link.send(messages)

    def close(self) -> None:
        for system_id in list(self._links):
            self.remove(system_id)
        self._selector.close()
