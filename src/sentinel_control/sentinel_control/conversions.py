"""Messages <-> domain objects for the control nodes (the only place that knows both).

Command results travel as ``diagnostic_msgs/DiagnosticArray`` on
``/vehicles/command_results``: sentinel_msgs has no result message, and a
DiagnosticStatus already carries what a result is (a level, a name, a
human-readable message and key/value details) in a type every ROS tool
displays. Mapping (see docs/control.md):

    name         command_id           hardware_id  vehicle_id
    level        OK accepted, WARN cancelled, ERROR rejected, STALE timed out
    message      the reason
    values       outcome, command, task_id, mav_result, elapsed (s)
"""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from sentinel_msgs.msg import VehicleCommand, VehicleState

from sentinel_control.commands import Command, CommandKind, CommandResult, Outcome
from sentinel_control.telemetry import GpsFix, LinkState, VehicleStateData, VehicleType

SITE_FRAME = 'site'   # frame_id of everything in site ENU coordinates

# outcome -> DiagnosticStatus level
_LEVELS = {
    Outcome.ACCEPTED: DiagnosticStatus.OK, Outcome.CANCELLED: DiagnosticStatus.WARN,
    Outcome.REJECTED: DiagnosticStatus.ERROR, Outcome.TIMED_OUT: DiagnosticStatus.STALE,
}


def _point(xyz: tuple[float, float, float]) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def _xyz(point: Point) -> tuple[float, float, float]:
    return (float(point.x), float(point.y), float(point.z))


def state_to_msg(state: VehicleStateData, stamp: Time) -> VehicleState:
    msg = VehicleState()
    msg.header.stamp = stamp
    msg.header.frame_id = SITE_FRAME
    msg.vehicle_id = state.vehicle_id
    msg.vehicle_type = int(state.vehicle_type)
    msg.armed = state.armed
    msg.mode = state.mode
    msg.autopilot = state.autopilot
    msg.position = _point(state.position)
    msg.geo_position.latitude_deg = float(state.geo_position[0])
    msg.geo_position.longitude_deg = float(state.geo_position[1])
    msg.geo_position.altitude = float(state.geo_position[2])
    msg.velocity.x, msg.velocity.y, msg.velocity.z = (float(v) for v in state.velocity)
    q = state.orientation
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = (float(v) for v in q)
    msg.heading_deg = float(state.heading_deg)
    msg.battery_voltage = float(state.battery_voltage)
    msg.battery_remaining = float(state.battery_remaining)
    msg.link_state = int(state.link_state)
    msg.link_quality = float(state.link_quality)
    msg.gps_fix = int(state.gps_fix)
    msg.gps_satellites = max(0, min(255, int(state.gps_satellites)))
    msg.gps_hdop = float(state.gps_hdop)
    msg.landed = state.landed
    msg.current_task_id = state.current_task_id
    return msg


def state_from_msg(msg: VehicleState) -> VehicleStateData:
    """For subscribers (mission control); unknown enum values fall back to the safest reading."""
    link = LinkState(msg.link_state) if msg.link_state in LinkState._value2member_map_ else LinkState.LOST
    fix = GpsFix(msg.gps_fix) if msg.gps_fix in GpsFix._value2member_map_ else GpsFix.NO_FIX
    kind = VehicleType(msg.vehicle_type) if msg.vehicle_type in VehicleType._value2member_map_ \
        else VehicleType.DRONE
    o = msg.orientation
    return VehicleStateData(
        vehicle_id=msg.vehicle_id, vehicle_type=kind, armed=msg.armed, mode=msg.mode,
        autopilot=msg.autopilot, position=_xyz(msg.position),
        geo_position=(msg.geo_position.latitude_deg, msg.geo_position.longitude_deg,
                      msg.geo_position.altitude),
        velocity=(msg.velocity.x, msg.velocity.y, msg.velocity.z), orientation=(o.x, o.y, o.z, o.w),
        heading_deg=msg.heading_deg, battery_voltage=msg.battery_voltage,
        battery_remaining=msg.battery_remaining, link_state=link, link_quality=msg.link_quality,
        gps_fix=fix, gps_satellites=msg.gps_satellites, gps_hdop=msg.gps_hdop, landed=msg.landed,
        current_task_id=msg.current_task_id, heard=link is not LinkState.LOST)


class CommandFormatError(ValueError):
    """A VehicleCommand message that is not a command we know."""


def command_from_msg(msg: VehicleCommand) -> Command:
    """Domain command; a GOTO's first route point becomes its look-at point (docs/control.md)."""
    if msg.command not in CommandKind._value2member_map_:
        raise CommandFormatError(f'unknown command {msg.command}')
    kind = CommandKind(msg.command)
    route = tuple(_xyz(p) for p in msg.route)
    look_at = None
    if kind is CommandKind.GOTO and route:
        look_at, route = route[0], ()
    return Command(command_id=msg.command_id, vehicle_id=msg.vehicle_id, kind=kind, target=_xyz(msg.target),
                   route=route, speed_limit=float(msg.speed_limit), task_id=msg.task_id,
                   issued_by=msg.issued_by, look_at=look_at)


def command_to_msg(command: Command, stamp: Time) -> VehicleCommand:
    """The proposal mission control sends to the safety gate (verdict left empty for the gate)."""
    msg = VehicleCommand()
    msg.header.stamp = stamp
    msg.header.frame_id = SITE_FRAME
    msg.command_id = command.command_id
    msg.vehicle_id = command.vehicle_id
    msg.command = int(command.kind)
    msg.target = _point(command.target)
    route = list(command.route)
    if command.kind is CommandKind.GOTO and command.look_at is not None:
        route = [command.look_at]
    msg.route = [_point(p) for p in route]
    msg.speed_limit = float(command.speed_limit)
    msg.task_id = command.task_id
    msg.issued_by = command.issued_by
    return msg


def result_to_status(result: CommandResult) -> DiagnosticStatus:
    status = DiagnosticStatus()
    status.level = _LEVELS[result.outcome]
    status.name = result.command_id
    status.hardware_id = result.vehicle_id
    status.message = result.reason or result.outcome.value
    status.values = [
        KeyValue(key='outcome', value=result.outcome.value),
        KeyValue(key='command', value=result.kind.name),
        KeyValue(key='task_id', value=result.task_id),
        KeyValue(key='mav_result', value=result.mav_result),
        KeyValue(key='elapsed', value=f'{result.elapsed:.3f}'),
    ]
    return status


def result_from_status(status: DiagnosticStatus) -> CommandResult | None:
    """None for a status that is not a command result (missing or unknown fields)."""
    values = {kv.key: kv.value for kv in status.values}
    try:
        outcome = Outcome(values['outcome'])
        kind = CommandKind[values['command']]
        elapsed = float(values.get('elapsed', 'nan'))
    except (KeyError, ValueError):
        return None
    return CommandResult(status.name, status.hardware_id, values.get('task_id', ''), kind, outcome,
                         values.get('mav_result', ''), status.message,
                         elapsed if math.isfinite(elapsed) else 0.0)
