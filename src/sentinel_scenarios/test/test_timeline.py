"""The timeline keeps changes a reader needs and leaves flicker to the event log."""

from sentinel_scenarios.event_log import (ClockSample, EventLog, HeartbeatRecord, SafetyRecord,
                                          VehicleRecord)
from sentinel_scenarios.timeline import build_timeline, simulation_start


def test_starts_restarts_errors_and_modes_are_listed_but_not_flicker(make):
    log = EventLog()
    log.add(HeartbeatRecord(0.0, 1.0, '/perception/fusion', 10, 0, ''))
    log.add(ClockSample(5.0, 0.0))
    log.add(HeartbeatRecord(1.0, 6.0, '/perception/fusion', 10, 1, 'no detections yet'))
    log.add(HeartbeatRecord(2.0, 7.0, '/perception/fusion', 10, 2, 'rules file unreadable'))
    log.add(HeartbeatRecord(3.0, 8.0, '/perception/fusion', 11, 0, ''))
    for t, link in ((4.0, 0), (4.5, 2), (5.0, 0)):
        log.add(VehicleRecord(t, t + 5, 'drone_1', 0, 0, 0, False, True, 'STABILIZE', link))
    log.add(make.vehicle(6.0, 'drone_1', 0, 0, mode='GUIDED', wall=11.0))
    log.add(SafetyRecord(6.5, 11.5, False, ()))
    log.add(SafetyRecord(7.0, 12.0, False, ()))           # a periodic repeat: no line
    log.add(SafetyRecord(7.5, 12.5, True, ('/perception/fusion',)))
    log.add(SafetyRecord(7.6, 12.6, True, ()))
    log.add(SafetyRecord(7.7, 12.7, True, ('/perception/fusion',)))
    log.add(make.alert(8.0, 'a1', 'intrusion', 0, 0))
    log.add(make.alert(8.5, 'a1', 'intrusion', 0, 0))      # republished unchanged
    log.add(make.alert(9.0, 'a1', 'intrusion', 0, 0, state=2))
    log.add(make.alert(9.5, 'a2', 'intrusion', 0, 0))      # the same condition again
    texts = [(e.source, e.text) for e in build_timeline(log)]
    assert texts == [
        ('nodes', '/perception/fusion started (pid 10, OK)'),
        ('nodes', '/perception/fusion is ERROR: rules file unreadable'),
        ('nodes', '/perception/fusion restarted (pid 11, OK)'),
        ('vehicles', 'drone_1: STABILIZE, disarmed'),
        ('vehicles', 'drone_1: GUIDED, armed'),
        ('safety', 'e-stop released'),
        ('safety', 'e-stop engaged'),
        ('safety', '/perception/fusion counted down by the watchdog [2 times in all]'),
        ('alerts', 'intrusion alert raised (critical, a1): text [2 times in all]'),
    ]
    assert simulation_start(log) == 5.0
    assert simulation_start(EventLog()) is None
