"""The alerts the threat rules raise: one per incident, updated in place, with a cool-down.

Why: an intruder standing in the transformer yard for ten minutes is one
incident, not 3,000 alerts at 5 Hz; an operator who acknowledged it must not
see it pop up again as new because the tracker re-acquired the person under
another id. So:

* **De-duplication**: one alert per (rule, zone, track). While the condition
  holds, the same alert (same ``alert_id``) is updated: position and
  description, republished at most every ``update_period`` s unless something
  operators care about changed (raised, cleared, acknowledged).
* **Cool-down**: when the condition ends (or a crossing happened), the same
  (rule, zone, track) re-triggering within the rule's ``cooldown`` updates the
  old alert instead of raising a new one; an alert an operator *resolved* is
  not re-raised within the cool-down at all. After it, a new alert is raised.
* **Track id changes**: a new track that triggers the same rule in the same
  zone within ``dedup_radius`` m of an alert whose own track has gone (ended,
  still within its cool-down) is taken for the same incident (trackers do
  lose and re-acquire people), and that alert follows the new track. An alert
  whose track is still in the zone is never taken over: two people are two
  incidents.
* **Operators**: acknowledge (idempotent) or resolve with a note; resolving a
  resolved alert, or acknowledging one, is refused with a reason.

The book can be saved to and restored from JSON (atomically), so a restarted
fusion node keeps acknowledged and resolved states. No rclpy.
"""

from __future__ import annotations

import enum
import json
import math
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sentinel_perception.threat_rules import RuleHit, Severity

# Version of the saved JSON layout.
JOURNAL_VERSION = 1


class AlertState(enum.IntEnum):
    """Mirror of Alert.STATE_*."""

    NEW = 0
    ACKNOWLEDGED = 1
    RESOLVED = 2


class AckError(enum.IntEnum):
    """Mirror of AcknowledgeAlert.Response.ERROR_*."""

    NONE = 0
    UNKNOWN_ALERT = 1
    INVALID_STATE = 2


@dataclass(frozen=True)
class AlertSettings:
    update_period: float = 5.0    # s between republications of an unchanged live alert
    dedup_radius: float = 10.0    # m: a new track this close to a live alert is the same incident
    max_alerts: int = 2000        # records kept (oldest resolved, then oldest, dropped first)


@dataclass
class AlertRecord:
    """One alert as the book keeps it (the fields of sentinel_msgs/Alert, in SI units)."""

    alert_id: str
    severity: int
    category: str
    rule_id: str
    zone_id: str
    track_id: str
    class_name: str
    position: tuple[float, float, float]
    state: int
    description: str
    first_raised: float            # s
    last_updated: float            # s
    evidence_uri: str = ''
    acknowledged_by: str = ''
    resolution_note: str = ''
    active: bool = True            # the rule's condition holds now
    condition_end: float | None = None   # s, when it last stopped holding (or the crossing time)
    resolved_at: float | None = None     # s
    last_published: float = -math.inf    # s

    def snapshot(self) -> AlertRecord:
        return replace(self)


@dataclass(frozen=True)
class AlertChange:
    """An alert to publish now; ``created`` when it is new (evidence is due)."""

    alert: AlertRecord
    created: bool


def _new_id() -> str:
    return f'alert-{uuid.uuid4().hex[:16]}'


@dataclass
class AlertBook:
    """Every alert the threat rules raised, keyed for de-duplication."""

    settings: AlertSettings = field(default_factory=AlertSettings)
    id_factory: Callable[[], str] = _new_id
    alerts: dict[str, AlertRecord] = field(default_factory=dict)
    _latest: dict[tuple[str, str, str], str] = field(default_factory=dict)  # key -> alert id

    # ------------------------------------------------------------------ rules

    def apply(self, hits: Iterable[RuleHit], now: float) -> list[AlertChange]:
        """Turn rule hits into alert creations and updates; returns what to publish."""
        changes: dict[str, AlertChange] = {}
        for hit in hits:
            change = self._raise(hit, now) if hit.raised else self._clear(hit, now)
            if change is not None:
                previous = changes.get(change.alert.alert_id)
                created = change.created or (previous is not None and previous.created)
                changes[change.alert.alert_id] = AlertChange(change.alert, created)
        for change in changes.values():
            self.alerts[change.alert.alert_id].last_published = now
        self._evict()
        return [AlertChange(c.alert.snapshot(), c.created) for c in changes.values()]

    def _raise(self, hit: RuleHit, now: float) -> AlertChange | None:
        key = (hit.rule.rule_id, hit.zone_id, hit.track_id)
        alert = self._live_or_cooling(self.alerts.get(self._latest.get(key, '')), hit, now)
        if alert is None:
            alert = self._same_incident(hit, now)
            if alert is not None:
                alert.track_id = hit.track_id
                self._latest[key] = alert.alert_id
        if alert is not None and alert.state == AlertState.RESOLVED:
            return None  # resolved by an operator within the cool-down: stay quiet
        if alert is None:
            alert = AlertRecord(
                alert_id=self.id_factory(), severity=int(hit.rule.severity),
                category=hit.rule.category, rule_id=hit.rule.rule_id, zone_id=hit.zone_id,
                track_id=hit.track_id, class_name=hit.class_name, position=hit.position,
                state=int(AlertState.NEW), description=hit.description, first_raised=now,
                last_updated=now, active=not hit.instant,
                condition_end=now if hit.instant else None)
            self.alerts[alert.alert_id] = alert
            self._latest[key] = alert.alert_id
            return AlertChange(alert, True)
        reopened = not alert.active and not hit.instant
        alert.active = not hit.instant
        alert.condition_end = now if hit.instant else None
        alert.position, alert.description, alert.last_updated = hit.position, hit.description, now
        if hit.class_name:
            alert.class_name = hit.class_name
        if hit.instant or reopened or now - alert.last_published >= self.settings.update_period:
            return AlertChange(alert, False)
        return None

    def _live_or_cooling(self, alert: AlertRecord | None, hit: RuleHit,
                         now: float) -> AlertRecord | None:
        """The alert that a re-trigger at ``now`` should update, if any."""
        if alert is None:
            return None
        if alert.state == AlertState.RESOLVED:
            reference = alert.resolved_at if alert.resolved_at is not None else alert.last_updated
            return alert if now - reference < hit.rule.cooldown else None
        if alert.active:
            return alert
        end = alert.condition_end if alert.condition_end is not None else alert.last_updated
        return alert if now - end < hit.rule.cooldown else None

    def _same_incident(self, hit: RuleHit, now: float) -> AlertRecord | None:
        """An ended, cooling alert of the same rule and zone, close by, under another track id."""
        best: tuple[float, AlertRecord] | None = None
        for alert in self.alerts.values():
            if (alert.rule_id, alert.zone_id) != (hit.rule.rule_id, hit.zone_id) or \
                    alert.track_id == hit.track_id or alert.state == AlertState.RESOLVED:
                continue
            if alert.active or self._live_or_cooling(alert, hit, now) is None:
                continue  # an active alert belongs to a track still in the zone: another incident
            distance = math.hypot(alert.position[0] - hit.position[0],
                                  alert.position[1] - hit.position[1])
            if distance <= self.settings.dedup_radius and (best is None or distance < best[0]):
                best = (distance, alert)
        return best[1] if best is not None else None

    def _clear(self, hit: RuleHit, now: float) -> AlertChange | None:
        key = (hit.rule.rule_id, hit.zone_id, hit.track_id)
        alert = self.alerts.get(self._latest.get(key, ''))
        if alert is None or not alert.active:
            return None
        alert.active, alert.condition_end, alert.last_updated = False, now, now
        if all(math.isfinite(c) for c in hit.position):
            alert.position = hit.position
        alert.description = f'{alert.description.split(" (ended")[0]} (ended: {hit.description})'
        return AlertChange(alert, False) if alert.state != AlertState.RESOLVED else None

    def rename_track(self, old: str, new: str) -> None:
        """Fusion merged track ``old`` into ``new``: its alerts follow."""
        for key in [k for k in self._latest if k[2] == old]:
            alert_id = self._latest.pop(key)
            self._latest.setdefault((key[0], key[1], new), alert_id)
            self.alerts[alert_id].track_id = new

    # ------------------------------------------------------------------ operators

    def acknowledge(self, alert_id: str, operator_id: str, resolve: bool, note: str,
                    now: float) -> tuple[AckError, str, AlertRecord | None]:
        """Acknowledge or resolve; returns (error, message, the alert after the change)."""
        alert = self.alerts.get(alert_id)
        if alert is None:
            return AckError.UNKNOWN_ALERT, f'no alert {alert_id!r} here', None
        if alert.state == AlertState.RESOLVED:
            verb = 'resolve' if resolve else 'acknowledge'
            return (AckError.INVALID_STATE,
                    f'alert {alert_id} was resolved by {alert.acknowledged_by or "an operator"}; '
                    f'cannot {verb} it again', alert.snapshot())
        if resolve:
            alert.state = int(AlertState.RESOLVED)
            alert.resolution_note = note
            alert.resolved_at = now
            if not alert.acknowledged_by:
                alert.acknowledged_by = operator_id
        elif alert.state == AlertState.NEW:
            alert.state = int(AlertState.ACKNOWLEDGED)
            alert.acknowledged_by = operator_id
        alert.last_updated = now
        alert.last_published = now
        return AckError.NONE, '', alert.snapshot()

    def set_evidence(self, alert_id: str, uri: str) -> AlertRecord | None:
        alert = self.alerts.get(alert_id)
        if alert is None:
            return None
        alert.evidence_uri = uri
        return alert.snapshot()

    # ------------------------------------------------------------------ housekeeping

    def _evict(self) -> None:
        excess = len(self.alerts) - self.settings.max_alerts
        if excess <= 0:
            return
        order = sorted(self.alerts.values(),
                       key=lambda a: (a.state != AlertState.RESOLVED, a.last_updated))
        for alert in order[:excess]:
            del self.alerts[alert.alert_id]
        live = set(self.alerts)
        self._latest = {k: v for k, v in self._latest.items() if v in live}

    def save(self, path: Path) -> None:
        """Write the book atomically (a crash leaves the previous file, never half of one)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {'version': JOURNAL_VERSION,
                    'alerts': [_record_json(a) for a in self.alerts.values()],
                    'latest': [[*key, value] for key, value in self._latest.items()]}
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
        try:
            with os.fdopen(handle, 'w', encoding='utf-8') as stream:
                json.dump(document, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, path: Path) -> int:
        """Restore a saved book (replacing this one's content); returns the alert count.

        Raises ValueError with the reason when the file is not a journal of this version.
        """
        try:
            document = json.loads(path.read_text(encoding='utf-8'))
            if document.get('version') != JOURNAL_VERSION:
                raise ValueError(f'journal version {document.get("version")!r}, '
                                 f'expected {JOURNAL_VERSION}')
            alerts = {a['alert_id']: _record_from_json(a) for a in document['alerts']}
            latest = {(k[0], k[1], k[2]): k[3] for k in document['latest']}
        except (OSError, KeyError, TypeError, IndexError, json.JSONDecodeError) as error:
            raise ValueError(f'{path}: not a readable alert journal ({error})') from error
        self.alerts, self._latest = alerts, latest
        return len(alerts)

    def records(self) -> Sequence[AlertRecord]:
        return [a.snapshot() for a in self.alerts.values()]


def _record_json(record: AlertRecord) -> dict[str, Any]:
    data = asdict(record)
    data['last_published'] = None  # republish freely after a restart
    return data


def _record_from_json(data: dict[str, Any]) -> AlertRecord:
    fields = dict(data)
    fields['position'] = tuple(float(v) for v in fields['position'])
    fields['last_published'] = -math.inf
    return AlertRecord(**fields)


def severity_name(severity: int) -> str:
    return Severity(severity).name.lower()
