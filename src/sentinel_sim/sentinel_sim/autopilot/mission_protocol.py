"""The MAVLink mission protocol: upload, download, clear and set-current, for missions and fences.

Why a module of its own: the protocol is a conversation (COUNT, REQUEST_INT,
ITEM_INT ... ACK) with retries and timeouts, and it must never leave a
half-written list behind. This module holds that conversation; item checks are
in ``mission``, zone geometry in ``fence``, and what a new mission means for a
vehicle flying AUTO is the vehicle's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import telemetry
from sentinel_sim.autopilot.fence import build_fence
from sentinel_sim.autopilot.geometry import enu_to_geodetic
from sentinel_sim.autopilot.mission import (
    MISSION_MAX_ITEMS, SUPPORTED_MISSION_TYPES, MissionItem, item_from_message, validate_item)
from sentinel_sim.autopilot.vehicle import Vehicle
from sentinel_sim.autopilot.wire import DEG_E7, MavMessage

MISSION_RETRY_S = 1.0               # re-request an upload item not received within this time
MISSION_UPLOAD_TIMEOUT_S = 8.0      # abandon an upload with no item received for this long (ArduPilot: 8 s)

Handler = Callable[[Any, tuple[int, int], float], None]


@dataclass
class Upload:
    """An upload in progress (MISSION_COUNT received, items being requested)."""

    mission_type: int
    count: int
    peer: tuple[int, int]
    items: list[MissionItem] = field(default_factory=list)
    last_request: float = 0.0
    last_receive: float = 0.0


def _mission_type(msg: Any) -> int:
    """The message's mission_type (MAVLink 1 peers omit it: a plain mission)."""
    return int(getattr(msg, 'mission_type', mavlink.MAV_MISSION_TYPE_MISSION))


class MissionProtocol:
    """Serves one vehicle's mission and fence lists to ground stations, one upload at a time."""

    def __init__(self, vehicle: Vehicle) -> None:
        self._v = vehicle
        self._upload: Upload | None = None

    def handlers(self) -> dict[str, Handler]:
        """Message type -> handler, for the autopilot's dispatch table."""
        return {
            'MISSION_COUNT': self.on_count,
            'MISSION_ITEM_INT': self.on_item,
            'MISSION_ITEM': self.on_item,
            'MISSION_REQUEST_LIST': self.on_request_list,
            'MISSION_REQUEST_INT': self.on_request,
            'MISSION_REQUEST': self.on_request,
            'MISSION_CLEAR_ALL': self.on_clear_all,
            'MISSION_SET_CURRENT': self.on_set_current,
            'MISSION_ACK': self.on_ack,
        }

    def _ack(self, peer: tuple[int, int], result: int, mission_type: int, now: float) -> None:
        self._v.send(mavlink.MAVLink_mission_ack_message(peer[0], peer[1], result, mission_type), now)

    # ---------------------------------------------------------------- upload

    def on_count(self, msg: Any, src: tuple[int, int], now: float) -> None:
        v = self._v
        mission_type = _mission_type(msg)
        if mission_type not in SUPPORTED_MISSION_TYPES:
            self._ack(src, mavlink.MAV_MISSION_UNSUPPORTED, mission_type, now)
            return
        if self._upload is not None and self._upload.peer != src:
            self._ack(src, mavlink.MAV_MISSION_DENIED, mission_type, now)
            v.status(mavlink.MAV_SEVERITY_WARNING, 'Mission upload busy with another GCS', now)
            return
        count = int(msg.count)
        if count > MISSION_MAX_ITEMS:
            self._upload = None
            self._ack(src, mavlink.MAV_MISSION_NO_SPACE, mission_type, now)
            return
        if count == 0:
            self._upload = None
            self._commit(mission_type, [], src, now)
            return
        self._upload = Upload(mission_type, count, src, last_request=now, last_receive=now)
        self._request_item(self._upload, now)

    def _request_item(self, upload: Upload, now: float) -> None:
        upload.last_request = now
        self._v.send(mavlink.MAVLink_mission_request_int_message(
            upload.peer[0], upload.peer[1], len(upload.items), upload.mission_type), now)

    def on_item(self, msg: Any, src: tuple[int, int], now: float) -> None:
        v = self._v
        upload = self._upload
        mission_type = _mission_type(msg)
        if upload is None or upload.peer != src or mission_type != upload.mission_type:
            return  # not part of an upload we run; ArduPilot ignores these too
        if int(msg.seq) != len(upload.items):
            self._request_item(upload, now)  # out of order: ask again for the one we need
            return
        upload.last_receive = now
        item = item_from_message(msg)
        result = validate_item(item, v.config, v.home)
        if result != mavlink.MAV_MISSION_ACCEPTED:
            self._upload = None
            self._ack(src, result, mission_type, now)
            v.status(mavlink.MAV_SEVERITY_WARNING, f'Mission item {item.seq} rejected ({result})', now)
            return
        upload.items.append(item)
        if len(upload.items) < upload.count:
            self._request_item(upload, now)
            return
        self._upload = None
        self._commit(mission_type, upload.items, src, now)

    def _commit(self, mission_type: int, items: list[MissionItem], peer: tuple[int, int], now: float) -> None:
        """Replace the stored list in one go (never half-written), then MISSION_ACK."""
        v = self._v
        if mission_type == mavlink.MAV_MISSION_TYPE_FENCE:
            fence, result = build_fence(items, v.origin)
            if fence is None:
                self._ack(peer, result, mission_type, now)
                v.status(mavlink.MAV_SEVERITY_WARNING, 'Fence upload rejected: bad zones', now)
                return
            v.fence_items = list(items)
            v.fence = None if fence.empty else fence
            v.fence_enabled = v.fence is not None
            v.fence_breached = False
            self._ack(peer, mavlink.MAV_MISSION_ACCEPTED, mission_type, now)
            v.log.info('fence stored: %d items', len(items))
            return
        v.mission = list(items)
        running = v.mission_state == mavlink.MISSION_STATE_ACTIVE and v.in_auto()
        if len(v.mission) <= 1:
            v.mission = []
            v.mission_state = mavlink.MISSION_STATE_NO_MISSION
            v.mission_index = 1
            v.nav = None
        elif not running:
            v.mission_state = mavlink.MISSION_STATE_NOT_STARTED
            v.mission_index = 1
        self._ack(peer, mavlink.MAV_MISSION_ACCEPTED, mission_type, now)
        v.log.info('mission stored: %d items', len(items))
        if running:
            v.start_nav(now)  # ArduPilot keeps the current index against the new list
        v.send(telemetry.mission_current(v, now), now)

    def check_timeout(self, now: float) -> None:
        """Once per step: re-request a stalled item, or give the upload up."""
        upload = self._upload
        if upload is None:
            return
        if now - upload.last_receive > MISSION_UPLOAD_TIMEOUT_S:
            self._upload = None
            self._ack(upload.peer, mavlink.MAV_MISSION_OPERATION_CANCELLED, upload.mission_type, now)
            self._v.status(mavlink.MAV_SEVERITY_WARNING, 'Mission upload timed out', now)
        elif now - upload.last_request > MISSION_RETRY_S:
            self._request_item(upload, now)

    # ---------------------------------------------------------------- download

    def on_request_list(self, msg: Any, src: tuple[int, int], now: float) -> None:
        mission_type = _mission_type(msg)
        if mission_type not in SUPPORTED_MISSION_TYPES:
            self._ack(src, mavlink.MAV_MISSION_UNSUPPORTED, mission_type, now)
            return
        count = len(self._download_list(mission_type))
        self._v.send(mavlink.MAVLink_mission_count_message(src[0], src[1], count, mission_type), now)

    def _download_list(self, mission_type: int) -> list[MissionItem]:
        """What a download sees: the fence items, or the mission with home in slot 0."""
        if mission_type == mavlink.MAV_MISSION_TYPE_FENCE:
            return self._v.fence_items
        home_item = self._home_item()
        return [home_item] + self._v.mission[1:] if self._v.mission else [home_item]

    def _home_item(self) -> MissionItem:
        v = self._v
        if v.home is None:
            return MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT)
        lat, lon, alt = enu_to_geodetic(v.origin, v.home)
        return MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT,
                           x=round(lat * DEG_E7), y=round(lon * DEG_E7), z=alt)

    def on_request(self, msg: Any, src: tuple[int, int], now: float) -> None:
        v = self._v
        mission_type = _mission_type(msg)
        if mission_type not in SUPPORTED_MISSION_TYPES:
            self._ack(src, mavlink.MAV_MISSION_UNSUPPORTED, mission_type, now)
            return
        items = self._download_list(mission_type)
        seq = int(msg.seq)
        if not 0 <= seq < len(items):
            self._ack(src, mavlink.MAV_MISSION_INVALID_SEQUENCE, mission_type, now)
            return
        item = items[seq]
        current = int(mission_type == mavlink.MAV_MISSION_TYPE_MISSION and seq == v.mission_index)
        reply: MavMessage
        if msg.get_type() == 'MISSION_REQUEST':
            reply = mavlink.MAVLink_mission_item_message(
                src[0], src[1], seq, item.frame, item.command, current, item.autocontinue,
                item.param1, item.param2, item.param3, item.param4, item.lat, item.lon, item.z, mission_type)
        else:
            reply = mavlink.MAVLink_mission_item_int_message(
                src[0], src[1], seq, item.frame, item.command, current, item.autocontinue,
                item.param1, item.param2, item.param3, item.param4, item.x, item.y, item.z, mission_type)
        v.send(reply, now)

    def on_ack(self, msg: Any, src: tuple[int, int], now: float) -> None:
        """The GCS closes a download; nothing to keep."""

    # ---------------------------------------------------------------- clear, set current

    def on_clear_all(self, msg: Any, src: tuple[int, int], now: float) -> None:
        v = self._v
        mission_type = _mission_type(msg)
        if mission_type == mavlink.MAV_MISSION_TYPE_ALL:
            types: tuple[int, ...] = SUPPORTED_MISSION_TYPES
        elif mission_type in SUPPORTED_MISSION_TYPES:
            types = (mission_type,)
        else:
            self._ack(src, mavlink.MAV_MISSION_UNSUPPORTED, mission_type, now)
            return
        if mavlink.MAV_MISSION_TYPE_MISSION in types and v.in_auto() and v.armed:
            self._ack(src, mavlink.MAV_MISSION_DENIED, mission_type, now)
            v.status(mavlink.MAV_SEVERITY_WARNING, 'Mission clear refused: running in AUTO', now)
            return
        if mavlink.MAV_MISSION_TYPE_FENCE in types:
            v.fence_items = []
            v.fence = None
            v.fence_enabled = False
            v.fence_breached = False
        if mavlink.MAV_MISSION_TYPE_MISSION in types:
            v.mission = []
            v.mission_state = mavlink.MISSION_STATE_NO_MISSION
            v.mission_index = 1
            v.nav = None
        self._ack(src, mavlink.MAV_MISSION_ACCEPTED, mission_type, now)
        if mavlink.MAV_MISSION_TYPE_MISSION in types:
            v.send(telemetry.mission_current(v, now), now)

    def on_set_current(self, msg: Any, src: tuple[int, int], now: float) -> None:
        v = self._v
        if not v.set_mission_current(int(msg.seq), now):
            v.status(mavlink.MAV_SEVERITY_WARNING, f'Mission: no item {int(msg.seq)}', now)
            v.send(telemetry.mission_current(v, now), now)
