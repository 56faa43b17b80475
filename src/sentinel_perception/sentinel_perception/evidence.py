"""Evidence snapshots for alerts: the frame that triggered it, boxed, as JPEG on disk.

Why: an alert without a picture asks the operator to trust the model; with
the frame (and the box the rule acted on) they can judge it in a second, and
the file stays for the incident report. Files are written atomically (to a
temporary name, then renamed) so that a crash never leaves half a JPEG that a
later reader would take for evidence; a JSON sidecar records where the frame
came from.

Also keeps the last few frames of each camera (:class:`FrameRing`), so the
snapshot is the exact frame the detection came from (matched by capture
stamp), not whatever arrived later. No rclpy.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sentinel_perception.annotate import Label, draw_boxes

JPEG_QUALITY = 85            # 0..95, Pillow's scale: small files, artefacts invisible at 640 px
STAMP_TOLERANCE = 1e-3       # s, two stamps closer than this name the same frame


@dataclass(frozen=True)
class StoredFrame:
    camera_id: str
    stamp: float        # s, capture time
    payload: Any        # the message, converted only when evidence is written


class FrameRing:
    """The last ``depth`` frames of every camera, looked up by capture stamp."""

    def __init__(self, depth: int) -> None:
        if depth < 1:
            raise ValueError(f'depth must be >= 1, got {depth}')
        self.depth = depth
        self._lock = threading.Lock()
        self._frames: dict[str, deque[StoredFrame]] = {}

    def put(self, frame: StoredFrame) -> None:
        with self._lock:
            ring = self._frames.setdefault(frame.camera_id, deque(maxlen=self.depth))
            ring.append(frame)

    def find(self, camera_id: str, stamp: float) -> StoredFrame | None:
        """The frame of ``camera_id`` captured at ``stamp``; else its nearest one, if any."""
        with self._lock:
            ring = list(self._frames.get(camera_id, ()))
        if not ring:
            return None
        return min(ring, key=lambda f: abs(f.stamp - stamp))


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
    try:
        with os.fdopen(handle, mode) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_evidence(directory: Path, alert_id: str, image: np.ndarray,
                   box: tuple[float, float, float, float] | None, caption: str,
                   metadata: dict[str, Any], when: datetime | None = None) -> Path:
    """Write ``<directory>/<YYYY-MM-DD>/<alert_id>.jpg`` (+ ``.json``); returns the JPEG path.

    Raises OSError when the directory cannot be written (the caller logs it
    and publishes the alert without evidence).
    """
    day = (when or datetime.now(UTC)).strftime('%Y-%m-%d')
    folder = directory / day
    folder.mkdir(parents=True, exist_ok=True)
    labels = [Label(box, caption)] if box is not None else []
    picture = Image.fromarray(draw_boxes(image, labels), mode='RGB')
    jpeg = folder / f'{alert_id}.jpg'
    _atomic_write(jpeg, lambda stream: picture.save(stream, format='JPEG', quality=JPEG_QUALITY),
                  'wb')
    sidecar = folder / f'{alert_id}.json'
    _atomic_write(sidecar, lambda stream: json.dump({**metadata, 'box_px': box, 'image': jpeg.name},
                                                    stream, indent=2, default=str), 'w')
    return jpeg
