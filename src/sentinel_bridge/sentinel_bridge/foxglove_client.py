"""A minimal Foxglove WebSocket client, for the bridge's tests and benchmark.

It speaks just enough of the protocol (subprotocol ``foxglove.sdk.v1``) to
see what the Foxglove app would see: advertised channels and services,
subscriptions, binary message data and service calls. It is deliberately
independent of foxglove-sdk, so a test through it checks the bridge from the
outside. Needs the ``websockets`` package (a test dependency, not a runtime one).
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from dataclasses import dataclass
from typing import Any

SUBPROTOCOL = 'foxglove.sdk.v1'
# Pause after the last awaited channel is advertised before returning (s): the server may
# announce a channel an instant before it accepts subscriptions to it.
ADVERTISE_SETTLE_S = 0.05
# Binary opcodes of the protocol.
_OP_MESSAGE_DATA = 0x01           # server -> client: subscription id, log time, payload
_OP_SERVICE_REQUEST = 0x02        # client -> server: service id, call id, encoding, payload
_OP_SERVICE_RESPONSE = 0x03       # server -> client: same layout as the request


@dataclass(frozen=True)
class DataMessage:
    topic: str
    log_time_ns: int
    payload: bytes
    received_ns: int              # time.time_ns() when the client read it


@dataclass(frozen=True)
class ServiceResult:
    ok: bool                      # False: the server answered with serviceCallFailure
    payload: bytes                # response body when ok
    message: str                  # failure message when not ok


class FoxgloveClient:
    """Connect with :meth:`connect`; always :meth:`close` (or use ``async with``)."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self.channels: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[int, str] = {}
        self._next_subscription = 1
        self._next_call = 1
        self._calls: dict[int, asyncio.Future[ServiceResult]] = {}
        self._data: asyncio.Queue[DataMessage] = asyncio.Queue()
        self._advertised = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, url: str) -> FoxgloveClient:
        import websockets
        from websockets.typing import Subprotocol
        socket = await websockets.connect(url, subprotocols=[Subprotocol(SUBPROTOCOL)],
                                          max_size=None)
        return cls(socket)

    async def __aenter__(self) -> FoxgloveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._reader.cancel()
        await self._socket.close()

    async def _read(self) -> None:
        async for frame in self._socket:
            if isinstance(frame, str):
                self._on_control(json.loads(frame))
                continue
            opcode = frame[0]
            if opcode == _OP_MESSAGE_DATA:
                subscription, log_time = struct.unpack_from('<IQ', frame, 1)
                topic = self._subscriptions.get(subscription)
                if topic is not None:
                    self._data.put_nowait(DataMessage(topic, log_time, bytes(frame[13:]),
                                                      time.time_ns()))
            elif opcode == _OP_SERVICE_RESPONSE:
                _service, call, length = struct.unpack_from('<III', frame, 1)
                future = self._calls.pop(call, None)
                if future is not None and not future.done():
                    future.set_result(ServiceResult(True, bytes(frame[13 + length:]), ''))

    def _on_control(self, message: dict[str, Any]) -> None:
        op = message.get('op')
        if op == 'advertise':
            for channel in message['channels']:
                self.channels[channel['topic']] = channel
            self._advertised.set()
        elif op == 'unadvertise':
            gone = set(message['channelIds'])
            self.channels = {t: c for t, c in self.channels.items() if c['id'] not in gone}
        elif op == 'advertiseServices':
            for service in message['services']:
                self.services[service['name']] = service
            self._advertised.set()
        elif op == 'serviceCallFailure':
            future = self._calls.pop(message['callId'], None)
            if future is not None and not future.done():
                future.set_result(ServiceResult(False, b'', message.get('message', '')))

    async def wait_for_channels(self, topics: list[str], timeout: float) -> None:
        """Until every topic is advertised; TimeoutError names the missing ones."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(topic in self.channels for topic in topics):
            remaining = deadline - loop.time()
            if remaining <= 0:
                missing = [t for t in topics if t not in self.channels]
                raise TimeoutError(f'not advertised within {timeout} s: {missing}')
            self._advertised.clear()
            try:
                await asyncio.wait_for(self._advertised.wait(), min(remaining, 0.1))
            except TimeoutError:
                pass
        await asyncio.sleep(ADVERTISE_SETTLE_S)

    async def subscribe(self, topics: list[str]) -> None:
        subscriptions = []
        for topic in topics:
            subscription = self._next_subscription
            self._next_subscription += 1
            self._subscriptions[subscription] = topic
            subscriptions.append({'id': subscription, 'channelId': self.channels[topic]['id']})
        await self._socket.send(json.dumps({'op': 'subscribe', 'subscriptions': subscriptions}))

    async def next_message(self, timeout: float) -> DataMessage:
        return await asyncio.wait_for(self._data.get(), timeout)

    async def call_service(self, name: str, request: dict[str, Any],
                           timeout: float) -> ServiceResult:
        service = self.services[name]
        call = self._next_call
        self._next_call += 1
        future: asyncio.Future[ServiceResult] = asyncio.get_running_loop().create_future()
        self._calls[call] = future
        encoding = b'json'
        header = struct.pack('<BIII', _OP_SERVICE_REQUEST, service['id'], call, len(encoding))
        await self._socket.send(header + encoding + json.dumps(request).encode('utf-8'))
        return await asyncio.wait_for(future, timeout)


def protobuf_fields(payload: bytes) -> dict[int, list[Any]]:
    """Top-level fields of a protobuf message: number -> values (varints as int, else bytes).

    Enough to read a CompressedImage (2: data, 3: format, 4: frame_id)
    without generated protobuf classes.
    """
    fields: dict[int, list[Any]] = {}
    position = 0

    def varint() -> int:
        nonlocal position
        shift = value = 0
        while True:
            byte = payload[position]
            position += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    while position < len(payload):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value: Any = varint()
        elif wire == 1:
            value = payload[position:position + 8]
            position += 8
        elif wire == 2:
            length = varint()
            value = payload[position:position + length]
            position += length
        elif wire == 5:
            value = payload[position:position + 4]
            position += 4
        else:
            raise ValueError(f'unsupported protobuf wire type {wire}')
        fields.setdefault(number, []).append(value)
    return fields
