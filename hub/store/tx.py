"""One write transaction of the SQL store: the audit-chain head lock, audit appends, feed rows.

``WriteTx`` is opened by ``SqlStore._write()``. Its first statement locks the single
``audit_head`` row, so write transactions are serialised (also across hub instances on
PostgreSQL): audit sequence numbers have no gaps or forks, and feed rows commit in ``seq`` order,
which lets ``/v1/events`` readers resume from a sequence number without skipping anything.

Audit entries are hashed as they are appended (``audit`` returns the sequence number at once),
but the rows, the feed rows and the one ``audit_head`` update are written by ``flush()`` at the
end of the transaction, each kind in one ``executemany``: a transaction that appends many
entries costs three statements, not two per entry. The head row stays locked from the first
statement to the commit, so nobody can append in between, and a rollback discards the entries
and the head update together: the chain is exactly as verifiable as with one write per entry.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from hub.evidence.audit_chain import entry_hash
from hub.store import schema as t


def now_us() -> int:
    return int(time.time() * 1_000_000)


def us_to_dt(us: int | None) -> dt.datetime | None:
    if us is None:
        return None
    return dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC)


def dt_to_us(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1_000_000)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


# Built once: SQLAlchemy then skips building (and cache-keying) them on every transaction.
_LOCK_HEAD = (select(t.audit_head.c.seq, t.audit_head.c.hash)
              .where(t.audit_head.c.id == 1).with_for_update())
_SET_HEAD = (update(t.audit_head).where(t.audit_head.c.id == 1)
             .values(seq=bindparam("h_seq"), hash=bindparam("h_hash")))
_INSERT_AUDIT = insert(t.audit)
_INSERT_FEED = insert(t.feed)


class WriteTx:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.now_us = now_us()
        row = conn.execute(_LOCK_HEAD).one()
        self._seq: int = row.seq
        self._hash: str = row.hash
        self._head_seq = self._seq
        self._audit_rows: list[dict[str, Any]] = []
        self._feed_rows: list[dict[str, Any]] = []

    def audit(self, kind: str, case_id: str | None, data: Mapping[str, Any]) -> int:
        seq = self._seq + 1
        entry: dict[str, Any] = {"seq": seq, "kind": kind, "case_id": case_id,
                                 "at": us_to_dt(self.now_us).isoformat()}  # type: ignore[union-attr]
        entry.update(data)
        # Round-trip through JSON so the hashed entry is exactly what a reader gets back.
        text = dumps(entry)
        stored = json.loads(text)
        digest = entry_hash(self._hash, stored)
        self._audit_rows.append({"seq": seq, "case_id": case_id, "kind": kind, "entry": text,
                                 "prev_hash": self._hash, "hash": digest})
        self._seq, self._hash = seq, digest
        return seq

    def feed(self, village: str, case_id: str, event: Mapping[str, Any]) -> None:
        self._feed_rows.append({"village": village, "case_id": case_id, "event": dumps(event)})

    def flush(self) -> None:
        """Write the queued audit and feed rows and move the head; called just before commit."""
        if self._audit_rows:
            self.conn.execute(_INSERT_AUDIT, self._audit_rows)
            self._audit_rows = []
        if self._feed_rows:
            self.conn.execute(_INSERT_FEED, self._feed_rows)
            self._feed_rows = []
        if self._seq != self._head_seq:
            self.conn.execute(_SET_HEAD, {"h_seq": self._seq, "h_hash": self._hash})
            self._head_seq = self._seq
