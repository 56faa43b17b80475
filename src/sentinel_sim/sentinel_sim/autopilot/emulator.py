"""``Autopilot``: the emulated autopilot's public face, driven by the simulator loop.

Why this module: it is the one place that knows the order of a step (inbox,
sensors, failsafes, mission timeouts, navigation, telemetry) and which module
handles which MAVLink message. Everything it calls is in the sibling modules;
what it adds is the contract below and the fault-injection entry points tests
and the simulator use.

    receive(msg, now)      a decoded MAVLink message from a ground station
    step(now, body)        once per physics step: returns the Setpoint for the
                           physics and the MAVLink messages due now
    flush(now)             messages due now without stepping (replies to
                           ``receive`` can leave before the next physics step)

``now`` is seconds on any monotonic clock (usually simulation time) and may
not run backwards; nothing here reads the wall clock.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import control, failsafes, targets, telemetry
from sentinel_sim.autopilot.commands import Commands
from sentinel_sim.autopilot.config import AutopilotConfig
from sentinel_sim.autopilot.fence import Fence
from sentinel_sim.autopilot.link import LinkFaults
from sentinel_sim.autopilot.mission import MissionItem
from sentinel_sim.autopilot.mission_protocol import MissionProtocol
from sentinel_sim.autopilot.params import Parameters
from sentinel_sim.autopilot.sensors import BatteryModel, GpsModel
from sentinel_sim.autopilot.vehicle import Vehicle
from sentinel_sim.autopilot.wire import MavMessage, finite
from sentinel_sim.vehicle_types import BodyState, Setpoint, SetpointMode, Vector3

Handler = Callable[[Any, tuple[int, int], float], None]


@dataclass(frozen=True)
class AutopilotOutput:
    """What one step produces: the physics setpoint and the MAVLink messages due."""

    setpoint: Setpoint
    messages: list[MavMessage]


def _check_body(body: BodyState) -> None:
    """The physics must hand over finite numbers; anything else is a bug upstream, said loudly."""
    values = (body.position.x, body.position.y, body.position.z, body.velocity.x, body.velocity.y,
              body.velocity.z, body.roll, body.pitch, body.yaw)
    if not all(math.isfinite(value) for value in values):
        raise ValueError(f'non-finite BodyState from the physics: {body}')


def _on_request_data_stream(v: Vehicle, msg: Any, src: tuple[int, int], now: float) -> None:
    v.streams.request_data_stream(int(msg.req_stream_id), int(msg.req_message_rate), bool(msg.start_stop), now)


class Autopilot:
    """ArduPilot-like autopilot for one vehicle; see the module docstring for the contract."""

    def __init__(self, config: AutopilotConfig, start_time: float = 0.0) -> None:
        self.config = config
        self._v = Vehicle(config, start_time)
        self._now = start_time
        self._last_step: float | None = None
        self._commands = Commands(self._v)
        missions = MissionProtocol(self._v)
        self._check_upload_timeout = missions.check_timeout
        self._handlers: dict[str, Handler] = {
            'HEARTBEAT': functools.partial(failsafes.on_heartbeat, self._v),
            'COMMAND_LONG': self._commands.on_command_long,
            'COMMAND_INT': self._commands.on_command_int,
            'SET_MODE': self._commands.on_set_mode,
            'SET_POSITION_TARGET_GLOBAL_INT': functools.partial(targets.on_position_target_global, self._v),
            'SET_POSITION_TARGET_LOCAL_NED': functools.partial(targets.on_position_target_local, self._v),
            'REQUEST_DATA_STREAM': functools.partial(_on_request_data_stream, self._v),
            **missions.handlers(),
            **Parameters(self._v).handlers(),
        }

    # ---------------------------------------------------------------- public state

    @property
    def armed(self) -> bool:
        return self._v.armed

    @property
    def mode(self) -> int:
        """The custom_mode number on the wire."""
        return self._v.mode

    @property
    def mode_name(self) -> str:
        return self._v.mode_name

    @property
    def home(self) -> Vector3 | None:
        """Home in site ENU, None until the first GPS fix."""
        return self._v.home

    @property
    def terminated(self) -> bool:
        return self._v.terminated

    @property
    def gcs_failsafe(self) -> bool:
        return self._v.gcs_failsafe

    @property
    def mission_index(self) -> int:
        return self._v.mission_index

    @property
    def mission_state(self) -> int:
        return self._v.mission_state

    @property
    def mission(self) -> list[MissionItem]:
        """The stored mission; index 0 is the home slot (empty when there is none)."""
        return self._v.mission

    @property
    def fence_items(self) -> list[MissionItem]:
        """The stored fence items, as uploaded."""
        return self._v.fence_items

    @property
    def fence(self) -> Fence | None:
        """The fence zones, None when none are stored."""
        return self._v.fence

    @property
    def fence_enabled(self) -> bool:
        return self._v.fence_enabled

    @property
    def battery(self) -> BatteryModel:
        return self._v.battery

    @property
    def gps(self) -> GpsModel:
        return self._v.gps

    @property
    def link(self) -> LinkFaults:
        """The link degradation in force."""
        return self._v.link.faults

    def message_interval(self, msg_id: int) -> float:
        """Current stream interval in seconds; 0 when not streamed."""
        return self._v.streams.interval(msg_id)

    # ---------------------------------------------------------------- fault injection

    def inject_link_degradation(self, drop_probability: float, latency_s: float) -> None:
        """Drop each message (both directions) with this probability and delay the rest."""
        self._v.link.degrade(drop_probability, latency_s)
        self._v.log.warning('link degradation: drop %.0f %%, latency %.3f s', drop_probability * 100, latency_s)

    def inject_gps_loss(self, lost: bool = True) -> None:
        """Lose (or regain) the GPS fix."""
        self._v.gps.lost = lost
        self._v.log.warning('GPS %s (injected)', 'lost' if lost else 'restored')

    def inject_battery_remaining(self, pct: float) -> None:
        """Set the battery's remaining charge, in percent."""
        if not finite(pct):
            raise ValueError('pct must be a number')
        self._v.battery.set_remaining(float(pct))
        self._v.log.warning('battery set to %.1f %% (injected)', pct)

    def inject_motor_failure(self) -> None:
        """Motors stop for good: a drone falls (KILL), a ground vehicle coasts (IDLE)."""
        if not self._v.motor_failed:
            self._v.motor_failed = True
            self._v.status(mavlink.MAV_SEVERITY_EMERGENCY, 'Motor failure', self._now)

    # ---------------------------------------------------------------- main entry points

    def receive(self, msg: MavMessage, now: float) -> None:
        """Accept one decoded message from the link (link faults apply)."""
        now = self._clock(now)
        if self._v.link.incoming(msg, now):
            self._handle_message(msg, now)

    def flush(self, now: float) -> list[MavMessage]:
        """Messages due now: replies, status texts and telemetry already scheduled."""
        now = self._clock(now)
        self._process_inbox(now)
        return self._v.link.due(now)

    def step(self, now: float, body: BodyState) -> AutopilotOutput:
        """Advance to ``now`` with the physics state; returns the setpoint and due messages."""
        now = self._clock(now)
        _check_body(body)
        v = self._v
        dt = 0.0 if self._last_step is None else now - self._last_step
        self._last_step = now
        v.dt = dt
        v.prev_body, v.body = v.body, body
        self._process_inbox(now)
        v.update_sensors(now, dt, body)
        failsafes.check_vehicle_health(v, body, now)
        failsafes.check(v, body, now)
        self._check_upload_timeout(now)
        setpoint = control.setpoint(v, now, body)
        setpoint = control.check_landing_and_disarm(v, now, body, setpoint)
        if v.terminated:
            setpoint = Setpoint(SetpointMode.KILL)  # motors off; a ground vehicle brakes
        elif v.motor_failed:
            setpoint = Setpoint(SetpointMode.KILL if v.drone else SetpointMode.IDLE)  # rover coasts
        elif not v.armed:
            setpoint = Setpoint(SetpointMode.IDLE)
        self._stream_telemetry(now)
        return AutopilotOutput(setpoint, self.flush(now))

    # ---------------------------------------------------------------- plumbing

    def _clock(self, now: float) -> float:
        """Validate ``now``; a clock that runs backwards is held (and warned about, throttled)."""
        if not finite(now):
            raise ValueError('now must be a finite number of seconds')
        if now < self._now:
            if self._v.throttle.allow('clock', now):
                self._v.log.warning('time went backwards (%.3f < %.3f s); holding', now, self._now)
            return self._now
        self._now = now
        return now

    def _process_inbox(self, now: float) -> None:
        for msg in self._v.link.arrived(now):
            self._handle_message(msg, now)

    def _handle_message(self, msg: MavMessage, now: float) -> None:
        """Route one message to its handler, if it is for this vehicle and one exists."""
        msg_type = msg.get_type()
        if msg_type == 'BAD_DATA':
            return
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        if src[0] == self.config.system_id:
            return  # our own messages echoed back
        target_system = getattr(msg, 'target_system', 0)
        if target_system not in (0, self.config.system_id):
            return
        target_component = getattr(msg, 'target_component', 0)
        if msg_type in ('COMMAND_LONG', 'COMMAND_INT') and target_component not in (0, self.config.component_id):
            return
        handler = self._handlers.get(msg_type)
        if handler is None:
            return
        try:
            handler(msg, src, now)
        except Exception:  # a bug in one handler must not stop the vehicle; the fault is logged in full
            self._v.log.exception('error handling %s', msg_type)

    def _stream_telemetry(self, now: float) -> None:
        v = self._v
        unavailable = (mavlink.MAVLINK_MSG_ID_HOME_POSITION,) if v.home is None else ()
        for msg_id in v.streams.due(now, unavailable):
            v.send(telemetry.BUILDERS[msg_id](v, now), now)

    # ---------------------------------------------------------------- introspection for tests/tools

    def snapshot(self) -> dict[str, Any]:
        """A plain summary of the state (for logs, debug topics and tests)."""
        v = self._v
        return {
            'system_id': self.config.system_id, 'mode': v.mode_name, 'armed': v.armed,
            'terminated': v.terminated, 'motor_failed': v.motor_failed,
            'gcs_failsafe': v.gcs_failsafe, 'battery_pct': v.battery.remaining_pct,
            'battery_low': v.battery_low_fired, 'battery_critical': v.battery_critical_fired,
            'gps_fix': v.gps.has_fix, 'fence_enabled': v.fence_enabled,
            'fence_breached': v.fence_breached, 'mission_index': v.mission_index,
            'mission_state': v.mission_state, 'mission_items': max(0, len(v.mission) - 1),
        }
