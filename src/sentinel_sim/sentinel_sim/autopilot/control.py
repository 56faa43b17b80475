"""Setpoints: what the current mode asks the physics to do this step.

Why a module of its own: this is the vehicle's navigation, the part that moves
it (hold, go to, land, the RTL stages, the AUTO mission items), and the part
that notices touchdown. It reads the mode and the navigation records, advances
them as the vehicle arrives, and returns one ``Setpoint`` for the physics.
"""

from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.geometry import bearing_enu, dist, geodetic_to_enu, hdist
from sentinel_sim.autopilot.mission import GLOBAL_FRAMES, MissionItem
from sentinel_sim.autopilot.modes import Behaviour
from sentinel_sim.autopilot.navigation import Guided, GuidedKind, Nav, NavStage, Rtl, RtlStage
from sentinel_sim.autopilot.vehicle import Vehicle
from sentinel_sim.vehicle_types import BodyState, Setpoint, SetpointMode, Vector3

LAND_DETECT_S = 1.0                 # on the ground this long while landing counts as touchdown
TAKEOFF_DONE_TOLERANCE_M = 0.5      # takeoff is complete this close below the target altitude
ALT_REACHED_TOLERANCE_M = 1.0       # RTL climb stage ends this close to the return altitude
LAND_ALIGN_RADIUS_M = 0.2           # descend for a landing only once this close above the landing point...
LAND_ALIGN_TIMEOUT_S = 10.0         # ...or after holding over it this long (the physics lands straight down)
LAND_ALT_LOW_M = 10.0               # LAND_ALT_LOW: below this descend at land speed, above at descent speed
WANTS_UP_MARGIN_M = 0.2             # a position target this far above the vehicle is a climb (no auto-disarm)


def hold(v: Vehicle, p: Vector3) -> Setpoint:
    """Keep still at p (a ground vehicle brakes to zero velocity where it is)."""
    if not v.drone:
        return Setpoint(SetpointMode.VELOCITY, position=p, velocity=Vector3(), max_speed=v.speed())
    return Setpoint(SetpointMode.POSITION, position=p, max_speed=v.speed())


def goto(v: Vehicle, here: Vector3, target: Vector3, speed: float | None = None,
         yaw: float | None = None) -> Setpoint:
    """Go to target facing it (or yaw); a ground vehicle keeps its own height."""
    if not v.drone:
        target = Vector3(target.x, target.y, here.z)
    return Setpoint(SetpointMode.POSITION, position=target, max_speed=v.speed(speed),
                    yaw=yaw if yaw is not None else bearing_enu(here, target))


def land(v: Vehicle, here: Vector3, xy: Vector3) -> Setpoint:
    """Descend over xy, fast high up and at land speed below LAND_ALT_LOW_M."""
    home_z = v.home.z if v.home is not None else 0.0
    rate = v.config.land_speed_m_s if here.z - home_z < LAND_ALT_LOW_M else v.config.descent_speed_m_s
    return Setpoint(SetpointMode.LAND, position=Vector3(xy.x, xy.y, here.z), max_speed=rate)


def arrived(v: Vehicle, here: Vector3, target: Vector3) -> bool:
    """Within the waypoint radius (in 3D for drones, on the ground plane for ground vehicles)."""
    distance = dist(here, target) if v.drone else hdist(here, target)
    return distance <= v.config.wp_radius_m


def setpoint(v: Vehicle, now: float, body: BodyState) -> Setpoint:
    """The setpoint of the current mode's behaviour."""
    here = body.position
    behaviour = v.behaviour
    if not v.armed:
        return Setpoint(SetpointMode.IDLE)
    if behaviour is Behaviour.MANUAL:
        return Setpoint(SetpointMode.VELOCITY, velocity=Vector3(), max_speed=v.speed())
    if behaviour is Behaviour.HOLD:
        if v.hold_position is None:
            v.hold_position = here
        return hold(v, v.hold_position)
    if behaviour is Behaviour.LAND:
        xy = v.land_xy if v.land_xy is not None else here
        return land(v, here, xy)
    if behaviour is Behaviour.GUIDED:
        return _guided(v, now, here)
    if behaviour is Behaviour.RTL:
        if v.rtl is None:
            v.rtl = v.new_rtl(here)
        return rtl(v, now, here, v.rtl)
    return _auto(v, now, body)


def _guided(v: Vehicle, now: float, here: Vector3) -> Setpoint:
    g = v.guided
    if g.kind is GuidedKind.TAKEOFF:
        if here.z >= g.position.z - TAKEOFF_DONE_TOLERANCE_M:
            v.guided = Guided(GuidedKind.HOLD, g.position)
        return Setpoint(SetpointMode.POSITION, position=g.position, max_speed=v.speed())
    if g.kind is GuidedKind.VELOCITY:
        if now > g.expires:
            v.guided = Guided(GuidedKind.HOLD, here)
            return hold(v, here)
        return Setpoint(SetpointMode.VELOCITY, position=here, velocity=g.velocity, yaw=g.yaw,
                        max_speed=v.speed())
    if g.kind is GuidedKind.POSITION:
        return goto(v, here, g.position, g.speed, g.yaw)
    return hold(v, g.position)


def rtl(v: Vehicle, now: float, here: Vector3, state: Rtl) -> Setpoint:
    """Climb, return, loiter, descend (drones); return and stop (ground vehicles)."""
    home = v.home if v.home is not None else here
    if state.stage is RtlStage.CLIMB:
        if here.z >= state.altitude - ALT_REACHED_TOLERANCE_M:
            state.stage = RtlStage.RETURN
        else:
            return Setpoint(SetpointMode.POSITION, position=Vector3(here.x, here.y, state.altitude),
                            max_speed=v.speed())
    if state.stage is RtlStage.RETURN:
        target = Vector3(home.x, home.y, state.altitude if v.drone else here.z)
        if hdist(here, target) > v.config.wp_radius_m:
            return goto(v, here, target)
        if not v.drone:
            state.stage = RtlStage.DONE
            v.status(mavlink.MAV_SEVERITY_INFO, 'Reached home', now)
        else:
            state.stage = RtlStage.LOITER
            state.loiter_until = now + v.config.rtl_loiter_s
    if state.stage is RtlStage.LOITER:
        aligned = hdist(here, home) <= LAND_ALIGN_RADIUS_M
        if now < state.loiter_until or (not aligned and now < state.loiter_until + LAND_ALIGN_TIMEOUT_S):
            return hold(v, Vector3(home.x, home.y, state.altitude))
        state.stage = RtlStage.DESCEND
    if state.stage is RtlStage.DESCEND:
        return land(v, here, home)
    return hold(v, Vector3(home.x, home.y, here.z))


def item_target(v: Vehicle, item: MissionItem, here: Vector3) -> Vector3:
    """Where a nav item goes; lat/lon 0 means here, altitude 0 means the current altitude."""
    home = v.home if v.home is not None else here
    if item.has_latlon:
        p = geodetic_to_enu(v.origin, item.lat, item.lon, v.origin[2])
        x, y = p.x, p.y
    else:
        x, y = here.x, here.y
    if not v.drone or item.z == 0.0:
        z = here.z
    elif item.frame in GLOBAL_FRAMES:
        z = item.z - v.origin[2]
    else:
        z = home.z + item.z
    return Vector3(x, y, z)


def _auto(v: Vehicle, now: float, body: BodyState) -> Setpoint:
    """Fly the current mission item; finished items hand over to the next within the same step."""
    here = body.position
    nav = v.nav
    if nav is None or v.mission_state != mavlink.MISSION_STATE_ACTIVE:
        held = v.hold_position if v.hold_position is not None else here
        if v.drone and body.on_ground:
            return Setpoint(SetpointMode.LAND, position=here, max_speed=v.config.land_speed_m_s)
        return hold(v, held)
    command = nav.item.command
    if nav.stage is NavStage.START:
        _start_item(v, nav, here)
    if command == mavlink.MAV_CMD_NAV_TAKEOFF:
        if here.z >= nav.target.z - TAKEOFF_DONE_TOLERANCE_M:
            v.item_reached(nav, now)
            return _auto(v, now, body)
        return Setpoint(SetpointMode.POSITION, position=nav.target, max_speed=v.speed())
    if command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
        assert nav.rtl is not None
        if nav.rtl.stage is RtlStage.DONE:
            v.item_reached(nav, now)
            return _auto(v, now, body)
        return rtl(v, now, here, nav.rtl)
    if command == mavlink.MAV_CMD_NAV_LAND:
        return _auto_land(v, now, here, nav)
    # waypoint and loiter-time: go there, wait param1 seconds, done
    if nav.stage is NavStage.MOVING:
        if arrived(v, here, nav.target):
            nav.stage = NavStage.WAITING
            nav.wait_until = now + max(0.0, nav.item.param1)
        else:
            return goto(v, here, nav.target)
    if now >= nav.wait_until:
        v.item_reached(nav, now)
        return _auto(v, now, body)
    return hold(v, nav.target)


def _start_item(v: Vehicle, nav: Nav, here: Vector3) -> None:
    """Fix a new item's target from where the vehicle is when it starts."""
    command = nav.item.command
    nav.stage = NavStage.MOVING
    nav.target = item_target(v, nav.item, here)
    if command == mavlink.MAV_CMD_NAV_TAKEOFF:
        nav.target = Vector3(here.x, here.y, max(nav.target.z, here.z))
    if command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
        nav.rtl = v.new_rtl(here)
    if command == mavlink.MAV_CMD_NAV_LAND and not nav.item.has_latlon:
        nav.stage = NavStage.LANDING
        nav.target = here


def _auto_land(v: Vehicle, now: float, here: Vector3, nav: Nav) -> Setpoint:
    """A mission LAND: fly over the point, align, then descend."""
    above = Vector3(nav.target.x, nav.target.y, here.z)
    if nav.stage is NavStage.MOVING:
        if hdist(here, above) > v.config.wp_radius_m:
            return goto(v, here, above)
        nav.stage = NavStage.WAITING
        nav.wait_until = now + LAND_ALIGN_TIMEOUT_S
    if nav.stage is NavStage.WAITING:
        if hdist(here, above) > LAND_ALIGN_RADIUS_M and now < nav.wait_until:
            return hold(v, above)
        nav.stage = NavStage.LANDING
    return land(v, here, nav.target)


def check_landing_and_disarm(v: Vehicle, now: float, body: BodyState, sp: Setpoint) -> Setpoint:
    """Touchdown while landing disarms; so does idling on the ground (DISARM_DELAY)."""
    if not (v.drone and v.armed):
        return sp
    if v.landing() or sp.mode is SetpointMode.LAND:
        if body.on_ground:
            if v.landed_since is None:
                v.landed_since = now
            if now - v.landed_since >= LAND_DETECT_S:
                _touchdown(v, now)
        else:
            v.landed_since = None
        return sp
    wants_up = (sp.mode is SetpointMode.POSITION and sp.position.z > body.position.z + WANTS_UP_MARGIN_M) or \
               (sp.mode is SetpointMode.VELOCITY and sp.velocity.z > 0.0)
    if body.on_ground and not wants_up and v.config.auto_disarm_s > 0:
        if v.idle_on_ground_since is None:
            v.idle_on_ground_since = now
        if now - v.idle_on_ground_since >= v.config.auto_disarm_s:
            v.disarm('auto disarm on ground', now)
            v.idle_on_ground_since = None
    else:
        v.idle_on_ground_since = None
    return sp


def _touchdown(v: Vehicle, now: float) -> None:
    """Landed: disarm, and close the mission LAND item or the RTL that was landing."""
    v.status(mavlink.MAV_SEVERITY_INFO, 'Land complete', now)
    nav = v.nav
    v.disarm('landed', now)
    if v.in_auto() and nav is not None:
        v.send(mavlink.MAVLink_mission_item_reached_message(nav.item.seq), now)
        v.mission_index = nav.item.seq + 1
        v.finish_mission(now)
    if v.rtl is not None:
        v.rtl.stage = RtlStage.DONE
