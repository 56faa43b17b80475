"""Latest-wins frame buffer: at most one pending frame per camera.

Why: a detector that falls behind must skip stale frames, not queue them.
A queue that grows while inference is slower than the cameras turns a
momentary overload into ever-growing latency (and memory). Here each camera
has one slot; a newer frame replaces the pending one and the replacement is
counted, so the node can report how many frames it skipped. The inference
thread takes every pending frame at once, which is also what lets it batch
across cameras.

Thread-safe (one lock, one condition); no rclpy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Frame:
    """One camera frame waiting for inference."""

    camera_id: str
    stamp: float      # s, capture time (header.stamp)
    received: float   # s, monotonic clock when the frame arrived
    payload: Any      # the message or array, opaque to the buffer


@dataclass(frozen=True)
class BufferCounters:
    """Totals since start: frames put, replaced before inference, and taken."""

    accepted: int
    superseded: int
    taken: int


class LatestFrameBuffer:
    """One slot per camera; ``put`` replaces, ``take`` empties the oldest slots first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._slots: dict[str, Frame] = {}
        self._accepted = 0
        self._superseded = 0
        self._taken = 0
        self._closed = False

    def put(self, frame: Frame) -> bool:
        """Store ``frame`` as its camera's pending frame; True if it replaced one."""
        with self._condition:
            replaced = frame.camera_id in self._slots
            self._slots[frame.camera_id] = frame
            self._accepted += 1
            if replaced:
                self._superseded += 1
            self._condition.notify()
            return replaced

    def take(self, max_frames: int | None = None) -> list[Frame]:
        """Remove and return up to ``max_frames`` pending frames, the longest-waiting first.

        Longest-waiting first keeps cameras fair when a batch cannot hold them all.
        """
        with self._condition:
            frames = sorted(self._slots.values(), key=lambda f: f.received)
            if max_frames is not None:
                frames = frames[:max(0, max_frames)]
            for frame in frames:
                del self._slots[frame.camera_id]
            self._taken += len(frames)
            return frames

    def wait(self, timeout: float) -> bool:
        """Block until a frame is pending, the buffer is closed, or ``timeout`` (s) passes."""
        with self._condition:
            if not self._slots and not self._closed:
                self._condition.wait(timeout)
            return bool(self._slots)

    def close(self) -> None:
        """Wake every waiter for good (node shutdown)."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        with self._condition:
            return self._closed

    def pending(self) -> dict[str, Frame]:
        """A snapshot of the pending frames by camera."""
        with self._condition:
            return dict(self._slots)

    def counters(self) -> BufferCounters:
        with self._condition:
            return BufferCounters(self._accepted, self._superseded, self._taken)
