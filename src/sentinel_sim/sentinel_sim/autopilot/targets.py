"""Guided targets: checking where a GCS asks the vehicle to go, and SET_POSITION_TARGET_*.

Why a module of its own: a target is the riskiest input a GCS sends (it moves
the vehicle), arriving both in commands (TAKEOFF, DO_REPOSITION) and in the
high-rate SET_POSITION_TARGET messages. One set of checks (range from the site,
altitude above home, inside the fence, sane speed) applies to all of them here.
"""

from __future__ import annotations

import math
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.config import MAX_COMMAND_SPEED_M_S
from sentinel_sim.autopilot.geometry import geodetic_to_enu, ned_yaw_to_enu, valid_lat_lon
from sentinel_sim.autopilot.mission import GLOBAL_FRAMES, LOCATION_FRAMES, MIN_TARGET_ALTITUDE_M, RELATIVE_FRAMES
from sentinel_sim.autopilot.modes import Behaviour
from sentinel_sim.autopilot.navigation import Guided, GuidedKind
from sentinel_sim.autopilot.vehicle import Reject, Vehicle
from sentinel_sim.autopilot.wire import DEG_E7, finite
from sentinel_sim.vehicle_types import Vector3

GUIDED_VELOCITY_TIMEOUT_S = 3.0     # GUID_TIMEOUT: a velocity target not refreshed for this long stops
LOCAL_FRAMES = (mavlink.MAV_FRAME_LOCAL_NED, mavlink.MAV_FRAME_LOCAL_OFFSET_NED,
                mavlink.MAV_FRAME_BODY_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED)  # SET_POSITION_TARGET_LOCAL_NED
BODY_FRAMES = (mavlink.MAV_FRAME_BODY_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED)  # rotated by the heading
_POSITION_BITS = (mavlink.POSITION_TARGET_TYPEMASK_X_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_Y_IGNORE
                  | mavlink.POSITION_TARGET_TYPEMASK_Z_IGNORE)   # type_mask: any set -> not a position target
_VELOCITY_BITS = (mavlink.POSITION_TARGET_TYPEMASK_VX_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_VY_IGNORE
                  | mavlink.POSITION_TARGET_TYPEMASK_VZ_IGNORE)  # type_mask: any set -> not a velocity target


# ---------------------------------------------------------------- checks shared with commands

def relative_alt(v: Vehicle, alt: float, frame: int) -> float:
    """An altitude in a global frame -> metres above home."""
    if not finite(alt):
        raise Reject(mavlink.MAV_RESULT_DENIED, 'Altitude is not a number')
    if frame in GLOBAL_FRAMES:
        home_amsl = v.origin[2] + (v.home.z if v.home is not None else 0.0)
        return alt - home_amsl
    if frame in RELATIVE_FRAMES:
        return alt
    raise Reject(mavlink.MAV_RESULT_DENIED, f'Unsupported frame {frame}')


def check_altitude(v: Vehicle, rel_alt: float, what: str) -> None:
    """Refuse heights above max_altitude_m or too low to fly at."""
    if rel_alt > v.config.max_altitude_m:
        raise Reject(mavlink.MAV_RESULT_DENIED, f'{what}: altitude above {v.config.max_altitude_m:g} m')
    if rel_alt < MIN_TARGET_ALTITUDE_M:
        raise Reject(mavlink.MAV_RESULT_DENIED, f'{what}: altitude below {MIN_TARGET_ALTITUDE_M:g} m')


def from_location(v: Vehicle, lat: float, lon: float, alt: float, frame: int, what: str) -> Vector3:
    """Validate a lat/lon/alt target and turn it into site ENU (ground vehicles keep their z)."""
    if not valid_lat_lon(lat, lon):
        raise Reject(mavlink.MAV_RESULT_DENIED, f'{what}: invalid latitude/longitude')
    if v.home is None or v.body is None:
        raise Reject(mavlink.MAV_RESULT_FAILED, f'{what}: no position yet')
    if v.drone:
        rel = relative_alt(v, alt, frame)
        check_altitude(v, rel, what)
        z = v.home.z + rel
    else:
        if frame not in LOCATION_FRAMES:
            raise Reject(mavlink.MAV_RESULT_DENIED, f'{what}: unsupported frame {frame}')
        z = v.body.position.z
    p = geodetic_to_enu(v.origin, lat, lon, v.origin[2])
    if math.hypot(p.x, p.y) > v.config.max_range_m:
        raise Reject(mavlink.MAV_RESULT_DENIED, f'{what}: target beyond {v.config.max_range_m:g} m')
    target = Vector3(p.x, p.y, z)
    check_fence(v, target, what)
    return target


def check_fence(v: Vehicle, target: Vector3, what: str) -> None:
    """As ArduPilot's GUIDED: a destination outside an enabled fence is refused."""
    if v.fence_enabled and v.fence is not None and v.fence.breach(target.x, target.y) is not None:
        raise Reject(mavlink.MAV_RESULT_DENIED, f'{what}: target outside fence')


def optional_speed(speed: float, what: str) -> float | None:
    """A per-target speed; NaN, -1 and 0 mean "unchanged" (None)."""
    if math.isnan(speed) or speed == -1.0 or speed == 0.0:
        return None
    if not (finite(speed) and 0.0 < speed <= MAX_COMMAND_SPEED_M_S):
        raise Reject(mavlink.MAV_RESULT_DENIED, f'{what}: speed out of range')
    return float(speed)


# ---------------------------------------------------------------- SET_POSITION_TARGET_*

def _accepting(v: Vehicle, now: float) -> bool:
    """Targets are taken only armed in GUIDED, and by a drone only once airborne (warned, throttled)."""
    if v.behaviour is not Behaviour.GUIDED or not v.armed:
        if v.throttle.allow('target-mode', now):
            v.status(mavlink.MAV_SEVERITY_WARNING, 'Target ignored: not armed in GUIDED', now)
        return False
    if v.drone and v.body is not None and v.body.on_ground:
        if v.throttle.allow('target-ground', now):
            v.status(mavlink.MAV_SEVERITY_WARNING, 'Target ignored: take off first', now)
        return False
    return True


def _reject(v: Vehicle, reason: str, now: float) -> None:
    """These messages have no ACK: a refusal is a (throttled) STATUSTEXT."""
    if v.throttle.allow('target:' + reason, now):
        v.status(mavlink.MAV_SEVERITY_WARNING, f'Target rejected: {reason}', now)


def on_position_target_global(v: Vehicle, msg: Any, src: tuple[int, int], now: float) -> None:
    mask = int(msg.type_mask)
    use_pos, use_vel = _mask_use(mask)
    if not (use_pos or use_vel):
        _reject(v, 'unsupported type_mask', now)
        return
    if not _accepting(v, now):
        return
    try:
        yaw = _mask_yaw(mask, msg.yaw)
        if use_pos:
            target = from_location(v, msg.lat_int / DEG_E7, msg.lon_int / DEG_E7, msg.alt,
                                   int(msg.coordinate_frame), 'Target')
            v.guided = Guided(GuidedKind.POSITION, target, yaw=yaw)
        else:
            vel = _velocity_ned(v, msg.vx, msg.vy, msg.vz)
            _set_velocity(v, vel, yaw, now)
    except Reject as reject:
        _reject(v, reject.reason, now)


def on_position_target_local(v: Vehicle, msg: Any, src: tuple[int, int], now: float) -> None:
    mask = int(msg.type_mask)
    use_pos, use_vel = _mask_use(mask)
    frame = int(msg.coordinate_frame)
    if frame not in LOCAL_FRAMES:
        _reject(v, f'unsupported frame {frame}', now)
        return
    if not (use_pos or use_vel):
        _reject(v, 'unsupported type_mask', now)
        return
    if not _accepting(v, now):
        return
    assert v.body is not None and v.ekf_origin is not None
    try:
        yaw = _mask_yaw(mask, msg.yaw)
        body_frame = frame in BODY_FRAMES
        if use_pos:
            north, east, down = msg.x, msg.y, msg.z
            if not all(finite(c) for c in (north, east, down)):
                raise Reject(mavlink.MAV_RESULT_DENIED, 'position is not a number')
            if body_frame:
                north, east = _body_to_ned(v, north, east)
            base = v.ekf_origin if frame == mavlink.MAV_FRAME_LOCAL_NED else v.body.position
            target = Vector3(base.x + east, base.y + north, base.z - down)
            _check_local_target(v, target)
            v.guided = Guided(GuidedKind.POSITION, target, yaw=yaw)
        else:
            vx, vy = msg.vx, msg.vy
            if body_frame and finite(vx) and finite(vy):
                vx, vy = _body_to_ned(v, vx, vy)
            _set_velocity(v, _velocity_ned(v, vx, vy, msg.vz), yaw, now)
    except Reject as reject:
        _reject(v, reject.reason, now)


def _check_local_target(v: Vehicle, target: Vector3) -> None:
    if math.hypot(target.x, target.y) > v.config.max_range_m:
        raise Reject(mavlink.MAV_RESULT_DENIED, 'beyond range limit')
    check_fence(v, target, 'Target')
    if v.drone:
        assert v.home is not None
        check_altitude(v, target.z - v.home.z, 'Target')


def _body_to_ned(v: Vehicle, forward: float, right: float) -> tuple[float, float]:
    """Rotate a body-frame (forward, right) pair by the heading into (north, east)."""
    assert v.body is not None
    heading = math.pi / 2.0 - v.body.yaw  # NED yaw
    north = forward * math.cos(heading) - right * math.sin(heading)
    east = forward * math.sin(heading) + right * math.cos(heading)
    return north, east


def _mask_use(mask: int) -> tuple[bool, bool]:
    """(is a position target, is a velocity target) from a type_mask."""
    return not mask & _POSITION_BITS, not mask & _VELOCITY_BITS


def _mask_yaw(mask: int, yaw_ned: float) -> float | None:
    """The ENU yaw a target asks for, None when the mask ignores yaw."""
    if mask & mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE:
        return None
    if not finite(yaw_ned):
        raise Reject(mavlink.MAV_RESULT_DENIED, 'yaw is not a number')
    return ned_yaw_to_enu(yaw_ned)


def _velocity_ned(v: Vehicle, vn: float, ve: float, vd: float) -> Vector3:
    """A NED velocity request -> ENU (ground vehicles ignore the vertical), refusing nonsense."""
    if not all(finite(c) for c in (vn, ve, vd)):
        raise Reject(mavlink.MAV_RESULT_DENIED, 'velocity is not a number')
    vel = Vector3(float(ve), float(vn), 0.0 if not v.drone else -float(vd))
    if math.sqrt(vel.x ** 2 + vel.y ** 2 + vel.z ** 2) > MAX_COMMAND_SPEED_M_S:
        raise Reject(mavlink.MAV_RESULT_DENIED, 'velocity too high')
    return vel


def _set_velocity(v: Vehicle, vel: Vector3, yaw: float | None, now: float) -> None:
    v.guided = Guided(GuidedKind.VELOCITY, velocity=vel, yaw=yaw, expires=now + GUIDED_VELOCITY_TIMEOUT_S)
