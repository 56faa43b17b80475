"""Perception domain objects <-> ROS messages.

Kept apart from the nodes so that the callbacks stay one screen long and the
conversions are tested on their own. Messages only: no rclpy.Node here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from sentinel_msgs.msg import (Alert, Detection, DetectionArray, DriftMetric, DriftReport,
                               GeoPosition, ModelInfo, Track, VehicleState)

from sentinel_perception.alerts import AlertRecord
from sentinel_perception.authorization import Authorization, OwnVehicle
from sentinel_perception.camera_geometry import VehiclePose
from sentinel_perception.detector_core import FrameResult
from sentinel_perception.drift import WindowResult
from sentinel_perception.fusion import FusedTrack, Observation
from sentinel_perception.geolocation import Georeference
from sentinel_perception.image_conversion import ImageHeader, from_rgb
from sentinel_perception.models import ModelSpec

# Frame id of the site ENU frame (as the simulator and vehicle interface use it).
SITE_FRAME = 'site'


def seconds(stamp: Time) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def time_message(value: float) -> Time:
    if not math.isfinite(value) or value < 0.0:
        return Time()
    whole = math.floor(value)
    return Time(sec=int(whole), nanosec=min(int(round((value - whole) * 1e9)), 999_999_999))


def image_header(message: Image) -> ImageHeader:
    return ImageHeader(message.encoding, int(message.width), int(message.height),
                       int(message.step), bool(message.is_bigendian))


def image_message(image: np.ndarray, stamp: Time, frame_id: str) -> Image:
    header, data = from_rgb(image)
    message = Image(height=header.height, width=header.width, encoding=header.encoding,
                    is_bigendian=0, step=header.step)
    message.header.stamp = stamp
    message.header.frame_id = frame_id
    message.data = data
    return message


def geo_message(georef: Georeference | None, position: tuple[float, float, float]) -> GeoPosition:
    """WGS84 of a site position; NaNs when unknown (no origin, or a non-finite position)."""
    geo = georef.to_wgs84(*position) if georef is not None else None
    if geo is None:
        return GeoPosition(latitude_deg=math.nan, longitude_deg=math.nan, altitude=math.nan)
    return GeoPosition(latitude_deg=geo[0], longitude_deg=geo[1], altitude=geo[2])


# --------------------------------------------------------------------------
# Detector
# --------------------------------------------------------------------------

def detection_array(result: FrameResult, stamp: Time, frame_id: str, latency: float,
                    georef: Georeference | None) -> DetectionArray:
    message = DetectionArray(camera_id=result.camera_id, model_version=result.model_version,
                             inference_time=float(result.inference_time),
                             total_latency=float(latency), image_width_px=result.width,
                             image_height_px=result.height)
    message.header.stamp = stamp
    message.header.frame_id = frame_id
    for item in result.objects:
        detection = Detection(class_name=item.box.class_name, class_id=item.box.class_id,
                              confidence=float(item.box.confidence), track_id=item.track_id)
        detection.box.x_min_px, detection.box.y_min_px = item.box.x_min, item.box.y_min
        detection.box.x_max_px, detection.box.y_max_px = item.box.x_max, item.box.y_max
        if item.location is not None:
            detection.has_ground_position = True
            (detection.ground_position.x, detection.ground_position.y,
             detection.ground_position.z) = item.location.position
            detection.geo_position = geo_message(georef, item.location.position)
            detection.position_uncertainty = float(item.location.sigma)
        else:
            detection.has_ground_position = False
            detection.geo_position = geo_message(None, (math.nan,) * 3)
            detection.position_uncertainty = math.nan
        message.detections.append(detection)
    return message


def model_info(spec: ModelSpec) -> ModelInfo:
    message = ModelInfo(version=spec.version, parent_version=spec.parent_version,
                        status=spec.status, class_names=list(spec.class_names),
                        input_size_px=spec.input_size, dataset_hash=spec.dataset_hash,
                        map50=float(spec.map50), map50_95=float(spec.map50_95),
                        file_uri=spec.file.resolve().as_uri())
    if spec.created is not None:
        message.created = time_message(spec.created)
    return message


# --------------------------------------------------------------------------
# Fusion
# --------------------------------------------------------------------------

def observations(message: DetectionArray, platforms: Mapping[str, str]) -> list[Observation]:
    """The geolocated detections of one DetectionArray (others cannot be fused)."""
    stamp = seconds(message.header.stamp)
    out = []
    for d in message.detections:
        if not d.has_ground_position:
            continue
        out.append(Observation(
            sensor_id=message.camera_id, stamp=stamp, class_name=d.class_name,
            confidence=float(d.confidence),
            position=(d.ground_position.x, d.ground_position.y, d.ground_position.z),
            sigma=float(d.position_uncertainty), local_track_id=int(d.track_id),
            platform_id=platforms.get(message.camera_id, ''),
            box=(d.box.x_min_px, d.box.y_min_px, d.box.x_max_px, d.box.y_max_px)))
    return out


def vehicle_pose(message: VehicleState) -> VehiclePose:
    return VehiclePose(
        position=(message.position.x, message.position.y, message.position.z),
        orientation=(message.orientation.x, message.orientation.y, message.orientation.z,
                     message.orientation.w),
        velocity=(message.velocity.x, message.velocity.y, message.velocity.z),
        stamp=seconds(message.header.stamp))


def own_vehicle(message: VehicleState) -> OwnVehicle:
    kind = 'drone' if message.vehicle_type == VehicleState.TYPE_DRONE else 'ground'
    return OwnVehicle(message.vehicle_id, kind,
                      (message.position.x, message.position.y, message.position.z),
                      seconds(message.header.stamp))


def track_message(track: FusedTrack, position: tuple[float, float, float],
                  authorization: Authorization, georef: Georeference | None) -> Track:
    """A fused track; ``position`` is where it is predicted to be now (coasting tracks move)."""
    message = Track(track_id=track.track_id, class_name=track.class_name,
                    confidence=float(track.confidence),
                    position_uncertainty=float(track.position_sigma),
                    sensor_ids=track.sensor_ids, authorized=authorization.authorized)
    message.header.stamp = time_message(track.last_seen)
    message.header.frame_id = SITE_FRAME
    message.position.x, message.position.y, message.position.z = position
    message.geo_position = geo_message(georef, position)
    message.velocity.x, message.velocity.y, message.velocity.z = track.velocity
    message.first_seen = time_message(track.first_seen)
    message.last_seen = time_message(track.last_seen)
    return message


def alert_message(record: AlertRecord, georef: Georeference | None, stamp: Time) -> Alert:
    position = record.position if all(math.isfinite(c) for c in record.position) \
        else (math.nan, math.nan, math.nan)
    message = Alert(alert_id=record.alert_id, severity=record.severity, category=record.category,
                    rule_id=record.rule_id, zone_id=record.zone_id, track_id=record.track_id,
                    class_name=record.class_name, state=record.state,
                    description=record.description, evidence_uri=record.evidence_uri,
                    acknowledged_by=record.acknowledged_by,
                    resolution_note=record.resolution_note)
    message.header.stamp = stamp
    message.header.frame_id = SITE_FRAME
    message.position.x, message.position.y, message.position.z = position
    message.geo_position = geo_message(georef, position)
    message.first_raised = time_message(record.first_raised)
    return message


# --------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------

def drift_report(result: WindowResult, model_version: str, report_uri: str,
                 stamp: Time) -> DriftReport:
    message = DriftReport(model_version=model_version, camera_id=result.camera_id,
                          sample_count=result.sample_count, drifted=result.drifted,
                          report_uri=report_uri)
    message.header.stamp = stamp
    message.window_start = time_message(result.window_start)
    message.window_end = time_message(result.window_end)
    for metric in result.metrics:
        message.metrics.append(DriftMetric(name=metric.name, psi=float(metric.psi),
                                           ks_statistic=float(metric.ks_statistic),
                                           p_value=float(metric.p_value),
                                           threshold=float(metric.threshold),
                                           drifted=metric.drifted))
    return message
