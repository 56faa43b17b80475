"""The emulated vehicle's state and its core state machine: modes, arming, mission sequencing.

Why this module: every part of the autopilot (command handlers, mission
protocol, failsafes, setpoint code, telemetry) reads and changes the same
vehicle state, and mode changes, arming and stepping through a mission must
follow one set of rules whoever asks for them. ``Vehicle`` holds that state and
those rules; the other modules are functions or small classes over it, and
``Autopilot`` is the public face that drives them.

``Vehicle`` is internal: its attributes are public to the package, not to users.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import telemetry
from sentinel_sim.autopilot.config import AutopilotConfig
from sentinel_sim.autopilot.fence import Fence
from sentinel_sim.autopilot.link import FaultyLink
from sentinel_sim.autopilot.mission import DO_COMMANDS, NAV_COMMANDS, MissionItem
from sentinel_sim.autopilot.modes import INITIAL_MODE, MODES, Behaviour, CopterMode, ModeSpec, RoverMode
from sentinel_sim.autopilot.navigation import Guided, GuidedKind, Nav, NavStage, Rtl, RtlStage
from sentinel_sim.autopilot.sensors import BatteryModel, GpsModel
from sentinel_sim.autopilot.streams import StreamSchedule
from sentinel_sim.autopilot.wire import MILLI, STATUSTEXT_MAX_LEN, MavMessage
from sentinel_sim.vehicle_types import BodyState, Vector3, VehicleKind

_LOG = logging.getLogger(__name__)

STATUS_THROTTLE_S = 5.0             # repeated identical warnings are sent at most this often
UINT32_MASK = 0xFFFFFFFF            # time_boot_ms is a uint32 that wraps (after 49.7 days)


class VehicleLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every record with the vehicle's system id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        assert self.extra is not None
        return f'vehicle {self.extra["sysid"]}: {msg}', kwargs


class Throttle:
    """Lets a keyed event through at most once per period (for repeated warnings)."""

    def __init__(self, period_s: float) -> None:
        self._period = period_s
        self._last: dict[str, float] = {}

    def allow(self, key: str, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            return False
        self._last[key] = now
        return True


class Reject(Exception):
    """A request refused with a MAV_RESULT and a reason for the STATUSTEXT."""

    def __init__(self, result: int, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


class Vehicle:
    """State of one emulated vehicle and the rules every change to it follows."""

    def __init__(self, config: AutopilotConfig, start_time: float) -> None:
        self.config = config
        self.kind = config.kind
        self.drone = config.kind is VehicleKind.DRONE
        self.origin = (config.origin_lat_deg, config.origin_lon_deg, config.origin_alt_m)
        seed = config.system_id if config.seed is None else config.seed
        gps_seq, link_seq = np.random.SeedSequence(seed).spawn(2)
        self.link = FaultyLink(np.random.default_rng(link_seq))
        self.battery = BatteryModel(config)
        self.gps = GpsModel(config, np.random.default_rng(gps_seq))
        self.streams = StreamSchedule(config.stream_rates_hz)
        self.log = VehicleLog(_LOG, {'sysid': config.system_id})
        self.throttle = Throttle(STATUS_THROTTLE_S)
        self.boot = start_time
        self.dt = 0.0                                 # seconds between the last two steps

        self.body: BodyState | None = None            # physics state at the last step
        self.prev_body: BodyState | None = None       # ... and at the one before (attitude rates)
        self.armed = False
        self.mode = INITIAL_MODE[config.kind]
        self.terminated = False
        self.motor_failed = False
        self.home: Vector3 | None = None
        self.ekf_origin: Vector3 | None = None
        self.last_fix: Vector3 | None = None          # position at the last GPS fix (reported while lost)
        self.speed_override: float | None = None
        self.guided = Guided(GuidedKind.HOLD)
        self.hold_position: Vector3 | None = None
        self.land_xy: Vector3 | None = None
        self.rtl: Rtl | None = None
        self.landed_since: float | None = None
        self.idle_on_ground_since: float | None = None
        self.brake_until: float | None = None

        self.gcs_last_heartbeat: float | None = None
        self.gcs_failsafe = False
        self.battery_low_fired = False
        self.battery_critical_fired = False
        self.gps_lost_since: float | None = None
        self.gps_failsafe = False
        self.fence_breached = False

        self.mission: list[MissionItem] = []          # index 0 is the home slot
        self.fence_items: list[MissionItem] = []
        self.fence: Fence | None = None
        self.fence_enabled = False
        self.mission_index = 1
        self.mission_state = mavlink.MISSION_STATE_NO_MISSION
        self.nav: Nav | None = None

    # ---------------------------------------------------------------- output

    def send(self, msg: MavMessage, now: float) -> None:
        """Queue an outgoing message through the (possibly degraded) link."""
        self.link.outgoing(msg, now)

    def status(self, severity: int, text: str, now: float) -> None:
        """Queue a STATUSTEXT (cut to the field size) and log it."""
        data = text.encode('ascii', 'replace')[:STATUSTEXT_MAX_LEN]
        self.send(mavlink.MAVLink_statustext_message(severity, data), now)
        level = logging.WARNING if severity <= mavlink.MAV_SEVERITY_WARNING else logging.INFO
        self.log.log(level, '%s', text)

    def time_boot_ms(self, now: float) -> int:
        return int((now - self.boot) * MILLI) & UINT32_MASK

    # ---------------------------------------------------------------- modes

    @property
    def spec(self) -> ModeSpec:
        """The current mode's table entry."""
        return MODES[self.kind][self.mode]

    @property
    def behaviour(self) -> Behaviour:
        return self.spec.behaviour

    @property
    def mode_name(self) -> str:
        return self.spec.name

    def in_auto(self) -> bool:
        return self.behaviour is Behaviour.AUTO

    def require_mode(self, mode: int, now: float) -> None:
        """Change mode or raise Reject(FAILED) with ArduPilot's reason."""
        reason = self.set_mode(mode, now)
        if reason is not None:
            raise Reject(mavlink.MAV_RESULT_FAILED, reason)

    def set_mode(self, mode: int, now: float) -> str | None:
        """Change mode; None on success, else why not."""
        spec = MODES[self.kind].get(mode)
        if spec is None:
            return f'Mode change failed: unknown mode {mode}'
        if self.terminated:
            return 'Mode change failed: flight terminated'
        if spec.needs_position and not self.gps.has_fix:
            return f'Mode change to {spec.name} failed: requires position'
        if spec.behaviour is Behaviour.RTL and self.home is None:
            return f'Mode change to {spec.name} failed: home not set'
        if spec.behaviour is Behaviour.AUTO:
            reason = self._auto_entry_failure()
            if reason is not None:
                return reason
        if mode == self.mode:
            return None  # as ArduPilot: re-selecting the current mode changes nothing
        self.mode = mode
        self.enter_mode_behaviour(now)
        self.log.info('mode %s', spec.name)
        return None

    def _auto_entry_failure(self) -> str | None:
        """Why AUTO cannot start now (no mission; a copter on the ground needs a takeoff first), or None."""
        nav = [i for i in self.mission[1:] if i.command in NAV_COMMANDS[self.kind]]
        if not nav:
            return 'Mode change to AUTO failed: no mission'
        if self.drone and self.armed and self.body is not None and self.body.on_ground:
            start = min(max(1, self.mission_index), len(self.mission) - 1)
            if self.mission_state == mavlink.MISSION_STATE_COMPLETE:
                start = 1
            first_nav = next((i for i in self.mission[start:] if i.command in NAV_COMMANDS[self.kind]), None)
            if first_nav is None or first_nav.command != mavlink.MAV_CMD_NAV_TAKEOFF:
                return 'Auto: Missing Takeoff Cmd'
        return None

    def enter_mode_behaviour(self, now: float) -> None:
        """(Re)initialise the current mode's targets from the present state."""
        behaviour = self.behaviour
        here = self.body.position if self.body is not None else Vector3()
        self.brake_until = None
        self.landed_since = None
        if behaviour is Behaviour.GUIDED:
            self.guided = Guided(GuidedKind.HOLD, here)
        elif behaviour is Behaviour.HOLD:
            self.hold_position = here
        elif behaviour is Behaviour.LAND:
            self.land_xy = here
        elif behaviour is Behaviour.RTL:
            self.rtl = self.new_rtl(here)
        elif behaviour is Behaviour.AUTO:
            if self.mission_state in (mavlink.MISSION_STATE_COMPLETE, mavlink.MISSION_STATE_NO_MISSION):
                self.mission_index = 1
            self.mission_state = mavlink.MISSION_STATE_ACTIVE
            self.start_nav(now)

    def new_rtl(self, here: Vector3) -> Rtl:
        """A fresh RTL from here: drones climb to the return altitude first, ground vehicles just go."""
        home = self.home if self.home is not None else here
        if not self.drone:
            return Rtl(RtlStage.RETURN, here.z)
        altitude = max(home.z + self.config.rtl_altitude_m, here.z)
        return Rtl(RtlStage.CLIMB, altitude)

    def speed(self, override: float | None = None) -> float:
        """Horizontal speed limit: a per-target speed, else DO_CHANGE_SPEED's, else the cruise speed."""
        if override is not None:
            return override
        return self.speed_override if self.speed_override is not None else self.config.cruise_speed_m_s

    # ---------------------------------------------------------------- arming

    def prearm_failure(self) -> str | None:
        """ArduPilot-style pre-arm checks; the first failure's text, or None."""
        if self.terminated:
            return 'PreArm: Flight terminated, reboot required'
        if self.motor_failed:
            return 'PreArm: Motor failure'
        if self.body is None:
            return 'PreArm: Waiting for sensors'
        if self.body.crashed:
            return 'PreArm: Vehicle crashed'
        if not self.gps.has_fix:
            return 'PreArm: Need 3D Fix'
        if self.battery_critical_fired or self.battery_low_fired or \
                self.battery.remaining_pct <= self.config.battery_low_pct:
            return 'PreArm: Battery below failsafe level'
        if self.fence_enabled and self.fence is not None and \
                self.fence.breach(self.body.position.x, self.body.position.y) is not None:
            return 'PreArm: Vehicle outside fence'
        return None

    def arm(self, now: float) -> None:
        """Arm, or raise Reject(FAILED) naming the failed check; home is reset to here."""
        if self.armed:
            return
        failure = self.prearm_failure()
        if failure is not None:
            raise Reject(mavlink.MAV_RESULT_FAILED, failure)
        if not self.spec.armable:
            raise Reject(mavlink.MAV_RESULT_FAILED, f'Arm: Mode {self.mode_name} not armable')
        assert self.body is not None
        self.armed = True
        self.home = self.body.position  # ArduPilot resets home on arming
        if self.ekf_origin is None:
            self.ekf_origin = self.body.position
        self.send(telemetry.home_position(self, now), now)
        self.fence_breached = False
        self.idle_on_ground_since = None
        self.enter_mode_behaviour(now)
        self.log.info('armed in %s', self.mode_name)

    def disarm(self, reason: str, now: float) -> None:
        if not self.armed:
            return
        self.armed = False
        self.log.info('disarmed (%s)', reason)
        self.status(mavlink.MAV_SEVERITY_INFO, f'Disarming: {reason}'[:STATUSTEXT_MAX_LEN], now)

    # ---------------------------------------------------------------- mission sequencing

    def start_nav(self, now: float) -> None:
        """Begin the item at the current index, running DO commands on the way."""
        self.nav = None
        while 1 <= self.mission_index < len(self.mission):
            item = self.mission[self.mission_index]
            if item.command in DO_COMMANDS:
                if item.command == mavlink.MAV_CMD_DO_CHANGE_SPEED:
                    self.speed_override = item.param2
                self.mission_index += 1
                continue
            self.nav = Nav(item)
            self.send(telemetry.mission_current(self, now), now)
            return
        self.finish_mission(now)

    def finish_mission(self, now: float) -> None:
        """The last item is done: report it once; ground vehicles HOLD (MIS_DONE_BEHAVE), drones stay."""
        self.nav = None
        if self.mission_state != mavlink.MISSION_STATE_COMPLETE:
            self.mission_state = mavlink.MISSION_STATE_COMPLETE
            self.status(mavlink.MAV_SEVERITY_INFO, 'Mission complete', now)
            self.send(telemetry.mission_current(self, now), now)
        if not self.drone and self.in_auto():
            self.set_mode(int(RoverMode.HOLD), now)  # MIS_DONE_BEHAVE = HOLD
        elif self.body is not None:
            self.hold_position = self.body.position

    def item_reached(self, nav: Nav, now: float) -> None:
        """Report a finished item and move on to the next."""
        self.send(mavlink.MAVLink_mission_item_reached_message(nav.item.seq), now)
        self.status(mavlink.MAV_SEVERITY_INFO, f'Reached command #{nav.item.seq}', now)
        self.mission_index = nav.item.seq + 1
        self.start_nav(now)

    def set_mission_current(self, seq: int, now: float) -> bool:
        """Jump to an item; the new MISSION_CURRENT is sent once on success."""
        if not 1 <= seq < len(self.mission):
            return False
        self.mission_index = seq
        if self.in_auto():
            self.mission_state = mavlink.MISSION_STATE_ACTIVE
            self.start_nav(now)
            return True
        if self.mission_state == mavlink.MISSION_STATE_COMPLETE:
            self.mission_state = mavlink.MISSION_STATE_NOT_STARTED
        self.send(telemetry.mission_current(self, now), now)
        return True

    # ---------------------------------------------------------------- flight phase

    def taking_off(self) -> bool:
        """Climbing to a takeoff altitude (GUIDED takeoff or a mission TAKEOFF item)."""
        if self.mode == CopterMode.GUIDED and self.drone:
            return self.guided.kind is GuidedKind.TAKEOFF
        return self.in_auto() and self.nav is not None and self.nav.item.command == mavlink.MAV_CMD_NAV_TAKEOFF

    def landing(self) -> bool:
        """In the final descent of LAND, RTL or a mission LAND / RETURN_TO_LAUNCH item."""
        behaviour = self.behaviour
        if behaviour is Behaviour.LAND:
            return True
        if behaviour is Behaviour.RTL:
            return self.rtl is not None and self.rtl.stage is RtlStage.DESCEND
        if behaviour is Behaviour.AUTO and self.nav is not None:
            if self.nav.rtl is not None:
                return self.nav.rtl.stage is RtlStage.DESCEND
            return self.nav.stage is NavStage.LANDING
        return False

    # ---------------------------------------------------------------- sensors

    def update_sensors(self, now: float, dt: float, body: BodyState) -> None:
        """Drain the battery; with a fix, remember the position and set home and EKF origin once."""
        speed = math.hypot(body.velocity.x, body.velocity.y)
        self.battery.update(dt, self.armed and body.motors_on, speed)
        if self.gps.has_fix:
            self.last_fix = body.position
            if self.ekf_origin is None:
                self.ekf_origin = body.position
            if self.home is None:
                self.home = body.position
                self.status(mavlink.MAV_SEVERITY_INFO, 'Home set', now)
                self.send(telemetry.home_position(self, now), now)
