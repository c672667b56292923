"""Town accounts and their roles: 审查员 (``reviewer``) and 负责人 (``approver``).

A town account is an ``hub.accounts`` account (same argon2 password, sessions, lockout, CSRF)
whose ``village`` column holds the 9-digit town code, plus one ``town_staff`` row per role.
One person may hold both roles; separation of duties is enforced per case by ``hub.town.desk``
(whoever reviewed a case never approves it), not by forbidding the combination.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from hub.store.base import Store
from hub.store.engine import guard
from hub.store.tx import WriteTx
from hub.town.schema import town_staff

ROLES = ("reviewer", "approver")
ROLE_ZH = {"reviewer": "审查员", "approver": "负责人"}


@dataclass(frozen=True)
class StaffRoles:
    town: str
    roles: frozenset[str]

    @property
    def label(self) -> str:
        return "、".join(ROLE_ZH[r] for r in ROLES if r in self.roles)


class TownStaff:
    def __init__(self, store: Store) -> None:
        write = getattr(store, "_write", None)
        ro = getattr(store, "_ro", None)
        if write is None or not isinstance(ro, Engine):
            raise TypeError("town staff need the SQL store")
        self._writer: Callable[[str], AbstractContextManager[WriteTx]] = write
        self._ro: Engine = ro

    def grant(self, clerk_id: str, login: str, town: str, roles: Iterable[str]) -> None:
        wanted = sorted(set(roles))
        bad = [r for r in wanted if r not in ROLES]
        if bad or not wanted:
            raise ValueError(f"roles must be among {ROLES}, got {wanted}")
        with self._writer("town_staff_grant") as tx:
            have = set(tx.conn.execute(select(town_staff.c.role).where(
                town_staff.c.clerk_id == clerk_id)).scalars())
            new = [r for r in wanted if r not in have]
            if new:
                tx.conn.execute(insert(town_staff), [
                    {"clerk_id": clerk_id, "role": r, "town": town, "created_us": tx.now_us}
                    for r in new])
            tx.audit("town_staff_granted", None, {"clerk_id": clerk_id, "clerk_login": login,
                                                  "town": town, "roles": new})

    def roles(self, clerk_id: str) -> StaffRoles | None:
        with guard("town_staff_roles"), self._ro.connect() as conn:
            rows = conn.execute(select(town_staff.c.town, town_staff.c.role).where(
                town_staff.c.clerk_id == clerk_id)).all()
        if not rows:
            return None
        return StaffRoles(town=rows[0].town, roles=frozenset(r.role for r in rows))
