"""Row locks in one fixed order, where the audit-head lock used to make read-then-write atomic.

Until store migration 4 every write locked the ``audit_head`` row first, which also made every
"read, decide, write" sequence atomic. Writers no longer share a lock (``docs/evidence.md``), so
each such sequence locks what it reads, always in this order, so two writers cannot deadlock:

1. case ids: the ``cases`` rows of the cases it changes (``FOR UPDATE``), or, for cases being
   created, a transaction advisory lock per case id (the row does not exist yet); ascending;
2. attachment rows it claims (``hub.store.claims``), ascending id;
3. outbox rows it claims or marks, ascending id.

On SQLite these are no-ops: a write transaction there holds the database's one write lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select, text

from hub.store import schema as t
from hub.store.tx import WriteTx

_CASE_NS = 0x6875  # advisory-lock namespace of case ids being created ("hu")
_LOCK_CASES = (select(t.cases.c.case_id)
               .where(t.cases.c.case_id.in_(bindparam("cids", expanding=True)))
               .order_by(t.cases.c.case_id).with_for_update())
_LOCK_NEW = text("SELECT pg_advisory_xact_lock(:ns, hashtext(:cid))")


def _pg(tx: WriteTx) -> bool:
    return tx.conn.dialect.name == "postgresql"


def lock_cases(tx: WriteTx, case_ids: Iterable[str]) -> None:
    """Lock the rows of existing cases, ascending id (step 1)."""
    cids = sorted(set(case_ids))
    if cids and _pg(tx):
        tx.conn.execute(_LOCK_CASES, {"cids": cids}).all()


def lock_new_cases(tx: WriteTx, case_ids: Iterable[str]) -> None:
    """Lock case ids about to be created (step 1): one transaction advisory lock each,
    ascending, so the same case id submitted twice at once is decided once."""
    if not _pg(tx):
        return
    for cid in sorted(set(case_ids)):
        tx.conn.execute(_LOCK_NEW, {"ns": _CASE_NS, "cid": cid})
