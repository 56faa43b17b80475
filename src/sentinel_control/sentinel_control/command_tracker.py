"""Runs one vehicle's command plans: acknowledgements, retries, timeouts, exactly one result each.

Why a tracker per vehicle with one active command: a newer approved command
for a vehicle replaces whatever it was doing (an operator's HOLD must not
queue behind a takeoff), so the replaced command ends CANCELLED and the new
one starts at once. Every command therefore ends exactly once: ACCEPTED,
REJECTED (with the vehicle's MAV_RESULT / MAV_MISSION_RESULT name, or a local
reason), TIMED_OUT, or CANCELLED.

Retries follow the MAVLink command protocol: a COMMAND_LONG is resent with
its ``confirmation`` field incremented; MAV_RESULT_IN_PROGRESS extends the
wait instead of counting as an answer. Mission uploads resend the last
message (MISSION_COUNT or the last item) when the vehicle goes quiet.

Pure logic with an explicit clock: ``start``, ``on_message`` and ``tick``
return the messages to send; ``pop_results`` hands over finished commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_control.command_mapping import (AckedCommand, FireAndForget, MissionUpload, Plan, Step,
                                              WaitUntil)
from sentinel_control.commands import Command, CommandResult, Outcome
from sentinel_control.telemetry import VehicleStateData


@dataclass(frozen=True)
class TrackerSettings:
    """Timing of the command protocol (seconds, counts)."""

    ack_timeout: float = 1.0          # wait for one COMMAND_ACK / mission reply before resending
    attempts: int = 3                 # sends of one message before TIMED_OUT (first try included)
    in_progress_timeout: float = 10.0  # wait after MAV_RESULT_IN_PROGRESS for the final answer

    def __post_init__(self) -> None:
        if not self.ack_timeout > 0.0:
            raise ValueError(f'ack_timeout must be > 0 s, got {self.ack_timeout}')
        if self.attempts < 1:
            raise ValueError(f'attempts must be >= 1, got {self.attempts}')
        if not self.in_progress_timeout > 0.0:
            raise ValueError(f'in_progress_timeout must be > 0 s, got {self.in_progress_timeout}')


def result_name(enum_name: str, value: int) -> str:
    """MAVLink enum entry name (MAV_RESULT_DENIED), or the number when the dialect lacks it."""
    entry = mavlink.enums.get(enum_name, {}).get(value)
    return entry.name if entry is not None else f'{enum_name}_{value}'


@dataclass
class _Active:
    """The command being executed and where its plan stands."""

    command: Command
    steps: tuple[Step, ...]
    started: float
    index: int = 0
    sends: int = 0              # sends of the current step's message
    deadline: float = 0.0       # when the current step times out (or is resent)
    in_progress: bool = False   # the vehicle answered IN_PROGRESS for the current step
    last_sent: Any = None       # mission upload: the message to resend on silence
    items_sent: set[int] = field(default_factory=set)


class CommandTracker:
    """One vehicle's command execution; see the module docstring."""

    def __init__(self, settings: TrackerSettings, gcs_system_id: int, gcs_component_id: int) -> None:
        self.settings = settings
        self._gcs = (gcs_system_id, gcs_component_id)
        self._active: _Active | None = None
        self._results: list[CommandResult] = []

    @property
    def active(self) -> Command | None:
        return self._active.command if self._active is not None else None

    def pop_results(self) -> list[CommandResult]:
        results, self._results = self._results, []
        return results

    # ------------------------------------------------------------------ lifecycle

    def reject(self, command: Command, reason: str, now: float) -> None:
        """End a command that never started (bad input, unknown vehicle, no plan possible)."""
        self._results.append(CommandResult(command.command_id, command.vehicle_id, command.task_id,
                                           command.kind, Outcome.REJECTED, '', reason, 0.0))

    def start(self, command: Command, plan: Plan, now: float, state: VehicleStateData) -> list[Any]:
        """Replace any active command with this one and send its first message."""
        if self._active is not None:
            self._finish(Outcome.CANCELLED, now, reason=f'superseded by command {command.command_id}')
        self._active = _Active(command, plan.steps, now)
        if not plan.steps:
            self._finish(Outcome.ACCEPTED, now, reason=plan.note)
            return []
        return self._enter_step(now, state)

    def cancel(self, reason: str, now: float) -> None:
        """End the active command without a vehicle answer (e.g. the link was closed)."""
        if self._active is not None:
            self._finish(Outcome.CANCELLED, now, reason=reason)

    def _finish(self, outcome: Outcome, now: float, mav_result: str = '', reason: str = '') -> None:
        active = self._active
        assert active is not None
        c = active.command
        self._results.append(CommandResult(c.command_id, c.vehicle_id, c.task_id, c.kind, outcome,
                                           mav_result, reason, max(0.0, now - active.started)))
        self._active = None

    def _step(self) -> Step:
        assert self._active is not None
        return self._active.steps[self._active.index]

    def _enter_step(self, now: float, state: VehicleStateData) -> list[Any]:
        """Start the current step; runs through steps that finish at once (fire-and-forget, met waits)."""
        out: list[Any] = []
        while self._active is not None:
            active = self._active
            if active.index >= len(active.steps):
                self._finish(Outcome.ACCEPTED, now)
                break
            step = self._step()
            active.sends = 0
            active.in_progress = False
            active.last_sent = None
            active.items_sent = set()
            if isinstance(step, FireAndForget):
                out.append(step.message)
                active.index += 1
                continue
            if isinstance(step, WaitUntil):
                if step.predicate(state):
                    active.index += 1
                    continue
                active.deadline = now + step.timeout
                break
            if isinstance(step, AckedCommand):
                out.append(self._send_command(step, now))
                break
            out.append(self._send_upload_message(step.count, now))
            break
        return out

    def _send_command(self, step: AckedCommand, now: float) -> Any:
        assert self._active is not None
        message = step.message
        if hasattr(message, 'confirmation'):
            message.confirmation = self._active.sends   # COMMAND_LONG: 0 first, +1 per resend
        self._active.sends += 1
        self._active.deadline = now + self.settings.ack_timeout
        return message

    def _send_upload_message(self, message: Any, now: float) -> Any:
        assert self._active is not None
        self._active.sends += 1
        self._active.last_sent = message
        self._active.deadline = now + self.settings.ack_timeout
        return message

    def _advance(self, now: float, state: VehicleStateData) -> list[Any]:
        assert self._active is not None
        self._active.index += 1
        return self._enter_step(now, state)

    # ------------------------------------------------------------------ input

    def _for_us(self, msg: Any) -> bool:
        """Answers addressed to another ground station (target set and not us) are not ours."""
        target = getattr(msg, 'target_system', 0)
        return target in (0, self._gcs[0])

    def on_message(self, msg: Any, now: float, state: VehicleStateData) -> list[Any]:
        """A message from the vehicle; returns what to send in reply."""
        if self._active is None or not self._for_us(msg):
            return []
        step = self._step()
        kind = msg.get_type()
        if isinstance(step, AckedCommand) and kind == 'COMMAND_ACK' and msg.command == step.command:
            return self._on_ack(step, int(msg.result), now, state)
        if isinstance(step, MissionUpload):
            if kind in ('MISSION_REQUEST_INT', 'MISSION_REQUEST'):
                return self._on_item_request(step, msg, now)
            if kind == 'MISSION_ACK' and getattr(msg, 'mission_type', 0) == mavlink.MAV_MISSION_TYPE_MISSION:
                return self._on_mission_ack(step, int(msg.type), now, state)
        return []

    def _on_ack(self, step: AckedCommand, result: int, now: float, state: VehicleStateData) -> list[Any]:
        assert self._active is not None
        if result == mavlink.MAV_RESULT_ACCEPTED:
            return self._advance(now, state)
        if result == mavlink.MAV_RESULT_IN_PROGRESS:
            self._active.in_progress = True
            self._active.deadline = now + self.settings.in_progress_timeout
            return []
        self._finish(Outcome.REJECTED, now, result_name('MAV_RESULT', result),
                     f'{step.label}: the vehicle answered {result_name("MAV_RESULT", result)}')
        return []

    def _on_item_request(self, step: MissionUpload, msg: Any, now: float) -> list[Any]:
        assert self._active is not None
        seq = int(msg.seq)
        if not 0 <= seq < len(step.items):
            return []
        self._active.items_sent.add(seq)
        self._active.sends = 0   # the vehicle is talking: the retry budget starts over
        return [self._send_upload_message(step.items[seq], now)]

    def _on_mission_ack(self, step: MissionUpload, result: int, now: float,
                        state: VehicleStateData) -> list[Any]:
        assert self._active is not None
        if result == mavlink.MAV_MISSION_ACCEPTED:
            if len(self._active.items_sent) < len(step.items):
                return []   # a stale ACK from an earlier upload: this one has items still to send
            return self._advance(now, state)
        name = result_name('MAV_MISSION_RESULT', result)
        self._finish(Outcome.REJECTED, now, name, f'{step.label}: the vehicle answered {name}')
        return []

    # ------------------------------------------------------------------ time

    def tick(self, now: float, state: VehicleStateData) -> list[Any]:
        """Check waits, resend what went unanswered, time out what stays so."""
        active = self._active
        if active is None:
            return []
        step = self._step()
        if isinstance(step, WaitUntil):
            if step.predicate(state):
                return self._advance(now, state)
            if now >= active.deadline:
                self._finish(Outcome.TIMED_OUT, now, reason=f'{step.label}: not reached within '
                                                            f'{step.timeout:g} s')
            return []
        if now < active.deadline:
            return []
        if active.in_progress:
            self._finish(Outcome.TIMED_OUT, now, reason=f'{step.label}: no final answer within '
                                                        f'{self.settings.in_progress_timeout:g} s '
                                                        'after IN_PROGRESS')
            return []
        if active.sends >= self.settings.attempts:
            self._finish(Outcome.TIMED_OUT, now, reason=f'{step.label}: no answer after '
                                                        f'{active.sends} sends')
            return []
        if isinstance(step, AckedCommand):
            return [self._send_command(step, now)]
        if isinstance(step, MissionUpload):
            return [self._send_upload_message(active.last_sent, now)]
        return []

    def next_deadline(self) -> float | None:
        """When tick() next has something to do (None: idle); waits are polled on telemetry too."""
        return self._active.deadline if self._active is not None else None
