"""Decides which ROS-side observations become database records.

Vehicle state arrives at 5-10 Hz per vehicle; storing one sample per vehicle
per period keeps history useful and the database small. The safety status is
latched and republished; only changes of the e-stop are events worth keeping,
and their keys are derived from the status itself so a re-delivered status
(after a restart, say) is stored once. Pure logic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sentinel_bridge.audit_chain import format_time
from sentinel_bridge.domain import EstopEvent, SafetySnapshot

# Default spacing of stored telemetry samples per vehicle, seconds.
DEFAULT_TELEMETRY_PERIOD_S = 1.0


class TelemetryThinner:
    """Lets through at most one sample per vehicle per period."""

    def __init__(self, period_s: float = DEFAULT_TELEMETRY_PERIOD_S) -> None:
        if period_s < 0.0:
            raise ValueError(f'telemetry period must be >= 0 s, got {period_s!r}')
        self._period = timedelta(seconds=period_s)
        self._last: dict[str, datetime] = {}

    def accept(self, vehicle_id: str, stamp: datetime) -> bool:
        """True when this sample should be stored."""
        last = self._last.get(vehicle_id)
        if last is not None and stamp - last < self._period and stamp >= last:
            return False
        self._last[vehicle_id] = stamp
        return True


class EstopTransitionDetector:
    """Turns successive safety statuses into engaged/released events."""

    def __init__(self) -> None:
        self._previous: SafetySnapshot | None = None

    def update(self, status: SafetySnapshot) -> list[EstopEvent]:
        """Events implied by the new status compared with the previous one."""
        previous, self._previous = self._previous, status
        scope = {0: '', 1: 'vehicle', 2: 'fleet'}.get(status.estop_scope, str(status.estop_scope))
        engaged_now = status.estop_engaged
        engaged_before = previous is not None and previous.estop_engaged
        changed_set = (previous is not None
                       and previous.estopped_vehicle_ids != status.estopped_vehicle_ids)
        if engaged_now and (not engaged_before or changed_set):
            # Keyed by when it was engaged and what it covers, so the latched
            # status delivered again after a restart maps to the same event.
            engaged_at = status.estop_engaged_at or status.stamp
            key = (f'estop-engaged:{format_time(engaged_at)}:'
                   + ','.join(sorted(status.estopped_vehicle_ids)))
            return [EstopEvent(key=key, kind='engaged', occurred_at=engaged_at,
                               actor=status.estop_engaged_by, scope=scope,
                               vehicle_ids=status.estopped_vehicle_ids,
                               reason=status.estop_reason, outcome='reported by safety')]
        if engaged_before and not engaged_now:
            return [EstopEvent(key='estop-released:' + format_time(status.stamp),
                               kind='released', occurred_at=status.stamp,
                               outcome='reported by safety')]
        return []
