"""Telemetry downsampling: many samples in a time range down to at most N points.

Operators ask for a vehicle's track over minutes or days; a plot needs a few
hundred points, not every stored sample. The range is cut into equal time
buckets and each non-empty bucket becomes one point: the mean of the numeric
fields (positions, battery) and the last value of the discrete ones (mode,
armed), with the sample count, so a gap in the data stays visible as a gap.
Pure logic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Numeric fields averaged within a bucket.
MEAN_FIELDS = ('x', 'y', 'z', 'latitude_deg', 'longitude_deg', 'altitude', 'vx', 'vy', 'vz',
               'battery_voltage', 'battery_remaining')
# Discrete fields for which the bucket keeps its last value.
LAST_FIELDS = ('heading_deg', 'mode', 'armed', 'landed', 'link_state', 'gps_fix')


@dataclass(frozen=True)
class Sample:
    """One stored telemetry sample of one vehicle."""

    stamp: datetime
    x: float
    y: float
    z: float
    latitude_deg: float
    longitude_deg: float
    altitude: float
    vx: float
    vy: float
    vz: float
    heading_deg: float
    battery_voltage: float
    battery_remaining: float | None
    mode: str
    armed: bool
    landed: bool
    link_state: int
    gps_fix: int


@dataclass(frozen=True)
class Point:
    """One downsampled point: a bucket's time span and its aggregated values."""

    start: datetime
    end: datetime
    count: int
    values: dict[str, object]


def bucket_width(start: datetime, end: datetime, max_points: int) -> timedelta:
    """Width of each bucket so that [start, end) holds at most max_points buckets."""
    if end <= start:
        raise ValueError('end must be after start')
    if max_points < 1:
        raise ValueError(f'max_points must be >= 1, got {max_points}')
    span = (end - start) / max_points
    # Round up to whole microseconds so that max_points buckets cover the range.
    return max(timedelta(microseconds=math.ceil(span / timedelta(microseconds=1))),
               timedelta(microseconds=1))


def downsample(samples: Iterable[Sample], start: datetime, end: datetime,
               max_points: int) -> list[Point]:
    """Aggregate samples in [start, end), sorted by stamp, into at most max_points points."""
    width = bucket_width(start, end, max_points)
    points: list[Point] = []
    current: list[Sample] = []
    current_index = -1
    for sample in samples:
        if not start <= sample.stamp < end:
            continue
        index = int((sample.stamp - start) / width)
        if index < current_index:
            raise ValueError('samples must be sorted by stamp')
        if index != current_index and current:
            points.append(_aggregate(current, start + current_index * width, width, end))
            current = []
        current_index = index
        current.append(sample)
    if current:
        points.append(_aggregate(current, start + current_index * width, width, end))
    return points


def _aggregate(bucket: Sequence[Sample], bucket_start: datetime, width: timedelta,
               end: datetime) -> Point:
    values: dict[str, object] = {}
    for name in MEAN_FIELDS:
        known = [v for v in (getattr(s, name) for s in bucket)
                 if v is not None and math.isfinite(v)]
        values[name] = sum(known) / len(known) if known else None
    last = bucket[-1]
    for name in LAST_FIELDS:
        values[name] = getattr(last, name)
    return Point(bucket_start, min(bucket_start + width, end), len(bucket), values)
