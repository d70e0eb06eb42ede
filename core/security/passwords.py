"""Password hashing with argon2id (argon2-cffi), at OWASP's recommended parameters or
above, with transparent rehashing when the parameters change."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 (minimum).
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_LENGTH = 10


def check_strength(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > 1024:
        return "must be at most 1024 characters"
    return None


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(password_hash: str, password: str) -> tuple[bool, bool]:
    """(matches, needs a rehash with today's parameters)."""
    try:
        HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    return True, HASHER.check_needs_rehash(password_hash)


@cache
def dummy_hash() -> str:
    """A hash of a random password, made once per process with today's parameters: an
    unknown email is checked against it, so it costs exactly what a known one does."""
    return HASHER.hash(secrets.token_urlsafe(16))
