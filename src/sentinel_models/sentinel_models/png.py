"""A minimal, deterministic PNG writer and reader for 8-bit RGB images.

Why not Pillow or OpenCV: dataset generation runs with the runtime install
(no imaging library), and the dataset card's content hash must depend only on
the pixels and this writer's fixed settings (filter "Sub", zlib level 6).
The reader reads what this writer writes (and any PNG using filters 0-2);
use Pillow for arbitrary files.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

# PNG file signature.
SIGNATURE = b'\x89PNG\r\n\x1a\n'
# zlib level: 6 is zlib's default balance of size and speed (level 9 is ~3x slower, ~3 % smaller).
COMPRESSION_LEVEL = 6
# PNG colour type 2: truecolour RGB; bit depth 8.
COLOUR_TYPE_RGB = 2
BIT_DEPTH = 8
# Row filter types this module writes (Sub) and reads (None, Sub, Up).
FILTER_NONE, FILTER_SUB, FILTER_UP = 0, 1, 2


class PngError(ValueError):
    """A file that is not a valid PNG (or cannot be read at all)."""


class PngUnsupported(PngError):
    """A valid PNG using features this reader does not implement (use Pillow for it)."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', crc)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an (h, w, 3) uint8 RGB image."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an (h, w, 3) uint8 image, got {image.dtype} {image.shape}')
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        raise ValueError('cannot encode an empty image')
    rows = np.ascontiguousarray(image).reshape(height, width * 3)
    filtered = rows.copy()
    filtered[:, 3:] = rows[:, 3:] - rows[:, :-3]  # Sub: difference to the pixel on the left (mod 256)
    raw = np.empty((height, width * 3 + 1), dtype=np.uint8)
    raw[:, 0] = FILTER_SUB
    raw[:, 1:] = filtered
    header = struct.pack('>IIBBBBB', width, height, BIT_DEPTH, COLOUR_TYPE_RGB, 0, 0, 0)
    return (SIGNATURE + _chunk(b'IHDR', header) +
            _chunk(b'IDAT', zlib.compress(raw.tobytes(), COMPRESSION_LEVEL)) + _chunk(b'IEND', b''))


def write_png(path: Path, image: np.ndarray) -> None:
    """Write ``image`` to ``path`` as PNG."""
    path.write_bytes(encode_png(image))


def decode_png(data: bytes, source: str = '<png>') -> np.ndarray:
    """(h, w, 3) uint8 pixels of an 8-bit RGB PNG with filters 0-2."""
    if not data.startswith(SIGNATURE):
        raise PngError(f'{source}: not a PNG file')
    pos = len(SIGNATURE)
    header = None
    idat = bytearray()
    while pos + 8 <= len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise PngError(f'{source}: truncated {kind!r} chunk')
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        elif kind == b'IEND':
            break
        pos += 12 + length
    if header is None:
        raise PngError(f'{source}: no IHDR chunk')
    width, height, depth, colour, _, _, interlace = header
    if depth != BIT_DEPTH or colour != COLOUR_TYPE_RGB or interlace != 0:
        raise PngUnsupported(f'{source}: only 8-bit RGB non-interlaced PNG is supported '
                       f'(depth {depth}, colour type {colour}, interlace {interlace})')
    try:
        raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8)
    except zlib.error as error:
        raise PngError(f'{source}: corrupt image data: {error}') from None
    stride = width * 3 + 1
    if raw.size != stride * height:
        raise PngError(f'{source}: image data has {raw.size} bytes, expected {stride * height}')
    rows = raw.reshape(height, stride)
    out = np.empty((height, width * 3), dtype=np.uint8)
    previous = np.zeros(width * 3, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        if kind == FILTER_NONE:
            current = line
        elif kind == FILTER_SUB:
            current = (np.cumsum(line.reshape(width, 3), axis=0, dtype=np.uint64) % 256
                       ).astype(np.uint8).reshape(-1)
        elif kind == FILTER_UP:
            current = line + previous
        else:
            raise PngUnsupported(f'{source}: row filter {kind} is not supported by this reader')
        out[y] = current
        previous = current
    return out.reshape(height, width, 3)


def read_png(path: Path) -> np.ndarray:
    """Pixels of a PNG file written by :func:`write_png`."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PngError(f'{path}: cannot read: {error}') from None
    return decode_png(data, str(path))
