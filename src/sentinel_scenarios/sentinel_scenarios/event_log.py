"""What a scenario run observed, as plain records: the input of the metrics and the report.

The observer node turns ROS messages into these records and nothing else, so
every figure in a report can be recomputed from the log alone (``events.jsonl``
beside the report, one JSON object per line) without ROS. Every observation
carries two times taken when it arrived: ``t``, the simulated time (the newest
``/clock``), against which the scripted actors move, and ``wall``, seconds of
the observer's monotonic clock since the run started, for latencies that are
about the machine (e-stop, restarts).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

# sentinel_msgs/VehicleState.LINK_LOST
LINK_LOST = 2
# sentinel_msgs/NodeHeartbeat health names, by value.
HEALTH_NAMES = {0: 'OK', 1: 'DEGRADED', 2: 'ERROR'}
# Prefix of the ids of alerts the scenario publishes itself (EventKind.ALERT): they are
# shown on the timeline but are not the system's own detections.
SCENARIO_ALERT_PREFIX = 'scenario-'


@dataclass(frozen=True)
class ClockSample:
    wall: float
    sim: float


@dataclass(frozen=True)
class EntitySample:
    """Ground truth of one actor or own vehicle (/sim/ground_truth)."""

    t: float
    wall: float
    entity: str
    class_name: str
    role: str                   # own_vehicle, intruder or authorized
    x: float
    y: float
    z: float


@dataclass(frozen=True)
class Sighting:
    """Ground truth: where an actor appears in one rendered camera frame."""

    t: float
    wall: float
    stamp: float                # the frame's capture time, simulated seconds
    camera: str
    entity: str
    box: tuple[float, float, float, float]   # x_min, y_min, x_max, y_max, pixels
    visible: float              # visible fraction 0..1


@dataclass(frozen=True)
class DetectionRecord:
    t: float
    wall: float
    stamp: float                # the image's capture time, simulated seconds
    camera: str
    class_name: str
    confidence: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class AlertRecord:
    t: float
    wall: float
    alert_id: str
    category: str
    severity: int
    state: int
    class_name: str
    x: float
    y: float
    rule_id: str
    description: str


@dataclass(frozen=True)
class VehicleRecord:
    t: float
    wall: float
    vehicle: str
    x: float
    y: float
    z: float
    armed: bool
    landed: bool
    mode: str
    link: int


@dataclass(frozen=True)
class HeartbeatRecord:
    """A node's first heartbeat, and every change of its process or health."""

    t: float
    wall: float
    node: str
    pid: int
    health: int
    status: str


@dataclass(frozen=True)
class SafetyRecord:
    """The safety watchdog's status: each change of the e-stop or of the nodes it counts down,
    and every few seconds while nothing changes."""

    t: float
    wall: float
    estop: bool
    degraded: tuple[str, ...]


@dataclass(frozen=True)
class InjectionRecord:
    """A scenario event as it was carried out."""

    t: float
    wall: float
    kind: str                   # scenario.EventKind value, or 'fault_cleared'
    fault: str                  # fault name (scenario.Fault, lower case); '' for other kinds
    label: str
    target: str
    ok: bool
    detail: str                 # why it failed, or what it did
    pid: int = 0                # kill_node: the process killed


@dataclass(frozen=True)
class CpuRecord:
    """CPU time one process used while the simulation ran (its last sample before the end)."""

    node: str
    pid: int
    cpu: float                  # seconds, user + system


Record = (ClockSample | EntitySample | Sighting | DetectionRecord | AlertRecord
          | VehicleRecord | HeartbeatRecord | SafetyRecord | InjectionRecord | CpuRecord)
_TYPES: dict[str, type[Any]] = {cls.__name__: cls for cls in (
    ClockSample, EntitySample, Sighting, DetectionRecord, AlertRecord, VehicleRecord,
    HeartbeatRecord, SafetyRecord, InjectionRecord, CpuRecord)}
R = TypeVar('R')


class LogError(ValueError):
    """A line of an event log that is not a record."""


@dataclass
class EventLog:
    """Records of a run, in arrival order."""

    records: list[Record] = field(default_factory=list)

    def add(self, record: Record) -> None:
        self.records.append(record)

    def of(self, kind: type[R]) -> list[R]:
        return [r for r in self.records if isinstance(r, kind)]

    def write(self, path: Path) -> None:
        with path.open('w', encoding='utf-8') as out:
            for record in self.records:
                out.write(json.dumps({'type': type(record).__name__, **asdict(record)}) + '\n')

    @classmethod
    def read(cls, path: Path) -> EventLog:
        with path.open(encoding='utf-8') as lines:
            return cls(list(_parse(lines, str(path))))


def _parse(lines: Iterable[str], file: str) -> Iterator[Record]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            kind = _TYPES[data.pop('type')]
            values = {f.name: data[f.name] for f in fields(kind)}
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise LogError(f'{file}:{number}: not an event record ({error})') from None
        for name in ('box', 'degraded'):
            if name in values:
                values[name] = tuple(values[name])
        yield kind(**values)
