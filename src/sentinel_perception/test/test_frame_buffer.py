"""The latest-wins frame buffer: never more than one pending frame per camera."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_perception.frame_buffer import Frame, LatestFrameBuffer

CAMERAS = ('cam_a', 'cam_b', 'cam_c', 'cam_d')

# An operation: put a frame of a camera, or take up to n frames.
operations = st.lists(st.one_of(
    st.tuples(st.just('put'), st.sampled_from(CAMERAS)),
    st.tuples(st.just('take'), st.integers(0, 5))), max_size=80)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_at_most_one_frame_per_camera_and_always_the_newest(ops):
    buffer = LatestFrameBuffer()
    newest: dict[str, int] = {}
    taken_total = 0
    for clock, (op, arg) in enumerate(ops):
        if op == 'put':
            buffer.put(Frame(arg, float(clock), float(clock), clock))
            newest[arg] = clock
        else:
            taken = buffer.take(arg)
            taken_total += len(taken)
            assert len(taken) <= arg
            assert len({f.camera_id for f in taken}) == len(taken)
            for frame in taken:
                assert frame.payload == newest.pop(frame.camera_id)  # the newest, never a stale one
            assert [f.received for f in taken] == sorted(f.received for f in taken)
        pending = buffer.pending()
        assert len(pending) <= len(CAMERAS)
        assert set(pending) == set(newest)
    counters = buffer.counters()
    puts = sum(1 for op, _ in ops if op == 'put')
    assert counters.accepted == puts
    assert counters.taken == taken_total
    assert counters.accepted == counters.taken + counters.superseded + len(buffer.pending())


def test_the_longest_waiting_cameras_go_first_when_a_batch_is_full():
    buffer = LatestFrameBuffer()
    for received, camera in enumerate(('cam_c', 'cam_a', 'cam_b')):
        buffer.put(Frame(camera, 0.0, float(received), None))
    assert [f.camera_id for f in buffer.take(2)] == ['cam_c', 'cam_a']
    assert [f.camera_id for f in buffer.take()] == ['cam_b']


def test_producers_on_many_threads_never_grow_the_buffer():
    buffer = LatestFrameBuffer()

    def produce(camera: str) -> None:
        for i in range(2000):
            buffer.put(Frame(camera, float(i), float(i), i))

    threads = [threading.Thread(target=produce, args=(c,)) for c in CAMERAS]
    for thread in threads:
        thread.start()
    peak = 0
    while any(t.is_alive() for t in threads):
        peak = max(peak, len(buffer.pending()))
        buffer.take(1)
    for thread in threads:
        thread.join()
    assert peak <= len(CAMERAS)
    assert {f.payload for f in buffer.take()} <= {1999}


def test_wait_returns_when_a_frame_arrives_or_the_buffer_closes():
    buffer = LatestFrameBuffer()
    assert buffer.wait(0.01) is False
    threading.Timer(0.05, lambda: buffer.put(Frame('cam_a', 0.0, 0.0, None))).start()
    assert buffer.wait(5.0) is True
    buffer.take()
    threading.Timer(0.05, buffer.close).start()
    assert buffer.wait(5.0) is False
    assert buffer.closed
