"""Non-blocking byte transports for MAVLink links: UDP, TCP and serial ports.

Why not pymavlink's ``mavutil`` connections: they are built around a blocking
``recv_match`` per connection, which means a thread per vehicle, and their
serial support needs pyserial. These transports never block, expose a file
descriptor for one selector that serves every vehicle, and reconnect TCP and
serial links on their own. The URL forms are pymavlink's, as the site
configuration uses them (docs/site_config.md):

    udpout:HOST:PORT   send to an autopilot listening there (SITL, the embedded simulator)
    udpin:HOST:PORT    listen; answer whoever sends valid MAVLink (udp: is the same)
    udpbcast:ADDR:PORT broadcast until a vehicle answers, then talk to it alone
    tcp:HOST:PORT      connect (and reconnect) to a TCP server (SITL's 5760)
    tcpin:HOST:PORT    accept one TCP client at a time
    /dev/ttyUSB0,57600 serial device with baud rate (default 57600)
"""

from __future__ import annotations

import errno
import os
import re
import select
import socket
import termios
from dataclasses import dataclass

MAX_DATAGRAM = 65535        # largest UDP payload
READ_CHUNK = 4096           # bytes read from a stream per call
READS_PER_CALL = 64         # datagrams or chunks read per call, so one flood cannot starve the others
DEFAULT_BAUD = 57600        # SiK telemetry radios' default serial rate
RECONNECT_MIN_S = 0.5       # first reconnect delay after a TCP/serial failure
RECONNECT_MAX_S = 5.0       # reconnect delay ceiling (doubling backoff)
TCP_BACKLOG = 1             # tcpin keeps one client at a time

# scheme:host:port network URLs (host may be a bracketed IPv6 literal)
_NETWORK = re.compile(r'^(udpin|udpout|udp|udpbcast|tcp|tcpin):(\[[^\]]+\]|[^:\s]+):(\d+)$')
# serial device, optionally ,baud
_SERIAL = re.compile(r'^(/dev/\S+?|COM\d+)(?:,(\d+))?$')
# baud rate -> termios speed constant, for the rates this platform supports
_BAUDS = {rate: getattr(termios, f'B{rate}') for rate in
          (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000, 1500000)
          if hasattr(termios, f'B{rate}')}


class TransportError(ValueError):
    """A MAVLink URL that cannot be used; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    """A parsed MAVLink URL."""

    scheme: str        # udpin, udpout, udpbcast, tcp, tcpin or serial
    host: str = ''
    port: int = 0
    device: str = ''
    baud: int = DEFAULT_BAUD

    def __str__(self) -> str:
        if self.scheme == 'serial':
            return f'{self.device},{self.baud}'
        return f'{self.scheme}:{self.host}:{self.port}'


def parse_url(url: str) -> Endpoint:
    """Parse a pymavlink-style connection string (see the module docstring)."""
    text = url.strip()
    network = _NETWORK.match(text)
    if network is not None:
        scheme, host, port = network.group(1), network.group(2).strip('[]'), int(network.group(3))
        if not 1 <= port <= 65535:
            raise TransportError(f'{url!r}: port {port} is out of range 1..65535')
        return Endpoint('udpin' if scheme == 'udp' else scheme, host, port)
    serial = _SERIAL.match(text)
    if serial is not None:
        baud = int(serial.group(2)) if serial.group(2) else DEFAULT_BAUD
        if baud not in _BAUDS:
            raise TransportError(f'{url!r}: unsupported baud rate {baud} (supported: '
                                 f'{", ".join(str(b) for b in sorted(_BAUDS))})')
        return Endpoint('serial', device=serial.group(1), baud=baud)
    raise TransportError(f'{url!r} is not a MAVLink connection string (e.g. udpout:127.0.0.1:14551, '
                         'udpin:0.0.0.0:14550, tcp:10.0.0.5:5760, /dev/ttyUSB0,57600)')


class Transport:
    """Base: a file descriptor to select on, reads that never block, writes that never raise."""

    datagram = False          # True: each read item is one whole datagram

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.last_error = ''  # the latest I/O problem, for throttled logging by the owner

    def fileno(self) -> int:
        """Descriptor to wait on, or -1 while disconnected."""
        raise NotImplementedError

    def read(self) -> list[tuple[bytes, object]]:
        """What is waiting: (bytes, sender) pairs; sender is None on streams."""
        raise NotImplementedError

    def write(self, data: bytes) -> bool:
        """Send; False when the bytes could not go out (counted by the caller)."""
        raise NotImplementedError

    def accept_peer(self, sender: object) -> None:
        """The bytes from ``sender`` were valid MAVLink from our vehicle: reply there."""

    def maintain(self, now: float) -> None:
        """Reconnect a broken stream when its backoff has passed (no-op for UDP)."""

    def close(self) -> None:
        raise NotImplementedError


def _resolve(host: str, port: int) -> tuple[str, int]:
    try:
        info = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    except socket.gaierror as error:
        raise TransportError(f'cannot resolve {host!r}: {error}') from None
    address = info[0][4]
    return str(address[0]), int(address[1])


class UdpTransport(Transport):
    """udpout / udpin / udpbcast over one non-blocking IPv4 socket."""

    datagram = True

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.peer: tuple[str, int] | None = None
        self._fixed_peer = endpoint.scheme == 'udpout'
        try:
            if endpoint.scheme == 'udpin':
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.sock.bind(_resolve(endpoint.host, endpoint.port))
            elif endpoint.scheme == 'udpbcast':
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                self.sock.bind(('0.0.0.0', 0))
            else:
                self.peer = _resolve(endpoint.host, endpoint.port)
        except OSError as error:
            self.sock.close()
            raise TransportError(f'{endpoint}: {error}') from None

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[tuple[bytes, object]]:
        out: list[tuple[bytes, object]] = []
        for _ in range(READS_PER_CALL):
            try:
                data, sender = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:   # ICMP port unreachable surfaces here while the vehicle is down
                self.last_error = str(error)
                break
            if self._fixed_peer and sender != self.peer:
                continue   # udpout talks to one autopilot; datagrams from elsewhere are not its
            out.append((data, sender))
        return out

    def accept_peer(self, sender: object) -> None:
        if not self._fixed_peer and isinstance(sender, tuple):
            self.peer = (str(sender[0]), int(sender[1]))

    def write(self, data: bytes) -> bool:
        target = self.peer
        if target is None:
            if self.endpoint.scheme != 'udpbcast':
                return False   # udpin: nobody has spoken yet
            target = (self.endpoint.host, self.endpoint.port)
        try:
            self.sock.sendto(data, target)
        except OSError as error:   # full buffer or unreachable: dropped, as UDP would
            self.last_error = str(error)
            return False
        return True

    def close(self) -> None:
        self.sock.close()


class _StreamTransport(Transport):
    """Shared reconnect logic of TCP and serial: exponential backoff, never blocking."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self._fd = -1
        self._retry_at = 0.0
        self._backoff = RECONNECT_MIN_S
        self._now = 0.0   # the manager's clock at the last maintain(), for failures found in read/write

    def fileno(self) -> int:
        return self._fd

    def _failed(self, now: float, error: str) -> None:
        self.last_error = error
        self._drop()
        self._retry_at = now + self._backoff
        self._backoff = min(RECONNECT_MAX_S, self._backoff * 2.0)

    def _drop(self) -> None:
        raise NotImplementedError

    def _connected(self) -> None:
        self._backoff = RECONNECT_MIN_S


class TcpTransport(_StreamTransport):
    """tcp: client with non-blocking connect; tcpin: one accepted client at a time."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self._sock: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._connecting = False
        if endpoint.scheme == 'tcpin':
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((endpoint.host, endpoint.port))
                listener.listen(TCP_BACKLOG)
                listener.setblocking(False)
            except OSError as error:
                listener.close()
                raise TransportError(f'{endpoint}: {error}') from None
            self._listener = listener

    def fileno(self) -> int:
        if self._sock is not None and not self._connecting:
            return self._sock.fileno()
        if self._listener is not None:
            return self._listener.fileno()
        return -1

    def maintain(self, now: float) -> None:
        self._now = now
        if self._listener is not None:
            return
        if self._sock is None and now >= self._retry_at:
            self._start_connect(now)
        elif self._sock is not None and self._connecting:
            _, writable, _ = select.select([], [self._sock], [], 0.0)
            if writable:
                code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    self._failed(now, os.strerror(code))
                else:
                    self._connecting = False
                    self._connected()

    def _start_connect(self, now: float) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._connecting = True
        try:
            sock.connect((self.endpoint.host, self.endpoint.port))
        except BlockingIOError:
            return
        except OSError as error:
            self._failed(now, str(error))
            return
        self._connecting = False
        self._connected()

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._connecting = False

    def read(self) -> list[tuple[bytes, object]]:
        if self._listener is not None and (self._sock is None):
            self._accept()
            return []
        if self._sock is None or self._connecting:
            return []
        out: list[tuple[bytes, object]] = []
        for _ in range(READS_PER_CALL):
            try:
                data = self._sock.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                self._failed(self._now, str(error))
                break
            if not data:
                self._failed(self._now, 'connection closed by peer')
                break
            out.append((data, None))
        return out

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self.last_error = str(error)
            return
        client.setblocking(False)
        self._sock = client
        self._connected()

    def write(self, data: bytes) -> bool:
        if self._sock is None or self._connecting:
            return False
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as error:
            self._failed(self._now, str(error))
            return False
        return sent == len(data)   # a partial write corrupts one packet; the parser resyncs

    def close(self) -> None:
        self._drop()
        if self._listener is not None:
            self._listener.close()
            self._listener = None


class SerialTransport(_StreamTransport):
    """A serial device in raw mode at the URL's baud rate, reopened after unplugging."""

    def maintain(self, now: float) -> None:
        self._now = now
        if self._fd < 0 and now >= self._retry_at:
            try:
                fd = os.open(self.endpoint.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError as error:
                self._failed(now, str(error))
                return
            try:
                _make_raw(fd, _BAUDS[self.endpoint.baud])
            except (OSError, termios.error) as error:
                os.close(fd)
                self._failed(now, str(error))
                return
            self._fd = fd
            self._connected()

    def _drop(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def read(self) -> list[tuple[bytes, object]]:
        if self._fd < 0:
            return []
        out: list[tuple[bytes, object]] = []
        for _ in range(READS_PER_CALL):
            try:
                data = os.read(self._fd, READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                if error.errno == errno.EAGAIN:
                    break
                self._failed(self._now, str(error))
                break
            if not data:
                break
            out.append((data, None))
        return out

    def write(self, data: bytes) -> bool:
        if self._fd < 0:
            return False
        try:
            return os.write(self._fd, data) == len(data)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as error:
            self._failed(self._now, str(error))
            return False

    def close(self) -> None:
        self._drop()


def _make_raw(fd: int, speed: int) -> None:
    """8N1, no flow control, no line discipline: bytes in, bytes out."""
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0                                                      # iflag
    attrs[1] = 0                                                      # oflag
    attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL           # cflag
    attrs[3] = 0                                                      # lflag
    attrs[4] = speed                                                  # ispeed
    attrs[5] = speed                                                  # ospeed
    attrs[6][termios.VMIN] = 0
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def open_transport(endpoint: Endpoint) -> Transport:
    """The transport for a parsed URL; UDP and tcpin bind at once, tcp and serial connect lazily."""
    if endpoint.scheme in ('udpin', 'udpout', 'udpbcast'):
        return UdpTransport(endpoint)
    if endpoint.scheme in ('tcp', 'tcpin'):
        return TcpTransport(endpoint)
    return SerialTransport(endpoint)
