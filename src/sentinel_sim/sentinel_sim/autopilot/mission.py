"""Mission and fence items: what may be uploaded, decoded and checked one item at a time.

Why a module of its own: an upload is a boundary. Each item a GCS sends is
decoded here and checked against the vehicle kind and the site limits before
anything is stored, with the MAV_MISSION_RESULT that names the bad field, so
the protocol code can stay a plain state machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.config import MAX_COMMAND_SPEED_M_S, AutopilotConfig
from sentinel_sim.autopilot.geometry import geodetic_to_enu
from sentinel_sim.autopilot.wire import DEG_E7, finite
from sentinel_sim.vehicle_types import Vector3, VehicleKind

MISSION_MAX_ITEMS = 700             # storage limit reported as MAV_MISSION_NO_SPACE (ArduPilot on 2 MB boards)
MIN_TARGET_ALTITUDE_M = 1.0         # position targets below this (above home) would fly into the ground
LEGACY_COORD_MAX_DEG = 1000.0       # legacy MISSION_ITEM x/y beyond this cannot be degrees at all
INVALID_COORD = 2 ** 31 - 1         # degE7 marker for an undecodable legacy coordinate (always rejected)
MIN_POLYGON_VERTICES = 3            # a fence polygon needs at least a triangle

# Frames of a location: altitude above mean sea level, or above home.
GLOBAL_FRAMES = {mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT}
RELATIVE_FRAMES = {mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT}
LOCATION_FRAMES = GLOBAL_FRAMES | RELATIVE_FRAMES
# Mission items each kind can fly (ground vehicles cannot take off or land) and the DO items run on the way.
NAV_COMMANDS = {
    VehicleKind.DRONE: {mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_LOITER_TIME,
                        mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, mavlink.MAV_CMD_NAV_LAND,
                        mavlink.MAV_CMD_NAV_TAKEOFF},
    VehicleKind.GROUND: {mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_LOITER_TIME,
                         mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH},
}
DO_COMMANDS = {mavlink.MAV_CMD_DO_CHANGE_SPEED}
# Fence items: polygon vertices and circles, to stay inside (inclusion) or outside (exclusion).
FENCE_POLYGONS = {mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                  mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION}
FENCE_CIRCLES = {mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION}
FENCE_COMMANDS = FENCE_POLYGONS | FENCE_CIRCLES | {mavlink.MAV_CMD_NAV_FENCE_RETURN_POINT}
SUPPORTED_MISSION_TYPES = (mavlink.MAV_MISSION_TYPE_MISSION, mavlink.MAV_MISSION_TYPE_FENCE)  # no rally points


@dataclass(frozen=True)
class MissionItem:
    """One stored mission or fence item, as MISSION_ITEM_INT carries it."""

    seq: int
    frame: int
    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0          # latitude, degE7, for location frames
    y: int = 0          # longitude, degE7, for location frames
    z: float = 0.0      # altitude in the frame's reference, metres
    autocontinue: int = 1
    mission_type: int = mavlink.MAV_MISSION_TYPE_MISSION

    @property
    def has_latlon(self) -> bool:
        return self.x != 0 or self.y != 0

    @property
    def lat(self) -> float:
        return self.x / DEG_E7

    @property
    def lon(self) -> float:
        return self.y / DEG_E7


def item_from_message(msg: Any) -> MissionItem:
    """Decode MISSION_ITEM_INT or legacy MISSION_ITEM (float degrees) into a MissionItem."""
    frame = int(msg.frame)
    if msg.get_type() == 'MISSION_ITEM':
        if frame in LOCATION_FRAMES and finite(msg.x) and finite(msg.y) \
                and abs(msg.x) <= LEGACY_COORD_MAX_DEG and abs(msg.y) <= LEGACY_COORD_MAX_DEG:
            x, y = round(msg.x * DEG_E7), round(msg.y * DEG_E7)
        else:
            x = y = INVALID_COORD if frame in LOCATION_FRAMES else 0
    else:
        x, y = int(msg.x), int(msg.y)
    return MissionItem(int(msg.seq), frame, int(msg.command), float(msg.param1), float(msg.param2),
                       float(msg.param3), float(msg.param4), x, y, float(msg.z), int(msg.autocontinue),
                       int(getattr(msg, 'mission_type', 0)))


def validate_item(item: MissionItem, config: AutopilotConfig, home: Vector3 | None) -> int:
    """MAV_MISSION_ACCEPTED or the MAV_MISSION_RESULT naming the bad field.

    ``home`` (site ENU, None before the first fix) turns absolute altitudes into
    heights above home for the altitude limits.
    """
    kind = config.kind
    origin = (config.origin_lat_deg, config.origin_lon_deg, config.origin_alt_m)
    if item.mission_type == mavlink.MAV_MISSION_TYPE_MISSION and item.seq == 0:
        return mavlink.MAV_MISSION_ACCEPTED  # home slot: ArduPilot replaces it with home
    if item.mission_type == mavlink.MAV_MISSION_TYPE_FENCE:
        if item.command not in FENCE_COMMANDS:
            return mavlink.MAV_MISSION_UNSUPPORTED
    elif item.command not in NAV_COMMANDS[kind] | DO_COMMANDS:
        return mavlink.MAV_MISSION_UNSUPPORTED
    params = (item.param1, item.param2, item.param3, item.param4)
    results = (mavlink.MAV_MISSION_INVALID_PARAM1, mavlink.MAV_MISSION_INVALID_PARAM2,
               mavlink.MAV_MISSION_INVALID_PARAM3, mavlink.MAV_MISSION_INVALID_PARAM4)
    if item.command == mavlink.MAV_CMD_DO_CHANGE_SPEED:
        if not (finite(item.param2) and 0.0 < item.param2 <= MAX_COMMAND_SPEED_M_S):
            return mavlink.MAV_MISSION_INVALID_PARAM2
        return mavlink.MAV_MISSION_ACCEPTED
    if item.frame not in LOCATION_FRAMES:
        return mavlink.MAV_MISSION_UNSUPPORTED_FRAME
    for index in (0, 1):  # param3/4 are NaN in many GCS uploads (yaw "unchanged"); tolerated
        if not finite(params[index]):
            return results[index]
    if item.command in FENCE_POLYGONS and item.param1 < MIN_POLYGON_VERTICES:
        return mavlink.MAV_MISSION_INVALID_PARAM1
    if item.command in FENCE_CIRCLES and not item.param1 > 0.0:
        return mavlink.MAV_MISSION_INVALID_PARAM1
    if item.command == mavlink.MAV_CMD_NAV_LOITER_TIME and item.param1 < 0.0:
        return mavlink.MAV_MISSION_INVALID_PARAM1
    if item.command == mavlink.MAV_CMD_NAV_WAYPOINT and item.param1 < 0.0:
        return mavlink.MAV_MISSION_INVALID_PARAM1
    if abs(item.x) > 90 * DEG_E7:
        return mavlink.MAV_MISSION_INVALID_PARAM5_X
    if abs(item.y) > 180 * DEG_E7:
        return mavlink.MAV_MISSION_INVALID_PARAM6_Y
    if item.has_latlon:
        p = geodetic_to_enu(origin, item.lat, item.lon, origin[2])
        if math.hypot(p.x, p.y) > config.max_range_m:
            return mavlink.MAV_MISSION_INVALID_PARAM5_X
    if not finite(item.z):
        return mavlink.MAV_MISSION_INVALID_PARAM7
    if kind is VehicleKind.DRONE and item.mission_type == mavlink.MAV_MISSION_TYPE_MISSION:
        rel = item.z - (origin[2] + (home.z if home is not None else 0.0)) \
            if item.frame in GLOBAL_FRAMES else item.z
        if rel > config.max_altitude_m:
            return mavlink.MAV_MISSION_INVALID_PARAM7
        if item.command == mavlink.MAV_CMD_NAV_TAKEOFF and rel < MIN_TARGET_ALTITUDE_M:
            return mavlink.MAV_MISSION_INVALID_PARAM7
    return mavlink.MAV_MISSION_ACCEPTED
