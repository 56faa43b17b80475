"""Geofences as prisms, and the checks the gate and the monitor run against them.

A zone is a polygon extruded between a floor and a ceiling (site metres;
``-inf``/``+inf`` where the site gives none). A vehicle must stay inside at
least one inclusion zone and outside every exclusion zone (``keep_out`` zones
count as exclusions), each with a margin: horizontally the stopping distance
plus the position uncertainty, vertically the vertical stopping distance plus
the vertical uncertainty. Ground vehicles are checked in the plane only: a
zone applies to them at every height.

Two regimes:

- A path whose start is clear of a zone is checked **exactly** against it
  (see ``geometry``): the whole straight segment must keep the margin.
- A vehicle already inside a zone's margin (a breach, a drift, a fence moved)
  must be allowed to leave. Such a **recovery** path must end clear and must
  never get deeper than where it starts; that is checked on samples every
  ``RECOVERY_STEP`` metres, since depth inside a non-convex polygon has no
  simple closed form. The rule is judged on a clearance ``q`` (metres, > 0
  when clear) defined per zone below, walked along the path in steps no
  longer than the clearance allows (``_recovers``).

Inclusion floors are checked without the vertical margin, only with the
vertical uncertainty as tolerance: every vehicle must be able to stand on the
ground, and low flight is the minimum-height rule's business.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from sentinel_safety import geometry
from sentinel_safety.domain import Vec3

# Smallest step (m) along a recovery path; it may get at most this much deeper
# than its start between two samples.
RECOVERY_STEP = 0.1
# Most samples taken along one recovery path; a path needing more (kilometres
# skirting a zone) is refused rather than approved unproven.
RECOVERY_MAX_SAMPLES = 20000
# Slack (m) when comparing a recovery sample's clearance with the start's, so
# that rounding on a path that runs parallel to an edge does not refuse it.
RECOVERY_SLACK = 1e-6


class FenceKind(enum.Enum):
    """How a zone bounds our vehicles."""

    INCLUSION = 'inclusion'   # stay inside
    EXCLUSION = 'exclusion'   # stay outside


@dataclass(frozen=True)
class FenceZone:
    """One zone that bounds vehicle motion, in site ENU metres."""

    zone_id: str
    kind: FenceKind
    site_kind: str                            # the site configuration's kind, e.g. keep_out
    polygon: tuple[tuple[float, float], ...]
    floor: float = -math.inf                  # m above the site origin
    ceiling: float = math.inf                 # m above the site origin

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the polygon, for quick rejection."""
        xs = [x for x, _ in self.polygon]
        ys = [y for _, y in self.polygon]
        return (min(xs), min(ys), max(xs), max(ys))

    def far_from(self, a: Vec3, b: Vec3, margin: float) -> bool:
        """Whether segment a-b is certainly farther than ``margin`` from the polygon.

        The gap between bounding boxes never exceeds the true distance, so this
        only ever skips work, never a conflict.
        """
        x0, y0, x1, y1 = self.bounds
        gap_x = max(x0 - max(a.x, b.x), min(a.x, b.x) - x1, 0.0)
        gap_y = max(y0 - max(a.y, b.y), min(a.y, b.y) - y1, 0.0)
        return math.hypot(gap_x, gap_y) > margin


@dataclass(frozen=True)
class Margins:
    """How far (m) a path must keep from zone boundaries."""

    horizontal: float
    vertical: float
    floor_tolerance: float   # below an inclusion floor still counted inside
    vertical_checks: bool    # False for ground vehicles: zones apply at every height


@dataclass(frozen=True)
class ZoneConflict:
    """A zone a path (or position) would violate, with a readable reason."""

    zone_id: str
    kind: FenceKind
    reason: str


# ----------------------------------------------------------------------------------
# Clearance of one point (used for recovery and for reporting)
# ----------------------------------------------------------------------------------

def exclusion_clearance(p: Vec3, zone: FenceZone, m: Margins) -> float:
    """Metres by which p is clear of an exclusion zone's margin (<= 0: violating).

    Clear when horizontally farther than the margin from the polygon, or
    vertically farther than the vertical margin from the altitude band.
    """
    horizontal = -geometry.signed_depth(p.xy, zone.polygon) - m.horizontal
    if not m.vertical_checks:
        return horizontal
    vertical = max(zone.floor - p.z, p.z - zone.ceiling) - m.vertical
    return max(horizontal, vertical)


def inclusion_clearance(p: Vec3, zone: FenceZone, m: Margins) -> float:
    """Metres by which p is inside an inclusion zone's margin (<= 0: violating)."""
    horizontal = geometry.signed_depth(p.xy, zone.polygon) - m.horizontal
    if not m.vertical_checks:
        return horizontal
    vertical = min(zone.ceiling - m.vertical - p.z, p.z - (zone.floor - m.floor_tolerance))
    return min(horizontal, vertical)


def inclusion_union_clearance(p: Vec3, zones: Sequence[FenceZone], m: Margins) -> float:
    """Clearance inside the best inclusion zone (inside any one is enough)."""
    return max(inclusion_clearance(p, zone, m) for zone in zones)


# ----------------------------------------------------------------------------------
# Exact path checks (start clear)
# ----------------------------------------------------------------------------------

def exclusion_path_clear(a: Vec3, b: Vec3, zone: FenceZone, m: Margins) -> bool:
    """Whether every point of segment a-b keeps the margins from an exclusion zone.

    The part of the path inside the zone's widened altitude band is found
    exactly (altitude is linear along the path); that part must stay farther
    than the horizontal margin from the polygon.
    """
    if zone.far_from(a, b, m.horizontal):
        return True
    span: tuple[float, float] | None = (0.0, 1.0)
    if m.vertical_checks:
        span = geometry.interval_overlap(0.0, 1.0, a.z, b.z, zone.floor - m.vertical,
                                         zone.ceiling + m.vertical)
    if span is None:
        return True
    start, end = a.lerp(b, span[0]), a.lerp(b, span[1])
    return geometry.segment_polygon_distance(start.xy, end.xy, zone.polygon) > m.horizontal


def inclusion_path_clear(a: Vec3, b: Vec3, zone: FenceZone, m: Margins) -> bool:
    """Whether segment a-b stays inside an inclusion zone, its margins kept."""
    if m.vertical_checks:
        low = zone.floor - m.floor_tolerance
        high = zone.ceiling - m.vertical
        if not (low <= a.z <= high and low <= b.z <= high):
            return False
    if not geometry.point_in_polygon(a.xy, zone.polygon):
        return False
    return geometry.segment_boundary_distance(a.xy, b.xy, zone.polygon) > m.horizontal


# ----------------------------------------------------------------------------------
# Recovery (start violating)
# ----------------------------------------------------------------------------------

def _recovers(a: Vec3, b: Vec3, clearance: Callable[[Vec3], float]) -> bool:
    """Whether a path ends clear and never gets deeper than its start.

    Clearance is 1-Lipschitz in position (distances and altitudes are), so
    from a point with clearance c the path cannot fall below the threshold
    within c - threshold metres: the walk skips that far (sphere tracing) and
    takes ``RECOVERY_STEP`` where it is closer. Between two samples the path
    can dip at most ``RECOVERY_STEP`` below the threshold.
    """
    threshold = clearance(a) - RECOVERY_SLACK
    if clearance(b) <= 0.0:
        return False
    length = math.dist((a.x, a.y, a.z), (b.x, b.y, b.z))
    travelled = 0.0
    for _ in range(RECOVERY_MAX_SAMPLES):
        if travelled >= length:
            return True
        here = clearance(a.lerp(b, travelled / length))
        if here < threshold:
            return False
        travelled += max(RECOVERY_STEP, here - threshold)
    return False   # too long to prove at this resolution: refuse


# ----------------------------------------------------------------------------------
# What the gate and the monitor call
# ----------------------------------------------------------------------------------

def check_path(a: Vec3, b: Vec3, inclusions: Sequence[FenceZone],
               exclusions: Sequence[FenceZone], m: Margins) -> list[ZoneConflict]:
    """Every zone the straight path a-b violates with margins ``m`` (empty: clear).

    With no inclusion zone given the path has no outer bound; the config
    loader refuses vehicle types without one.
    """
    if a == b:
        return position_conflicts(a, inclusions, exclusions, m)
    conflicts: list[ZoneConflict] = []
    for zone in exclusions:
        if exclusion_path_clear(a, b, zone, m):
            continue
        def clearance(p: Vec3, zone: FenceZone = zone) -> float:
            return exclusion_clearance(p, zone, m)
        if clearance(a) > 0.0:
            reason = (f'path comes within {m.horizontal:.1f} m (horizontal) / '
                      f'{m.vertical:.1f} m (vertical) of {zone.site_kind} zone {zone.zone_id}')
        elif not _recovers(a, b, clearance):
            reason = (f'vehicle is inside the margin of {zone.site_kind} zone {zone.zone_id} and '
                      'the path does not lead straight out of it')
        else:
            continue
        conflicts.append(ZoneConflict(zone.zone_id, FenceKind.EXCLUSION, reason))
    if inclusions and not any(inclusion_path_clear(a, b, zone, m) for zone in inclusions):
        def union(p: Vec3) -> float:
            return inclusion_union_clearance(p, inclusions, m)
        if union(a) > 0.0 or not _recovers(a, b, union):
            names = ', '.join(zone.zone_id for zone in inclusions)
            conflicts.append(ZoneConflict(
                names, FenceKind.INCLUSION,
                f'path does not stay {m.horizontal:.1f} m inside the inclusion fence ({names}) '
                f'and {m.vertical:.1f} m below its ceiling'))
    return conflicts


def position_conflicts(p: Vec3, inclusions: Sequence[FenceZone],
                       exclusions: Sequence[FenceZone], m: Margins) -> list[ZoneConflict]:
    """Zones a single position violates with margins ``m``."""
    conflicts = [ZoneConflict(zone.zone_id, FenceKind.EXCLUSION,
                              f'within {m.horizontal:.1f} m of {zone.site_kind} zone {zone.zone_id}'
                              if m.horizontal > 0.0 else
                              f'inside {zone.site_kind} zone {zone.zone_id}')
                 for zone in exclusions
                 if not zone.far_from(p, p, m.horizontal)
                 and exclusion_clearance(p, zone, m) <= 0.0]
    if inclusions and inclusion_union_clearance(p, inclusions, m) <= 0.0:
        names = ', '.join(zone.zone_id for zone in inclusions)
        conflicts.append(ZoneConflict(names, FenceKind.INCLUSION,
                                      f'not {m.horizontal:.1f} m inside the inclusion fence '
                                      f'({names})' if m.horizontal > 0.0 else
                                      f'outside the inclusion fence ({names})'))
    return conflicts


def stopping_distance(speed: float, deceleration: float, reaction_time: float) -> float:
    """Distance (m) covered from ``speed`` until stopped: reaction, then constant braking."""
    speed = abs(speed)
    return speed * reaction_time + speed * speed / (2.0 * deceleration)
