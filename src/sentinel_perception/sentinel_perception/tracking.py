"""Per-camera tracking: persistent ids for the boxes of one camera, by ByteTrack.

Why: threat rules need "the same person for 40 s", not 200 unrelated boxes,
and fusion is far more stable when it can tell that camera A's box now is
camera A's box a frame ago. ByteTrack (two-stage IoU association that keeps
low-confidence boxes attached to existing tracks) is the well-tested choice;
the implementation is Roboflow's ``trackers.ByteTrackTracker``, the
maintained successor of ``supervision.ByteTrack`` (removed from supervision
in 0.30), fed ``supervision.Detections``. Nothing here re-implements it: this
module only adapts our boxes to its input, maps its (reordered) output back to
our detections, and keeps one tracker per camera, driven by the frames'
capture times so that a skipped frame counts as elapsed time.

No rclpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

# ByteTrack counts its lost-track buffer in frames of a 30 FPS video.
BYTETRACK_REFERENCE_FPS = 30.0
# Track id of a detection that no confirmed track owns (Detection.msg convention).
UNTRACKED = -1


@dataclass(frozen=True)
class BoxDetection:
    """One detector output in one frame (pixels, origin top-left)."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float
    confidence: float   # 0..1
    class_id: int
    class_name: str

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x_min, self.y_min, self.x_max, self.y_max)


@dataclass(frozen=True)
class TrackerSettings:
    """ByteTrack's knobs in our units."""

    frame_rate: float = 5.0             # Hz, the cameras' nominal rate
    lost_track_time: float = 2.0        # s a track survives without a matching box
    activation_threshold: float = 0.5   # confidence that may start a track
    high_confidence: float = 0.6        # boxes above go to the first association stage
    min_consecutive_frames: int = 2     # frames before a track gets an id
    min_iou: float = 0.1                # IoU needed to match a box to a track

    def __post_init__(self) -> None:
        if not (math.isfinite(self.frame_rate) and self.frame_rate > 0.0):
            raise ValueError(f'frame_rate must be > 0 Hz, got {self.frame_rate!r}')
        if not (math.isfinite(self.lost_track_time) and self.lost_track_time >= 0.0):
            raise ValueError(f'lost_track_time must be >= 0 s, got {self.lost_track_time!r}')
        if self.min_consecutive_frames < 1:
            raise ValueError('min_consecutive_frames must be >= 1')


class CameraTracker:
    """ByteTrack over the frames of one camera."""

    def __init__(self, settings: TrackerSettings) -> None:
        self.settings = settings
        self._tracker = ByteTrackTracker(
            lost_track_buffer=int(math.ceil(settings.lost_track_time * BYTETRACK_REFERENCE_FPS)),
            frame_rate=settings.frame_rate,
            track_activation_threshold=settings.activation_threshold,
            minimum_consecutive_frames=settings.min_consecutive_frames,
            minimum_iou_threshold=settings.min_iou,
            high_conf_det_threshold=settings.high_confidence)
        self._last_stamp: float | None = None

    def update(self, detections: Sequence[BoxDetection], stamp: float) -> list[int]:
        """Track ids for ``detections`` (same order), UNTRACKED where none yet.

        A frame older than the last one (clock jump, reordered delivery) is
        not fed to the tracker: its boxes get UNTRACKED rather than corrupting
        the motion model.
        """
        if not math.isfinite(stamp) or (self._last_stamp is not None and stamp <= self._last_stamp):
            return [UNTRACKED] * len(detections)
        self._last_stamp = stamp
        count = len(detections)
        if count:
            boxes = np.array([d.xyxy for d in detections], dtype=np.float32)
            confidence = np.array([d.confidence for d in detections], dtype=np.float32)
            class_id = np.array([d.class_id for d in detections], dtype=int)
        else:
            boxes = np.empty((0, 4), dtype=np.float32)
            confidence = np.empty(0, dtype=np.float32)
            class_id = np.empty(0, dtype=int)
        inputs = sv.Detections(xyxy=boxes, confidence=confidence, class_id=class_id,
                               data={'input_index': np.arange(count)})
        tracked = self._tracker.update(inputs, timestamp=stamp)
        ids = [UNTRACKED] * count
        if len(tracked) and tracked.tracker_id is not None:
            for index, track_id in zip(tracked.data['input_index'], tracked.tracker_id, strict=True):
                ids[int(index)] = int(track_id)
        return ids

    def reset(self) -> None:
        self._tracker.reset()
        self._last_stamp = None


class MultiCameraTracker:
    """One independent ByteTrack per camera (ids are per camera, as Detection.track_id says)."""

    def __init__(self, settings: TrackerSettings) -> None:
        self.settings = settings
        self._trackers: dict[str, CameraTracker] = {}

    def update(self, camera_id: str, detections: Sequence[BoxDetection], stamp: float) -> list[int]:
        tracker = self._trackers.get(camera_id)
        if tracker is None:
            tracker = self._trackers[camera_id] = CameraTracker(self.settings)
        return tracker.update(detections, stamp)

    def reset(self, camera_id: str | None = None) -> None:
        """Forget one camera's tracks (or all): e.g. after a model swap changes the classes."""
        targets = [camera_id] if camera_id is not None else list(self._trackers)
        for name in targets:
            tracker = self._trackers.get(name)
            if tracker is not None:
                tracker.reset()
