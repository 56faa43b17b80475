"""The recorder node: selected ROS topics into rotating MCAP files (see ``recording``).

A process of its own rather than an option of the Foxglove bridge: recording
must go on while operators connect and disconnect, and a slow disk must
never stall the live view (nor the other way round). It subscribes to the
topics matching its patterns as they appear in the graph, with each topic's
own type and a QoS that matches every publisher, and writes the serialized
bytes as they arrive (no deserialisation).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from sentinel_bridge.recording import (COMPRESSIONS, McapRecorder, RecordingError,
                                       RotationPolicy, TopicInfo, message_definition,
                                       reader_qos, split_type_name, topic_selected)
from sentinel_common.entry_point import run_node
from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher
from sentinel_common.parameters import StartupError, data_directory, declare

NODE_NAME = 'recorder'
# What is recorded by default: everything the later steps (audit, dataset
# extraction, incident review) need, cameras included.
DEFAULT_TOPICS = [
    '/cameras/*/image_raw', '/cameras/*/camera_info', '/perception/detections', '/tracks',
    '/alerts', '/vehicles/*/state', '/fleet/state', '/safety/status', '/safety/verdicts',
    '/safety/approved_commands', '/zones', '/tasks', '/model/active', '/perception/drift',
    '/sim/ground_truth',
]
# Messages queued per topic by the subscription before the oldest is dropped.
QUEUE_DEPTH = 50
_NS_PER_S = 1_000_000_000
_BYTES_PER_MB = 1024 * 1024


def _message_class(type_name: str) -> Any:
    package, name = split_type_name(type_name)
    try:
        return getattr(importlib.import_module(f'{package}.msg'), name)
    except (ImportError, AttributeError):
        raise RecordingError(f'message type {type_name} is not installed') from None


class RecorderNode(Node):
    """Discovers matching topics and writes them to an :class:`McapRecorder`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.heartbeat = HeartbeatPublisher(self)
        data_dir = data_directory('data_dir', declare(
            self, 'data_dir', str(Path.home() / '.local/share/sentinel/recordings'),
            'directory of the MCAP files and their index.json'))
        self._patterns = [str(p) for p in declare(
            self, 'topics', DEFAULT_TOPICS,
            'topics to record; shell patterns such as /cameras/*/image_raw')]
        if not self._patterns:
            raise StartupError('parameter topics: give at least one topic or pattern')
        max_file_size_mb = declare(self, 'max_file_size_mb', 512, 'rotate after this many MiB',
                                   1, 1_000_000)
        max_file_duration = declare(self, 'max_file_duration', 300.0,
                                    'rotate after this many seconds', 1.0, 86_400.0)
        max_total_size_mb = declare(self, 'max_total_size_mb', 0, 'delete the oldest files '
                                    'beyond this many MiB; 0 keeps everything', 0, 100_000_000)
        compression = declare(self, 'compression', 'lz4',
                              f'chunk compression: {", ".join(COMPRESSIONS)}')
        discovery_period = declare(self, 'discovery_period', 1.0,
                                   'seconds between looks for new matching topics', 0.05, 60.0)
        rotation = RotationPolicy(int(max_file_size_mb) * _BYTES_PER_MB,
                                  int(float(max_file_duration) * _NS_PER_S))
        try:
            self.recorder = McapRecorder(
                data_dir, rotation, compression=str(compression),
                max_total_bytes=int(max_total_size_mb) * _BYTES_PER_MB,
                log=self.get_logger().info)
        except ValueError as error:
            raise StartupError(f'parameter compression: {error}') from None
        self._recording: set[str] = set()
        self._refused: set[str] = set()
        self.get_logger().info(f'recording {", ".join(self._patterns)} to '
                               f'{self.recorder.data_dir}')
        self.create_timer(float(discovery_period), self._discover)
        self.create_timer(1.0, self._tick)
        self._discover()

    def _qos(self, topic: str) -> QoSProfile:
        publishers = self.get_publishers_info_by_topic(topic)
        reliable, transient = reader_qos(
            [p.qos_profile.reliability == ReliabilityPolicy.RELIABLE for p in publishers],
            [p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publishers])
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=QUEUE_DEPTH,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=(DurabilityPolicy.TRANSIENT_LOCAL if transient
                        else DurabilityPolicy.VOLATILE))

    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self._recording or topic in self._refused:
                continue
            if not topic_selected(topic, self._patterns):
                continue
            if len(types) != 1 or not self.get_publishers_info_by_topic(topic):
                continue  # wait for one publisher type to settle
            try:
                type_name = types[0]
                message_class = _message_class(type_name)
                self.recorder.add_topic(TopicInfo(topic, type_name,
                                                  message_definition(type_name)))
            except RecordingError as error:
                self._refused.add(topic)
                self.get_logger().error(f'not recording {topic}: {error}')
                self.heartbeat.state.set_health(Health.DEGRADED, f'not recording {topic}')
                continue
            self.create_subscription(message_class, topic,
                                     lambda data, t=topic: self._on_message(t, data),
                                     self._qos(topic), raw=True)
            self._recording.add(topic)
            self.get_logger().info(f'recording {topic} ({type_name})')

    def _on_message(self, topic: str, data: bytes) -> None:
        try:
            self.recorder.write(topic, data, time.time_ns())
        except OSError as error:  # disk full, directory gone: report, keep the node alive
            self.get_logger().error(f'cannot write {topic}: {error}', throttle_duration_sec=5.0)
            self.heartbeat.state.set_health(Health.ERROR, f'recording failed: {error}')
            return
        self.heartbeat.state.record_progress()

    def _tick(self) -> None:
        """Rotate a due file even when nothing arrives; a quiet recorder is not a stuck one."""
        try:
            self.recorder.tick()
        except OSError as error:
            self.get_logger().error(f'cannot rotate the recording: {error}',
                                    throttle_duration_sec=5.0)
            self.heartbeat.state.set_health(Health.ERROR, f'recording failed: {error}')
            return
        self.heartbeat.state.record_progress()

    def destroy_node(self) -> None:
        recorder = getattr(self, 'recorder', None)
        if recorder is not None:
            recorder.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(RecorderNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
