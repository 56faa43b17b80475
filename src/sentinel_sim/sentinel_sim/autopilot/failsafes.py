"""Failsafes: what the vehicle does on its own when the GCS, battery, GPS or fence says stop.

Why a module of its own: Sentinel's design relies on vehicles failing safe by
themselves when the safety heartbeat stops, as ArduPilot does. These rules
(which condition fires once, which mode it picks, never stepping down from a
safer mode) are safety logic and are kept together so they can be read as one.
"""

from __future__ import annotations

from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.config import FailsafeAction, FenceAction
from sentinel_sim.autopilot.modes import BRAKE_MODE, failsafe_modes, mode_rank
from sentinel_sim.autopilot.vehicle import Vehicle
from sentinel_sim.vehicle_types import BodyState

GPS_FAILSAFE_DELAY_S = 1.0          # EKF failsafe: GPS lost this long in flight triggers LAND/HOLD


def on_heartbeat(v: Vehicle, msg: Any, src: tuple[int, int], now: float) -> None:
    """A GCS heartbeat (from SYSID_MYGCS when set) keeps the GCS failsafe away, or clears it.

    Any ground station counts: with several connected (Sentinel's vehicle
    interface, its safety watchdog, an operator's QGroundControl), the failsafe
    fires only once none of them has been heard for the timeout.
    """
    if msg.type != mavlink.MAV_TYPE_GCS:
        return
    if v.config.gcs_system_id is not None and src[0] != v.config.gcs_system_id:
        return
    v.gcs_last_heartbeat = now
    if v.gcs_failsafe:
        v.gcs_failsafe = False
        v.status(mavlink.MAV_SEVERITY_INFO, 'GCS Failsafe Cleared', now)


def check_vehicle_health(v: Vehicle, body: BodyState, now: float) -> None:
    """A crash disarms; a failed motor disarms once the vehicle is down (ground vehicles at once)."""
    if body.crashed and v.armed:
        v.status(mavlink.MAV_SEVERITY_EMERGENCY, 'Crash: Disarming', now)
        v.disarm('crash', now)
    if v.motor_failed and v.armed and (not v.drone or body.on_ground):
        v.disarm('motor failure', now)


def check(v: Vehicle, body: BodyState, now: float) -> None:
    """Run every failsafe check for this step (each fires once until its condition clears)."""
    c = v.config
    if v.gcs_last_heartbeat is not None and not v.gcs_failsafe and now - v.gcs_last_heartbeat > c.gcs_timeout_s:
        v.gcs_failsafe = True
        _trigger(v, c.gcs_failsafe_action, 'GCS heartbeat lost', now)
    remaining = v.battery.remaining_pct
    if remaining <= c.battery_critical_pct and not v.battery_critical_fired:
        v.battery_critical_fired = v.battery_low_fired = True
        _trigger(v, c.battery_critical_action, f'Battery critical {remaining:.0f}%', now)
    elif remaining <= c.battery_low_pct and not v.battery_low_fired:
        v.battery_low_fired = True
        _trigger(v, c.battery_low_action, f'Battery low {remaining:.0f}%', now)
    _check_gps(v, body, now)
    _check_fence(v, body, now)


def _trigger(v: Vehicle, action: FailsafeAction, why: str, now: float) -> None:
    """Announce a failsafe and change mode as ArduPilot would."""
    v.status(mavlink.MAV_SEVERITY_CRITICAL, f'Failsafe: {why}', now)
    if not v.armed or action is FailsafeAction.NONE:
        return
    if v.drone and v.body is not None and v.body.on_ground and not v.taking_off():
        v.disarm(f'{why} failsafe on ground', now)
        return
    modes = failsafe_modes(v.kind, action)
    current = mode_rank(v.kind, v.mode)
    if not modes or (current > 0 and current >= mode_rank(v.kind, modes[0])):
        return  # already doing something at least as safe
    _try_modes(v, modes, now)


def _try_modes(v: Vehicle, modes: list[int], now: float) -> None:
    """Switch to the first of the modes that will engage."""
    for mode in modes:
        if v.set_mode(mode, now) is None:
            return


def _check_gps(v: Vehicle, body: BodyState, now: float) -> None:
    if v.gps.has_fix:
        v.gps_lost_since = None
        v.gps_failsafe = False
        return
    if v.gps_lost_since is None:
        v.gps_lost_since = now
    if v.gps_failsafe or not v.armed or not v.spec.needs_position or (v.drone and body.on_ground):
        return
    if now - v.gps_lost_since >= GPS_FAILSAFE_DELAY_S:
        v.gps_failsafe = True
        _trigger(v, FailsafeAction.LAND, 'GPS lost', now)


def _check_fence(v: Vehicle, body: BodyState, now: float) -> None:
    braking = BRAKE_MODE[v.kind]
    if v.brake_until is not None and now >= v.brake_until:
        v.brake_until = None
        if v.mode == braking and v.armed:
            v.status(mavlink.MAV_SEVERITY_CRITICAL, 'Fence: braked, returning', now)
            _try_modes(v, failsafe_modes(v.kind, FailsafeAction.RTL), now)
    if not (v.fence_enabled and v.fence is not None and v.armed):
        return
    reason = v.fence.breach(body.position.x, body.position.y)
    if reason is None:
        v.fence_breached = False
        return
    if v.fence_breached:
        return
    v.fence_breached = True
    action = v.config.fence_action
    if action is FenceAction.REPORT:
        v.status(mavlink.MAV_SEVERITY_CRITICAL, f'Fence breach: {reason}', now)
    elif action is FenceAction.RTL:
        _trigger(v, FailsafeAction.RTL, f'Fence {reason}', now)
    else:
        v.status(mavlink.MAV_SEVERITY_CRITICAL, f'Failsafe: Fence {reason}', now)
        if mode_rank(v.kind, v.mode) == 0 and not (v.drone and body.on_ground):
            if v.set_mode(braking, now) is None:
                v.brake_until = now + v.config.fence_brake_s
