"""Domain enums mirror the message constants; conversions keep meaning and pick the worst case."""

from __future__ import annotations

import math

from sentinel_msgs.msg import (Alert, NodeHeartbeat, SafetyStatus, SafetyVerdict, VehicleCommand,
                               VehicleSafety, VehicleState)
from sentinel_msgs.srv import CommandVehicle, ReleaseEstop, TriggerEstop

from sentinel_safety import convert, liveness, watchdog
from sentinel_safety.domain import (Action, CommandKind, Decision, EstopCategory, GpsFix,
                                    LinkState, StopOrder, Vec3)
from sentinel_safety.estop import EngageError, EstopState, ReleaseError, Scope
from sentinel_safety.gate import GateError


def _constants(message: type, prefix: str) -> dict[str, int]:
    return {name[len(prefix):]: getattr(message, name) for name in dir(message)
            if name.startswith(prefix) and isinstance(getattr(message, name), int)}


def test_enums_mirror_the_interfaces() -> None:
    assert {a.name: a.value for a in Action} == _constants(VehicleSafety, 'FAILSAFE_')
    assert {k.name: k.value for k in CommandKind} == _constants(VehicleCommand, 'COMMAND_')
    assert {d.name: d.value for d in Decision} == {
        'APPROVED': SafetyVerdict.APPROVED,
        'APPROVED_WITH_CHANGES': SafetyVerdict.APPROVED_WITH_CHANGES,
        'REFUSED': SafetyVerdict.REFUSED}
    assert {s.name: s.value for s in LinkState} == _constants(VehicleState, 'LINK_')
    assert [g.value for g in GpsFix] == [VehicleState.GPS_NO_FIX, VehicleState.GPS_2D,
                                         VehicleState.GPS_3D, VehicleState.GPS_RTK]
    assert {e.name: e.value for e in GateError} == _constants(CommandVehicle.Response, 'ERROR_')
    assert {e.name: e.value for e in EngageError} == _constants(TriggerEstop.Response, 'ERROR_')
    assert {e.name: e.value for e in ReleaseError} == _constants(ReleaseEstop.Response, 'ERROR_')
    assert {s.name: s.value for s in Scope} == _constants(TriggerEstop.Request, 'SCOPE_')
    assert (liveness.HEALTH_OK, liveness.HEALTH_DEGRADED, liveness.HEALTH_ERROR) == (
        NodeHeartbeat.HEALTH_OK, NodeHeartbeat.HEALTH_DEGRADED, NodeHeartbeat.HEALTH_ERROR)
    assert (watchdog.SEVERITY_INFO, watchdog.SEVERITY_WARNING, watchdog.SEVERITY_CRITICAL) == (
        Alert.SEVERITY_INFO, Alert.SEVERITY_WARNING, Alert.SEVERITY_CRITICAL)


def test_a_vehicle_state_with_odd_values_reads_as_the_worst_case() -> None:
    msg = VehicleState(vehicle_id='drone_1', link_state=9, gps_fix=7, battery_remaining=1.5,
                       vehicle_type=VehicleState.TYPE_GROUND)
    snapshot = convert.snapshot(msg, 12.5)
    assert snapshot.link is LinkState.LOST and snapshot.gps_fix is GpsFix.NO_FIX
    assert math.isnan(snapshot.battery_remaining) and snapshot.received_at == 12.5
    assert convert.command(VehicleCommand(command=99)) is None


def test_orders_status_and_alerts_become_messages() -> None:
    order = StopOrder('drone_2', Action.HOLD, 'drill', True, True, EstopCategory.BRAKE, True)
    msg = convert.order_msg(order, 'safety_watchdog-1', convert.ros_time(5))
    assert (msg.command, msg.issued_by, msg.verdict.decision) == (
        VehicleCommand.COMMAND_HOLD, 'safety_watchdog', SafetyVerdict.APPROVED)
    state = EstopState(vehicles=frozenset({'drone_2'}), engaged_by='ops', engaged_at=100.5,
                       reason='drill')
    view = watchdog.StatusView(state, ('drone_2',), (watchdog.VehicleStatus(
        'drone_2', ('low_battery',), Action.RETURN, 9.0, True),), ('/perception/detector',))
    status = convert.status_msg(view, 10.0, 50 * convert.NS_PER_S)
    assert status.estop_scope == SafetyStatus.SCOPE_VEHICLE
    assert (status.estop_engaged_at.sec, status.estop_engaged_at.nanosec) == (100, 500_000_000)
    assert status.vehicles[0].failsafe_since.sec == 49   # one second before "now"
    alert = convert.alert_msg(watchdog.AlertEvent(
        'a-1', 2, 'safety', 'fence_breach', 'drone_2', 'hv_bus', Vec3(1.0, 2.0, 3.0), 'x', True,
        9.5), 10.0, 50 * convert.NS_PER_S)
    assert alert.state == Alert.STATE_RESOLVED and alert.position.z == 3.0
    assert alert.first_raised.sec == 49 and alert.first_raised.nanosec == 500_000_000
