"""Per-camera ByteTrack: persistent ids, order kept, one tracker per camera."""

from __future__ import annotations

from sentinel_perception.tracking import (UNTRACKED, BoxDetection, CameraTracker, MultiCameraTracker,
                                          TrackerSettings)


def _person(x: float, y: float = 100.0, confidence: float = 0.9) -> BoxDetection:
    return BoxDetection(x, y, x + 30.0, y + 80.0, confidence, 0, 'person')


def test_two_walkers_keep_their_ids_frame_after_frame():
    tracker = CameraTracker(TrackerSettings(frame_rate=5.0, min_consecutive_frames=2))
    seen = []
    for frame in range(10):
        # given in alternating order: the ids must follow the boxes, not the list positions
        a, b = _person(50.0 + 4 * frame), _person(400.0 - 4 * frame, 200.0)
        boxes = [a, b] if frame % 2 == 0 else [b, a]
        ids = tracker.update(boxes, stamp=0.2 * frame)
        seen.append(ids if frame % 2 == 0 else ids[::-1])
    assert seen[0] == [UNTRACKED, UNTRACKED]    # not confirmed on the first sighting
    first, second = seen[1]
    assert first >= 0 and second >= 0 and first != second
    assert all(ids == [first, second] for ids in seen[1:])


def test_a_short_gap_keeps_the_id_and_a_long_one_does_not():
    tracker = CameraTracker(TrackerSettings(frame_rate=5.0, lost_track_time=1.0))
    for frame in range(4):
        ids = tracker.update([_person(100.0)], stamp=0.2 * frame)
    original = ids[0]
    assert tracker.update([], stamp=1.0) == []
    assert tracker.update([_person(100.0)], stamp=1.2) == [original]      # 0.6 s unseen
    for stamp in (2.0, 2.6, 3.2):
        tracker.update([], stamp=stamp)
    ids = [tracker.update([_person(100.0)], stamp=3.4 + 0.2 * i)[0] for i in range(3)]
    assert original not in ids                                            # 2.2 s: a new track


def test_a_frame_older_than_the_last_is_not_tracked():
    tracker = CameraTracker(TrackerSettings())
    tracker.update([_person(100.0)], stamp=1.0)
    assert tracker.update([_person(100.0)], stamp=0.5) == [UNTRACKED]


def test_cameras_are_tracked_independently():
    tracker = MultiCameraTracker(TrackerSettings(min_consecutive_frames=1))
    for step in range(2):
        a = tracker.update('cam_a', [_person(10.0 + step)], 0.2 * step)
        b = tracker.update('cam_b', [_person(300.0 + step)], 0.2 * step)
    assert a[0] >= 0 and b[0] >= 0              # ids are per camera (they may coincide)
    assert tracker.update('cam_a', [_person(12.0)], 0.4) == a
    tracker.reset('cam_a')                       # forgetting one camera leaves the other
    assert tracker.update('cam_b', [_person(302.0)], 0.4) == b
    assert tracker.update('cam_a', [_person(13.0)], 0.6) == [UNTRACKED]
