"""A department worker's ledger: which leg messages it submitted, and whether their event went out.

One SQLite file per worker (``worker-<department>.db`` under ``HUB_DATA_DIR``), WAL. A receipt
is recorded durably (``synchronous=FULL``) *before* its ``submitted`` event is published, so a
redelivered message is never submitted twice; the department deduplicates on the leg's
idempotency key too, which covers a crash between its answer and this record.

The batch methods record, look up and mark a whole batch of a worker in one transaction: one
fsync per batch instead of one per leg.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

# SQLite's default limit on host parameters per statement is 32766 (3.32+); stay well below.
_CHUNK = 500


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS submitted (message_id TEXT PRIMARY KEY, receipt TEXT,"
            " event TEXT NOT NULL, published INTEGER NOT NULL DEFAULT 0)")
        self._lock = threading.Lock()

    def get(self, message_id: str) -> tuple[str, bool] | None:
        return self.get_many([message_id]).get(message_id)

    def get_many(self, message_ids: Iterable[str]) -> dict[str, tuple[str, bool]]:
        """``message_id -> (event json, published)`` for the ids already submitted."""
        ids = list(dict.fromkeys(message_ids))
        found: dict[str, tuple[str, bool]] = {}
        with self._lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for mid, event, published in self._db.execute(
                        f"SELECT message_id, event, published FROM submitted "  # noqa: S608
                        f"WHERE message_id IN ({marks})", chunk):
                    found[str(mid)] = (str(event), bool(published))
        return found

    def record(self, message_id: str, receipt: str, event_json: str) -> None:
        self.record_many([(message_id, receipt, event_json)])

    def record_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Durably record ``(message_id, receipt, event json)`` rows, all or none."""
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO submitted VALUES (?,?,?,0)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def mark_published(self, message_id: str) -> None:
        self.mark_published_many([message_id])

    def mark_published_many(self, message_ids: Sequence[str]) -> None:
        # The receipt (``record``) is durable (synchronous=FULL) before the event is published;
        # this mark need not be: with WAL and synchronous=NORMAL it survives a process crash
        # and is only lost to a power cut before the next FULL commit fsyncs the log. Losing it
        # means a redelivery re-publishes the event, whose id is deterministic, so the status
        # tracker drops the copy. One fsync per batch instead of two.
        if not message_ids:
            return
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("UPDATE submitted SET published=1 WHERE message_id=?",
                                         [(m,) for m in message_ids])
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        with self._lock:
            self._db.close()
