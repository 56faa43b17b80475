"""MCAP recordings of ROS topics: rotating files, an index, and a reader by topic and time.

Format. Messages are stored exactly as they travelled on DDS: ROS 2 CDR bytes
(message encoding ``cdr``) with ``ros2msg`` schemas (the ``.msg`` text of the
type and, below ``====`` separators, of every type it uses), under the MCAP
``ros2`` profile. That is the layout rosbag2's MCAP storage writes, so the
same file opens in Foxglove (drag and drop, every ROS and Sentinel type
decoded), in ``ros2 bag`` on a ROS installation, and in Python through
``mcap-ros2-support`` (:func:`iter_messages`), which is how the model
lifecycle extracts frames. Recording the raw bytes also means no message is
deserialised and re-serialised on the way to disk.

Files. ``<data_dir>/sentinel_<UTC start>_<seq>.mcap``, rotated when a file
reaches ``max_bytes`` or ``max_duration``. The file being written is named
``….mcap.active`` and renamed when it is finished, so a ``.mcap`` file is
always complete; a recorder that died leaves an ``.active`` file, which the
next start recovers (what was flushed is kept, the entry is marked
``complete: false``).

Index. ``<data_dir>/index.json`` lists every file with its first and last
message time (ns since the epoch), message count per topic, size and whether
it is complete. It is replaced atomically (write, fsync, rename), so other
processes can read it at any time: :func:`files_between` and
:func:`iter_messages` use it to open only the files that overlap a time range.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from mcap.exceptions import McapError
from mcap.reader import NonSeekingReader, make_reader
from mcap.writer import CompressionType, Writer
from mcap_ros2.decoder import DecoderFactory

# Name of the index file in the data directory.
INDEX_NAME = 'index.json'
# Version of the index format written (readers refuse newer ones).
INDEX_VERSION = 1
# Prefix of recording file names.
FILE_PREFIX = 'sentinel'
# Suffix of the file being written; renamed to .mcap once finished.
ACTIVE_SUFFIX = '.active'
# MCAP chunk size: messages are compressed and indexed per chunk (bytes).
CHUNK_SIZE = 1024 * 1024
# MCAP profile and encodings of ROS 2 recordings (as rosbag2 writes them).
PROFILE = 'ros2'
SCHEMA_ENCODING = 'ros2msg'
MESSAGE_ENCODING = 'cdr'
# How often the index is rewritten while a file is being written (ns), so other
# processes see the active file grow without an index write per message.
INDEX_REFRESH_NS = 5_000_000_000
# Separator between message definitions in a ros2msg schema.
_DEFINITION_SEPARATOR = '=' * 80
# Primitive types of the ROS 2 IDL (anything else names a message type).
_PRIMITIVES = frozenset({'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16',
                         'uint16', 'int32', 'uint32', 'int64', 'uint64', 'string', 'wstring'})
# A ROS 2 message type name: pkg/msg/Type (or the short pkg/Type).
_TYPE_NAME = re.compile(r'^([A-Za-z][A-Za-z0-9_]*)/(?:msg/)?([A-Z][A-Za-z0-9]*)$')

COMPRESSIONS: dict[str, CompressionType] = {
    'lz4': CompressionType.LZ4,     # fast, moderate ratio: the default for live recording
    'zstd': CompressionType.ZSTD,   # smaller files, more CPU
    'none': CompressionType.NONE,
}


class RecordingError(RuntimeError):
    """A recording problem the caller should see (bad index, unknown type, closed recorder)."""


# --------------------------------------------------------------------------
# Message definitions
# --------------------------------------------------------------------------

def split_type_name(type_name: str) -> tuple[str, str]:
    """``('sensor_msgs', 'Image')`` from ``sensor_msgs/msg/Image`` or ``sensor_msgs/Image``."""
    match = _TYPE_NAME.match(type_name)
    if match is None:
        raise RecordingError(f'"{type_name}" is not a ROS 2 message type (pkg/msg/Type)')
    return match.group(1), match.group(2)


def _field_types(definition: str, package: str) -> list[str]:
    """Message types a .msg definition refers to, as pkg/Type (constants and primitives skipped)."""
    found: list[str] = []
    for raw in definition.splitlines():
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2 or '=' in parts[1] or (len(parts) > 2 and parts[2].startswith('=')):
            continue  # a constant (TYPE NAME=value) or malformed
        base = re.sub(r'\[.*\]$', '', parts[0])
        base = base.split('<=', 1)[0]
        if base in _PRIMITIVES:
            continue
        if '/' in base:
            pkg, name = split_type_name(base)
        else:
            pkg, name = package, base
        found.append(f'{pkg}/{name}')
    return found


def read_msg_file(package: str, name: str) -> str:
    """The .msg text of a type from its package's share directory (ament index)."""
    from ament_index_python.packages import (PackageNotFoundError,
                                             get_package_share_directory)
    try:
        share = Path(get_package_share_directory(package))
    except PackageNotFoundError:
        raise RecordingError(f'package {package!r} is not installed') from None
    path = share / 'msg' / f'{name}.msg'
    try:
        return path.read_text(encoding='utf-8')
    except OSError as error:
        raise RecordingError(f'cannot read the definition of {package}/msg/{name}: {error}') \
            from None


def message_definition(type_name: str,
                       read: Callable[[str, str], str] = read_msg_file) -> str:
    """The full ros2msg schema text of a type: its .msg, then every type it uses, once each."""
    package, name = split_type_name(type_name)
    root = read(package, name)
    sections: list[str] = [root.rstrip('\n')]
    seen = {f'{package}/{name}'}
    pending = _field_types(root, package)
    while pending:
        dependency = pending.pop(0)
        if dependency in seen:
            continue
        seen.add(dependency)
        dep_package, dep_name = split_type_name(dependency)
        text = read(dep_package, dep_name)
        sections.append(f'{_DEFINITION_SEPARATOR}\nMSG: {dep_package}/msg/{dep_name}\n'
                        f'{text.rstrip(chr(10))}')
        pending += _field_types(text, dep_package)
    return '\n'.join(sections) + '\n'


# --------------------------------------------------------------------------
# Policies (pure)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class RotationPolicy:
    """When to start a new file: past a size or an age, whichever comes first."""

    max_bytes: int           # bytes written to the current file
    max_duration_ns: int     # since the current file was opened

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_duration_ns <= 0:
            raise ValueError('rotation limits must be positive')

    def due(self, written_bytes: int, opened_ns: int, now_ns: int) -> bool:
        return written_bytes >= self.max_bytes or now_ns - opened_ns >= self.max_duration_ns


def topic_selected(topic: str, patterns: Sequence[str]) -> bool:
    """Whether a topic matches any shell-style pattern (``/cameras/*/image_raw``)."""
    return any(fnmatch.fnmatchcase(topic, pattern) for pattern in patterns)


def reader_qos(publishers_reliable: Sequence[bool],
               publishers_transient: Sequence[bool]) -> tuple[bool, bool]:
    """(reliable, transient_local) for a recorder subscription that matches every publisher.

    A reliable reader does not match a best-effort writer, and a transient-local
    reader does not match a volatile one, so each is asked for only when every
    publisher offers it (rosbag2's rule). Latched topics (zones, safety status)
    then deliver their last message to a recorder that starts late.
    """
    reliable = bool(publishers_reliable) and all(publishers_reliable)
    transient = bool(publishers_transient) and all(publishers_transient)
    return reliable, transient


# --------------------------------------------------------------------------
# Index
# --------------------------------------------------------------------------

@dataclass
class FileEntry:
    """One recording file as the index lists it."""

    name: str                                # file name inside the data directory
    start_ns: int | None = None              # first message's log time; None: no message yet
    end_ns: int | None = None                # last message's log time
    messages: int = 0
    size_bytes: int = 0
    topics: dict[str, int] = field(default_factory=dict)   # messages per topic
    types: dict[str, str] = field(default_factory=dict)    # topic -> pkg/msg/Type
    complete: bool = False                   # finished cleanly (has the MCAP summary)
    active: bool = False                     # being written now

    def overlaps(self, start_ns: int | None, end_ns: int | None) -> bool:
        """Whether any message of the file may lie in [start_ns, end_ns)."""
        if self.start_ns is None:
            return self.active  # empty so far: only the active file may gain messages
        if end_ns is not None and self.start_ns >= end_ns:
            return False
        last = None if self.active else self.end_ns
        return start_ns is None or last is None or last >= start_ns

    def record(self, topic: str, log_time_ns: int) -> None:
        self.messages += 1
        self.topics[topic] = self.topics.get(topic, 0) + 1
        if self.start_ns is None or log_time_ns < self.start_ns:
            self.start_ns = log_time_ns
        if self.end_ns is None or log_time_ns > self.end_ns:
            self.end_ns = log_time_ns


def _entry_from_json(raw: Any, where: str) -> FileEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get('name'), str):
        raise RecordingError(f'{where}: a file entry needs a "name"')
    known = {f for f in FileEntry.__dataclass_fields__}
    return FileEntry(**{k: v for k, v in raw.items() if k in known})


def read_index(data_dir: str | Path) -> list[FileEntry]:
    """The index's file entries, oldest first (empty when there is no index yet)."""
    path = Path(data_dir) / INDEX_NAME
    try:
        document = json.loads(path.read_text(encoding='utf-8'))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordingError(f'{path}: cannot read the recording index: {error}') from None
    if not isinstance(document, dict) or not isinstance(document.get('files'), list):
        raise RecordingError(f'{path}: not a recording index (no "files" list)')
    version = document.get('version')
    if not isinstance(version, int) or version > INDEX_VERSION:
        raise RecordingError(f'{path}: index version {version!r} is newer than this reader '
                             f'({INDEX_VERSION})')
    return [_entry_from_json(raw, f'{path}: files[{i}]')
            for i, raw in enumerate(document['files'])]


def write_index(data_dir: str | Path, files: Sequence[FileEntry]) -> None:
    """Replace the index atomically: readers see the old or the new one, never half of one."""
    directory = Path(data_dir)
    path = directory / INDEX_NAME
    temp = directory / f'.{INDEX_NAME}.{os.getpid()}.tmp'
    document = {'version': INDEX_VERSION, 'format': 'mcap', 'profile': PROFILE,
                'message_encoding': MESSAGE_ENCODING, 'files': [asdict(f) for f in files]}
    with open(temp, 'w', encoding='utf-8') as handle:
        json.dump(document, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def files_between(data_dir: str | Path, start_ns: int | None = None,
                  end_ns: int | None = None) -> list[FileEntry]:
    """Index entries whose messages may fall in [start_ns, end_ns), oldest first."""
    return [entry for entry in read_index(data_dir) if entry.overlaps(start_ns, end_ns)]


def retention_victims(files: Sequence[FileEntry], max_total_bytes: int) -> list[FileEntry]:
    """Oldest finished files to delete so the total fits ``max_total_bytes`` (0: keep all).

    The active file is never a victim.
    """
    if max_total_bytes <= 0:
        return []
    total = sum(f.size_bytes for f in files)
    victims: list[FileEntry] = []
    for entry in files:
        if total <= max_total_bytes:
            break
        if entry.active:
            continue
        victims.append(entry)
        total -= entry.size_bytes
    return victims


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class TopicInfo:
    topic: str
    type_name: str       # pkg/msg/Type
    definition: str      # full ros2msg text (see message_definition)


def _sequence_of(name: str) -> int:
    """The sequence number in ``sentinel_<stamp>_<seq>.mcap`` (0 when absent)."""
    match = re.search(r'_(\d+)\.mcap$', name)
    return int(match.group(1)) if match else 0


def _scan(path: Path) -> FileEntry:
    """Count what an unfinished file holds, reading records until the data ends or breaks."""
    entry = FileEntry(name=path.name)
    with open(path, 'rb') as stream:
        reader = NonSeekingReader(stream)
        try:
            for _schema, channel, message in reader.iter_messages(log_time_order=False):
                entry.record(channel.topic, message.log_time)
        except (McapError, EOFError, ValueError, OSError):
            pass  # the truncated tail of a crashed recording: keep what came before it
    entry.size_bytes = path.stat().st_size
    return entry


class McapRecorder:
    """Writes raw CDR messages into rotating MCAP files and keeps the index current.

    Not thread-safe: call it from one thread (the recorder node's executor).
    """

    def __init__(self, data_dir: str | Path, policy: RotationPolicy, compression: str = 'lz4',
                 max_total_bytes: int = 0, clock_ns: Callable[[], int] = time.time_ns,
                 log: Callable[[str], object] | None = None) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f'compression must be one of {", ".join(COMPRESSIONS)}, '
                             f'got {compression!r}')
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._policy = policy
        self._compression = COMPRESSIONS[compression]
        self._max_total_bytes = max_total_bytes
        self._clock_ns = clock_ns
        self._log: Callable[[str], object] = log or (lambda _message: None)
        self._topics: dict[str, TopicInfo] = {}
        self._files = read_index(self.data_dir)
        self._sequence = max((_sequence_of(f.name) for f in self._files), default=0)
        self._index_written_ns = 0
        self._stream: IO[bytes] | None = None
        self._writer: Writer | None = None
        self._entry: FileEntry | None = None
        self._opened_ns = 0
        self._channels: dict[str, int] = {}
        self._flushed_bytes = 0    # bytes the writer has put in the file
        self._pending_bytes = 0    # message bytes since, still in the writer's chunk
        self._closed = False
        self._recover()

    # ------------------------------------------------------------- lifecycle

    def _recover(self) -> None:
        """Finish the bookkeeping of files a crashed recorder left behind."""
        listed = {entry.name: entry for entry in self._files}
        changed = False
        for active in sorted(self.data_dir.glob(f'{FILE_PREFIX}_*.mcap{ACTIVE_SUFFIX}')):
            final = active.with_name(active.name[:-len(ACTIVE_SUFFIX)])
            entry = _scan(active)
            entry.name = final.name
            os.replace(active, final)
            self._log(f'recovered unfinished recording {final.name}: {entry.messages} messages')
            stale = listed.get(active.name) or listed.get(final.name)
            if stale is not None:
                self._files.remove(stale)
            self._files.append(entry)
            changed = True
        for entry in self._files:
            if entry.active:  # listed as active but its file is gone or was renamed above
                entry.active = False
                changed = True
        if changed:
            self._files.sort(key=lambda e: (e.start_ns is None, e.start_ns or 0, e.name))
            write_index(self.data_dir, self._files)

    def _open(self) -> None:
        now = self._clock_ns()
        stamp = datetime.fromtimestamp(now / 1e9, tz=UTC).strftime('%Y%m%dT%H%M%SZ')
        self._sequence += 1
        name = f'{FILE_PREFIX}_{stamp}_{self._sequence:05d}.mcap'
        self._stream = open(self.data_dir / (name + ACTIVE_SUFFIX), 'wb')
        self._writer = Writer(self._stream, chunk_size=CHUNK_SIZE, compression=self._compression)
        self._writer.start(profile=PROFILE, library='sentinel recorder')
        self._writer.add_metadata('sentinel', {'opened_ns': str(now)})
        self._entry = FileEntry(name=name, active=True)
        self._opened_ns = now
        self._channels = {}
        self._flushed_bytes = self._pending_bytes = 0
        self._files.append(self._entry)
        self._write_index(now)

    def _write_index(self, now_ns: int) -> None:
        write_index(self.data_dir, self._files)
        self._index_written_ns = now_ns

    def _finish(self) -> None:
        if self._writer is None or self._stream is None or self._entry is None:
            return
        self._writer.finish()
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        active = self.data_dir / (self._entry.name + ACTIVE_SUFFIX)
        os.replace(active, self.data_dir / self._entry.name)
        self._entry.size_bytes = (self.data_dir / self._entry.name).stat().st_size
        self._entry.complete = True
        self._entry.active = False
        self._writer = self._stream = self._entry = None
        self._apply_retention()
        self._write_index(self._clock_ns())

    def _apply_retention(self) -> None:
        for victim in retention_victims(self._files, self._max_total_bytes):
            (self.data_dir / victim.name).unlink(missing_ok=True)
            self._files.remove(victim)
            self._log(f'retention: deleted {victim.name} ({victim.size_bytes} B)')

    def close(self) -> None:
        """Finish the current file (it becomes a complete .mcap); idempotent."""
        if not self._closed:
            self._finish()
            self._closed = True

    # --------------------------------------------------------------- writing

    def add_topic(self, info: TopicInfo) -> None:
        """Make a topic writable; its schema and channel go into each file on first use."""
        split_type_name(info.type_name)
        self._topics[info.topic] = info

    def _channel(self, topic: str) -> int:
        channel = self._channels.get(topic)
        if channel is None:
            info = self._topics.get(topic)
            if info is None:
                raise RecordingError(f'topic {topic} was not added to the recorder')
            assert self._writer is not None and self._entry is not None
            schema = self._writer.register_schema(info.type_name, SCHEMA_ENCODING,
                                                  info.definition.encode('utf-8'))
            channel = self._writer.register_channel(topic, MESSAGE_ENCODING, schema)
            self._channels[topic] = channel
            self._entry.types[topic] = info.type_name
        return channel

    def write(self, topic: str, data: bytes, log_time_ns: int | None = None,
              publish_time_ns: int | None = None) -> None:
        """Append one serialized (CDR) message, rotating first if the file is due."""
        if self._closed:
            raise RecordingError('recorder is closed')
        now = self._clock_ns() if log_time_ns is None else log_time_ns
        self.tick(now)
        if self._writer is None:
            self._open()
        assert self._writer is not None and self._entry is not None and self._stream is not None
        self._writer.add_message(channel_id=self._channel(topic), log_time=now,
                                 publish_time=publish_time_ns if publish_time_ns else now,
                                 data=bytes(data))
        self._entry.record(topic, now)
        # The writer holds a chunk in memory until it is full; count those bytes too, so
        # size rotation does not lag by a chunk.
        written = self._stream.tell()
        self._pending_bytes = 0 if written != self._flushed_bytes else \
            self._pending_bytes + len(data)
        self._flushed_bytes = written
        self._entry.size_bytes = written + self._pending_bytes

    def tick(self, now_ns: int | None = None) -> None:
        """Rotate when the current file is due (call periodically so quiet files close too)."""
        if self._writer is None or self._entry is None:
            return
        now = self._clock_ns() if now_ns is None else now_ns
        if self._policy.due(self._entry.size_bytes, self._opened_ns, now):
            self._finish()
        elif now - self._index_written_ns >= INDEX_REFRESH_NS:
            self._write_index(now)

    @property
    def files(self) -> list[FileEntry]:
        return list(self._files)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordedMessage:
    """One recorded message; ``message`` is the decoded object when decoding was asked."""

    topic: str
    type_name: str
    log_time_ns: int
    publish_time_ns: int
    data: bytes           # the CDR bytes as recorded
    message: Any          # decoded (fields as attributes), or None
    file: str


def _iter_file(path: Path, complete: bool, topics: list[str] | None, start_ns: int | None,
               end_ns: int | None, decode: bool) -> Iterator[RecordedMessage]:
    factory = DecoderFactory()
    decoders: dict[int, Callable[[bytes], Any]] = {}
    with open(path, 'rb') as stream:
        reader = make_reader(stream) if complete else NonSeekingReader(stream)
        messages = reader.iter_messages(topics=topics, starting_at=start_ns,
                                        ending_before=end_ns, log_time_order=complete)
        try:
            for schema, channel, message in messages:
                decoded = None
                if decode and schema is not None:
                    decoder = decoders.get(schema.id)
                    if decoder is None:
                        decoder = factory.decoder_for(channel.message_encoding, schema)
                        if decoder is None:
                            raise RecordingError(f'{path.name}: cannot decode '
                                                 f'{channel.message_encoding} / {schema.name}')
                        decoders[schema.id] = decoder
                    decoded = decoder(message.data)
                yield RecordedMessage(channel.topic, schema.name if schema else '',
                                      message.log_time, message.publish_time,
                                      bytes(message.data), decoded, path.name)
        except (McapError, EOFError) as error:
            if complete:
                raise RecordingError(f'{path.name}: {error}') from None
            # an unfinished file ends where the crash cut it: stop there


def iter_messages(data_dir: str | Path, topics: str | Iterable[str] | None = None,
                  start_ns: int | None = None, end_ns: int | None = None,
                  decode: bool = True) -> Iterator[RecordedMessage]:
    """Messages of ``topics`` logged in [start_ns, end_ns), file by file in time order.

    Only files the index says overlap the range are opened. With ``decode``
    each message is also decoded (``mcap-ros2-support``: fields as attributes,
    e.g. ``m.message.width`` and ``bytes(m.message.data)`` for an Image); the
    raw CDR bytes are in ``data`` either way, ready for
    ``rclpy.serialization.deserialize_message`` when the type is installed.
    """
    wanted = [topics] if isinstance(topics, str) else (list(topics) if topics is not None
                                                       else None)
    directory = Path(data_dir)
    for entry in files_between(directory, start_ns, end_ns):
        if wanted is not None and not entry.active and not set(wanted) & set(entry.topics):
            continue
        path = directory / entry.name
        if entry.active:
            path = directory / (entry.name + ACTIVE_SUFFIX)
        if not path.exists():
            continue  # deleted by retention after the index was read
        yield from _iter_file(path, entry.complete and not entry.active, wanted, start_ns,
                              end_ns, decode)
