"""Approved commands -> the MAVLink steps that carry them out, per autopilot and frame.

Why plans of steps: one Sentinel command is often several MAVLink exchanges
(a landed drone told to go somewhere must be put in GUIDED, armed, take off,
climb, and only then receive its position target), and each exchange needs
its own acknowledgement, retry and timeout. This module decides *what* to
send, from the command and the vehicle's state when it starts; the command
tracker decides *when*, and what the answers mean.

Standard MAVLink only: COMMAND_LONG / COMMAND_INT (acknowledged),
SET_POSITION_TARGET_GLOBAL_INT (ArduPilot GUIDED targets, unacknowledged by
the protocol), the mission upload protocol and MAV_CMD_MISSION_START. Modes
come from ``modes`` by the heartbeat's autopilot and frame. PX4 flies GOTO
through MAV_CMD_DO_REPOSITION (acknowledged) because its OFFBOARD mode needs
a continuous setpoint stream.

Altitudes are sent relative to what the vehicle reports now (target z minus
current site z, added to its current relative or MSL altitude), so the
vehicle's own altitude reference is used and a geoid or home-height offset
cannot shift the target.

Pure logic: builds pymavlink message objects, sends nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control import modes
from sentinel_control.commands import Command, CommandKind
from sentinel_control.telemetry import Origin, VehicleStateData
from sentinel_sim import geo

DEG_E7 = 1e7                    # MAVLink degE7 integer latitude/longitude per degree
MIN_DRONE_ALTITUDE = 2.0        # m above home: lower GOTO/route targets are refused (ground effect, obstacles)
TAKEOFF_TOLERANCE = 1.0         # m: a takeoff counts as done this close below its altitude
FORCE_DISARM = 0.0              # COMPONENT_ARM_DISARM param2: 0 = normal checks (never forced from here)
SPEED_TYPE_GROUND = 1.0         # DO_CHANGE_SPEED param1: ground speed
THROTTLE_UNCHANGED = -1.0       # DO_CHANGE_SPEED param3: leave throttle alone
REPOSITION_DEFAULT_SPEED = -1.0  # DO_REPOSITION param1: vehicle default speed
NAN = float('nan')              # "unchanged / use current" in COMMAND_LONG/INT float params
YAW_UNCHANGED = NAN             # yaw param meaning "keep heading"
# SET_POSITION_TARGET type_mask: use position only (ignore velocity, acceleration, yaw rate).
POSITION_ONLY = (mavlink.POSITION_TARGET_TYPEMASK_VX_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_VY_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_VZ_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_AX_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_AY_IGNORE | mavlink.POSITION_TARGET_TYPEMASK_AZ_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE)
LOOK_AT_MIN_DISTANCE = 0.5      # m: a look-at point closer than this to the target gives no heading


class MappingError(ValueError):
    """The command cannot be carried out on this vehicle now; the message says why."""


@dataclass(frozen=True)
class VehicleView:
    """What mapping needs to know about the vehicle when a command starts."""

    system_id: int
    component_id: int
    autopilot: modes.Autopilot
    frame: modes.Frame
    base_mode: int
    custom_mode: int
    state: VehicleStateData
    origin: Origin

    def in_mode(self, intent: modes.Intent) -> bool:
        return modes.in_mode(self.autopilot, self.frame, self.base_mode, self.custom_mode, intent)


@dataclass(frozen=True)
class AckedCommand:
    """COMMAND_LONG or COMMAND_INT; done when its COMMAND_ACK says ACCEPTED."""

    message: Any
    command: int
    label: str


@dataclass(frozen=True)
class FireAndForget:
    """A message the protocol does not acknowledge (a GUIDED position target)."""

    message: Any
    label: str


@dataclass(frozen=True)
class MissionUpload:
    """MISSION_COUNT, then each MISSION_ITEM_INT the vehicle requests, until MISSION_ACK."""

    count: Any
    items: tuple[Any, ...]
    label: str


@dataclass(frozen=True)
class WaitUntil:
    """Wait for the vehicle's state to satisfy a condition (e.g. takeoff altitude reached)."""

    predicate: Callable[[VehicleStateData], bool]
    timeout: float
    label: str


Step = AckedCommand | FireAndForget | MissionUpload | WaitUntil


@dataclass(frozen=True)
class Plan:
    """The steps of one command, in order; an empty plan is accepted at once."""

    steps: tuple[Step, ...]
    note: str = ''   # why a plan is empty (e.g. "already landed")


@dataclass(frozen=True)
class MappingSettings:
    """Tunables of command mapping (seconds)."""

    takeoff_timeout: float = 45.0   # from takeoff ACK to reaching the takeoff altitude


# ------------------------------------------------------------------ message builders

def _command_long(view: VehicleView, command: int, *params: float) -> Any:
    values = (list(params) + [0.0] * 7)[:7]
    return mavlink.MAVLink_command_long_message(view.system_id, view.component_id, command, 0, *values)


def _command_int(view: VehicleView, command: int, frame: int, params: tuple[float, float, float, float],
                 lat_lon: tuple[float, float], z: float) -> Any:
    return mavlink.MAVLink_command_int_message(
        view.system_id, view.component_id, frame, command, 0, 0, *params,
        round(lat_lon[0] * DEG_E7), round(lat_lon[1] * DEG_E7), z)


def _acked_long(view: VehicleView, command: int, label: str, *params: float) -> AckedCommand:
    return AckedCommand(_command_long(view, command, *params), command, label)


def _set_mode(view: VehicleView, intent: modes.Intent) -> AckedCommand:
    try:
        request = modes.mode_for(view.autopilot, view.frame, intent)
    except modes.UnsupportedMode as error:
        raise MappingError(str(error)) from None
    return _acked_long(view, mavlink.MAV_CMD_DO_SET_MODE, f'set mode {request.name}',
                       request.base_mode, request.custom_mode, request.custom_sub_mode)


def _arm(view: VehicleView) -> AckedCommand:
    return _acked_long(view, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 'arm', 1.0, FORCE_DISARM)


# ------------------------------------------------------------------ geometry helpers

def _lat_lon(view: VehicleView, x: float, y: float) -> tuple[float, float]:
    o = view.origin
    lat, lon, _ = geo.enu_to_wgs84(x, y, 0.0, o.latitude_deg, o.longitude_deg, o.altitude)
    return lat, lon


def _require_position(view: VehicleView) -> None:
    s = view.state
    if not s.known_position or not math.isfinite(s.relative_altitude) or not math.isfinite(s.altitude_msl):
        raise MappingError('no position from the vehicle yet (GLOBAL_POSITION_INT)')


def _relative_altitude(view: VehicleView, z: float) -> float:
    """Site z -> metres above the vehicle's home, through its current report."""
    return view.state.relative_altitude + (z - view.state.position[2])


def _msl_altitude(view: VehicleView, z: float) -> float:
    """Site z -> metres above mean sea level, through the vehicle's current report."""
    return view.state.altitude_msl + (z - view.state.position[2])


def _check_drone_altitude(rel: float, what: str) -> None:
    if rel < MIN_DRONE_ALTITUDE:
        raise MappingError(f'{what} is {rel:.1f} m above home, below the {MIN_DRONE_ALTITUDE:g} m '
                           'minimum for drones')


def _yaw_ned_towards(frm: tuple[float, float, float], to: tuple[float, float, float]) -> float | None:
    """NED yaw (rad, 0 north, clockwise) looking from one site point to another."""
    east, north = to[0] - frm[0], to[1] - frm[1]
    if math.hypot(east, north) < LOOK_AT_MIN_DISTANCE:
        return None
    return math.atan2(east, north)


def _is_drone(view: VehicleView) -> bool:
    return view.frame is modes.Frame.MULTIROTOR


def _check_supported(view: VehicleView) -> None:
    if view.autopilot is modes.Autopilot.UNKNOWN:
        raise MappingError('no heartbeat from the vehicle\'s autopilot yet, or an autopilot Sentinel '
                           'cannot command (neither ArduPilot nor PX4)')
    if view.frame is modes.Frame.OTHER:
        raise MappingError('the vehicle is neither a multirotor nor a ground vehicle')


# ------------------------------------------------------------------ launch (arm + takeoff)

def _launch_steps(view: VehicleView, rel_alt: float, settings: MappingSettings,
                  wait: bool) -> list[Step]:
    """Arm and take off a landed drone to ``rel_alt`` (m above home); optionally wait until up."""
    steps: list[Step] = []
    if view.autopilot is modes.Autopilot.ARDUPILOT:
        if not view.in_mode(modes.Intent.GUIDED):
            steps.append(_set_mode(view, modes.Intent.GUIDED))
        if not view.state.armed:
            steps.append(_arm(view))
        steps.append(_acked_long(view, mavlink.MAV_CMD_NAV_TAKEOFF, f'take off to {rel_alt:.1f} m',
                                 0.0, 0.0, 0.0, YAW_UNCHANGED, 0.0, 0.0, rel_alt))
    else:
        if not view.state.armed:
            steps.append(_arm(view))
        amsl = view.state.altitude_msl + (rel_alt - view.state.relative_altitude)
        steps.append(_acked_long(view, mavlink.MAV_CMD_NAV_TAKEOFF, f'take off to {rel_alt:.1f} m',
                                 0.0, 0.0, 0.0, YAW_UNCHANGED, NAN, NAN, amsl))
    if wait:
        threshold = rel_alt - TAKEOFF_TOLERANCE
        steps.append(WaitUntil(lambda s: s.relative_altitude >= threshold, settings.takeoff_timeout,
                               f'climb to {threshold:.1f} m'))
    return steps


def _speed_step(view: VehicleView, speed: float) -> list[Step]:
    if speed <= 0.0:
        return []
    return [_acked_long(view, mavlink.MAV_CMD_DO_CHANGE_SPEED, f'speed {speed:g} m/s',
                        SPEED_TYPE_GROUND, speed, THROTTLE_UNCHANGED)]


# ------------------------------------------------------------------ per command

def _goto(command: Command, view: VehicleView, settings: MappingSettings) -> Plan:
    _require_position(view)
    drone = _is_drone(view)
    x, y, z = command.target
    rel = _relative_altitude(view, z) if drone else 0.0
    if drone:
        _check_drone_altitude(rel, 'the target')
    steps: list[Step] = []
    if drone and view.state.landed:
        steps += _launch_steps(view, rel, settings, wait=True)
    lat, lon = _lat_lon(view, x, y)
    yaw = _yaw_ned_towards(command.target, command.look_at) if command.look_at is not None else None
    if view.autopilot is modes.Autopilot.ARDUPILOT:
        if not (drone and view.state.landed):
            if not view.in_mode(modes.Intent.GUIDED):
                steps.append(_set_mode(view, modes.Intent.GUIDED))
            if not view.state.armed:
                steps.append(_arm(view))
        steps += _speed_step(view, command.speed_limit)
        mask = POSITION_ONLY | (mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE if yaw is None else 0)
        target = mavlink.MAVLink_set_position_target_global_int_message(
            0, view.system_id, view.component_id, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, mask,
            round(lat * DEG_E7), round(lon * DEG_E7), rel, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
            yaw if yaw is not None else 0.0, 0.0)
        steps.append(FireAndForget(target, f'position target {x:.1f}, {y:.1f}, {z:.1f}'))
        return Plan(tuple(steps))
    if not view.state.armed and not (drone and view.state.landed):
        steps.append(_arm(view))
    steps += _speed_step(view, command.speed_limit)
    amsl = _msl_altitude(view, z) if drone else view.state.altitude_msl
    yaw_deg = math.degrees(yaw) if yaw is not None else YAW_UNCHANGED
    steps.append(AckedCommand(
        _command_int(view, mavlink.MAV_CMD_DO_REPOSITION, mavlink.MAV_FRAME_GLOBAL_INT,
                     (REPOSITION_DEFAULT_SPEED, float(mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE), 0.0,
                      yaw_deg), (lat, lon), amsl),
        mavlink.MAV_CMD_DO_REPOSITION, f'reposition to {x:.1f}, {y:.1f}, {z:.1f}'))
    return Plan(tuple(steps))


def _hold(command: Command, view: VehicleView) -> Plan:
    if _is_drone(view) and view.state.landed:
        return Plan((), 'landed: already holding')
    return Plan((_set_mode(view, modes.Intent.HOLD),))


def _rtl(command: Command, view: VehicleView) -> Plan:
    return Plan((_acked_long(view, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, 'return to launch'),))


def _land(command: Command, view: VehicleView) -> Plan:
    if not _is_drone(view):
        return Plan((_set_mode(view, modes.Intent.HOLD),), 'ground vehicle: LAND stops it')
    if view.state.landed:
        return Plan((), 'already landed')
    return Plan((_acked_long(view, mavlink.MAV_CMD_NAV_LAND, 'land', 0.0, 0.0, 0.0, YAW_UNCHANGED,
                             NAN, NAN, 0.0),))


def _takeoff(command: Command, view: VehicleView, settings: MappingSettings) -> Plan:
    if not _is_drone(view):
        raise MappingError('TAKEOFF: a ground vehicle cannot take off')
    _require_position(view)
    rel = command.target[2]   # VehicleCommand: take off to target.z above home
    _check_drone_altitude(rel, 'the takeoff altitude')
    if not view.state.landed:
        return Plan((), 'already flying')
    return Plan(tuple(_launch_steps(view, rel, settings, wait=False)))


def _arm_disarm(command: Command, view: VehicleView) -> Plan:
    if command.kind is CommandKind.ARM:
        return Plan((_arm(view),))
    return Plan((_acked_long(view, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 'disarm', 0.0, FORCE_DISARM),))


def _mission_item(view: VehicleView, seq: int, command: int, lat_lon: tuple[float, float],
                  z: float, param1: float = 0.0) -> Any:
    return mavlink.MAVLink_mission_item_int_message(
        view.system_id, view.component_id, seq, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, command,
        0, 1, param1, 0.0, 0.0, YAW_UNCHANGED, round(lat_lon[0] * DEG_E7), round(lat_lon[1] * DEG_E7),
        z, mavlink.MAV_MISSION_TYPE_MISSION)


def _follow_route(command: Command, view: VehicleView, settings: MappingSettings) -> Plan:
    """Upload the route as a mission, arm if needed, start it.

    ArduPilot keeps item 0 for home (it overwrites whatever is sent there);
    PX4 flies from item 0. A drone's mission starts with NAV_TAKEOFF to the
    first waypoint's altitude, which ArduPilot requires to start AUTO on the
    ground and which completes at once when already flying.
    """
    _require_position(view)
    drone = _is_drone(view)
    here = (view.state.geo_position[0], view.state.geo_position[1])
    items: list[tuple[int, tuple[float, float], float]] = []   # (MAV_CMD, lat/lon, z)
    if view.autopilot is modes.Autopilot.ARDUPILOT:
        items.append((mavlink.MAV_CMD_NAV_WAYPOINT, here, 0.0))   # home slot
    rel_points = []
    for index, (x, y, z) in enumerate(command.route):
        rel = _relative_altitude(view, z) if drone else 0.0
        if drone:
            _check_drone_altitude(rel, f'route point {index}')
        rel_points.append(((x, y), rel))
    if drone:
        items.append((mavlink.MAV_CMD_NAV_TAKEOFF, here, rel_points[0][1]))
    for (x, y), rel in rel_points:
        items.append((mavlink.MAV_CMD_NAV_WAYPOINT, _lat_lon(view, x, y), rel))
    messages = tuple(_mission_item(view, seq, cmd, lat_lon, z) for seq, (cmd, lat_lon, z) in enumerate(items))
    count = mavlink.MAVLink_mission_count_message(view.system_id, view.component_id, len(messages),
                                                  mavlink.MAV_MISSION_TYPE_MISSION)
    steps: list[Step] = [MissionUpload(count, messages, f'upload {len(command.route)} waypoints')]
    if not view.state.armed:
        if view.autopilot is modes.Autopilot.ARDUPILOT and not view.in_mode(modes.Intent.GUIDED):
            steps.append(_set_mode(view, modes.Intent.GUIDED))
        steps.append(_arm(view))
    steps += _speed_step(view, command.speed_limit)
    first = 1 if view.autopilot is modes.Autopilot.ARDUPILOT else 0
    steps.append(_acked_long(view, mavlink.MAV_CMD_MISSION_START, 'start mission', float(first),
                             float(len(messages) - 1)))
    return Plan(tuple(steps))


def _terminate(command: Command, view: VehicleView) -> Plan:
    return Plan((_acked_long(view, mavlink.MAV_CMD_DO_FLIGHTTERMINATION, 'flight termination', 1.0),))


def build_plan(command: Command, view: VehicleView, settings: MappingSettings = MappingSettings()) -> Plan:
    """The steps that carry out ``command`` on this vehicle; MappingError when it cannot."""
    reason = command.invalid_reason()
    if reason is not None:
        raise MappingError(reason)
    _check_supported(view)
    kind = command.kind
    if kind is CommandKind.GOTO:
        return _goto(command, view, settings)
    if kind is CommandKind.HOLD:
        return _hold(command, view)
    if kind is CommandKind.RTL:
        return _rtl(command, view)
    if kind is CommandKind.LAND:
        return _land(command, view)
    if kind is CommandKind.TAKEOFF:
        return _takeoff(command, view, settings)
    if kind in (CommandKind.ARM, CommandKind.DISARM):
        return _arm_disarm(command, view)
    if kind is CommandKind.FOLLOW_ROUTE:
        return _follow_route(command, view, settings)
    return _terminate(command, view)
