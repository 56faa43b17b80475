"""The watchdog core on the substation, with a fake clock: policies, e-stop, routing, timing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_safety.config import NodeRole
from sentinel_safety.domain import Action, CommandKind, Decision, EstopCategory, LinkHeard, Vec3
from sentinel_safety.domain import VehicleType
from sentinel_safety.estop import EngageError, EstopState, ReleaseError, Scope
from sentinel_safety.liveness import HEALTH_DEGRADED, HEALTH_OK
from sentinel_safety.watchdog import Watchdog


def _testkit() -> ModuleType:
    name = 'sentinel_safety_testkit'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(
            'safety_testkit.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


K = _testkit()   # shared builders (safety_testkit.py)


def _short_graces(data: dict) -> None:
    data['monitoring']['startup_grace'] = 1.0
    data['heartbeats']['startup_grace'] = 1.0


CONFIG = K.config(_short_graces)   # the shipped limits, with start-up graces of 1 s
GRACE = 1.5      # s: past both start-up graces
SITE = K.substation()
PERIOD = CONFIG.monitoring.period
NODES = [spec.name for spec in CONFIG.heartbeats.nodes]
HOMES = {vid: v.home for vid, v in SITE.vehicles.items()}


class Rig:
    """A watchdog, its fake clock, healthy nodes and vehicles hovering over their pads."""

    def __init__(self, estop: EstopState = EstopState()) -> None:
        self.t = 0.0
        self.dog = Watchdog(CONFIG, SITE, estop, self.t)
        self.progress = 0
        self.silent: set[str] = set()       # nodes that stopped beating
        self.positions = {vid: Vec3(h.x, h.y, 10.0 if SITE.vehicles[vid].vehicle_type
                                    is VehicleType.DRONE else 0.0) for vid, h in HOMES.items()}
        self.battery = {vid: 1.0 for vid in HOMES}
        self.armed = {vid: True for vid in HOMES}
        self.stale: set[str] = set()        # vehicles whose state stopped

    def feed(self) -> None:
        self.progress += 1
        for name in NODES:
            if name not in self.silent:
                self.dog.on_heartbeat(name, 7, self.progress, self.progress, HEALTH_OK, '', self.t)
        for vid, position in self.positions.items():
            if vid in self.stale:
                continue
            kind = SITE.vehicles[vid].vehicle_type
            self.dog.on_vehicle_state(K.snapshot(vid, position, kind=kind, armed=self.armed[vid],
                                                 battery=self.battery[vid], at=self.t))

    def run(self, seconds: float) -> tuple[list, list]:
        orders, alerts = [], []
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.feed()
            out = self.dog.tick(self.t, None, {vid: LinkHeard(self.t, self.armed[vid])
                                               for vid in HOMES})
            orders += [(self.t, o) for o in out.orders]
            alerts += out.alerts
            self.t = round(self.t + PERIOD, 9)
        return orders, alerts


def test_a_healthy_site_is_quiet() -> None:
    rig = Rig()
    orders, alerts = rig.run(GRACE + 3.0)
    assert orders == [] and alerts == []
    status = rig.dog.status(rig.t)
    assert not status.degraded_nodes and all(v.active_failsafe is Action.NONE
                                             for v in status.vehicles)


def test_mission_control_down_holds_every_armed_vehicle_once() -> None:
    rig = Rig()
    rig.armed['rover_2'] = False
    rig.run(GRACE)
    rig.silent.add('/control/mission_control')
    died = rig.t
    orders, alerts = rig.run(5.0)
    held = sorted(o.vehicle_id for _, o in orders)
    assert held == sorted(v for v in HOMES if v != 'rover_2')
    assert all(o.action is Action.HOLD and o.via_topic and not o.via_mavlink for _, o in orders)
    assert max(t for t, _ in orders) <= died + 1.1 * 1.0 + 1e-9
    assert [a.rule_id for a in alerts] == ['node_down'] and alerts[0].category == 'system'
    assert rig.dog.status(rig.t).degraded_nodes == ('/control/mission_control',)
    rig.silent.clear()
    _, alerts = rig.run(1.0)
    assert alerts and alerts[0].resolved


def test_mission_control_down_does_not_stop_a_vehicle_returning_on_low_battery() -> None:
    rig = Rig()
    rig.run(GRACE)
    rig.battery['drone_1'] = 0.2
    low, _ = rig.run(CONFIG.vehicle_types[VehicleType.DRONE].ladder['low_battery'].delay + 0.5)
    assert [o.action for _, o in low if o.vehicle_id == 'drone_1'] == [Action.HOLD, Action.RETURN]
    rig.silent.add('/control/mission_control')
    orders, _ = rig.run(2.0)
    held = sorted(o.vehicle_id for _, o in orders)
    assert 'drone_1' not in held and 'drone_2' in held
    assert rig.dog.status(rig.t).vehicles[0].active_failsafe is Action.RETURN


def test_perception_down_only_alerts() -> None:
    rig = Rig()
    rig.run(GRACE)
    rig.silent.add('/perception/detector')
    orders, alerts = rig.run(3.0)
    assert orders == [] and len(alerts) == 1 and 'vehicles continue' in alerts[0].description


def test_vehicle_interface_down_routes_stops_over_mavlink() -> None:
    rig = Rig()
    rig.run(GRACE)
    rig.silent.add('/control/vehicle_interface')
    rig.run(2.0)
    assert rig.dog.mavlink_takeover
    rig.battery['drone_1'] = 0.001         # cannot even get home
    orders, _ = rig.run(1.0)
    assert [(o.vehicle_id, o.action, o.via_mavlink) for _, o in orders] == \
        [('drone_1', Action.LAND, True)]


def test_a_vehicle_interface_that_works_gets_the_order_alone() -> None:
    rig = Rig()
    rig.run(GRACE)
    rig.battery['drone_2'] = 0.001
    orders, alerts = rig.run(1.0)
    assert [(o.vehicle_id, o.action, o.via_topic, o.via_mavlink) for _, o in orders] == \
        [('drone_2', Action.LAND, True, False)]
    assert {a.rule_id for a in alerts} == {'battery_critical'}
    assert rig.dog.status(rig.t).vehicles[1].violations == ('battery_critical',)


@settings(max_examples=15, deadline=None)
@given(st.floats(GRACE, GRACE + 1.0), st.sampled_from(['drone_1', 'rover_1']))
def test_stale_state_is_acted_on_within_timeout_plus_one_cycle(stops_at: float,
                                                               vehicle_id: str) -> None:
    rig = Rig()
    rig.run(stops_at)
    last = rig.t - PERIOD               # the last state arrived in the last cycle run
    rig.stale.add(vehicle_id)
    orders, _ = rig.run(1.5)
    first = min(t for t, o in orders if o.vehicle_id == vehicle_id)
    timeout = CONFIG.vehicle_types[SITE.vehicles[vehicle_id].vehicle_type].stale_state_timeout
    assert last + timeout - 1e-6 < first <= last + timeout + PERIOD + 1e-6
    order = next(o for t, o in orders if o.vehicle_id == vehicle_id)
    assert order.action is Action.HOLD
    assert order.via_mavlink   # the vehicle interface is evidently not getting through


def test_estop_orders_both_paths_and_blocks_motion_until_two_people_release() -> None:
    rig = Rig()
    rig.run(GRACE)
    result, orders, alerts = rig.dog.trigger_estop(Scope.FLEET, [], 'operator_console', 'drill',
                                                   1.7e9, rig.t)
    assert result.error is EngageError.NONE and alerts[0].rule_id == 'estop'
    assert {o.vehicle_id for o in orders} == set(HOMES)
    assert all(o.via_topic and o.via_mavlink and o.latched for o in orders)
    drone = next(o for o in orders if o.vehicle_id == 'drone_1')
    assert (drone.category, drone.action) == (EstopCategory.BRAKE, Action.HOLD)
    goto = K.command(target=Vec3(-60, 0, 20))
    assert rig.dog.check_command(goto, rig.t, None).verdict.checks_failed == ('estop',)
    land = K.command(CommandKind.LAND)
    assert rig.dog.check_command(land, rig.t, None).verdict.decision is Decision.APPROVED
    # Engaging again is fine and re-sends the stops.
    again = rig.dog.trigger_estop(Scope.VEHICLE, ['drone_1'], 'mission_control', 'x', 0.0, rig.t)
    assert again[0].error is EngageError.NONE and again[1]
    refused, _ = rig.dog.release_estop([], 'shift_supervisor', 'shift_supervisor', 'x', rig.t)
    assert refused.error is ReleaseError.SAME_APPROVER
    released, alerts = rig.dog.release_estop([], 'shift_supervisor', 'safety_officer', 'ok',
                                             rig.t)
    assert released.error is ReleaseError.NONE and alerts[0].resolved
    assert rig.dog.check_command(goto, rig.t, None).verdict.decision is Decision.APPROVED


def test_monitor_orders_for_estopped_vehicles_only_when_a_stronger_stop() -> None:
    rig = Rig()
    rig.run(GRACE)
    rig.dog.trigger_estop(Scope.VEHICLE, ['drone_1'], 'operator_console', 'x', 0.0, rig.t)
    rig.battery['drone_1'] = 0.2           # low: RETURN, but an e-stopped vehicle stays put
    orders, _ = rig.run(6.0)
    assert orders == []
    rig.battery['drone_1'] = 0.001         # critical: LAND is a stronger stop than BRAKE
    orders, _ = rig.run(1.0)
    assert [(o.action, o.latched, o.via_mavlink) for _, o in orders] == \
        [(Action.LAND, True, True)]


def test_a_latched_stop_is_reapplied_after_a_restart() -> None:
    persisted = EstopState(vehicles=frozenset({'drone_3'}), engaged_by='safety_officer',
                           engaged_at=1.7e9, reason='bird strike')
    dog = Watchdog(CONFIG, SITE, persisted, 0.0)
    orders, alerts = dog.restart_orders(0.0)
    assert [(o.vehicle_id, o.latched, o.via_mavlink) for o in orders] == [('drone_3', True, True)]
    assert 'bird strike' in alerts[0].description
    assert dog.status(0.0).estopped_vehicle_ids == ('drone_3',)


def test_approved_plans_keep_other_vehicles_apart() -> None:
    rig = Rig()
    rig.run(GRACE)
    first = rig.dog.check_command(K.command(vehicle_id='drone_1', target=Vec3(-60, 60, 10)),
                                  rig.t, None)
    assert first.verdict.decision is Decision.APPROVED
    crossing = K.command(vehicle_id='drone_3', target=Vec3(-80, 30, 10), command_id='c2')
    assert 'separation' in rig.dog.check_command(crossing, rig.t, None).verdict.checks_failed
    above = K.command(vehicle_id='drone_3', target=Vec3(-40, 60, 30), command_id='c3')
    assert 'separation' not in rig.dog.check_command(above, rig.t, None).verdict.checks_failed


def test_an_operator_override_cancels_the_pending_return() -> None:
    rig = Rig()
    rig.run(GRACE)
    rig.positions['drone_1'] = Vec3(-60, 125, 10)   # blown out of the flight area
    orders, _ = rig.run(1.0)
    assert [o.action for _, o in orders] == [Action.HOLD]   # then RETURN after 3 s
    mission = K.command(vehicle_id='drone_1', target=Vec3(-60, 90, 10), speed=3.0)
    assert rig.dog.check_command(mission, rig.t, None).verdict.checks_failed == \
        ('failsafe_active',)
    back = K.command(vehicle_id='drone_1', target=Vec3(-60, 90, 10), speed=3.0,
                     issued_by='operator_console', command_id='c2')
    outcome = rig.dog.check_command(back, rig.t, None)
    assert outcome.override and outcome.verdict.decision is Decision.APPROVED
    orders, _ = rig.run(5.0)
    assert orders == []
    status = {v.vehicle_id: v for v in rig.dog.status(rig.t).vehicles}
    assert status['drone_1'].violations == ('fence_breach',)
    assert status['drone_1'].active_failsafe is Action.WARN


def test_low_battery_lets_the_vehicle_go_home_but_nowhere_else() -> None:
    rig = Rig()
    rig.run(GRACE)
    rig.battery['drone_1'] = 0.2
    rig.run(1.0)
    goto = K.command(vehicle_id='drone_1', target=Vec3(-60, 0, 10), issued_by='operator_console')
    assert 'battery_reserve' in rig.dog.check_command(goto, rig.t, None).verdict.checks_failed
    rtl = K.command(CommandKind.RTL, vehicle_id='drone_1')
    assert rig.dog.check_command(rtl, rig.t, None).verdict.decision is Decision.APPROVED


def test_unknown_vehicles_are_refused_and_ignored() -> None:
    rig = Rig()
    outcome = rig.dog.check_command(K.command(vehicle_id='drone_99'), 0.0, None)
    assert outcome.verdict.checks_failed == ('unknown_vehicle',)
    assert not rig.dog.on_vehicle_state(K.snapshot('drone_99'))


def test_degraded_nodes_are_not_down() -> None:
    rig = Rig()
    rig.run(GRACE)
    for name in NODES:
        rig.dog.on_heartbeat(name, 8, 1, 0, HEALTH_DEGRADED, 'placeholder', rig.t)
    rig.silent = set(NODES)
    for _ in range(30):
        for name in NODES:
            rig.dog.on_heartbeat(name, 8, 2, 0, HEALTH_DEGRADED, 'placeholder', rig.t)
        rig.run(PERIOD)
    assert rig.dog.status(rig.t).degraded_nodes == ()
    assert NodeRole.MISSION_CONTROL not in rig.dog._roles_down
