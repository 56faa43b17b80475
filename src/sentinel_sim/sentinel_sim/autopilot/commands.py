"""MAV_CMD handling: COMMAND_LONG, COMMAND_INT and legacy SET_MODE, each answered by one COMMAND_ACK.

Why a module of its own: commands are how Sentinel's vehicle interface and
safety node steer a vehicle, and the contract they rely on is strict: every
command gets exactly one ACK with ArduPilot's result code, a refusal also gets
a STATUSTEXT saying why, and nothing a GCS sends can raise out of here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import targets, telemetry
from sentinel_sim.autopilot.config import MAX_COMMAND_SPEED_M_S
from sentinel_sim.autopilot.geometry import geodetic_to_enu, ned_yaw_to_enu, valid_lat_lon
from sentinel_sim.autopilot.mission import GLOBAL_FRAMES
from sentinel_sim.autopilot.modes import MODES, Behaviour, CopterMode, mode_for
from sentinel_sim.autopilot.navigation import Guided, GuidedKind
from sentinel_sim.autopilot.streams import DEFAULT_RATES_HZ
from sentinel_sim.autopilot.vehicle import Reject, Vehicle
from sentinel_sim.autopilot.wire import DEG_E7, MICRO, UINT16_MAX, finite
from sentinel_sim.vehicle_types import Vector3

FORCE_DISARM_MAGIC = 21196.0        # COMPONENT_ARM_DISARM param2 that allows disarming in flight
TERMINATE_THRESHOLD = 0.5           # DO_FLIGHTTERMINATION param1 at or above this terminates
INTERVAL_OFF_US = -1.0              # SET_MESSAGE_INTERVAL: stop streaming; MESSAGE_INTERVAL: not streamed
INTERVAL_NOT_AVAILABLE_US = 0       # MESSAGE_INTERVAL.interval_us for a message this vehicle cannot stream


@dataclass(frozen=True)
class Command:
    """COMMAND_LONG and COMMAND_INT in one shape."""

    command: int
    params: tuple[float, float, float, float, float, float, float]
    frame: int | None          # COMMAND_INT's frame; None for COMMAND_LONG
    source: tuple[int, int]    # (system, component) to acknowledge

    @property
    def lat(self) -> float:
        return self.params[4] / DEG_E7 if self.frame is not None else self.params[4]

    @property
    def lon(self) -> float:
        return self.params[5] / DEG_E7 if self.frame is not None else self.params[5]

    @property
    def alt(self) -> float:
        return self.params[6]


class Commands:
    """Runs commands against a vehicle; remembers which unsupported ones it already reported."""

    def __init__(self, vehicle: Vehicle) -> None:
        self._v = vehicle
        self._warned: set[int] = set()
        self._handlers: dict[int, Callable[[Command, float], int]] = {
            mavlink.MAV_CMD_COMPONENT_ARM_DISARM: self._arm_disarm,
            mavlink.MAV_CMD_NAV_TAKEOFF: self._takeoff,
            mavlink.MAV_CMD_NAV_LAND: self._land,
            mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH: self._rtl,
            mavlink.MAV_CMD_DO_SET_MODE: self._set_mode,
            mavlink.MAV_CMD_DO_REPOSITION: self._reposition,
            mavlink.MAV_CMD_DO_CHANGE_SPEED: self._change_speed,
            mavlink.MAV_CMD_DO_SET_HOME: self._set_home,
            mavlink.MAV_CMD_DO_FLIGHTTERMINATION: self._terminate,
            mavlink.MAV_CMD_DO_FENCE_ENABLE: self._fence_enable,
            mavlink.MAV_CMD_SET_MESSAGE_INTERVAL: self._set_message_interval,
            mavlink.MAV_CMD_GET_MESSAGE_INTERVAL: self._get_message_interval,
            mavlink.MAV_CMD_REQUEST_MESSAGE: self._request_message,
            mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES: self._request_capabilities,
            mavlink.MAV_CMD_GET_HOME_POSITION: self._get_home,
            mavlink.MAV_CMD_MISSION_START: self._mission_start,
            mavlink.MAV_CMD_DO_SET_MISSION_CURRENT: self._set_mission_current,
        }

    # ---------------------------------------------------------------- messages

    def on_command_long(self, msg: Any, src: tuple[int, int], now: float) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
        self.run(Command(int(msg.command), params, None, src), now)

    def on_command_int(self, msg: Any, src: tuple[int, int], now: float) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4, float(msg.x), float(msg.y), msg.z)
        self.run(Command(int(msg.command), params, int(msg.frame), src), now)

    def on_set_mode(self, msg: Any, src: tuple[int, int], now: float) -> None:
        """Legacy SET_MODE message; ArduPilot answers it with a DO_SET_MODE COMMAND_ACK."""
        params = (float(msg.base_mode), float(msg.custom_mode), 0.0, 0.0, 0.0, 0.0, 0.0)
        self.run(Command(mavlink.MAV_CMD_DO_SET_MODE, params, None, src), now)

    def run(self, cmd: Command, now: float) -> None:
        """Execute one command and send exactly one COMMAND_ACK."""
        v = self._v
        handler = self._handlers.get(cmd.command)
        if handler is None:
            if cmd.command not in self._warned:
                self._warned.add(cmd.command)
                v.status(mavlink.MAV_SEVERITY_INFO, f'Unsupported command {cmd.command}', now)
            self._ack(cmd, mavlink.MAV_RESULT_UNSUPPORTED, now)
            return
        try:
            result = handler(cmd, now)
        except Reject as reject:
            v.status(mavlink.MAV_SEVERITY_WARNING, reject.reason, now)
            result = reject.result
        except Exception:  # a bug must still cost exactly one ack, and never the vehicle; logged in full
            v.log.exception('error executing command %d', cmd.command)
            result = mavlink.MAV_RESULT_FAILED
        self._ack(cmd, result, now)
        if result != mavlink.MAV_RESULT_ACCEPTED:
            return
        # replies that ArduPilot sends after the ACK
        if cmd.command == mavlink.MAV_CMD_REQUEST_MESSAGE:
            self._send_requested(int(cmd.params[0]), now)
        elif cmd.command == mavlink.MAV_CMD_GET_MESSAGE_INTERVAL:
            self._send_interval(int(cmd.params[0]), now)

    def _ack(self, cmd: Command, result: int, now: float) -> None:
        self._v.send(mavlink.MAVLink_command_ack_message(
            cmd.command, result, 0, 0, cmd.source[0], cmd.source[1]), now)

    # ---------------------------------------------------------------- arming and flight

    def _arm_disarm(self, cmd: Command, now: float) -> int:
        v = self._v
        want = cmd.params[0]
        if want not in (0.0, 1.0):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Arm: param1 must be 0 or 1')
        if want == 1.0:
            v.arm(now)
            return mavlink.MAV_RESULT_ACCEPTED
        if not v.armed:
            return mavlink.MAV_RESULT_ACCEPTED
        flying = v.body is not None and not v.body.on_ground
        if flying and cmd.params[1] != FORCE_DISARM_MAGIC:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Disarm: vehicle is flying')
        v.disarm('GCS command', now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _takeoff(self, cmd: Command, now: float) -> int:
        v = self._v
        if not v.drone:
            raise Reject(mavlink.MAV_RESULT_UNSUPPORTED, 'Takeoff: not a flying vehicle')
        frame = cmd.frame if cmd.frame is not None else mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
        alt = targets.relative_alt(v, cmd.alt, frame)
        targets.check_altitude(v, alt, 'Takeoff')
        if v.mode != CopterMode.GUIDED:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Takeoff: mode must be GUIDED')
        if not v.armed:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Takeoff: not armed')
        assert v.body is not None and v.home is not None
        if not v.body.on_ground:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Takeoff: already flying')
        p = v.body.position
        v.guided = Guided(GuidedKind.TAKEOFF, Vector3(p.x, p.y, v.home.z + alt))
        v.idle_on_ground_since = None
        return mavlink.MAV_RESULT_ACCEPTED

    def _land(self, cmd: Command, now: float) -> int:
        v = self._v
        if not v.drone:
            raise Reject(mavlink.MAV_RESULT_UNSUPPORTED, 'Land: not a flying vehicle')
        v.require_mode(mode_for(v.kind, Behaviour.LAND), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _rtl(self, cmd: Command, now: float) -> int:
        v = self._v
        v.require_mode(mode_for(v.kind, Behaviour.RTL), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _set_mode(self, cmd: Command, now: float) -> int:
        v = self._v
        base_mode, custom_mode = cmd.params[0], cmd.params[1]
        if not (finite(base_mode) and finite(custom_mode)):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Mode: parameters must be numbers')
        if not int(base_mode) & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Mode: custom mode flag required')
        if custom_mode != int(custom_mode) or int(custom_mode) not in MODES[v.kind]:
            raise Reject(mavlink.MAV_RESULT_DENIED, f'Mode: unknown mode {custom_mode:g}')
        v.require_mode(int(custom_mode), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _reposition(self, cmd: Command, now: float) -> int:
        v = self._v
        speed, flags, _, yaw_deg = cmd.params[0], cmd.params[1], cmd.params[2], cmd.params[3]
        frame = cmd.frame if cmd.frame is not None else mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
        target = targets.from_location(v, cmd.lat, cmd.lon, cmd.alt, frame, 'Reposition')
        speed_value = targets.optional_speed(speed, 'Reposition')
        if not (math.isnan(yaw_deg) or finite(yaw_deg)):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Reposition: bad yaw')
        if not finite(flags):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Reposition: bad flags')
        if not v.armed:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Reposition: not armed')
        assert v.body is not None
        if v.drone and v.body.on_ground:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Reposition: take off first')
        if v.behaviour is not Behaviour.GUIDED:
            if not int(flags) & mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE:
                raise Reject(mavlink.MAV_RESULT_DENIED, 'Reposition: not in GUIDED')
            v.require_mode(mode_for(v.kind, Behaviour.GUIDED), now)
        yaw = None if math.isnan(yaw_deg) else ned_yaw_to_enu(math.radians(yaw_deg))
        v.guided = Guided(GuidedKind.POSITION, target, yaw=yaw, speed=speed_value)
        return mavlink.MAV_RESULT_ACCEPTED

    def _change_speed(self, cmd: Command, now: float) -> int:
        speed = cmd.params[1]
        if speed == -1.0:
            self._v.speed_override = None
            return mavlink.MAV_RESULT_ACCEPTED
        if not (finite(speed) and 0.0 < speed <= MAX_COMMAND_SPEED_M_S):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Speed: out of range')
        self._v.speed_override = float(speed)
        return mavlink.MAV_RESULT_ACCEPTED

    def _set_home(self, cmd: Command, now: float) -> int:
        v = self._v
        if cmd.params[0] == 1.0:
            if v.body is None or not v.gps.has_fix:
                raise Reject(mavlink.MAV_RESULT_FAILED, 'Set home: no position')
            v.home = v.body.position
        else:
            frame = cmd.frame if cmd.frame is not None else mavlink.MAV_FRAME_GLOBAL
            if frame not in GLOBAL_FRAMES:
                raise Reject(mavlink.MAV_RESULT_DENIED, 'Set home: frame must be GLOBAL')
            if not valid_lat_lon(cmd.lat, cmd.lon) or not finite(cmd.alt):
                raise Reject(mavlink.MAV_RESULT_DENIED, 'Set home: invalid location')
            home = geodetic_to_enu(v.origin, cmd.lat, cmd.lon, cmd.alt)
            if math.hypot(home.x, home.y) > v.config.max_range_m:
                raise Reject(mavlink.MAV_RESULT_DENIED, 'Set home: too far from site')
            v.home = home
        v.send(telemetry.home_position(v, now), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _terminate(self, cmd: Command, now: float) -> int:
        v = self._v
        value = cmd.params[0]
        if not finite(value):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Terminate: bad parameter')
        if value < TERMINATE_THRESHOLD:
            return mavlink.MAV_RESULT_ACCEPTED
        if not v.config.allow_flight_termination:
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Terminate: disabled for this vehicle')
        if not v.terminated:
            v.terminated = True
            v.status(mavlink.MAV_SEVERITY_EMERGENCY, 'Flight terminated', now)
            v.disarm('flight termination', now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _fence_enable(self, cmd: Command, now: float) -> int:
        v = self._v
        value = cmd.params[0]
        if value not in (0.0, 1.0):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Fence: param1 must be 0 or 1')
        if value == 1.0 and (v.fence is None or v.fence.empty):
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Fence: none uploaded')
        v.fence_enabled = value == 1.0
        v.fence_breached = False
        return mavlink.MAV_RESULT_ACCEPTED

    # ---------------------------------------------------------------- telemetry requests

    def _set_message_interval(self, cmd: Command, now: float) -> int:
        msg_id, interval_us = cmd.params[0], cmd.params[1]
        if not (finite(msg_id) and finite(interval_us)):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Interval: parameters must be numbers')
        if int(msg_id) not in DEFAULT_RATES_HZ:
            raise Reject(mavlink.MAV_RESULT_UNSUPPORTED, f'Interval: cannot stream message {msg_id:g}')
        if interval_us < INTERVAL_OFF_US:
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Interval: must be -1, 0 or positive')
        self._v.streams.set_interval(int(msg_id), interval_us, now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _get_message_interval(self, cmd: Command, now: float) -> int:
        msg_id = cmd.params[0]
        if not (finite(msg_id) and msg_id == int(msg_id) and 0 <= msg_id <= UINT16_MAX):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Interval: bad message id')
        return mavlink.MAV_RESULT_ACCEPTED

    def _send_interval(self, msg_id: int, now: float) -> None:
        if msg_id in DEFAULT_RATES_HZ:
            interval = self._v.streams.interval(msg_id)
            interval_us = int(interval * MICRO) if interval > 0 else int(INTERVAL_OFF_US)
        else:
            interval_us = INTERVAL_NOT_AVAILABLE_US
        self._v.send(mavlink.MAVLink_message_interval_message(msg_id, interval_us), now)

    def _request_message(self, cmd: Command, now: float) -> int:
        v = self._v
        msg_id = cmd.params[0]
        if not finite(msg_id):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Request: bad message id')
        if int(msg_id) not in telemetry.BUILDERS and int(msg_id) != mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            raise Reject(mavlink.MAV_RESULT_UNSUPPORTED, f'Request: cannot send message {msg_id:g}')
        if int(msg_id) == mavlink.MAVLINK_MSG_ID_HOME_POSITION and v.home is None:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Request: home not set')
        if int(msg_id) != mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION and v.body is None:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Request: no state yet')
        return mavlink.MAV_RESULT_ACCEPTED

    def _send_requested(self, msg_id: int, now: float) -> None:
        v = self._v
        if msg_id == mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            v.send(telemetry.autopilot_version(v), now)
        else:
            v.send(telemetry.BUILDERS[msg_id](v, now), now)

    def _request_capabilities(self, cmd: Command, now: float) -> int:
        self._v.send(telemetry.autopilot_version(self._v), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _get_home(self, cmd: Command, now: float) -> int:
        v = self._v
        if v.home is None:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Home not set')
        v.send(telemetry.home_position(v, now), now)
        return mavlink.MAV_RESULT_ACCEPTED

    # ---------------------------------------------------------------- mission

    def _mission_start(self, cmd: Command, now: float) -> int:
        v = self._v
        first = cmd.params[0]
        if not finite(first) or first < 0 or first != int(first):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Mission start: bad first item')
        if v.drone and not v.armed:
            raise Reject(mavlink.MAV_RESULT_FAILED, 'Mission start: not armed')
        if first >= max(1, len(v.mission)):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Mission start: no such item')
        if first > 0 or v.mission_state == mavlink.MISSION_STATE_COMPLETE:
            v.mission_index = max(1, int(first))
            v.mission_state = mavlink.MISSION_STATE_NOT_STARTED
        if v.in_auto():
            v.mission_state = mavlink.MISSION_STATE_ACTIVE
            v.start_nav(now)
        else:
            v.require_mode(mode_for(v.kind, Behaviour.AUTO), now)
        return mavlink.MAV_RESULT_ACCEPTED

    def _set_mission_current(self, cmd: Command, now: float) -> int:
        seq = cmd.params[0]
        if not finite(seq) or seq != int(seq):
            raise Reject(mavlink.MAV_RESULT_DENIED, 'Mission: bad item number')
        if not self._v.set_mission_current(int(seq), now):
            raise Reject(mavlink.MAV_RESULT_DENIED, f'Mission: no item {int(seq)}')
        return mavlink.MAV_RESULT_ACCEPTED
