"""One write transaction of the SQL store: the audit-chain head lock, audit appends, feed rows.

``WriteTx`` is opened by ``SqlStore._write()``. Its first statement locks the single
``audit_head`` row, so write transactions are serialised (also across hub instances on
PostgreSQL): audit sequence numbers have no gaps or forks, and feed rows commit in ``seq`` order,
which lets ``/v1/events`` readers resume from a sequence number without skipping anything.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select, update

from hub.auditchain import entry_hash
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


class WriteTx:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.now_us = now_us()
        row = conn.execute(
            select(t.audit_head.c.seq, t.audit_head.c.hash)
            .where(t.audit_head.c.id == 1).with_for_update()
        ).one()
        self._seq: int = row.seq
        self._hash: str = row.hash

    def audit(self, kind: str, case_id: str | None, data: Mapping[str, Any]) -> int:
        seq = self._seq + 1
        entry: dict[str, Any] = {"seq": seq, "kind": kind, "case_id": case_id,
                                 "at": us_to_dt(self.now_us).isoformat()}  # type: ignore[union-attr]
        entry.update(data)
        # Round-trip through JSON so the hashed entry is exactly what a reader gets back.
        text = dumps(entry)
        stored = json.loads(text)
        digest = entry_hash(self._hash, stored)
        self.conn.execute(insert(t.audit).values(
            seq=seq, case_id=case_id, kind=kind, entry=text, prev_hash=self._hash, hash=digest))
        self.conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1)
                          .values(seq=seq, hash=digest))
        self._seq, self._hash = seq, digest
        return seq

    def feed(self, village: str, case_id: str, event: Mapping[str, Any]) -> None:
        self.conn.execute(insert(t.feed).values(village=village, case_id=case_id,
                                                event=dumps(event)))
