"""Every vehicle's link served from one thread and one selector.

Why one thread: a thread (or process) per vehicle spends its time waking up
for single packets and fighting over the interpreter lock; MAVROS needs one
process per vehicle. Here one selector waits on every link's descriptor (and
a wake-up socket for new commands); what is readable is read, parsed and
dispatched, and per-vehicle timers (GCS heartbeat, command retries, link
health) run from one tick. The ROS node only submits commands and takes
snapshots; both are thread-safe.

A ``VehicleSession`` is one vehicle's everything: link, telemetry, link
monitor, stream-rate requests and command tracker. ``FleetLinks`` owns the
sessions and the thread.
"""

from __future__ import annotations

import math
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control.command_mapping import MappingError, MappingSettings, VehicleView, build_plan
from sentinel_control.command_tracker import CommandTracker, TrackerSettings
from sentinel_control.commands import Command, CommandKind, CommandResult, Outcome
from sentinel_control.link_health import LinkMonitor, LinkThresholds
from sentinel_control.mavlink_link import MavlinkLink, StreamRequester
from sentinel_control.telemetry import LinkState, Origin, Telemetry, VehicleStateData, VehicleType

GCS_HEARTBEAT_PERIOD = 1.0      # s, the MAVLink heartbeat rate a ground station keeps
TICK_PERIOD = 0.1               # s, how often timers (retries, heartbeats, link health) are checked
MAX_SELECT_WAIT = 0.1           # s, longest the loop sleeps, so stop() and reconnects are prompt
LOG_THROTTLE = 10.0             # s, repeated per-vehicle warnings are logged at most this often
STOP_JOIN_TIMEOUT = 5.0         # s, how long stop() waits for the thread
# Commands that move the vehicle: their task becomes the vehicle's current task once accepted.
_MOTION = frozenset({CommandKind.GOTO, CommandKind.HOLD, CommandKind.RTL, CommandKind.LAND,
                     CommandKind.TAKEOFF, CommandKind.FOLLOW_ROUTE})


class Log(Protocol):
    """The logger interface used here: rclpy's node logger and Python's logging both fit."""

    def info(self, message: str) -> Any: ...

    def warning(self, message: str) -> Any: ...

    def error(self, message: str) -> Any: ...


@dataclass(frozen=True)
class SessionSettings:
    """Per-vehicle behaviour shared by every session."""

    stream_rates_hz: Mapping[int, float] = field(default_factory=dict)   # MAVLink msg id -> Hz
    thresholds: LinkThresholds = LinkThresholds()
    tracker: TrackerSettings = TrackerSettings()
    mapping: MappingSettings = MappingSettings()


class _Throttle:
    """Lets a keyed message through at most once per period."""

    def __init__(self, period: float) -> None:
        self._period = period
        self._last: dict[str, float] = {}

    def allow(self, key: str, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            return False
        self._last[key] = now
        return True


class VehicleSession:
    """One vehicle: its link and everything learnt from it. Used by one thread at a time."""

    def __init__(self, vehicle_id: str, vehicle_type: VehicleType, link: MavlinkLink, origin: Origin,
                 settings: SessionSettings, log: Log) -> None:
        self.vehicle_id = vehicle_id
        self.link = link
        self.settings = settings
        self.telemetry = Telemetry(vehicle_id, vehicle_type, origin)
        self.monitor = LinkMonitor(settings.thresholds)
        self.tracker = CommandTracker(settings.tracker, link.settings.gcs_system_id,
                                      link.settings.gcs_component_id)
        self.streams = StreamRequester(settings.stream_rates_hz, settings.tracker.ack_timeout,
                                       settings.tracker.attempts)
        self.task_id = ''
        self._log = log
        self._throttle = _Throttle(LOG_THROTTLE)
        self._next_heartbeat = 0.0
        self._link_state = LinkState.LOST
        self._ever_heard = False
        self._results: list[CommandResult] = []
        self.messages_handled = 0

    # ------------------------------------------------------------------ I/O

    def _send(self, messages: list[Any]) -> None:
        for msg in messages:
            self.link.send(msg)

    def on_readable(self, now: float) -> None:
        for msg in self.link.read():
            self.handle(msg, now)

    def _is_autopilot_heartbeat(self, msg: Any) -> bool:
        return (msg.get_type() == 'HEARTBEAT' and msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID
                and msg.type != mavlink.MAV_TYPE_GCS)

    def handle(self, msg: Any, now: float) -> None:
        """One valid message from this vehicle's system."""
        self.messages_handled += 1
        component = msg.get_srcComponent()
        kind = msg.get_type()
        if kind == 'HEARTBEAT':
            if not self._is_autopilot_heartbeat(msg):
                return   # gimbal, camera or companion heartbeats say nothing about the autopilot
            self.monitor.heartbeat(now)
        elif component != self.telemetry.autopilot_component:
            return
        self.monitor.packet(msg.get_srcSystem(), component, msg.get_seq(), now)
        self.telemetry.update(msg)
        if kind == 'HEARTBEAT':
            self._update_link_state(now)
        if self.tracker.active is not None:
            self._send(self.tracker.on_message(msg, now, self._state_for_tracker()))
        if kind == 'COMMAND_ACK' and self.streams.busy:
            self._send(self.streams.on_ack(msg, now))
        self._collect_results(now)

    def _state_for_tracker(self) -> VehicleStateData:
        return self.telemetry.snapshot(self._link_state, 1.0, self.task_id)

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> None:
        self.link.maintain(now)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + GCS_HEARTBEAT_PERIOD
            self._send([self.link.gcs_heartbeat()])
        self._update_link_state(now)
        if self.tracker.active is not None:
            self._send(self.tracker.tick(now, self._state_for_tracker()))
        self._send(self.streams.tick(now))
        self._collect_results(now)
        self._warn_on_link_problems(now)

    def _update_link_state(self, now: float) -> None:
        previous = self._link_state
        lost_since = self.monitor.lost_since
        state = self.monitor.state(now)
        self._link_state = state
        if previous is LinkState.LOST and state is not LinkState.LOST:
            self.monitor.forget_sequences()
            if self._ever_heard:
                down = f' after {now - lost_since:.1f} s' if lost_since is not None else ''
                self._log.info(f'{self.vehicle_id}: link recovered{down}')
            else:
                self._log.info(f'{self.vehicle_id}: link up ({self.link.settings.endpoint}, '
                               f'autopilot {self.telemetry.autopilot.value}, mode {self.telemetry.mode or "unknown"})')
            self._ever_heard = True
            self._send(self.streams.restart(self.link.settings.system_id,
                                            self.telemetry.autopilot_component, now))
        elif state is LinkState.LOST and previous is not LinkState.LOST and self._ever_heard:
            self._log.warning(f'{self.vehicle_id}: link lost (no heartbeat for '
                              f'{self.settings.thresholds.lost_after:g} s)')
            if self.tracker.active is not None:
                self.tracker.cancel('link lost', now)

    def _warn_on_link_problems(self, now: float) -> None:
        error = self.link.transport.last_error
        if error and self._link_state is LinkState.LOST and self._throttle.allow('transport', now):
            self._log.warning(f'{self.vehicle_id}: {self.link.settings.endpoint}: {error}')
        counters = self.link.counters
        if counters.bad_signatures and self._throttle.allow('signature', now):
            self._log.warning(f'{self.vehicle_id}: {counters.bad_signatures} packets refused so far '
                              '(unsigned or bad signature)')
        if self.streams.failed and self._throttle.allow('streams', now):
            names = ', '.join(mavlink.mavlink_map[i].msgname if i in mavlink.mavlink_map else str(i)
                              for i in self.streams.failed)
            self._log.warning(f'{self.vehicle_id}: stream rate not set for {names}; using the '
                              'vehicle\'s default rates')

    # ------------------------------------------------------------------ commands

    def submit(self, command: Command, now: float) -> None:
        """Start an approved command (replacing the active one)."""
        if self._link_state is LinkState.LOST:
            self.tracker.reject(command, 'vehicle link lost', now)
            self._collect_results(now)
            return
        t = self.telemetry
        view = VehicleView(self.link.settings.system_id, t.autopilot_component, t.autopilot, t.frame,
                           t.base_mode, t.custom_mode, self._state_for_tracker(), t.origin)
        try:
            plan = build_plan(command, view, self.settings.mapping)
        except MappingError as error:
            self.tracker.reject(command, str(error), now)
            self._collect_results(now)
            return
        self._send(self.tracker.start(command, plan, now, view.state))
        self._collect_results(now)

    def _collect_results(self, now: float) -> None:
        for result in self.tracker.pop_results():
            if result.outcome is Outcome.ACCEPTED and result.kind in _MOTION:
                self.task_id = result.task_id
            self._results.append(result)

    def pop_results(self) -> list[CommandResult]:
        results, self._results = self._results, []
        return results

    # ------------------------------------------------------------------ output

    def snapshot(self, now: float) -> VehicleStateData:
        state = self.monitor.state(now)
        quality = self.monitor.quality(now)
        return self.telemetry.snapshot(state, quality if math.isfinite(quality) else 0.0, self.task_id)

    def close(self) -> None:
        self.link.close()


class FleetLinks:
    """All sessions behind one selector on one thread; thread-safe submit/snapshots/results."""

    def __init__(self, sessions: list[VehicleSession], log: Log,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sessions = {s.vehicle_id: s for s in sessions}
        self._log = log
        self._clock = clock
        self._lock = threading.Lock()
        self._inbox: list[Command] = []
        self._results: list[CommandResult] = []
        self._selector = selectors.DefaultSelector()
        self._registered: dict[str, int] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loops = 0          # selector wake-ups, for the node's progress counter and benchmarks
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ thread-safe API

    def start(self) -> None:
        self._register()
        self._thread = threading.Thread(target=self._run, name='mavlink-links', daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=STOP_JOIN_TIMEOUT)
        for session in self.sessions.values():
            session.close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def submit(self, command: Command) -> None:
        """Queue an approved command; its result arrives through pop_results()."""
        with self._lock:
            self._inbox.append(command)
        self._wake()

    def snapshots(self) -> list[VehicleStateData]:
        now = self._clock()
        with self._lock:
            return [session.snapshot(now) for session in self.sessions.values()]

    def pop_results(self) -> list[CommandResult]:
        with self._lock:
            results, self._results = self._results, []
        return results

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {vid: s.link.counters for vid, s in self.sessions.items()}

    def _wake(self) -> None:
        try:
            self._wake_w.send(b'\0')
        except (BlockingIOError, OSError):
            pass   # a wake-up byte is already pending (buffer full) or we are stopping: either way the loop runs

    # ------------------------------------------------------------------ the loop

    def _register(self) -> None:
        """(Re)register descriptors that changed (TCP/serial reconnects)."""
        for vehicle_id, session in self.sessions.items():
            fd = session.link.fileno()
            old = self._registered.get(vehicle_id, -1)
            if fd == old:
                continue
            if old >= 0:
                self._selector.unregister(old)
            if fd >= 0:
                self._selector.register(fd, selectors.EVENT_READ, session)
            self._registered[vehicle_id] = fd

    def _run(self) -> None:
        next_tick = self._clock()
        try:
            while not self._stop.is_set():
                timeout = min(MAX_SELECT_WAIT, max(0.0, next_tick - self._clock()))
                events = self._selector.select(timeout)
                now = self._clock()
                self.loops += 1
                with self._lock:
                    touched: list[VehicleSession] = []
                    for key, _ in events:
                        if key.data is None:
                            self._drain_wake()
                        else:
                            key.data.on_readable(now)
                            touched.append(key.data)
                    touched += self._execute_inbox(now)
                    if now >= next_tick:
                        # per-vehicle timers run at TICK_PERIOD, not per packet: the loop's cost
                        # per wake-up stays independent of the fleet size
                        next_tick = now + TICK_PERIOD
                        touched = list(self.sessions.values())
                        for session in touched:
                            session.tick(now)
                        self._register()
                    for session in touched:
                        self._results.extend(session.pop_results())
        except BaseException as error:   # surfaced by the node (heartbeat ERROR) rather than lost in a thread
            self.error = error
            self._log.error(f'MAVLink link thread stopped: {error.__class__.__name__}: {error}')
            raise

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            return

    def _execute_inbox(self, now: float) -> list[VehicleSession]:
        inbox, self._inbox = self._inbox, []
        started = []
        for command in inbox:
            session = self.sessions.get(command.vehicle_id)
            if session is None:
                self._results.append(CommandResult(command.command_id, command.vehicle_id, command.task_id,
                                                   command.kind, Outcome.REJECTED, '',
                                                   f'unknown vehicle {command.vehicle_id!r}'))
                continue
            session.submit(command, now)
            started.append(session)
        return started
