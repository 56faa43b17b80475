"""Zones, scenery, vehicles, tracks and frusta as Foxglove scene entities."""

import math
from pathlib import Path

import numpy as np
import pytest

from sentinel_bridge.foxglove_domain import (CameraMount, GeoPoint, LinkState, TrackView,
                                             VehicleKind, VehicleView, ZoneKind, ZoneView)
from sentinel_bridge.foxglove_geometry import rotate, signed_area
from sentinel_bridge.foxglove_model import LineKind
from sentinel_bridge.foxglove_scene import (STALE_COLOR, TRACK_LIFETIME_NS, VEHICLE_COLORS,
                                            ZONE_COLORS, EntityTracker, frustum_entity,
                                            live_entities, mount_transforms, static_entities,
                                            track_entity, vehicle_entity, vehicle_orientation,
                                            zone_entity)
from sentinel_bridge.foxglove_site import load_site_view

SUBSTATION = Path(__file__).resolve().parents[3] / 'config' / 'sites' / 'substation.yaml'
SECOND = 1_000_000_000
INF = float('inf')


def _triangle_area(points):
    total = 0.0
    for i in range(0, len(points), 3):
        a, b, c = points[i:i + 3]
        total += abs(signed_area([(a.x, a.y), (b.x, b.y), (c.x, c.y)]))
    return total


def _vehicle(**changes):
    base = dict(vehicle_id='drone_1', kind=VehicleKind.DRONE, stamp_ns=10 * SECOND,
                position=(5.0, -3.0, 20.0), orientation=(0.0, 0.0, 0.0, 0.0), heading_deg=90.0,
                velocity=(1.0, 0.0, 0.0), geo=GeoPoint(40.5, -105.0, 1545.0), armed=True,
                mode='GUIDED', battery_remaining=0.78, link=LinkState.OK, gps_fix=3,
                landed=False, task_id='task_7')
    base.update(changes)
    return VehicleView(**base)


def _track(**changes):
    base = dict(track_id='T12', class_name='person', confidence=0.87, stamp_ns=10 * SECOND,
                position=(30.0, 20.0, 0.0), velocity=(1.0, 1.0, 0.0),
                geo=GeoPoint(40.5, -105.0, 1525.0), position_uncertainty=1.5, authorized=False,
                sensor_ids=('cam_nw',))
    base.update(changes)
    return TrackView(**base)


def test_restricted_zone_is_an_outline_a_fill_of_its_exact_area_and_a_label():
    zone = ZoneView('yard', ZoneKind.RESTRICTED, ((15, -15), (85, -15), (85, 55), (15, 55)),
                    -INF, INF)
    entity = zone_entity(zone, 5)
    assert entity.id == 'zone/yard' and entity.frame_id == 'site'
    (outline,) = entity.lines
    assert outline.kind is LineKind.LOOP and len(outline.points) == 4
    assert outline.color == ZONE_COLORS[ZoneKind.RESTRICTED]
    (fill,) = entity.triangles
    assert _triangle_area(fill.points) == pytest.approx(70 * 70)
    assert fill.color.a < 0.5
    assert 'yard' in entity.texts[0].text and 'restricted' in entity.texts[0].text


def test_geofence_with_ceiling_is_extruded_and_perimeter_is_not_filled():
    fence = ZoneView('air', ZoneKind.GEOFENCE_EXCLUSION, ((0, 0), (10, 0), (10, 10), (0, 10)),
                     0.0, 25.0)
    entity = zone_entity(fence, 0)
    tops = [line for line in entity.lines if line.kind is LineKind.LOOP
            and line.points[0].z == pytest.approx(25.0)]
    assert tops, 'no outline at the ceiling'
    walls = max(entity.triangles, key=lambda t: len(t.points))
    assert len(walls.points) == 4 * 6   # two triangles per edge
    assert sorted({round(p.z, 6) for p in walls.points}) == [0.05, 25.0]
    perimeter = ZoneView('fence', ZoneKind.PERIMETER, ((0, 0), (10, 0), (10, 10)), -INF, INF)
    assert zone_entity(perimeter, 0).triangles == ()


def test_vehicle_heading_arrow_follows_compass_heading_when_no_attitude():
    entity = vehicle_entity(_vehicle(heading_deg=90.0), now_ns=10 * SECOND,
                            stale_after_ns=2 * SECOND)
    (arrow,) = entity.arrows
    assert np.allclose(rotate(arrow.pose.orientation, (1, 0, 0)), (1, 0, 0), atol=1e-9)  # east
    assert entity.cylinders[0].color == VEHICLE_COLORS[LinkState.OK]
    label = entity.texts[0].text
    assert 'drone_1' in label and 'GUIDED' in label and '78%' in label and 'task_7' in label


def test_reported_attitude_wins_over_heading_and_rover_is_a_box():
    yaw_north = (0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4))
    rover = _vehicle(vehicle_id='rover_1', kind=VehicleKind.GROUND, orientation=yaw_north,
                     heading_deg=90.0)
    assert np.allclose(rotate(vehicle_orientation(rover), (1, 0, 0)), (0, 1, 0), atol=1e-9)
    entity = vehicle_entity(rover, 10 * SECOND, 2 * SECOND)
    assert entity.cubes and not entity.cylinders


def test_stale_vehicle_is_grey_and_says_so():
    entity = vehicle_entity(_vehicle(), now_ns=15 * SECOND, stale_after_ns=2 * SECOND)
    assert entity.cylinders[0].color == STALE_COLOR
    assert 'STALE 5.0 s' in entity.texts[0].text


def test_track_shows_id_class_confidence_uncertainty_and_velocity_with_a_lifetime():
    entity = track_entity(_track())
    assert entity.id == 'track/T12' and entity.lifetime_ns == TRACK_LIFETIME_NS
    assert entity.texts[0].text == 'T12 person 87%'
    discs = [c for c in entity.cylinders if c.size.z < 0.1]
    assert discs and discs[0].size.x == pytest.approx(3.0)        # 2 sigma
    assert entity.arrows, 'moving track without a velocity arrow'
    still = track_entity(_track(velocity=(0.0, 0.0, 0.0), authorized=True, class_name='dog'))
    assert not still.arrows and still.spheres and 'authorized' in still.texts[0].text


def test_tracker_deletes_entities_that_went_away():
    tracker = EntityTracker()
    first = tracker.update(live_entities([_vehicle()], [_track(), _track(track_id='T13')],
                                         10 * SECOND, 2 * SECOND), 1)
    assert first.deletions == ()
    second = tracker.update(live_entities([_vehicle()], [_track()], 10 * SECOND, 2 * SECOND), 2)
    assert second.deletions == ('track/T13',)
    assert [e.id for e in second.entities] == ['vehicle/drone_1', 'track/T12']


def test_a_degenerate_zone_is_left_out_and_reported_not_fatal():
    good = ZoneView('ok', ZoneKind.GATE, ((0, 0), (5, 0), (5, 5)), -INF, INF)
    flat = ZoneView('flat', ZoneKind.GATE, ((0, 0), (1, 1), (2, 2)), -INF, INF)
    problems = []
    entities = static_entities([flat, good], [], [], 0, problems)
    assert [e.id for e in entities] == ['zone/ok']
    assert problems and 'flat' in problems[0]


def test_frustum_lives_in_the_optical_frame_and_mounts_chain_to_it():
    mount = CameraMount('drone_1_camera', 'drone_1', (0.16, 0.0, -0.06), (0, 0, 0, 1),
                        math.radians(80), 640, 480)
    entity = frustum_entity(mount, 0)
    assert entity.frame_id == 'drone_1_camera_optical' and entity.frame_locked
    assert len(entity.lines[0].points) == 16
    parent, optical = mount_transforms([mount], 0)
    assert (parent.parent, parent.child) == ('drone_1', 'drone_1_camera')
    assert (optical.parent, optical.child) == ('drone_1_camera', 'drone_1_camera_optical')


def test_substation_site_gives_zones_scenery_and_every_camera_mount():
    site = load_site_view(SUBSTATION)
    assert {z.zone_id for z in site.zones} >= {'perimeter', 'transformer_yard', 'hv_bus'}
    assert len(site.scenery) > 10                              # fence panels, buildings, poles
    assert {m.camera_id for m in site.mounts} >= {'cam_nw', 'cam_sw', 'drone_1_camera',
                                                  'rover_2_camera'}
    pole = next(m for m in site.mounts if m.camera_id == 'cam_nw')
    assert pole.parent_frame == 'site' and pole.translation == (-130.0, 45.0, 8.0)
    entities = static_entities(site.zones, site.scenery, site.mounts, 0)
    ids = {e.id for e in entities}
    assert 'scenery' in ids and 'zone/transformer_yard' in ids and 'frustum/cam_nw' in ids
    assert site.origin.latitude_deg == pytest.approx(40.5853)
