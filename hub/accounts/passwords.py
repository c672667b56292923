"""Password hashing with argon2id (argon2-cffi): memory-hard, salted, parameters in the hash.

A library rather than hand-written crypto: argon2-cffi binds the reference implementation and
encodes parameters and salt in the stored string, so raising the cost later needs no migration
(``needs_rehash``).
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# 64 MiB, 3 passes: the library's RFC 9106 "low memory" profile, about 50 ms on one core.
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)
# A hash of a random password: verifying against it when the login is unknown costs the same
# time as a real check, so a response time does not tell which logins exist.
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))

# Letters and digits a clerk can read off a slip without confusing 0/O or 1/l.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def new_password(length: int = 10) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
