"""Tasks and their state machine: pending, assigned, active, paused, completed, failed, cancelled.

Why a table of legal transitions: tasks change state from many places
(allocation, command results, link loss, operators, alerts), and a task that
went from COMPLETED back to ACTIVE, or was executed twice, is the kind of bug
that sends a vehicle somewhere nobody asked. Every change goes through
``TaskBook.transition``, which refuses anything the table does not allow and
bumps a revision so the node republishes /tasks only when something changed.

    PENDING  -> ASSIGNED | CANCELLED | FAILED
    ASSIGNED -> ACTIVE | PENDING (requeued) | PAUSED | CANCELLED | FAILED
    ACTIVE   -> PAUSED | COMPLETED | PENDING (requeued) | CANCELLED | FAILED
    PAUSED   -> ACTIVE | PENDING (requeued) | CANCELLED | FAILED
    COMPLETED, FAILED, CANCELLED: final

Pure logic with an explicit clock.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field

Point = tuple[float, float, float]
ARCHIVE_AFTER = 600.0     # s a finished task stays on /tasks before it is dropped
MAX_FINISHED = 200        # finished tasks kept on /tasks at most (oldest dropped first)


class TaskType(enum.IntEnum):
    """Mirror of Task.TYPE_*."""

    PATROL = 0
    INVESTIGATE = 1
    GOTO = 2
    HOLD = 3
    RTL = 4
    LAND = 5


class TaskState(enum.IntEnum):
    """Mirror of Task.STATE_*."""

    PENDING = 0
    ASSIGNED = 1
    ACTIVE = 2
    PAUSED = 3
    COMPLETED = 4
    FAILED = 5
    CANCELLED = 6


FINAL = frozenset({TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED})
# States in which a task holds its vehicle.
HOLDING_VEHICLE = frozenset({TaskState.ASSIGNED, TaskState.ACTIVE, TaskState.PAUSED})
TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.PENDING: frozenset({TaskState.ASSIGNED, TaskState.CANCELLED, TaskState.FAILED}),
    TaskState.ASSIGNED: frozenset({TaskState.ACTIVE, TaskState.PENDING, TaskState.PAUSED,
                                   TaskState.CANCELLED, TaskState.FAILED}),
    TaskState.ACTIVE: frozenset({TaskState.PAUSED, TaskState.COMPLETED, TaskState.PENDING,
                                 TaskState.CANCELLED, TaskState.FAILED}),
    TaskState.PAUSED: frozenset({TaskState.ACTIVE, TaskState.PENDING, TaskState.CANCELLED,
                                 TaskState.FAILED}),
    TaskState.COMPLETED: frozenset(),
    TaskState.FAILED: frozenset(),
    TaskState.CANCELLED: frozenset(),
}
# Task types bound to the vehicle they were created for (they cannot move to another).
VEHICLE_BOUND = frozenset({TaskType.HOLD, TaskType.RTL, TaskType.LAND})


class IllegalTransition(ValueError):
    """A state change the task state machine does not allow."""


class Phase(enum.IntEnum):
    """Where an investigation stands (mirror of InvestigatePoint feedback PHASE_*)."""

    DISPATCHING = 0
    TRANSIT = 1
    OBSERVING = 2
    RETURNING = 3


@dataclass
class Task:
    """A task and its execution bookkeeping (the Task message carries the first block)."""

    task_id: str
    task_type: TaskType
    state: TaskState = TaskState.PENDING
    vehicle_id: str = ''
    target: Point = (0.0, 0.0, 0.0)
    target_track_id: str = ''
    route: tuple[Point, ...] = ()
    priority: int = 0
    origin_alert_id: str = ''
    created_by: str = ''
    status_msg: str = ''
    # what a responder needs and how it observes
    vehicle_kinds: tuple[str, ...] = ('drone', 'ground')
    capabilities: frozenset[str] = frozenset()
    observe_duration: float = 0.0
    orbit_radius: float = 0.0
    standoff: float = 0.0
    speed: float = 0.0                 # m/s asked of the vehicle (patrols); 0 keeps its default
    awaiting_approval: bool = False
    # execution
    created_at: float = 0.0
    updated_at: float = 0.0
    pending_since: float = 0.0
    phase: Phase = Phase.DISPATCHING
    time_on_target: float = 0.0
    excluded: set[str] = field(default_factory=set)   # vehicles that failed or were refused for this task
    replans: int = 0                                  # refusals and failures absorbed so far
    ever_assigned: bool = False

    @property
    def final(self) -> bool:
        return self.state in FINAL


class TaskBook:
    """All tasks; the only place their state changes."""

    def __init__(self, prefix: str = 'task') -> None:
        self._tasks: dict[str, Task] = {}
        self._ids = itertools.count(1)
        self._prefix = prefix
        self.revision = 0

    def new_id(self) -> str:
        while True:
            candidate = f'{self._prefix}-{next(self._ids)}'
            if candidate not in self._tasks:
                return candidate

    def add(self, task: Task, now: float) -> Task:
        if task.task_id in self._tasks:
            raise ValueError(f'task {task.task_id} exists already')
        if task.state is not TaskState.PENDING:
            raise IllegalTransition(f'task {task.task_id}: a new task starts PENDING, not {task.state.name}')
        task.created_at = task.updated_at = task.pending_since = now
        self._tasks[task.task_id] = task
        self.revision += 1
        return task

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def transition(self, task: Task, new: TaskState, now: float, status_msg: str | None = None) -> None:
        """Move a task to ``new``; IllegalTransition when the table forbids it."""
        if new not in TRANSITIONS[task.state]:
            raise IllegalTransition(f'task {task.task_id}: {task.state.name} -> {new.name} is not allowed')
        task.state = new
        task.updated_at = now
        if new is TaskState.PENDING:
            task.vehicle_id = ''
            task.pending_since = now
            task.phase = Phase.DISPATCHING
        if status_msg is not None:
            task.status_msg = status_msg
        self.revision += 1

    def touch(self, task: Task, now: float, status_msg: str | None = None) -> None:
        """Record a change that is not a state change (status message, target, phase)."""
        if status_msg is not None:
            task.status_msg = status_msg
        task.updated_at = now
        self.revision += 1

    def tasks(self) -> list[Task]:
        return list(self._tasks.values())

    def live(self) -> list[Task]:
        return [t for t in self._tasks.values() if not t.final]

    def holding(self, vehicle_id: str) -> Task | None:
        """The task that holds a vehicle now, if any."""
        for task in self._tasks.values():
            if task.vehicle_id == vehicle_id and task.state in HOLDING_VEHICLE:
                return task
        return None

    def holders(self) -> dict[str, Task]:
        """Vehicle id -> the task that holds it now, in one pass."""
        return {t.vehicle_id: t for t in self._tasks.values() if t.state in HOLDING_VEHICLE}

    def by_alert(self, alert_id: str) -> Task | None:
        """The newest task answering an alert."""
        found = [t for t in self._tasks.values() if t.origin_alert_id == alert_id]
        return max(found, key=lambda t: t.created_at) if found else None

    def archive(self, now: float) -> None:
        """Drop finished tasks older than ARCHIVE_AFTER, and the oldest beyond MAX_FINISHED."""
        finished = sorted((t for t in self._tasks.values() if t.final), key=lambda t: t.updated_at)
        drop = [t for t in finished if now - t.updated_at > ARCHIVE_AFTER]
        drop += finished[len(drop):max(len(drop), len(finished) - MAX_FINISHED)]
        for task in drop:
            del self._tasks[task.task_id]
        if drop:
            self.revision += 1
