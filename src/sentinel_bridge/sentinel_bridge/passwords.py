"""Password hashing and policy for operator accounts.

Argon2id (the memory-hard winner of the Password Hashing Competition, RFC
9106) through argon2-cffi, with its library defaults, which follow the RFC's
second recommended profile. Hashes carry their own parameters, so raising the
cost later still verifies old hashes and `needs_rehash` says when to upgrade.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Shortest password accepted for an operator account, characters (NIST SP
# 800-63B asks for at least 8; control-room accounts get more).
MIN_PASSWORD_LENGTH = 12
# Longest password accepted, characters: bounds the hashing work one login
# attempt can cause.
MAX_PASSWORD_LENGTH = 256
# Random bytes in a generated password (token_urlsafe gives ~1.3 chars/byte).
GENERATED_PASSWORD_BYTES = 18

_HASHER = PasswordHasher()


def check_policy(password: str) -> None:
    """Raise ValueError with a user-facing reason when a new password is not acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f'password must be at least {MIN_PASSWORD_LENGTH} characters')
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f'password must be at most {MAX_PASSWORD_LENGTH} characters')
    if password != password.strip():
        raise ValueError('password must not start or end with whitespace')


def hash_password(password: str) -> str:
    """An argon2id hash string of a password that satisfies the policy."""
    check_policy(password)
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches `password_hash`; False on mismatch or a corrupt hash."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than the current ones."""
    return _HASHER.check_needs_rehash(password_hash)


def generate_password() -> str:
    """A random password for the first-run admin account."""
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


# A hash of a random password, verified against when a login names an unknown
# user, so that the response time does not reveal which user names exist.
DUMMY_HASH = _HASHER.hash(generate_password())
