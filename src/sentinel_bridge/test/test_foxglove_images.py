"""Raw frames to JPEG, and the dataclasses to foxglove-sdk messages."""

import array

import numpy as np
import pytest
import simplejpeg

from sentinel_bridge import foxglove_encode as enc
from sentinel_bridge.foxglove_domain import (CameraMount, GeoPoint, LinkState, VehicleKind,
                                             VehicleView, ZoneKind, ZoneView)
from sentinel_bridge.foxglove_images import ImageError, RawFrame, encode_jpeg, frame_array
from sentinel_bridge.foxglove_model import (ImageAnnotations, LocationFix, LogLevel, LogLine,
                                            Point2, PointsAnnotation, PointsKind, Rgba,
                                            TextAnnotation)
from sentinel_bridge.foxglove_scene import (EntityTracker, live_entities, mount_transforms,
                                            static_entities)


def _frame(pixels: np.ndarray, encoding='rgb8', step=None, data=None):
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1)
    if step is not None and step > row.shape[1]:
        row = np.hstack([row, np.zeros((height, step - row.shape[1]), np.uint8)])
    buffer = array.array('B', row.tobytes()) if data is None else data
    return RawFrame('cam', 7, width, height, encoding, row.shape[1], buffer)


def test_rgb_frame_round_trips_through_jpeg_with_its_colour():
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[..., 0] = 200
    encoded = encode_jpeg(_frame(pixels), quality=90)
    decoded = simplejpeg.decode_jpeg(encoded.jpeg)
    assert decoded.shape == (48, 64, 3) and (encoded.width, encoded.height) == (64, 48)
    assert abs(decoded[..., 0].mean() - 200) < 4 and decoded[..., 1].mean() < 8


def test_bgr_padded_rows_mono_and_decimation():
    pixels = np.zeros((40, 30, 3), np.uint8)
    pixels[..., 2] = 220                                    # red in BGR order
    decoded = simplejpeg.decode_jpeg(encode_jpeg(_frame(pixels, 'bgr8', step=96), 90).jpeg)
    assert decoded[..., 0].mean() > 200                     # decoded as RGB: red
    mono = np.full((40, 30, 1), 128, np.uint8)
    small = encode_jpeg(_frame(mono, 'mono8'), 80, decimation=2)
    assert (small.width, small.height) == (15, 20)


@pytest.mark.parametrize('change, message', [
    (dict(encoding='yuv422'), 'not supported'),
    (dict(step=10), 'shorter than a row'),
    (dict(data=b'\x00' * 100), 'B of data'),
    (dict(width=0), 'out of range'),
])
def test_inconsistent_frames_are_refused_with_a_reason(change, message):
    frame = _frame(np.zeros((10, 10, 3), np.uint8))
    fields = {**frame.__dict__, **change}
    with pytest.raises(ImageError, match=message):
        frame_array(RawFrame(**fields))


def test_every_dataclass_encodes_to_its_foxglove_schema():
    vehicle = VehicleView('drone_1', VehicleKind.DRONE, 1, (0, 0, 10), (0, 0, 0, 1), 0.0,
                          (0, 0, 0), GeoPoint(40, -105, 1500), True, 'AUTO', 0.5, LinkState.OK,
                          3, False, '')
    zone = ZoneView('z', ZoneKind.KEEP_OUT, ((0, 0), (5, 0), (5, 5)), 0.0, 10.0)
    mount = CameraMount('cam', 'site', (0, 0, 8), (0, 0, 0, 1), 1.5, 640, 480)
    tracker = EntityTracker()
    tracker.update(static_entities([zone], [], [mount], 1), 1)
    update = tracker.update(live_entities([vehicle], [], 1, 10), 2)
    messages = [
        enc.scene_update(update),
        enc.scene_update(tracker.update((), 3)),
        enc.frame_transforms(mount_transforms([mount], 1)),
        enc.image_annotations(ImageAnnotations(1, (PointsAnnotation(
            PointsKind.LINE_LOOP, (Point2(0, 0), Point2(1, 1)), Rgba(1, 0, 0)),),
            (TextAnnotation(Point2(0, 0), 't', Rgba(1, 1, 1), Rgba(0, 0, 0)),))),
        enc.location_fix(LocationFix(1, 'drone_1', 40.0, -105.0, 1500.0, 4.0, Rgba(0, 0, 1))),
        enc.location_fix(LocationFix(1, 'drone_1', 40.0, -105.0, 1500.0)),
        enc.log(LogLine(5, LogLevel.WARNING, '/x', 'hello', 'f.py', 3)),
        enc.geojson('{"type":"FeatureCollection","features":[]}'),
    ]
    for message in messages:
        assert isinstance(message.encode(), bytes) and message.encode()
    assert enc.timestamp(-5).sec == 0
    assert enc.timestamp(3_000_000_007).nsec == 7
