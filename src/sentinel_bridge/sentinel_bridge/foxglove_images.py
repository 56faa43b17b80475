"""Raw ROS camera frames to JPEG, with the frame checked before it is trusted.

Raw 640x480 RGB frames are 900 KB each; JPEG at quality 75 is 20-60 KB and
takes about a millisecond with libjpeg-turbo (``simplejpeg``), which releases
the GIL while it works. A frame whose size, step or buffer length do not
agree is refused with a reason instead of being sent as garbage.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

import numpy as np
import simplejpeg

# sensor_msgs/Image encodings the bridge can compress: channels and libjpeg colourspace.
_ENCODINGS: dict[str, tuple[int, str]] = {
    'rgb8': (3, 'RGB'),
    'bgr8': (3, 'BGR'),
    'rgba8': (4, 'RGBA'),
    'bgra8': (4, 'BGRA'),
    'mono8': (1, 'GRAY'),
}
# Largest image side accepted, pixels (a typo guard against absurd headers).
MAX_SIDE = 16384
# What a frame's pixel buffer may be: ROS gives array.array or bytes, the raw path a view.
PixelBuffer = bytes | bytearray | memoryview | array
# Chroma subsampling for colour frames: 4:2:0 halves the size at little visible cost.
COLOR_SUBSAMPLING = '420'


class ImageError(ValueError):
    """A frame that cannot be encoded; the message says why."""


@dataclass(frozen=True)
class RawFrame:
    """One camera frame as the ROS callback received it (the buffer is not copied)."""

    camera_id: str
    stamp_ns: int
    width: int
    height: int
    encoding: str
    step: int            # bytes per row, including any padding
    data: PixelBuffer    # not copied from what the subscription delivered


@dataclass(frozen=True)
class EncodedFrame:
    camera_id: str
    stamp_ns: int
    width: int           # of the JPEG, after decimation
    height: int
    jpeg: bytes


def _cdr_reader(data: bytes) -> tuple[memoryview, str]:
    """The payload after the 4-byte CDR encapsulation header, and its byte order."""
    view = memoryview(data)
    if len(view) < 4 or view[0] != 0 or view[1] not in (0, 1):
        raise ImageError('not a CDR-encoded message (bad encapsulation header)')
    return view[4:], '<' if view[1] == 1 else '>'


def parse_image_cdr(camera_id: str, data: bytes) -> RawFrame:
    """A sensor_msgs/Image from its serialized CDR bytes, without building the message.

    The bridge subscribes to cameras raw: building a Python Image costs
    about 0.7 ms per 640x480 frame on the executor thread that also delivers
    the state messages, and the pixels need no conversion anyway. The pixel
    buffer is a view into ``data`` (no copy).
    """
    body, order = _cdr_reader(data)
    position = 0

    def align(size: int) -> None:
        nonlocal position
        position += (-position) % size

    def uint32() -> int:
        nonlocal position
        align(4)
        if position + 4 > len(body):
            raise ImageError(f'{camera_id}: image message truncated')
        (value,) = struct.unpack_from(order + 'I', body, position)
        position += 4
        return value

    def chunk(length: int) -> memoryview:
        nonlocal position
        if position + length > len(body):
            raise ImageError(f'{camera_id}: image message truncated')
        out = body[position:position + length]
        position += length
        return out

    def string() -> str:
        raw = bytes(chunk(uint32()))
        return raw.rstrip(b'\0').decode('utf-8', errors='replace')

    sec = struct.unpack(order + 'i', struct.pack(order + 'I', uint32()))[0]
    nanosec = uint32()
    string()                      # header.frame_id: the bridge names optical frames itself
    height, width = uint32(), uint32()
    encoding = string()
    chunk(1)                      # is_bigendian: irrelevant for 8-bit encodings
    step = uint32()
    pixels = chunk(uint32())
    return RawFrame(camera_id, sec * 1_000_000_000 + nanosec, width, height, encoding, step,
                    pixels)


def frame_array(frame: RawFrame) -> np.ndarray:
    """The frame as an (height, width, channels) uint8 view, checked against its header."""
    spec = _ENCODINGS.get(frame.encoding.lower())
    if spec is None:
        raise ImageError(f'{frame.camera_id}: encoding {frame.encoding!r} is not supported '
                         f'(supported: {", ".join(sorted(_ENCODINGS))})')
    channels, _ = spec
    if not (0 < frame.width <= MAX_SIDE and 0 < frame.height <= MAX_SIDE):
        raise ImageError(f'{frame.camera_id}: image size {frame.width}x{frame.height} is out of '
                         f'range (1..{MAX_SIDE})')
    row = frame.width * channels
    if frame.step < row:
        raise ImageError(f'{frame.camera_id}: step {frame.step} B is shorter than a row '
                         f'({row} B)')
    buffer = np.frombuffer(memoryview(frame.data).cast('B'), dtype=np.uint8)
    needed = frame.step * frame.height
    if buffer.size < needed:
        raise ImageError(f'{frame.camera_id}: {buffer.size} B of data for {frame.height} rows of '
                         f'{frame.step} B ({needed} B)')
    rows = buffer[:needed].reshape(frame.height, frame.step)
    return rows[:, :row].reshape(frame.height, frame.width, channels)


def encode_jpeg(frame: RawFrame, quality: int, decimation: int = 1) -> EncodedFrame:
    """JPEG of a frame, keeping every ``decimation``-th pixel in each direction."""
    if not 1 <= quality <= 100:
        raise ValueError(f'JPEG quality must be in 1..100, got {quality}')
    if decimation < 1:
        raise ValueError(f'decimation must be >= 1, got {decimation}')
    pixels = frame_array(frame)
    if decimation > 1:
        pixels = pixels[::decimation, ::decimation]
    pixels = np.ascontiguousarray(pixels)
    channels, colorspace = _ENCODINGS[frame.encoding.lower()]
    subsampling = 'Gray' if channels == 1 else COLOR_SUBSAMPLING
    jpeg = simplejpeg.encode_jpeg(pixels, quality=quality, colorspace=colorspace,
                                  colorsubsampling=subsampling, fastdct=True)
    height, width = pixels.shape[:2]
    return EncodedFrame(frame.camera_id, frame.stamp_ns, width, height, jpeg)
