"""The sequencer: pending audit entries and feed events -> the hash chain and the numbered feed.

Writers commit their audit entries and feed events with their data into ``audit_pending`` /
``feed_pending`` (``hub.store.tx``) under no global lock. ``seal_batch`` moves the oldest
committed ones, in pending-id order, into ``audit`` (numbered, chained: ``chain``) and ``feed``
(numbered by its sequence) and deletes them from the pending tables, in ONE transaction that
first locks the ``audit_head`` row. Seals are therefore serialised (whoever runs them), and each
one commits a range of audit and feed numbers above every number committed before it: a reader
resuming the feed after ``seq`` never skips an event (see ``docs/evidence.md``).

``Sequencer`` is the background thread of a PostgreSQL store that does this soon after every
write. Several hub instances each have one; a session advisory lock (the *lease*) lets exactly
one of them seal at a time, the others stand by and take over within ``standby_s`` when the
leaseholder's connection goes. The lease only spares the head row needless contention:
correctness rests on the head lock, so a manual ``hub audit seal`` beside it is safe.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from hub.evidence.audit_chain import entry_hash
from hub.store import schema as t
from hub.store.tx import dumps, now_us, us_to_dt

log = logging.getLogger(__name__)

LEASE_KEY = 0x6875620004  # arbitrary constant: "hub" + 4 (the sequencer's lease)
BATCH = 2000

_LOCK_HEAD = (select(t.audit_head.c.seq, t.audit_head.c.hash)
              .where(t.audit_head.c.id == 1).with_for_update())
_SET_HEAD = (update(t.audit_head).where(t.audit_head.c.id == 1)
             .values(seq=bindparam("h_seq"), hash=bindparam("h_hash")))
_INSERT_AUDIT = insert(t.audit)
_INSERT_FEED = insert(t.feed)


@dataclass(frozen=True)
class Sealed:
    audit: int = 0
    feed: int = 0

    def __add__(self, other: Sealed) -> Sealed:
        return Sealed(self.audit + other.audit, self.feed + other.feed)


def chain(conn: Connection, audit_rows: Sequence[dict[str, Any]],
          feed_rows: Sequence[dict[str, Any]]) -> int:
    """Append entries (``case_id, kind, at_us, data``) to the chain and events (``village,
    case_id, event``) to the feed, in order; returns the new head seq. Locks the head row."""
    head = conn.execute(_LOCK_HEAD).one()
    seq, prev = int(head.seq), str(head.hash)
    rows: list[dict[str, Any]] = []
    for r in audit_rows:
        seq += 1
        entry: dict[str, Any] = {"seq": seq, "kind": r["kind"], "case_id": r["case_id"],
                                 "at": us_to_dt(r["at_us"]).isoformat()}  # type: ignore[union-attr]
        entry.update(json.loads(r["data"]))
        # Round-trip through JSON so the hashed entry is exactly what a reader gets back.
        body = dumps(entry)
        digest = entry_hash(prev, json.loads(body))
        rows.append({"seq": seq, "case_id": r["case_id"], "kind": r["kind"], "entry": body,
                     "prev_hash": prev, "hash": digest})
        prev = digest
    if rows:
        conn.execute(_INSERT_AUDIT, rows)
        conn.execute(_SET_HEAD, {"h_seq": seq, "h_hash": prev})
    if feed_rows:
        conn.execute(_INSERT_FEED, [{"village": f["village"], "case_id": f["case_id"],
                                     "event": f["event"]} for f in feed_rows])
    return seq


def seal_batch(conn: Connection, limit: int = BATCH) -> Sealed:
    """Seal up to ``limit`` pending entries and events, oldest first (caller commits)."""
    conn.execute(_LOCK_HEAD)  # first: a concurrent seal's deletions are visible after it
    a, f = t.audit_pending.c, t.feed_pending.c
    audit_rows = [dict(r._mapping) for r in conn.execute(
        select(t.audit_pending).order_by(a.id).limit(limit))]
    feed_rows = [dict(r._mapping) for r in conn.execute(
        select(t.feed_pending).order_by(f.id).limit(limit))]
    if not audit_rows and not feed_rows:
        return Sealed()
    chain(conn, audit_rows, feed_rows)
    if audit_rows:
        conn.execute(delete(t.audit_pending).where(a.id.in_([r["id"] for r in audit_rows])))
    if feed_rows:
        conn.execute(delete(t.feed_pending).where(f.id.in_([r["id"] for r in feed_rows])))
    return Sealed(len(audit_rows), len(feed_rows))


def seal_all(engine: Engine, limit: int = BATCH, max_batches: int = 1000) -> Sealed:
    """Seal everything pending now, batch by batch (each batch its own transaction)."""
    total = Sealed()
    for _ in range(max_batches):
        with engine.begin() as conn:
            done = seal_batch(conn, limit)
        total += done
        if done.audit < limit and done.feed < limit:
            break
    return total


def unsealed(conn: Connection) -> tuple[int, float]:
    """(pending entries + events, age in seconds of the oldest; 0.0 when none)."""
    oldest: list[int] = []
    count = 0
    for table in (t.audit_pending, t.feed_pending):
        n, first = conn.execute(select(func.count(), func.min(table.c.at_us))).one()
        count += int(n)
        if first is not None:
            oldest.append(int(first))
    age = max(0.0, (now_us() - min(oldest)) / 1_000_000) if oldest else 0.0
    return count, age


class Sequencer:
    """Seals soon after writes: woken by ``kick()`` (a write of this process) and polling every
    ``poll_s`` (writes of other instances) while it holds the lease."""

    def __init__(self, engine: Engine, *, poll_s: float = 0.05, linger_s: float = 0.002,
                 standby_s: float = 1.0) -> None:
        self._engine = engine
        self.poll_s, self.linger_s, self.standby_s = poll_s, linger_s, standby_s
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lease: Connection | None = None
        self._lease_checked = 0.0
        self._start_lock = threading.Lock()

    @property
    def leader(self) -> bool:
        return self._lease is not None

    def kick(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, name="hub-sequencer",
                                                    daemon=True)
                    self._thread.start()
        self._kick.set()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._drop_lease()

    def _take_lease(self) -> bool:
        if self._lease is not None:
            if time.monotonic() - self._lease_checked < self.standby_s:
                return True
            try:
                self._lease.execute(text("SELECT 1"))  # still our session, still our lock
                self._lease_checked = time.monotonic()
                return True
            except SQLAlchemyError:
                self._drop_lease()
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError:
            return False
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                    {"k": LEASE_KEY}).scalar())
        except SQLAlchemyError:
            got = False
        if got:
            self._lease, self._lease_checked = conn, time.monotonic()
            log.info("audit sequencer: lease taken, sealing in this instance")
        else:
            conn.close()
        return got

    def _drop_lease(self) -> None:
        conn, self._lease = self._lease, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.invalidate()  # the session ends: the advisory lock goes with it

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._take_lease():
                self._stop.wait(self.standby_s)
                continue
            try:
                with self._engine.begin() as conn:
                    done = seal_batch(conn)
            except SQLAlchemyError as exc:
                log.warning("audit sequencer: seal failed (%s); retrying", type(exc).__name__)
                self._stop.wait(1.0)
                continue
            if done.audit >= BATCH or done.feed >= BATCH:
                continue
            self._kick.wait(self.poll_s)
            if self._kick.is_set():
                self._kick.clear()
                self._stop.wait(self.linger_s)  # let concurrent writers join the batch
