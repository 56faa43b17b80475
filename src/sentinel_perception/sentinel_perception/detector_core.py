"""One inference cycle of the detector: a batch of frames in, per-camera results out.

Why: the node's job is plumbing (messages, threads, services); what happens
to a batch of frames (one model call for all cameras, per-camera tracking,
geolocation of every box) is logic that tests and the benchmark run without
ROS. The model is read from the :class:`~sentinel_perception.models.ModelSlot`
once per batch, so a swap never splits a batch between two models. No rclpy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sentinel_perception.camera_geometry import Geometry
from sentinel_perception.geolocation import (GeoEstimate, LocatorSettings, locate_by_size,
                                             locate_on_ground)
from sentinel_perception.models import ModelSlot
from sentinel_perception.tracking import BoxDetection, MultiCameraTracker


@dataclass(frozen=True)
class PreparedFrame:
    """A converted frame with the geometry of its camera at capture time."""

    camera_id: str
    stamp: float            # s, capture time
    received: float         # s, monotonic time of arrival
    image: np.ndarray       # (h, w, 3) uint8 RGB
    geometry: Geometry


@dataclass(frozen=True)
class DetectedObject:
    box: BoxDetection
    track_id: int                 # per-camera id, -1 untracked
    location: GeoEstimate | None  # None: no ground position


@dataclass(frozen=True)
class FrameResult:
    camera_id: str
    stamp: float
    received: float
    width: int
    height: int
    model_version: str
    inference_time: float        # s, this frame's share of the batch's model call
    objects: tuple[DetectedObject, ...]
    image: np.ndarray            # kept for the debug image


@dataclass(frozen=True)
class PipelineSettings:
    aerial_classes: frozenset[str] = frozenset({'drone'})  # located by size, not on the ground
    batched: bool = True          # one model call for the whole batch (False: one per frame)


class DetectorPipeline:
    """Detect, track and geolocate a batch of frames with whatever model the slot holds."""

    def __init__(self, slot: ModelSlot, tracker: MultiCameraTracker, locator: LocatorSettings,
                 settings: PipelineSettings | None = None) -> None:
        self.slot = slot
        self.tracker = tracker
        self.locator = locator
        self.settings = settings or PipelineSettings()
        self._class_names: tuple[str, ...] | None = None

    def process(self, frames: Sequence[PreparedFrame]) -> list[FrameResult]:
        """Results for ``frames`` (same order); empty when no model is loaded."""
        backend = self.slot.get()
        if backend is None or not frames:
            return []
        if backend.spec.class_names != self._class_names:
            # A model with another class list: camera tracks of the old classes mean nothing.
            # Reset here, on the inference thread that owns the trackers, not in the swap.
            self.tracker.reset()
            self._class_names = backend.spec.class_names
        images = [f.image for f in frames]
        started = time.perf_counter()
        if self.settings.batched:
            boxes = backend.detect(images)
        else:
            boxes = [backend.detect([image])[0] for image in images]
        share = (time.perf_counter() - started) / len(frames)
        results = []
        for frame, frame_boxes in zip(frames, boxes, strict=True):
            ids = self.tracker.update(frame.camera_id, frame_boxes, frame.stamp)
            objects = tuple(DetectedObject(box, track_id, self._locate(frame.geometry, box))
                            for box, track_id in zip(frame_boxes, ids, strict=True))
            height, width = frame.image.shape[:2]
            results.append(FrameResult(frame.camera_id, frame.stamp, frame.received, width, height,
                                       backend.spec.version, share, objects, frame.image))
        return results

    def _locate(self, geometry: Geometry, box: BoxDetection) -> GeoEstimate | None:
        if geometry.pose is None:
            return None
        locate = locate_by_size if box.class_name in self.settings.aerial_classes \
            else locate_on_ground
        return locate(geometry.intrinsics, geometry.pose, box.xyxy, self.locator)
