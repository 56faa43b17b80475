"""One vehicle's MAVLink link: framing, MAVLink 2 signing, GCS heartbeat, stream-rate requests.

Why separate from the transport: the transport moves bytes; this layer knows
MAVLink. It packs with our ground-station identity (system 255 by default,
as QGroundControl and MAVProxy use), signs every packet when the link has a
key, refuses unsigned or badly signed packets unless told otherwise, drops
packets from other systems on a shared network, and counts all of it.

Signing keys come from configuration: an environment variable or a file
named there (never the key itself in a parameter, where ``ros2 param get``
would show it). A key is 64 hexadecimal digits (32 bytes), or any other
text, which is hashed with SHA-256 as MAVProxy's ``signing setup`` does.
Keys never appear in logs or reprs.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control.transport import Endpoint, Transport

SIGNING_KEY_LEN = 32               # MAVLink 2 secret key, bytes
SIGNING_EPOCH_UNIX_S = 1420070400  # signing timestamps count from 2015-01-01 00:00:00 UTC
SIGNING_TICKS_PER_S = 100_000      # signing timestamp unit: 10 microseconds
# a key written as 32 bytes of hexadecimal
_HEX_KEY = re.compile(r'^[0-9a-fA-F]{64}$')


class SigningError(ValueError):
    """A signing configuration that cannot be used; names the source, never the key."""


def signing_key_from_text(text: str) -> bytes:
    """32-byte key from 64 hex digits, or SHA-256 of a passphrase (MAVProxy's convention)."""
    stripped = text.strip()
    if not stripped:
        raise SigningError('the signing key is empty')
    if _HEX_KEY.match(stripped):
        return bytes.fromhex(stripped)
    return hashlib.sha256(stripped.encode('utf-8')).digest()


def load_signing_key(env_name: str, file_path: str, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key named by configuration: an environment variable or a file; None when neither is set."""
    if env_name and file_path:
        raise SigningError('give either signing_key_env or signing_key_file, not both')
    if env_name:
        values = os.environ if environ is None else environ
        if env_name not in values:
            raise SigningError(f'environment variable {env_name} (signing key) is not set')
        return signing_key_from_text(values[env_name])
    if file_path:
        try:
            text = Path(file_path).read_text(encoding='utf-8')
        except (OSError, UnicodeDecodeError) as error:
            raise SigningError(f'signing key file {file_path}: cannot read: {error.__class__.__name__}') \
                from None
        return signing_key_from_text(text)
    return None


@dataclass(frozen=True)
class SigningSettings:
    """MAVLink 2 signing of one link."""

    key: bytes = field(repr=False)
    link_id: int = 0               # stamped into our signatures; distinct per link
    allow_unsigned: bool = False   # accept unsigned packets from the vehicle (migration only)

    def __post_init__(self) -> None:
        if len(self.key) != SIGNING_KEY_LEN:
            raise SigningError(f'a signing key must be {SIGNING_KEY_LEN} bytes')
        if not 0 <= self.link_id <= 255:
            raise SigningError(f'link_id must be 0..255, got {self.link_id}')


@dataclass(frozen=True)
class LinkSettings:
    """Who we are on one vehicle's link and whom we talk to."""

    vehicle_id: str
    endpoint: Endpoint
    system_id: int                      # the vehicle's autopilot
    gcs_system_id: int = 255            # our system id (ground station convention)
    gcs_component_id: int = mavlink.MAV_COMP_ID_MISSIONPLANNER   # our component id
    signing: SigningSettings | None = None


@dataclass
class LinkCounters:
    """What crossed one link, for logs and diagnostics."""

    chunks_in: int = 0          # datagrams or stream reads
    messages_in: int = 0        # valid messages from our vehicle
    bad_packets: int = 0        # CRC, framing or truncation errors
    bad_signatures: int = 0     # unsigned or wrongly signed while signing is on
    foreign: int = 0            # valid messages from other systems (other GCSs, other vehicles)
    messages_out: int = 0
    send_failures: int = 0


class MavlinkLink:
    """Framing and identity on top of a transport; never blocks, never raises on peer input."""

    def __init__(self, settings: LinkSettings, transport: Transport) -> None:
        self.settings = settings
        self.transport = transport
        self.counters = LinkCounters()
        self._encoder = mavlink.MAVLink(None, settings.gcs_system_id, settings.gcs_component_id)
        signing = settings.signing
        if signing is not None:
            self._encoder.signing.secret_key = signing.key
            self._encoder.signing.sign_outgoing = True
            self._encoder.signing.link_id = signing.link_id
            self._encoder.signing.timestamp = int(
                max(0.0, time.time() - SIGNING_EPOCH_UNIX_S) * SIGNING_TICKS_PER_S)
            if signing.allow_unsigned:
                self._encoder.signing.allow_unsigned_callback = lambda _mav, _msg_id: True
        self._parser = self._new_parser()

    def _new_parser(self) -> mavlink.MAVLink:
        parser = mavlink.MAVLink(None)
        parser.robust_parsing = True
        parser.signing = self._encoder.signing   # shares key and replay-protection state
        return parser

    @property
    def signed(self) -> bool:
        return self.settings.signing is not None

    def fileno(self) -> int:
        return self.transport.fileno()

    def maintain(self, now: float) -> None:
        self.transport.maintain(now)

    def close(self) -> None:
        self.transport.close()

    def read(self) -> list[Any]:
        """Valid messages from our vehicle waiting on the transport."""
        out: list[Any] = []
        datagram = self.transport.datagram
        for data, sender in self.transport.read():
            self.counters.chunks_in += 1
            valid = self._parse(data, datagram)
            if valid and datagram:
                self.transport.accept_peer(sender)
            out.extend(valid)
        return out

    def _parse(self, data: bytes, datagram: bool) -> list[Any]:
        try:
            parsed = self._parser.parse_buffer(data) or []
        except (mavlink.MAVError, struct.error, ValueError, IndexError):
            parsed = [mavlink.MAVLink_bad_data(bytearray(data), 'unparseable')]
            self._parser = self._new_parser()
        mine: list[Any] = []
        for msg in parsed:
            kind = msg.get_type()
            if kind == 'BAD_DATA':
                if 'signature' in str(getattr(msg, 'reason', '')).lower():
                    self.counters.bad_signatures += 1
                else:
                    self.counters.bad_packets += 1
            elif kind == 'UNKNOWN':
                continue   # a message id outside our dialect: harmless
            elif msg.get_srcSystem() != self.settings.system_id:
                self.counters.foreign += 1
            else:
                mine.append(msg)
        if datagram and self._parser.buf_len() > 0:
            # a datagram holds whole packets: a leftover is a truncated one and would
            # swallow the start of the next datagram
            self.counters.bad_packets += 1
            self._parser = self._new_parser()
        self.counters.messages_in += len(mine)
        return mine

    def send(self, msg: Any) -> bool:
        """Pack (and sign) one message with our identity and hand it to the transport."""
        try:
            data = msg.pack(self._encoder)
        except (struct.error, TypeError, ValueError):
            self.counters.send_failures += 1
            return False
        self._encoder.seq = (self._encoder.seq + 1) % 256
        if self.transport.write(data):
            self.counters.messages_out += 1
            return True
        self.counters.send_failures += 1
        return False

    def gcs_heartbeat(self) -> Any:
        """The HEARTBEAT a ground station sends at 1 Hz (the autopilots' GCS failsafe watches it)."""
        return mavlink.MAVLink_heartbeat_message(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0,
                                                 mavlink.MAV_STATE_ACTIVE, 3)


# ---------------------------------------------------------------------- stream rates

@dataclass
class _Pending:
    message_id: int
    interval_us: float
    sends: int = 0
    deadline: float = 0.0


class StreamRequester:
    """Asks the autopilot for the telemetry rates we need, one SET_MESSAGE_INTERVAL at a time.

    One at a time because COMMAND_ACK does not say which message id it
    answers. Run again after every link recovery: a rebooted autopilot has
    forgotten the rates. An autopilot that does not support the command gets
    one REQUEST_DATA_STREAM (all streams) instead.
    """

    def __init__(self, rates_hz: Mapping[int, float], ack_timeout: float, attempts: int) -> None:
        self._rates = dict(rates_hz)
        self._timeout = ack_timeout
        self._attempts = attempts
        self._queue: list[_Pending] = []
        self.failed: list[int] = []      # message ids the vehicle refused or never acknowledged
        self._target = (0, 0)

    @property
    def busy(self) -> bool:
        return bool(self._queue)

    def restart(self, system_id: int, component_id: int, now: float) -> list[Any]:
        self._target = (system_id, component_id)
        self.failed = []
        self._queue = [_Pending(msg_id, 1e6 / rate) for msg_id, rate in sorted(self._rates.items()) if rate > 0]
        return self._send_head(now)

    def _send_head(self, now: float) -> list[Any]:
        if not self._queue:
            return []
        head = self._queue[0]
        head.sends += 1
        head.deadline = now + self._timeout
        return [mavlink.MAVLink_command_long_message(
            self._target[0], self._target[1], mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, head.sends - 1,
            float(head.message_id), float(head.interval_us), 0, 0, 0, 0, 0)]

    def on_ack(self, msg: Any, now: float) -> list[Any]:
        if not self._queue or msg.command != mavlink.MAV_CMD_SET_MESSAGE_INTERVAL:
            return []
        head = self._queue.pop(0)
        if msg.result == mavlink.MAV_RESULT_UNSUPPORTED and head.sends == 1 and not self.failed:
            self._queue = []
            rate = max(1, round(max(self._rates.values())))
            self.failed = list(self._rates)
            return [mavlink.MAVLink_request_data_stream_message(
                self._target[0], self._target[1], mavlink.MAV_DATA_STREAM_ALL, rate, 1)]
        if msg.result not in (mavlink.MAV_RESULT_ACCEPTED, mavlink.MAV_RESULT_IN_PROGRESS):
            self.failed.append(head.message_id)
        return self._send_head(now)

    def tick(self, now: float) -> list[Any]:
        if not self._queue or now < self._queue[0].deadline:
            return []
        if self._queue[0].sends >= self._attempts:
            self.failed.append(self._queue.pop(0).message_id)
        return self._send_head(now)
