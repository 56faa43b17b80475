"""Account management shared by the user CLI and the node's first start.

Every change is audited in the same transaction as the change itself, with
the acting identity (the CLI's OS user, or `system` for the first-run admin).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sentinel_bridge import passwords
from sentinel_bridge.auth import Role
from sentinel_bridge.domain import AuditRecord
from sentinel_bridge.persistence import store
from sentinel_bridge.persistence.database import Database

# Name of the admin account created on first start when no account exists.
FIRST_ADMIN_NAME = 'operator'
# Longest user name, characters (fits the users.name column).
MAX_NAME_LENGTH = 64
# Characters allowed in user names (they appear in audit logs and ROS requests).
NAME_CHARACTERS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@')


def check_name(name: str) -> str:
    """A valid user name, or ValueError saying what is wrong."""
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f'user name must be 1 to {MAX_NAME_LENGTH} characters')
    if not set(name) <= NAME_CHARACTERS:
        raise ValueError('user name may contain only letters, digits and . _ - @')
    return name


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _audit(actor: str, action: str, target: str, detail: dict[str, object]) -> AuditRecord:
    return AuditRecord(uuid.uuid4().hex, _now(), actor, action, target, 'ok', detail)


def add_user(database: Database, name: str, role: Role, password: str,
             actor: str) -> store.UserInfo:
    """Create an account (argon2id hash); ValueError for a taken name or weak password."""
    check_name(name)
    password_hash = passwords.hash_password(password)
    with database.write() as session:
        info = store.add_user(session, name, role, password_hash, _now())
        store.append_audit(session, _audit(actor, 'create_user', name, {'role': Role(role).value}))
    return info


def set_password(database: Database, name: str, password: str, actor: str) -> store.UserInfo:
    """Replace a password; LookupError for an unknown user."""
    password_hash = passwords.hash_password(password)
    with database.write() as session:
        info = store.set_user_password(session, name, password_hash, _now())
        store.append_audit(session, _audit(actor, 'set_password', name, {}))
    return info


def set_disabled(database: Database, name: str, disabled: bool, actor: str) -> store.UserInfo:
    """Disable or re-enable an account; LookupError for an unknown user."""
    with database.write() as session:
        info = store.set_user_disabled(session, name, disabled, _now())
        store.append_audit(session, _audit(actor, 'disable_user' if disabled else 'enable_user',
                                           name, {}))
    return info


def list_users(database: Database) -> list[store.UserInfo]:
    """Every account."""
    with database.read() as session:
        return store.list_users(session)


def ensure_first_admin(database: Database) -> str | None:
    """Create the admin `operator` with a random password if no account exists.

    Returns the password (to be shown once) when it created the account, else
    None. The check and the insert share one transaction, so two starts
    cannot both create it.
    """
    with database.write() as session:
        if store.count_users(session) > 0:
            return None
        password = passwords.generate_password()
        store.add_user(session, FIRST_ADMIN_NAME, Role.ADMIN, passwords.hash_password(password),
                       _now())
        store.append_audit(session, _audit('system', 'create_user', FIRST_ADMIN_NAME,
                                           {'role': Role.ADMIN.value, 'reason': 'first start'}))
    return password
