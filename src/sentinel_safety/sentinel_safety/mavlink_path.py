"""The watchdog's own MAVLink path to every vehicle: GCS heartbeat and stop commands.

Why it exists: the emergency stop and the monitor's actions must reach the
vehicles when the vehicle interface (or all of ROS) is down. So the watchdog
opens its own pymavlink connection to every vehicle of the site roster (the
URL forms pymavlink accepts: ``udpout:host:port``, ``udpin:...``, ``tcp:...``,
serial), sends a GCS heartbeat at ``mavlink.heartbeat_period`` (so the
autopilots' GCS-loss failsafe also watches the watchdog), and sends stop
commands decided by ``stop_commands.StopScheduler``.

One thread serves every vehicle from one selector. Requests from the node
arrive through a queue and wake the thread at once through a socket pair, so
an e-stop does not wait for the next poll. Nothing a peer sends can raise out
of the loop; broken or failed connections are retried every
``RECONNECT_PERIOD`` seconds. UDP links open at once; links whose opening
can block (TCP connect, serial) are opened on a short-lived helper thread and
handed to the I/O thread, so one unreachable vehicle never delays a stop to
another.
"""

from __future__ import annotations

import queue
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_safety.config import MavlinkConfig
from sentinel_safety.domain import VehicleType
from sentinel_safety.stop_commands import Send, StopEvent, StopKind, StopScheduler

# Longest wait (s) in select when nothing is due; bounds resend jitter.
LOOP_PERIOD = 0.02
# Seconds between attempts to open a connection that failed or broke.
RECONNECT_PERIOD = 5.0
# Messages read from one connection per wake-up, so one flood cannot starve the others.
READS_PER_WAKE = 200
# Seconds between repeated log lines about the same broken connection.
LOG_THROTTLE = 10.0
# Component the stop commands address: the autopilot (MAV_COMP_ID_AUTOPILOT1).
TARGET_COMPONENT = mavlink.MAV_COMP_ID_AUTOPILOT1
# Seconds the thread is given to finish when the path is closed.
JOIN_TIMEOUT = 2.0
# URL schemes whose connection opens without blocking (a UDP socket, no handshake).
_NON_BLOCKING = re.compile(r'^(udp|udpin|udpout|udpbcast):')
# A URL with a scheme (anything else is a serial device, optionally "device,baud").
_SCHEME = re.compile(r'^[a-z]+:')


class Logger(Protocol):
    """What the path needs from a logger (an rclpy node logger or a logging.Logger)."""

    def info(self, message: str) -> Any: ...

    def warning(self, message: str) -> Any: ...

    def error(self, message: str) -> Any: ...


@dataclass(frozen=True)
class Endpoint:
    """One vehicle as the roster gives it."""

    vehicle_id: str
    url: str
    system_id: int
    vehicle_type: VehicleType


@dataclass(frozen=True)
class LinkView:
    """What the path last heard from a vehicle (monotonic seconds)."""

    last_heartbeat: float | None
    custom_mode: int | None
    armed: bool | None
    pending: StopKind | None


def open_connection(connect: Callable[..., Any], url: str, source_system: int,
                    source_component: int) -> Any:
    """Open a pymavlink connection; ``device,baud`` serial URLs are split for pymavlink."""
    device, options = url, {}
    if not _SCHEME.match(url) and ',' in url:
        device, _, baud = url.rpartition(',')
        options['baud'] = int(baud)
    return connect(device, source_system=source_system, source_component=source_component,
                   retries=0, **options)


class _Link:
    """One vehicle's connection and what it last reported."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.conn: Any = None
        self.opening = False                  # a helper thread is opening the connection
        self.retry_at = 0.0
        self.last_log = -LOG_THROTTLE
        self.last_heartbeat: float | None = None
        self.custom_mode: int | None = None
        self.armed: bool | None = None


class MavlinkPath:
    """Owns the connections and the I/O thread; the node calls the thread-safe methods."""

    def __init__(self, endpoints: Sequence[Endpoint], config: MavlinkConfig, logger: Logger,
                 clock: Callable[[], float] = time.monotonic,
                 connect: Callable[..., Any] = mavutil.mavlink_connection) -> None:
        self._config = config
        self._log = logger
        self._clock = clock
        self._connect = connect
        self._links = {e.vehicle_id: _Link(e) for e in endpoints}
        self._scheduler = StopScheduler({e.vehicle_id: e.vehicle_type for e in endpoints},
                                        config.resend_interval, config.command_timeout)
        self._requests: queue.SimpleQueue[tuple[str, str, StopKind | None, bool, str]] = \
            queue.SimpleQueue()
        self._opened: queue.SimpleQueue[tuple[str, Any, Exception | None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._views: dict[str, LinkView] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='safety-mavlink', daemon=True)
        self._next_heartbeat = 0.0

    # ------------------------------------------------------------ called by the node

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(timeout=JOIN_TIMEOUT)
        for link in self._links.values():
            self._drop(link)
        self._selector.close()
        self._wake_read.close()
        self._wake_write.close()

    def request_stop(self, vehicle_id: str, kind: StopKind, latched: bool, reason: str) -> None:
        """Send a stop to a vehicle (resent until acknowledged; latched: re-asserted)."""
        self._requests.put(('stop', vehicle_id, kind, latched, reason))
        self._wake()

    def release(self, vehicle_id: str) -> None:
        """Stop re-asserting a latched stop."""
        self._requests.put(('release', vehicle_id, None, False, ''))
        self._wake()

    def views(self) -> dict[str, LinkView]:
        with self._lock:
            return dict(self._views)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------ the thread

    def _wake(self) -> None:
        try:
            self._wake_write.send(b'\0')
        except (BlockingIOError, OSError):
            pass  # a wake-up is already pending (buffer full) or the path is closing

    def _run(self) -> None:
        last_report = -LOG_THROTTLE
        while not self._stop.is_set():
            try:
                self._loop_once()
            except Exception as error:  # noqa: BLE001 - one bad turn must not end the only path
                # that works without ROS; the error is logged (throttled) and the loop goes on
                now = self._clock()
                if now - last_report >= LOG_THROTTLE:
                    last_report = now
                    self._log.error(f'MAVLink path: unexpected error, continuing: {error!r}')
                self._stop.wait(LOOP_PERIOD)

    def _loop_once(self) -> None:
        now = self._clock()
        self._take_requests(now)
        self._ensure_connections(now)
        if now >= self._next_heartbeat:
            self._send_heartbeats()
            self._next_heartbeat = now + self._config.heartbeat_period
        sends, events = self._scheduler.due(now)
        # Every due stop goes out back to back: logging one would delay the next vehicle's.
        first = [send for send in sends if self._send_command(send) and send.confirmation == 0]
        if first:
            self._log.warning('MAVLink stop sent: ' + ', '.join(
                f'{send.command.label} to {send.vehicle_id}' for send in first))
        self._report(events)
        timeout = max(0.0, min(LOOP_PERIOD, self._next_heartbeat - self._clock()))
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._drain_wake()
            else:
                self._read(self._links[key.data])
        self._publish_views()

    def _take_requests(self, now: float) -> None:
        while True:
            try:
                what, vehicle_id, kind, latched, reason = self._requests.get_nowait()
            except queue.Empty:
                return
            if vehicle_id not in self._links:
                self._log.error(f'MAVLink path: no vehicle {vehicle_id!r} in the roster')
            elif what == 'stop' and kind is not None:
                self._scheduler.request(vehicle_id, kind, latched, reason, now)
            elif what == 'release':
                self._scheduler.release(vehicle_id)

    def _drain_wake(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass  # nothing more to read

    def _ensure_connections(self, now: float) -> None:
        while True:   # connections opened by helper threads
            try:
                vehicle_id, conn, error = self._opened.get_nowait()
            except queue.Empty:
                break
            self._adopt(self._links[vehicle_id], conn, error, now)
        for vehicle_id, link in self._links.items():
            if link.conn is not None or link.opening or now < link.retry_at:
                continue
            if _NON_BLOCKING.match(link.endpoint.url):
                conn, error = self._open(link.endpoint)
                self._adopt(link, conn, error, now)
            else:
                link.opening = True
                threading.Thread(target=self._open_elsewhere, args=(link.endpoint,),
                                 name=f'safety-mavlink-open-{vehicle_id}', daemon=True).start()

    def _open(self, endpoint: Endpoint) -> tuple[Any, Exception | None]:
        try:
            return open_connection(self._connect, endpoint.url, self._config.source_system,
                                   self._config.source_component), None
        except (OSError, ValueError) as error:
            return None, error

    def _open_elsewhere(self, endpoint: Endpoint) -> None:
        conn, error = self._open(endpoint)
        self._opened.put((endpoint.vehicle_id, conn, error))
        self._wake()

    def _adopt(self, link: _Link, conn: Any, error: Exception | None, now: float) -> None:
        link.opening = False
        endpoint = link.endpoint
        if conn is None or self._stop.is_set():
            if conn is not None:
                conn.close()
            link.retry_at = now + RECONNECT_PERIOD
            self._throttled(link, now, f'MAVLink path to {endpoint.vehicle_id} on {endpoint.url} '
                                       f'failed: {error}; retrying in {RECONNECT_PERIOD:g} s')
            return
        link.conn = conn
        self._selector.register(conn.fd, selectors.EVENT_READ, endpoint.vehicle_id)
        self._log.info(f'MAVLink path to {endpoint.vehicle_id} (system {endpoint.system_id}) '
                       f'on {endpoint.url}')

    def _throttled(self, link: _Link, now: float, message: str) -> None:
        if now - link.last_log >= LOG_THROTTLE:
            link.last_log = now
            self._log.warning(message)

    def _drop(self, link: _Link) -> None:
        if link.conn is None:
            return
        try:
            self._selector.unregister(link.conn.fd)
        except (KeyError, ValueError, OSError):
            pass  # never registered, or the selector is already closed
        try:
            link.conn.close()
        except OSError as error:
            self._log.warning(f'closing MAVLink link to {link.endpoint.vehicle_id}: {error}')
        link.conn = None
        link.retry_at = self._clock() + RECONNECT_PERIOD

    def _send_heartbeats(self) -> None:
        for link in self._links.values():
            if link.conn is None:
                continue
            try:
                link.conn.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID,
                                             0, 0, mavlink.MAV_STATE_ACTIVE)
            except OSError as error:
                self._throttled(link, self._clock(), f'GCS heartbeat to '
                                                      f'{link.endpoint.vehicle_id} failed: {error}')
                self._drop(link)

    def _send_command(self, send: Send) -> bool:
        """Send one stop command; False when it could not be (the scheduler's resend and
        fallback deal with it as unacknowledged)."""
        link = self._links[send.vehicle_id]
        if link.conn is None:
            return False
        command = send.command
        try:
            link.conn.mav.command_long_send(link.endpoint.system_id, TARGET_COMPONENT,
                                            command.command, send.confirmation, *command.params)
        except OSError as error:
            self._throttled(link, self._clock(), f'{command.label} to {send.vehicle_id} '
                                                  f'failed: {error}')
            self._drop(link)
            return False
        return True

    def _read(self, link: _Link) -> None:
        now = self._clock()
        events: list[StopEvent] = []
        for _ in range(READS_PER_WAKE):
            try:
                msg = link.conn.recv_msg() if link.conn is not None else None
            except OSError as error:
                self._throttled(link, now, f'MAVLink read from {link.endpoint.vehicle_id} '
                                           f'failed: {error}')
                self._drop(link)
                return
            if msg is None:
                break
            events += self._handle(link, msg, now)
        self._report(events)

    def _handle(self, link: _Link, msg: Any, now: float) -> list[StopEvent]:
        kind = msg.get_type()
        if kind == 'BAD_DATA' or msg.get_srcSystem() != link.endpoint.system_id:
            return []
        vehicle_id = link.endpoint.vehicle_id
        if kind == 'HEARTBEAT' and msg.type != mavlink.MAV_TYPE_GCS:
            link.last_heartbeat = now
            link.custom_mode = int(msg.custom_mode)
            link.armed = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
            return self._scheduler.on_heartbeat(vehicle_id, int(msg.autopilot), link.custom_mode,
                                                link.armed, now)
        if kind == 'COMMAND_ACK' and getattr(msg, 'target_system', 0) in (
                0, self._config.source_system):
            return self._scheduler.on_ack(vehicle_id, int(msg.command), int(msg.result), now)
        return []

    def _report(self, events: Sequence[StopEvent]) -> None:
        # One call site per severity: rclpy loggers refuse a call site that changes severity.
        for event in events:
            text = f'MAVLink stop for {event.vehicle_id}: {event.message}'
            if event.level == 'info':
                self._log.info(text)
            elif event.level == 'warning':
                self._log.warning(text)
            else:
                self._log.error(text)

    def _publish_views(self) -> None:
        views = {vehicle_id: LinkView(link.last_heartbeat, link.custom_mode, link.armed,
                                      self._scheduler.pending(vehicle_id))
                 for vehicle_id, link in self._links.items()}
        with self._lock:
            self._views = views
