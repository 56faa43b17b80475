"""Drift verdicts to alerts: one alert per camera (or all cameras) while drift lasts.

Why: a degraded detector is an operational condition (the site is watched
less well), so it goes to operators on ``alerts`` like any threat, but as
*one* alert per drifting scope, updated while the drift lasts and marked
ended when the data is back to normal, not one per evaluation. No rclpy.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sentinel_perception.alerts import AlertRecord, AlertState
from sentinel_perception.drift import WindowResult, describe
from sentinel_perception.threat_rules import Severity

DRIFT_CATEGORY = 'drift'      # Alert.category
DRIFT_RULE = 'input_drift'    # Alert.rule_id of every drift alert


def _new_id() -> str:
    return f'drift-{uuid.uuid4().hex[:16]}'


@dataclass
class DriftAlerts:
    """Open drift alerts by scope ('' = all cameras)."""

    update_period: float = 60.0      # s between republications of an unchanged drift alert
    severity: Severity = Severity.WARNING
    id_factory: Callable[[], str] = _new_id
    _open: dict[str, AlertRecord] = field(default_factory=dict)

    def update(self, result: WindowResult, now: float, report_uri: str) -> AlertRecord | None:
        """The alert to publish for this verdict, if any (new, updated, or ended)."""
        scope = result.camera_id
        alert = self._open.get(scope)
        if result.drifted:
            if alert is None:
                alert = AlertRecord(
                    alert_id=self.id_factory(), severity=int(self.severity),
                    category=DRIFT_CATEGORY, rule_id=DRIFT_RULE, zone_id='', track_id='',
                    class_name='', position=(math.nan, math.nan, math.nan),
                    state=int(AlertState.NEW), description=describe(result), first_raised=now,
                    last_updated=now, evidence_uri=report_uri, last_published=now)
                self._open[scope] = alert
                return alert.snapshot()
            alert.description, alert.last_updated = describe(result), now
            if report_uri:
                alert.evidence_uri = report_uri
            if now - alert.last_published >= self.update_period:
                alert.last_published = now
                return alert.snapshot()
            return None
        if alert is None:
            return None
        del self._open[scope]
        alert.active, alert.condition_end, alert.last_updated = False, now, now
        alert.description = f'{alert.description} (ended: {describe(result)})'
        return alert.snapshot()
