"""Figures of a run from a synthetic event log whose right answers are known."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_scenarios.event_log import (ClockSample, CpuRecord, EntitySample, EventLog,
                                          HeartbeatRecord, SafetyRecord)
from sentinel_scenarios.metrics import (cpu_per_node, estop_results, false_alerts, iou,
                                        intrusion_results, link_cut_results, real_time_factor,
                                        restart_results)
from sentinel_scenarios.scenario import Intrusion

def test_intrusion_times_count_from_the_moment_the_actor_was_in_view(intrusion_log):
    [result] = intrusion_results(intrusion_log,
                                 [Intrusion('intruder', ('perimeter_crossing', 'intrusion'))])
    assert result.onset == 10.0
    assert result.detect == pytest.approx(2.3)
    assert (result.alert, result.alert_category) == (10.0, 'perimeter_crossing')
    assert (result.on_scene, result.vehicle) == (30.0, 'drone_1')
    assert not result.missed


def test_an_actor_never_in_view_or_never_alerted_is_reported_so(intrusion_log):
    log = intrusion_log
    unseen, = intrusion_results(log, [Intrusion('ghost', ('intrusion',))])
    assert unseen.onset is None and not unseen.missed
    missed, = intrusion_results(log, [Intrusion('intruder', ('drone_incursion',))])
    assert missed.alert is None and missed.missed


def test_false_alerts_are_threats_raised_away_from_every_intruder(intrusion_log):
    assert [a.alert_id for a in false_alerts(intrusion_log)] == ['a3', 'a4']


def test_estop_latency_waits_for_every_moving_vehicle(make):
    log = EventLog()
    log.add(make.vehicle(1.0, 'drone_1', 0, 0))
    log.add(make.vehicle(1.0, 'drone_2', 0, 0))
    log.add(make.vehicle(1.0, 'rover_1', 0, 0, armed=False))
    log.add(make.injection(2.0, 'estop'))
    log.add(SafetyRecord(2.2, 2.2, True, ()))
    log.add(make.vehicle(2.5, 'drone_1', 0, 0, mode='BRAKE'))
    log.add(make.vehicle(2.9, 'drone_2', 0, 0, mode='BRAKE'))
    [result] = estop_results(log)
    assert result.moving == ('drone_1', 'drone_2')
    assert result.status_latency == pytest.approx(0.2)
    assert result.stopped_latency == pytest.approx(0.9)


def test_link_cut_is_safe_once_the_vehicle_heads_home(make):
    log = EventLog()
    # Home at x=0; flies out to x=50 by t=10, link cut at 10, returns from t=16 at 2 m/s.
    for step in range(61):
        t = step / 2
        x = 5.0 * t if t <= 10 else 50.0 if t <= 16 else 50.0 - 2.0 * (t - 16)
        log.add(EntitySample(t, t, 'drone_1', 'drone', 'own_vehicle', x, 0.0, 20.0))
    log.add(make.injection(10.0, 'fault', 'drone_1', 'link_cut'))
    log.add(make.vehicle(13.0, 'drone_1', 50, 0, link=0))
    log.add(make.vehicle(13.5, 'drone_1', 50, 0, link=2))
    [result] = link_cut_results(log)
    assert result.reported_lost == pytest.approx(3.5)
    assert result.safe == pytest.approx(8.5) and result.how == 'returning home'


def test_a_vehicle_coasting_on_after_the_cut_is_returning_once_it_turns_round(make):
    log = EventLog()
    # Out at 5 m/s until 14 s (cut at 10 s, 50 m out), then back at 5 m/s from 70 m.
    for step in range(61):
        t = step / 2
        x = 5.0 * t if t <= 14 else 70.0 - 5.0 * (t - 14)
        log.add(EntitySample(t, t, 'drone_1', 'drone', 'own_vehicle', x, 0.0, 20.0))
    log.add(make.injection(10.0, 'fault', 'drone_1', 'link_cut'))
    [result] = link_cut_results(log)
    assert result.safe == pytest.approx(5.0) and result.how == 'returning home'


def test_a_drone_hovering_over_home_is_safe_once_it_descends(make):
    log = EventLog()
    # Hovers at 20 m over its pad; from 18 s (the failsafe, then RTL's loiter) down at 1.5 m/s.
    for step in range(61):
        t = step / 2
        log.add(EntitySample(t, t, 'drone_1', 'drone', 'own_vehicle', 1.0, 0.0,
                             20.0 if t <= 18 else 20.0 - 1.5 * (t - 18)))
    log.add(make.injection(10.0, 'fault', 'drone_1', 'link_cut'))
    [result] = link_cut_results(log)
    assert result.safe == pytest.approx(10.0) and result.how == 'descending to land'


def test_link_cut_of_a_vehicle_parked_at_home_is_safe_at_once(make):
    log = EventLog()
    for step in range(20):
        log.add(EntitySample(step / 2, step / 2, 'rover_1', 'vehicle', 'own_vehicle', 3.0, 4.0,
                             0.3))
    log.add(make.injection(2.0, 'fault', 'rover_1', 'link_cut'))
    [result] = link_cut_results(log)
    assert result.how == 'stopped on the ground' and result.safe == pytest.approx(1.5)


def test_restart_time_is_until_a_heartbeat_from_another_process(make):
    log = EventLog()
    log.add(HeartbeatRecord(0.0, 1.0, '/perception/fusion', 100, 0, ''))
    log.add(make.injection(5.0, 'kill_node', '/perception/fusion', pid=100))
    log.add(HeartbeatRecord(6.0, 6.0, '/perception/fusion', 100, 1, 'busy'))   # stale process
    log.add(HeartbeatRecord(9.0, 12.5, '/perception/fusion', 200, 0, ''))
    assert [(r.node, r.back_after) for r in restart_results(log)] == \
        [('/perception/fusion', 7.5)]


def test_real_time_factor_and_cpu_per_node():
    clock = [ClockSample(0.0, 0.0), ClockSample(10.0, 5.0), ClockSample(20.0, 10.0)]
    assert real_time_factor(clock) == pytest.approx(0.5)
    assert real_time_factor(clock[:1]) is None
    nodes = cpu_per_node([CpuRecord('/a', 1, 2.0), CpuRecord('/a', 2, 3.0),
                          CpuRecord('/b', 3, 8.0)], wall_duration=10.0)
    assert [(n.node, n.cpu, n.share, n.processes) for n in nodes] == \
        [('/b', 8.0, 0.8, 1), ('/a', 5.0, 0.5, 2)]


boxes = st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(1, 200),
                  st.floats(1, 200)).map(lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3]))


@given(boxes, boxes)
def test_iou_is_symmetric_bounded_and_one_for_the_same_box(a, b):
    assert iou(a, b) == pytest.approx(iou(b, a))
    assert 0.0 <= iou(a, b) <= 1.0 + 1e-9
    assert iou(a, a) == pytest.approx(1.0)
