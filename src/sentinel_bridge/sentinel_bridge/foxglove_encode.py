"""The bridge's dataclasses as foxglove-sdk messages (Foxglove's own schemas).

The one module that builds ``foxglove.messages`` objects, so the logic stays
testable without the SDK and a schema change in the SDK touches one file.
"""

from __future__ import annotations

from collections.abc import Iterable

from foxglove import messages as fm

from sentinel_bridge.foxglove_images import EncodedFrame
from sentinel_bridge.foxglove_model import (Arrow, CameraCalibration, Cube, Cylinder,
                                            FrameTransform, ImageAnnotations, Line, LocationFix,
                                            LogLine, Pose3, Rgba, SceneEntity, SceneUpdate,
                                            Sphere, Text, Triangles, Vec3)

_NS_PER_S = 1_000_000_000

_LINE_TYPES = {0: fm.LinePrimitiveLineType.LineStrip, 1: fm.LinePrimitiveLineType.LineLoop,
               2: fm.LinePrimitiveLineType.LineList}
_POINTS_TYPES = {1: fm.PointsAnnotationType.Points, 2: fm.PointsAnnotationType.LineLoop,
                 3: fm.PointsAnnotationType.LineStrip, 4: fm.PointsAnnotationType.LineList}
_LOG_LEVELS = {0: fm.LogLevel.Unknown, 1: fm.LogLevel.Debug, 2: fm.LogLevel.Info,
               3: fm.LogLevel.Warning, 4: fm.LogLevel.Error, 5: fm.LogLevel.Fatal}


def timestamp(ns: int) -> fm.Timestamp:
    """Nanoseconds since the epoch as a Foxglove timestamp (negative clamps to zero)."""
    ns = max(0, int(ns))
    return fm.Timestamp(ns // _NS_PER_S, ns % _NS_PER_S)


def duration(ns: int) -> fm.Duration:
    ns = max(0, int(ns))
    return fm.Duration(ns // _NS_PER_S, ns % _NS_PER_S)


def color(c: Rgba) -> fm.Color:
    return fm.Color(r=c.r, g=c.g, b=c.b, a=c.a)


def vector(v: Vec3) -> fm.Vector3:
    return fm.Vector3(x=v.x, y=v.y, z=v.z)


def point(v: Vec3) -> fm.Point3:
    return fm.Point3(x=v.x, y=v.y, z=v.z)


def pose(p: Pose3) -> fm.Pose:
    x, y, z, w = p.orientation
    return fm.Pose(position=vector(p.position), orientation=fm.Quaternion(x=x, y=y, z=z, w=w))


def _cube(c: Cube) -> fm.CubePrimitive:
    return fm.CubePrimitive(pose=pose(c.pose), size=vector(c.size), color=color(c.color))


def _cylinder(c: Cylinder) -> fm.CylinderPrimitive:
    return fm.CylinderPrimitive(pose=pose(c.pose), size=vector(c.size), bottom_scale=1.0,
                                top_scale=1.0, color=color(c.color))


def _sphere(s: Sphere) -> fm.SpherePrimitive:
    return fm.SpherePrimitive(pose=pose(s.pose), size=vector(s.size), color=color(s.color))


def _arrow(a: Arrow) -> fm.ArrowPrimitive:
    return fm.ArrowPrimitive(pose=pose(a.pose), shaft_length=a.shaft_length,
                             shaft_diameter=a.shaft_diameter, head_length=a.head_length,
                             head_diameter=a.head_diameter, color=color(a.color))


def _line(line: Line) -> fm.LinePrimitive:
    return fm.LinePrimitive(type=_LINE_TYPES[int(line.kind)], pose=pose(line.pose),
                            thickness=line.thickness, scale_invariant=line.scale_invariant,
                            points=[point(p) for p in line.points], color=color(line.color))


def _triangles(t: Triangles) -> fm.TriangleListPrimitive:
    return fm.TriangleListPrimitive(pose=pose(t.pose), points=[point(p) for p in t.points],
                                    color=color(t.color))


def _text(t: Text) -> fm.TextPrimitive:
    return fm.TextPrimitive(pose=pose(t.pose), billboard=t.billboard, font_size=t.font_size,
                            scale_invariant=t.scale_invariant, color=color(t.color), text=t.text)


def scene_entity(e: SceneEntity) -> fm.SceneEntity:
    return fm.SceneEntity(
        timestamp=timestamp(e.timestamp_ns), frame_id=e.frame_id, id=e.id,
        lifetime=duration(e.lifetime_ns), frame_locked=e.frame_locked,
        metadata=[fm.KeyValuePair(key=k, value=v) for k, v in e.metadata],
        cubes=[_cube(c) for c in e.cubes], cylinders=[_cylinder(c) for c in e.cylinders],
        spheres=[_sphere(s) for s in e.spheres], arrows=[_arrow(a) for a in e.arrows],
        lines=[_line(line) for line in e.lines], triangles=[_triangles(t) for t in e.triangles],
        texts=[_text(t) for t in e.texts])


def scene_update(update: SceneUpdate) -> fm.SceneUpdate:
    deletions = [fm.SceneEntityDeletion(timestamp=timestamp(update.timestamp_ns),
                                        type=fm.SceneEntityDeletionType.MatchingId, id=entity_id)
                 for entity_id in update.deletions]
    return fm.SceneUpdate(deletions=deletions,
                          entities=[scene_entity(e) for e in update.entities])


def frame_transforms(transforms: Iterable[FrameTransform]) -> fm.FrameTransforms:
    out = []
    for t in transforms:
        x, y, z, w = t.rotation
        out.append(fm.FrameTransform(timestamp=timestamp(t.timestamp_ns),
                                     parent_frame_id=t.parent, child_frame_id=t.child,
                                     translation=vector(t.translation),
                                     rotation=fm.Quaternion(x=x, y=y, z=z, w=w)))
    return fm.FrameTransforms(transforms=out)


def image_annotations(a: ImageAnnotations) -> fm.ImageAnnotations:
    stamp = timestamp(a.timestamp_ns)
    points = [fm.PointsAnnotation(timestamp=stamp, type=_POINTS_TYPES[int(p.kind)],
                                  points=[fm.Point2(x=q.x, y=q.y) for q in p.points],
                                  outline_color=color(p.outline_color),
                                  fill_color=color(p.fill_color) if p.fill_color else None,
                                  thickness=p.thickness)
              for p in a.points]
    texts = [fm.TextAnnotation(timestamp=stamp, position=fm.Point2(x=t.position.x,
                                                                   y=t.position.y),
                               text=t.text, font_size=t.font_size,
                               text_color=color(t.text_color),
                               background_color=color(t.background_color))
             for t in a.texts]
    return fm.ImageAnnotations(points=points, texts=texts)


def location_fix(f: LocationFix) -> fm.LocationFix:
    if f.horizontal_variance is None:
        covariance = [0.0] * 9
        kind = fm.LocationFixPositionCovarianceType.Unknown
    else:
        # East and north variances known, vertical unknown (left at zero).
        covariance = [f.horizontal_variance, 0.0, 0.0, 0.0, f.horizontal_variance, 0.0,
                      0.0, 0.0, 0.0]
        kind = fm.LocationFixPositionCovarianceType.Approximated
    return fm.LocationFix(timestamp=timestamp(f.timestamp_ns), frame_id=f.frame_id,
                          latitude=f.latitude_deg, longitude=f.longitude_deg,
                          altitude=f.altitude, position_covariance=covariance,
                          position_covariance_type=kind,
                          color=color(f.color) if f.color else None)


def log(line: LogLine) -> fm.Log:
    return fm.Log(timestamp=timestamp(line.timestamp_ns), level=_LOG_LEVELS[int(line.level)],
                  message=line.message, name=line.name, file=line.file, line=max(0, line.line))


def compressed_image(frame: EncodedFrame, frame_id: str) -> fm.CompressedImage:
    return fm.CompressedImage(timestamp=timestamp(frame.stamp_ns), frame_id=frame_id,
                              data=frame.jpeg, format='jpeg')


def camera_calibration(c: CameraCalibration) -> fm.CameraCalibration:
    return fm.CameraCalibration(timestamp=timestamp(c.timestamp_ns), frame_id=c.frame_id,
                                width=c.width, height=c.height,
                                distortion_model=c.distortion_model, D=list(c.d), K=list(c.k),
                                R=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], P=list(c.p))


def geojson(document: str) -> fm.GeoJson:
    return fm.GeoJson(geojson=document)
