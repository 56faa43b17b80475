"""Everything a request handler needs, gathered in one object on app.state.

The node builds it with real ROS and database objects; tests build it with a
stub gateway and a throwaway database. Handlers reach it through `context()`.

The two database touches on the hot paths are coalesced (coalesce.py): the
account check every authenticated request makes, and the records an action
stores before it is answered. Concurrent requests share one query or one
transaction instead of each taking a thread and, for writes, the write lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from fastapi import Request

from sentinel_bridge.auth import Principal, Role, TokenService
from sentinel_bridge.domain import AuditRecord
from sentinel_bridge.estop_release import ReleaseBook
from sentinel_bridge.login_throttle import LoginThrottle
from sentinel_bridge.operator_api.coalesce import Coalescer, Outcome
from sentinel_bridge.operator_api.gateway import RosGateway
from sentinel_bridge.operator_api.live import LiveHub, LiveState
from sentinel_bridge.persistence import schema, store
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
    _account_checks: Coalescer[Principal, str | None] = field(init=False, repr=False)
    _action_writes: Coalescer[list[store.IngestRecord], None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._account_checks = Coalescer(self._account_problems)
        self._action_writes = Coalescer(self._store_actions)

    def audit_record(self, actor: str, action: str, target: str, outcome: str,
                     detail: dict[str, object] | None = None) -> AuditRecord:
        """A new audit record stamped now, with a fresh idempotency key."""
        return AuditRecord.new(self.clock(), actor, action, target, outcome, detail)

    async def account_problem(self, principal: Principal) -> str | None:
        """Why the account behind a valid token may no longer act, or None.

        Read after the request arrived (so a disabled account or a changed role
        takes effect at once), in one query shared with concurrent requests.
        Raises DatabaseUnavailable.
        """
        return await self._account_checks.submit(principal)

    async def persist_after_effect(self, records: list[store.IngestRecord]) -> None:
        """Store records of an action that already took effect on the ROS side, durably.

        Returns once they are committed, in one transaction with those of the
        actions answered at the same time; if the database is unavailable they
        go to the durable retry queue instead (never dropped silently), because
        the action cannot be undone and its record must not be lost.
        """
        await self._action_writes.submit(records)

    def _account_problems(self, principals: list[Principal]) -> list[str | None]:
        with self.database.read() as session:
            users = store.find_users(session, {p.user_id for p in principals})
            return [_account_problem(users.get(p.user_id), p) for p in principals]

    def _store_actions(self, actions: list[list[store.IngestRecord]]) -> list[Outcome[None]]:
        """One transaction for every action's records; a failing batch is retried action
        by action, so a record the database rejects fails its own request only."""
        try:
            with self.database.write() as session:
                for records in actions:
                    for record in records:
                        store.ingest(session, record)
        except DatabaseUnavailable as error:
            self._queue_for_retry([r for records in actions for r in records], error)
        except Exception as error:  # not availability: find the action it belongs to
            if len(actions) == 1:
                return [error]
            return [outcome for action in actions for outcome in self._store_actions([action])]
        return [None] * len(actions)

    def _queue_for_retry(self, records: list[store.IngestRecord],
                         error: DatabaseUnavailable) -> None:
        self.log.error(f'database unavailable after an action took effect ({error}); '
                       f'{len(records)} records queued for retry')
        for record in records:
            if not self.worker.submit(record):
                self.log.error(f'retry queue full: lost the record of {type(record).__name__}')


def _account_problem(user: schema.User | None, principal: Principal) -> str | None:
    if user is None:
        return 'account no longer exists'
    if user.disabled:
        return 'account is disabled'
    if Role(user.role) != principal.role:
        return 'role changed since the token was issued; log in again'
    return None


def context(request: Request) -> ApiContext:
    """The ApiContext of the application serving this request."""
    return request.app.state.context  # type: ignore[no-any-return]
