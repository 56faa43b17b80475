"""sensor_msgs/Image payloads to numpy RGB arrays, without cv_bridge.

Why: ROS 2's cv_bridge exists only inside a ROS installation (the PyPI
``cv-bridge`` is a broken ROS 1 port), yet every camera frame has to become an
``(height, width, 3)`` uint8 RGB array before the detector sees it. The
encodings cameras and simulators actually publish are 8-bit and packed, so a
strided numpy view does the job; anything else is refused with a reason the
node can log, never a crash. Where cv_bridge is importable the node may use
it instead (``load_cv_bridge``), after the same size checks.

Pure numpy: no rclpy here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Encodings understood here (sensor_msgs/image_encodings names) and their
# bytes per pixel.
CHANNELS: dict[str, int] = {
    'rgb8': 3,   # red, green, blue
    'bgr8': 3,   # OpenCV's default order
    'rgba8': 4,  # with an alpha channel, which is dropped
    'bgra8': 4,  # OpenCV order with alpha
    'mono8': 1,  # grey, replicated into three channels
}
# Default upper bound on width x height (px): an 8K frame. Larger frames are
# refused rather than allowed to exhaust memory (a 100k x 100k header would
# otherwise ask for 30 GB).
DEFAULT_MAX_PIXELS = 7680 * 4320


class ImageError(ValueError):
    """A frame that cannot be converted; the message says why, for the node's log."""


@dataclass(frozen=True)
class ImageHeader:
    """The fields of sensor_msgs/Image that describe its layout."""

    encoding: str
    width: int          # px
    height: int         # px
    step: int           # bytes per row, padding included
    is_bigendian: bool  # irrelevant for 8-bit encodings, checked for sanity only


def check_header(header: ImageHeader, data_length: int,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Validate a frame's layout against its payload; returns its channel count.

    Every rejection names the offending value, so a misconfigured camera is
    diagnosed from one log line.
    """
    channels = CHANNELS.get(header.encoding)
    if channels is None:
        supported = ', '.join(sorted(CHANNELS))
        raise ImageError(f'unsupported encoding {header.encoding!r} (supported: {supported})')
    if header.width <= 0 or header.height <= 0:
        raise ImageError(f'empty image {header.width}x{header.height} px')
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise ImageError(f'image {header.width}x{header.height} px has {pixels} pixels, '
                         f'more than the limit of {max_pixels}')
    row = header.width * channels
    if header.step < row:
        raise ImageError(f'step {header.step} bytes is shorter than a row of '
                         f'{header.width} px x {channels} bytes = {row} bytes')
    needed = header.step * (header.height - 1) + row
    if data_length < needed:
        raise ImageError(f'data has {data_length} bytes, a {header.width}x{header.height} '
                         f'{header.encoding} image with step {header.step} needs {needed}')
    return channels


def to_rgb(header: ImageHeader, data: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A contiguous (height, width, 3) uint8 RGB copy of an image payload.

    ``data`` is anything exposing the buffer protocol (bytes, array.array,
    memoryview, numpy). Raises :class:`ImageError` for anything that cannot be
    read as the header says.
    """
    buffer = np.frombuffer(memoryview(data).cast('B'), dtype=np.uint8)
    channels = check_header(header, buffer.size, max_pixels)
    rows = np.lib.stride_tricks.as_strided(
        buffer, shape=(header.height, header.width, channels),
        strides=(header.step, channels, 1), writeable=False)
    if header.encoding == 'rgb8':
        out = rows
    elif header.encoding == 'bgr8':
        out = rows[..., ::-1]
    elif header.encoding == 'rgba8':
        out = rows[..., :3]
    elif header.encoding == 'bgra8':
        out = rows[..., 2::-1]
    else:  # mono8
        out = np.repeat(rows, 3, axis=2)
    return np.ascontiguousarray(out)


def from_rgb(image: np.ndarray) -> tuple[ImageHeader, bytes]:
    """Header and payload of an rgb8 frame for an (h, w, 3) uint8 array (debug images)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageError(f'expected an (h, w, 3) uint8 array, got {image.shape} {image.dtype}')
    height, width = image.shape[:2]
    header = ImageHeader('rgb8', width, height, width * 3, False)
    return header, np.ascontiguousarray(image).tobytes()


# Signature of a message-to-RGB converter: (sensor_msgs/Image) -> array.
Converter = Callable[[Any], np.ndarray]


def load_cv_bridge() -> Converter | None:
    """cv_bridge's converter when a ROS installation provides it, else None.

    Imported lazily so that a machine without ROS never pays for (or fails on)
    the import; the caller falls back to :func:`to_rgb`.
    """
    try:
        from cv_bridge import CvBridge  # type: ignore[import-not-found]
    except ImportError:
        return None
    bridge = CvBridge()

    def convert(message: Any) -> np.ndarray:
        try:
            return np.ascontiguousarray(bridge.imgmsg_to_cv2(message, desired_encoding='rgb8'))
        except Exception as error:  # cv_bridge raises its own CvBridgeError and TypeErrors
            raise ImageError(f'cv_bridge could not convert the frame: {error}') from error

    return convert
