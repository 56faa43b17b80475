"""MCAP recording: definitions, rotation, index, recovery, and reading back two ways."""

import json

import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image
from sentinel_msgs.msg import VehicleState

from sentinel_bridge.recording import (ACTIVE_SUFFIX, INDEX_NAME, FileEntry, McapRecorder,
                                       RecordingError, RotationPolicy, TopicInfo,
                                       files_between, iter_messages, message_definition,
                                       read_index, reader_qos, retention_victims,
                                       topic_selected)

SECOND = 1_000_000_000
T0 = 1_800_000_000 * SECOND     # an arbitrary epoch time
STATE = '/vehicles/drone_1/state'
CAMERA = '/cameras/cam_nw/image_raw'


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


def _state(x: float) -> bytes:
    message = VehicleState(vehicle_id='drone_1', mode='AUTO')
    message.position.x = x
    message.geo_position.latitude_deg = 40.5
    return serialize_message(message)


def _image(value: int, width=32, height=24) -> bytes:
    return serialize_message(Image(width=width, height=height, encoding='rgb8', step=width * 3,
                                   data=bytes([value]) * (width * height * 3)))


def _recorder(path, clock, max_bytes=10**9, max_s=3600, **kwargs):
    recorder = McapRecorder(path, RotationPolicy(max_bytes, max_s * SECOND), clock_ns=clock,
                            **kwargs)
    recorder.add_topic(TopicInfo(STATE, 'sentinel_msgs/msg/VehicleState',
                                 message_definition('sentinel_msgs/msg/VehicleState')))
    recorder.add_topic(TopicInfo(CAMERA, 'sensor_msgs/msg/Image',
                                 message_definition('sensor_msgs/msg/Image')))
    return recorder


def test_definitions_carry_every_nested_type_once():
    text = message_definition('sentinel_msgs/msg/VehicleState')
    for nested in ('std_msgs/msg/Header', 'builtin_interfaces/msg/Time',
                   'geometry_msgs/msg/Point', 'sentinel_msgs/msg/GeoPosition',
                   'geometry_msgs/msg/Quaternion', 'geometry_msgs/msg/Vector3'):
        assert text.count(f'MSG: {nested}\n') == 1, nested
    with pytest.raises(RecordingError):
        message_definition('not a type')
    with pytest.raises(RecordingError, match='not installed'):
        message_definition('no_such_pkg/msg/Thing')


def test_recorded_messages_read_back_by_topic_and_time_range(tmp_path):
    clock = Clock()
    recorder = _recorder(tmp_path, clock)
    for i in range(5):
        clock.now = T0 + i * SECOND
        recorder.write(STATE, _state(float(i)))
        recorder.write(CAMERA, _image(10 * i))
    recorder.close()

    states = list(iter_messages(tmp_path, STATE, T0 + SECOND, T0 + 4 * SECOND))
    assert [m.message.position.x for m in states] == [1.0, 2.0, 3.0]
    assert [m.log_time_ns for m in states] == [T0 + i * SECOND for i in (1, 2, 3)]
    assert states[0].type_name == 'sentinel_msgs/msg/VehicleState'
    original = deserialize_message(states[0].data, VehicleState)   # raw CDR kept as recorded
    assert original.vehicle_id == 'drone_1' and original.geo_position.latitude_deg == 40.5
    images = list(iter_messages(tmp_path, [CAMERA]))
    assert [bytes(m.message.data)[0] for m in images] == [0, 10, 20, 30, 40]
    assert images[0].message.width == 32 and images[0].message.encoding == 'rgb8'
    assert len(list(iter_messages(tmp_path, decode=False))) == 10


def test_files_open_independently_with_the_mcap_library(tmp_path):
    clock = Clock()
    recorder = _recorder(tmp_path, clock)
    recorder.write(STATE, _state(7.0))
    recorder.write(CAMERA, _image(99))
    recorder.close()
    (entry,) = read_index(tmp_path)
    assert entry.complete and not entry.active and entry.topics == {STATE: 1, CAMERA: 1}
    with open(tmp_path / entry.name, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == 'ros2'
        summary = reader.get_summary()
        assert summary.statistics.message_count == 2
        assert {s.encoding for s in summary.schemas.values()} == {'ros2msg'}
        assert {c.message_encoding for c in summary.channels.values()} == {'cdr'}
        decoded = {channel.topic: message for _, channel, _, message in
                   reader.iter_decoded_messages()}
    assert decoded[STATE].position.x == 7.0 and decoded[STATE].mode == 'AUTO'
    assert decoded[CAMERA].height == 24


def test_files_rotate_by_duration_and_size_and_the_index_has_their_times(tmp_path):
    clock = Clock()
    recorder = _recorder(tmp_path / 'by_time', clock, max_s=2)
    for i in range(7):                     # one message per second, files of two seconds
        clock.now = T0 + i * SECOND
        recorder.write(STATE, _state(float(i)))
    recorder.close()
    files = read_index(tmp_path / 'by_time')
    assert [(f.start_ns - T0) // SECOND for f in files] == [0, 2, 4, 6]
    assert [(f.end_ns - T0) // SECOND for f in files] == [1, 3, 5, 6]
    assert all(f.complete for f in files)
    middle = files_between(tmp_path / 'by_time', T0 + 3 * SECOND, T0 + 5 * SECOND)
    assert [f.name for f in middle] == [files[1].name, files[2].name]
    assert [m.message.position.x for m in iter_messages(tmp_path / 'by_time', STATE,
                                                        T0 + 3 * SECOND, T0 + 5 * SECOND)] \
        == [3.0, 4.0]

    recorder = _recorder(tmp_path / 'by_size', clock, max_bytes=200_000)
    for i in range(6):
        recorder.write(CAMERA, _image(i, 320, 240))   # 230 kB each: a file per image
    recorder.close()
    assert len(read_index(tmp_path / 'by_size')) >= 3


def test_a_crashed_recording_is_recovered_on_the_next_start(tmp_path):
    clock = Clock()
    crashed = _recorder(tmp_path, clock)
    for i in range(4):                     # 4 x 1.8 MB: at least one chunk reaches the disk
        crashed.write(CAMERA, _image(i, 640, 960))
    crashed._stream.flush()                # what the OS had when the process died
    (active,) = tmp_path.glob(f'*{ACTIVE_SUFFIX}')
    assert read_index(tmp_path)[0].active

    recovered = _recorder(tmp_path, clock)  # a new process starts
    assert not list(tmp_path.glob(f'*{ACTIVE_SUFFIX}'))
    (entry,) = recovered.files
    assert not entry.complete and not entry.active and entry.messages >= 1
    assert (tmp_path / entry.name).exists()
    values = [bytes(m.message.data)[0] for m in iter_messages(tmp_path, CAMERA)]
    assert values == list(range(entry.messages))
    recovered.close()


def test_retention_deletes_the_oldest_finished_files_only():
    files = [FileEntry(f'f{i}', size_bytes=100, complete=True) for i in range(4)]
    files.append(FileEntry('live', size_bytes=500, active=True))
    assert [f.name for f in retention_victims(files, 700)] == ['f0', 'f1']
    assert [f.name for f in retention_victims(files, 100)] == ['f0', 'f1', 'f2', 'f3']
    assert retention_victims(files, 0) == []


def test_retention_applies_when_files_close(tmp_path):
    clock = Clock()
    recorder = _recorder(tmp_path, clock, max_bytes=150_000, max_total_bytes=400_000)
    for i in range(8):
        recorder.write(CAMERA, _image(i, 320, 240))
    recorder.close()
    files = read_index(tmp_path)
    assert sum(f.size_bytes for f in files) <= 400_000
    assert sorted(p.name for p in tmp_path.glob('*.mcap')) == sorted(f.name for f in files)


def test_bad_index_and_unknown_topics_are_reported(tmp_path):
    (tmp_path / INDEX_NAME).write_text('{"files": 3}')
    with pytest.raises(RecordingError, match='not a recording index'):
        read_index(tmp_path)
    (tmp_path / INDEX_NAME).write_text(json.dumps({'version': 99, 'files': []}))
    with pytest.raises(RecordingError, match='newer'):
        list(iter_messages(tmp_path))
    recorder = McapRecorder(tmp_path / 'new', RotationPolicy(10**6, SECOND))
    with pytest.raises(RecordingError, match='not added'):
        recorder.write('/unknown', b'')
    recorder.close()
    with pytest.raises(RecordingError, match='closed'):
        recorder.write(STATE, _state(0))


def test_topic_patterns_and_qos_matching():
    patterns = ['/cameras/*/image_raw', '/alerts']
    assert topic_selected('/cameras/cam_nw/image_raw', patterns)
    assert not topic_selected('/cameras/cam_nw/camera_info', patterns)
    assert reader_qos([True, True], [True, True]) == (True, True)
    assert reader_qos([True, False], [True, False]) == (False, False)
    assert reader_qos([], []) == (False, False)
