"""Everything a request handler needs, gathered in one object on app.state.

The node builds it with real ROS and database objects; tests build it with a
stub gateway and a throwaway database. Handlers reach it through `context()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from fastapi import Request

from sentinel_bridge.auth import TokenService
from sentinel_bridge.domain import AuditRecord
from sentinel_bridge.estop_release import ReleaseBook
from sentinel_bridge.login_throttle import LoginThrottle
from sentinel_bridge.operator_api.gateway import RosGateway
from sentinel_bridge.operator_api.live import LiveHub, LiveState
from sentinel_bridge.persistence import store
from sentinel_bridge.persistence.database import Database, DatabaseUnavailable
from sentinel_bridge.persistence.worker import Logger, PersistenceWorker


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@dataclass
class ApiContext:
    """The operator API's collaborators."""

    database: Database
    tokens: TokenService
    gateway: RosGateway
    worker: PersistenceWorker
    live: LiveState
    hub: LiveHub
    release_book: ReleaseBook
    log: Logger
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    clock: Callable[[], datetime] = utc_now

    def audit_record(self, actor: str, action: str, target: str, outcome: str,
                     detail: dict[str, object] | None = None) -> AuditRecord:
        """A new audit record stamped now, with a fresh idempotency key."""
        return AuditRecord.new(self.clock(), actor, action, target, outcome, detail)

    def persist_after_effect(self, records: list[store.IngestRecord]) -> None:
        """Store records of an action that already took effect on the ROS side.

        One transaction when the database answers; otherwise the records go to
        the durable retry queue (never dropped silently), because the action
        cannot be undone and its record must not be lost.
        """
        try:
            with self.database.write() as session:
                for record in records:
                    store.ingest(session, record)
        except DatabaseUnavailable as error:
            self.log.error(f'database unavailable after an action took effect ({error}); '
                           f'{len(records)} records queued for retry')
            for record in records:
                if not self.worker.submit(record):
                    self.log.error(f'retry queue full: lost the record of {type(record).__name__}')


def context(request: Request) -> ApiContext:
    """The ApiContext of the application serving this request."""
    return request.app.state.context  # type: ignore[no-any-return]
