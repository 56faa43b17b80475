"""Shared fixtures: builders of event-log records and a log whose right answers are known.

Exposed as fixtures (conftest modules are not importable under pytest's importlib mode).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sentinel_scenarios.event_log import (AlertRecord, DetectionRecord, EntitySample, EventLog,
                                          InjectionRecord, Sighting, VehicleRecord)

BOX = (100.0, 100.0, 140.0, 200.0)


def walk(log: EventLog, entity: str, role: str, start: tuple[float, float],
         velocity: tuple[float, float], until: float, z: float = 0.9) -> None:
    """Ground truth of an entity moving straight, every half second."""
    for step in range(int(until * 2) + 1):
        t = step / 2
        log.add(EntitySample(t, t, entity, 'person', role, start[0] + velocity[0] * t,
                             start[1] + velocity[1] * t, z))


def alert(t: float, alert_id: str, category: str, x: float, y: float,
          state: int = 0) -> AlertRecord:
    return AlertRecord(t, t, alert_id, category, 2, state, 'person', x, y, 'rule', 'text')


def vehicle(t: float, name: str, x: float, y: float, *, armed: bool = True,
            mode: str = 'GUIDED', landed: bool = False, link: int = 0,
            wall: float | None = None) -> VehicleRecord:
    return VehicleRecord(t, t if wall is None else wall, name, x, y, 20.0, armed, landed, mode,
                         link)


def injection(t: float, kind: str, target: str = '', fault: str = '', pid: int = 0,
              ok: bool = True) -> InjectionRecord:
    return InjectionRecord(t, t, kind, fault, kind, target, ok, '', pid)


def intrusion_log() -> EventLog:
    """An intruder walking east at 1 m/s from x=0, in view from 10 s; a guard far away."""
    log = EventLog()
    walk(log, 'intruder', 'intruder', (0.0, 0.0), (1.0, 0.0), 100)
    walk(log, 'guard', 'authorized', (500.0, 500.0), (0.0, 0.0), 100)
    log.add(Sighting(8.0, 8.0, 8.0, 'cam_nw', 'intruder', BOX, 0.1))      # barely visible
    log.add(Sighting(10.0, 10.0, 10.0, 'cam_nw', 'intruder', BOX, 0.8))   # onset
    log.add(Sighting(12.0, 12.0, 12.0, 'cam_nw', 'intruder', BOX, 0.9))
    # A detection elsewhere in the frame, then one on the intruder, in the frame of 12 s.
    log.add(DetectionRecord(10.5, 10.5, 10.0, 'cam_nw', 'person', 0.9, (400, 400, 420, 440)))
    log.add(DetectionRecord(12.3, 12.3, 12.0, 'cam_nw', 'person', 0.9, (102, 98, 141, 196)))
    # Alerts: wrong category first, then the expected one near the intruder (at x=20).
    log.add(alert(18.0, 'a1', 'loitering', 18.0, 0.0))
    log.add(alert(20.0, 'a2', 'perimeter_crossing', 25.0, 5.0))
    log.add(alert(21.0, 'a2', 'perimeter_crossing', 25.0, 5.0, state=1))
    # Alerts about nobody, about the guard, and one the scenario published itself.
    log.add(alert(30.0, 'a3', 'intrusion', -300.0, 0.0))
    log.add(alert(31.0, 'a4', 'intrusion', 505.0, 500.0))
    log.add(alert(32.0, 'scenario-1', 'intrusion', -300.0, 0.0))
    log.add(alert(33.0, 'a5', 'system', -300.0, 0.0))
    # A vehicle on the ground nearby (does not count), then one arriving by air at 40 s.
    log.add(vehicle(15.0, 'rover_1', 15.0, 0.0, armed=False))
    log.add(vehicle(30.0, 'drone_1', -60.0, 0.0))
    log.add(vehicle(40.0, 'drone_1', 10.0, 0.0))
    return log


@pytest.fixture
def make() -> SimpleNamespace:
    """The record builders above."""
    return SimpleNamespace(walk=walk, alert=alert, vehicle=vehicle, injection=injection)


@pytest.fixture(name='intrusion_log')
def intrusion_log_fixture() -> EventLog:
    return intrusion_log()
