"""One write transaction of the SQL store: its audit entries and feed rows, under no global lock.

``WriteTx`` is opened by ``SqlStore._write()``. Audit entries and village-feed events are queued
as the transaction runs and written by ``flush()`` just before the commit, each kind in one
``executemany``. Where they go depends on the database (see ``docs/evidence.md``):

* PostgreSQL (``inline=False``): into ``audit_pending`` / ``feed_pending``, with the data, under
  no lock shared by unrelated writes. Intake, the relays and the trackers of every instance
  commit side by side; the sequencer (``hub.store.sequencer``) chains and numbers the entries
  in batches soon after. A rollback discards data and entries together.
* SQLite (``inline=True``): the database has one writer anyway (``BEGIN IMMEDIATE``), so the
  writer is its own sequencer: ``flush()`` chains the entries straight into ``audit`` and
  ``feed`` (``sequencer.chain``), and nothing is ever left unsealed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert

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
_INSERT_AUDIT_PENDING = insert(t.audit_pending)
_INSERT_FEED_PENDING = insert(t.feed_pending)


class WriteTx:
    def __init__(self, conn: Connection, *, inline: bool) -> None:
        self.conn = conn
        self.now_us = now_us()
        self.inline = inline
        self._audit_rows: list[dict[str, Any]] = []
        self._feed_rows: list[dict[str, Any]] = []
        self.wrote_pending = False

    def audit(self, kind: str, case_id: str | None, data: Mapping[str, Any]) -> None:
        self._audit_rows.append({"case_id": case_id, "kind": kind, "at_us": self.now_us,
                                 "data": dumps(data)})

    def feed(self, village: str, case_id: str, event: Mapping[str, Any]) -> None:
        self._feed_rows.append({"village": village, "case_id": case_id, "event": dumps(event),
                                "at_us": self.now_us})

    def flush(self) -> int | None:
        """Write the queued entries; called just before commit. Inline: the last audit seq."""
        audit_rows, feed_rows = self._audit_rows, self._feed_rows
        self._audit_rows, self._feed_rows = [], []
        if self.inline:
            from hub.store.sequencer import chain

            return chain(self.conn, audit_rows, feed_rows) if audit_rows or feed_rows else None
        if audit_rows:
            self.conn.execute(_INSERT_AUDIT_PENDING, audit_rows)
        if feed_rows:
            self.conn.execute(_INSERT_FEED_PENDING, feed_rows)
        self.wrote_pending = self.wrote_pending or bool(audit_rows or feed_rows)
        return None
