"""Versioned schema migrations, recorded in ``schema_version``.

``migrate(engine)`` applies, in order, every migration whose version is not yet recorded, each in
its own transaction together with its ``schema_version`` row. Concurrent starters are safe: on
PostgreSQL a transaction-level advisory lock serialises them, on SQLite ``BEGIN IMMEDIATE`` does.
A new migration is appended to ``MIGRATIONS``; shipped ones are never edited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, inspect, select, text

from hub.evidence.audit_chain import GENESIS
from hub.store import schema as t

_LOCK_KEY = 0x6875620001  # arbitrary constant: "hub" + 1


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1(conn: Connection) -> None:
    t.metadata.create_all(conn, tables=list(t.V1_TABLES))
    conn.execute(insert(t.audit_head).values(id=1, seq=0, hash=GENESIS))


def _v2(conn: Connection) -> None:
    # Fresh databases got it from v1's create_all (the table defines it); older ones get it here.
    next(i for i in t.outbox.indexes if i.name == "ix_outbox_leg").create(conn, checkfirst=True)


def _v3(conn: Connection) -> None:
    from hub.accounts import schema as accounts

    accounts.metadata.create_all(conn, tables=list(accounts.TABLES))


def _v4(conn: Connection) -> None:
    t.metadata.create_all(conn, tables=list(t.V4_TABLES))
    # Outbox claims of competing relays (``hub.store.outbox_claims``): who, and until when.
    # Fresh databases got the columns from v1's create_all (the table defines them).
    have = {c["name"] for c in inspect(conn).get_columns("outbox")}
    for name, kind in (("claimed_by", "VARCHAR(32)"), ("claimed_until_us", "BIGINT")):
        if name not in have:
            conn.execute(text(f"ALTER TABLE outbox ADD COLUMN {name} {kind}"))


def _v5(conn: Connection) -> None:
    from hub.town import schema as town

    town.metadata.create_all(conn, tables=list(town.TABLES))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema: cases, legs, outbox, audit chain, attachments, terminals, feed",
              _v1),
    Migration(2, "index outbox(leg_id, kind): numbering a leg's supplements", _v2),
    Migration(3, "village clerks and their sign-in sessions (hub.accounts)", _v3),
    Migration(4, "audit_pending / feed_pending for the sequencer; outbox claims", _v4),
    Migration(5, "the town window: staff roles, review actions, decision notices, dispatch "
                 "(hub.town)", _v5),
)


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    found = conn.execute(select(t.schema_version.c.version)).scalars().all()
    return max(found, default=0)


def migrate(engine: Engine) -> int:
    """Bring the schema up to date; returns the resulting version."""
    version = 0
    for m in MIGRATIONS:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            t.schema_version.create(conn, checkfirst=True)
            version = current_version(conn)
            if m.version <= version:
                continue
            m.apply(conn)
            conn.execute(insert(t.schema_version).values(
                version=m.version, description=m.description,
                applied_us=int(time.time() * 1_000_000)))
            version = m.version
    return version
