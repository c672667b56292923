"""Clerk accounts, sign-in with lockout, and sessions with idle timeout (``Accounts``).

* ``add`` creates a clerk of one village; the login is the name's pinyin (张三 -> zhangsan,
  zhangsan2 when taken) and the password is generated and returned once (only its argon2 hash
  is kept).
* ``sign_in``: ``max_failures`` wrong passwords in a row lock the account for ``lockout_s``;
  while locked even the right password is refused. A disabled clerk cannot sign in and their
  sessions end.
* A session is a random token (cookie) stored as its SHA-256, with its own CSRF token; it ends
  after ``idle_timeout_s`` without a request.
* Every change is one store write transaction together with its audit entry, which names the
  clerk (``hub trace`` and ``hub audit verify`` cover them like every other entry).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from pypinyin import lazy_pinyin
from sqlalchemy import Engine, delete, insert, select, update

from hub.accounts.passwords import hash_password, new_password, verify_password
from hub.accounts.schema import clerk_sessions, clerks
from hub.store.base import Store
from hub.store.engine import guard
from hub.store.tx import WriteTx, now_us, us_to_dt

SignInOutcome = Literal["ok", "invalid", "locked", "disabled"]
_TOUCH_EVERY_US = 30 * 1_000_000  # last-seen writes at most every 30 s per session


@dataclass(frozen=True)
class Clerk:
    id: str
    login: str
    village: str
    name: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None = None
    locked_until: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class Session:
    clerk: Clerk
    csrf: str


@dataclass(frozen=True)
class SignIn:
    outcome: SignInOutcome
    clerk: Clerk | None = None
    token: str | None = None
    csrf: str | None = None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _clerk(r: Any) -> Clerk:
    return Clerk(id=r.id, login=r.login, village=r.village, name=r.name,
                 created_at=us_to_dt(r.created_us) or dt.datetime.now(dt.UTC),
                 disabled_at=us_to_dt(r.disabled_us), locked_until=us_to_dt(r.locked_until_us))


def login_for(name: str) -> str:
    """An ASCII login from a Chinese name: its pinyin, letters and digits only."""
    spelled = "".join(lazy_pinyin(name)).lower()
    clean = "".join(c for c in spelled if c.isascii() and c.isalnum())
    return clean[:40] or "clerk"


class Accounts:
    def __init__(self, store: Store, *, idle_timeout_s: float = 30 * 60, max_failures: int = 5,
                 lockout_s: float = 15 * 60) -> None:
        write = getattr(store, "_write", None)
        ro = getattr(store, "_ro", None)
        if write is None or not isinstance(ro, Engine):
            raise TypeError("clerk accounts need the SQL store")
        self._writer: Callable[[str], AbstractContextManager[WriteTx]] = write
        self._ro: Engine = ro
        self.idle_timeout_us = int(idle_timeout_s * 1_000_000)
        self.max_failures = max_failures
        self.lockout_us = int(lockout_s * 1_000_000)

    # ---- accounts ----------------------------------------------------------------------------
    def add(self, village: str, name: str, password: str | None = None) -> tuple[Clerk, str]:
        """Create a clerk; returns the clerk and the password (shown once, never stored)."""
        password = password or new_password()
        digest = hash_password(password)
        base = login_for(name)
        clerk_id = "c" + secrets.token_hex(6)
        with self._writer("add_clerk") as tx:
            taken = set(tx.conn.execute(select(clerks.c.login).where(
                clerks.c.login.like(f"{base}%"))).scalars())
            login = base
            n = 2
            while login in taken:
                login, n = f"{base}{n}", n + 1
            tx.conn.execute(insert(clerks).values(
                id=clerk_id, login=login, village=village, name=name, password_hash=digest,
                failed_count=0, created_us=tx.now_us))
            tx.audit("clerk_added", None, {"clerk_id": clerk_id, "clerk_login": login,
                                           "village": village})
        found = self.get(clerk_id)
        assert found is not None
        return found, password

    def get(self, clerk_id: str) -> Clerk | None:
        with guard("get_clerk"), self._ro.connect() as conn:
            r = conn.execute(select(clerks).where(clerks.c.id == clerk_id)).one_or_none()
        return _clerk(r) if r is not None else None

    def list(self) -> list[Clerk]:
        with guard("list_clerks"), self._ro.connect() as conn:
            rows = conn.execute(select(clerks).order_by(clerks.c.village, clerks.c.login)).all()
        return [_clerk(r) for r in rows]

    def _find(self, login_or_id: str) -> Any:
        c = clerks.c
        with guard("find_clerk"), self._ro.connect() as conn:
            return conn.execute(select(clerks).where(
                (c.login == login_or_id) | (c.id == login_or_id))).one_or_none()

    def disable(self, login_or_id: str) -> bool:
        """Disable a clerk and end their sessions; False when no active clerk has that login."""
        r = self._find(login_or_id)
        if r is None or r.disabled_us is not None:
            return False
        with self._writer("disable_clerk") as tx:
            tx.conn.execute(update(clerks).where(clerks.c.id == r.id).values(
                disabled_us=tx.now_us))
            tx.conn.execute(delete(clerk_sessions).where(clerk_sessions.c.clerk_id == r.id))
            tx.audit("clerk_disabled", None, {"clerk_id": r.id, "clerk_login": r.login})
        return True

    def enable(self, login_or_id: str) -> bool:
        """Enable a disabled or locked clerk again (clears the failure count)."""
        r = self._find(login_or_id)
        if r is None:
            return False
        with self._writer("enable_clerk") as tx:
            tx.conn.execute(update(clerks).where(clerks.c.id == r.id).values(
                disabled_us=None, locked_until_us=None, failed_count=0))
            tx.audit("clerk_enabled", None, {"clerk_id": r.id, "clerk_login": r.login})
        return True

    # ---- sign-in and sessions ----------------------------------------------------------------
    def sign_in(self, login: str, password: str) -> SignIn:
        r = self._find(login.strip().lower()) if login.strip() else None
        if r is None:
            verify_password(None, password)  # the same work as for a real login
            return SignIn("invalid")
        now = now_us()
        if r.disabled_us is not None:
            return SignIn("disabled")
        if r.locked_until_us is not None and r.locked_until_us > now:
            return SignIn("locked")
        if not verify_password(r.password_hash, password):
            return self._failed(r)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        with self._writer("clerk_sign_in") as tx:
            tx.conn.execute(update(clerks).where(clerks.c.id == r.id).values(
                failed_count=0, locked_until_us=None))
            tx.conn.execute(insert(clerk_sessions).values(
                token_hash=_token_hash(token), clerk_id=r.id, csrf=csrf, created_us=tx.now_us,
                last_seen_us=tx.now_us))
            tx.audit("clerk_signed_in", None, {"clerk_id": r.id, "clerk_login": r.login,
                                               "village": r.village})
        return SignIn("ok", _clerk(r), token, csrf)

    def _failed(self, r: Any) -> SignIn:
        failures = int(r.failed_count or 0) + 1
        locked = failures >= self.max_failures
        with self._writer("clerk_sign_in_failed") as tx:
            values: dict[str, Any] = {"failed_count": 0 if locked else failures}
            if locked:
                values["locked_until_us"] = tx.now_us + self.lockout_us
            tx.conn.execute(update(clerks).where(clerks.c.id == r.id).values(**values))
            tx.audit("clerk_locked" if locked else "clerk_sign_in_failed", None,
                     {"clerk_id": r.id, "clerk_login": r.login, "failures": failures})
        return SignIn("locked" if locked else "invalid")

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token, or None (unknown, idle too long, clerk disabled)."""
        if not token or len(token) > 128:
            return None
        th = _token_hash(token)
        s = clerk_sessions.c
        with guard("clerk_session"), self._ro.connect() as conn:
            row = conn.execute(select(s.csrf, s.last_seen_us, clerks).join(
                clerks, clerks.c.id == s.clerk_id).where(s.token_hash == th)).one_or_none()
        if row is None or row.disabled_us is not None:
            return None
        now = now_us()
        if now - row.last_seen_us > self.idle_timeout_us:
            self.sign_out(token, reason="idle")
            return None
        if now - row.last_seen_us > _TOUCH_EVERY_US:
            with self._writer("clerk_session_touch") as tx:
                tx.conn.execute(update(clerk_sessions).where(s.token_hash == th).values(
                    last_seen_us=tx.now_us))
        return Session(_clerk(row), row.csrf)

    def sign_out(self, token: str, reason: str = "signed_out") -> None:
        th = _token_hash(token)
        with self._writer("clerk_sign_out") as tx:
            r = tx.conn.execute(select(clerk_sessions.c.clerk_id).where(
                clerk_sessions.c.token_hash == th)).one_or_none()
            if r is None:
                return
            tx.conn.execute(delete(clerk_sessions).where(clerk_sessions.c.token_hash == th))
            tx.audit("clerk_signed_out", None, {"clerk_id": r.clerk_id, "reason": reason})

    def audit(self, kind: str, case_id: str | None, clerk: Clerk,
              data: Mapping[str, Any]) -> None:
        """An audit entry for something a clerk did (who: id, login and village)."""
        with self._writer(kind) as tx:
            tx.audit(kind, case_id, {"clerk_id": clerk.id, "clerk_login": clerk.login,
                                     "clerk_name": clerk.name, "village": clerk.village, **data})
