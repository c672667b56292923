"""The terminal's own store: one SQLite file (WAL, ``synchronous=FULL``) under its data dir.

- ``outgoing``: cases accepted locally, in arrival order (``seq``); each is forwarded once, in
  that order, then marked ``submitted`` (or ``refused`` with the hub's reason). A row is written
  and fsynced before the clerk sees the local receipt, so a kill -9 right after loses nothing.
- ``files``: scans and recordings kept on disk beside the store; each remembers its tus upload
  address and, once sealed, the hub's attachment id, so a restart resumes, never re-uploads.
- ``cached``: the hub's view of the village's cases, refreshed from its event stream.
- ``sync``: the last event id seen and the time of the last successful exchange with the hub.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outgoing (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT UNIQUE NOT NULL, item_code TEXT NOT NULL,
  body TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', total_bytes INTEGER NOT NULL,
  sent_bytes INTEGER NOT NULL DEFAULT 0, tracking_code TEXT, problem TEXT,
  created_at TEXT NOT NULL, submitted_at TEXT);
CREATE TABLE IF NOT EXISTS files (
  id TEXT PRIMARY KEY, case_id TEXT, kind TEXT NOT NULL, media_type TEXT NOT NULL,
  name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, original_size INTEGER NOT NULL,
  upload_url TEXT, attachment_id TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cached (
  case_id TEXT PRIMARY KEY, tracking_code TEXT NOT NULL, view TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sync (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
PENDING, UPLOADING, SUBMITTED, REFUSED = "pending", "uploading", "submitted", "refused"


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass(frozen=True)
class LocalFile:
    id: str
    case_id: str | None
    kind: str
    media_type: str
    name: str
    size: int
    sha256: str
    original_size: int
    upload_url: str | None
    attachment_id: str | None


@dataclass(frozen=True)
class Outgoing:
    seq: int
    case_id: str
    item_code: str
    body: dict[str, Any]
    state: str
    total_bytes: int
    sent_bytes: int
    tracking_code: str | None
    problem: str | None
    created_at: str


class TerminalStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.files_dir = data_dir / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(data_dir / "terminal.db", check_same_thread=False,
                                   isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # ---- files -------------------------------------------------------------------------------
    def file_path(self, file_id: str) -> Path:
        return self.files_dir / f"{file_id}.bin"

    def add_file(self, *, kind: str, media_type: str, name: str, data_path: Path, size: int,
                 sha256: str, original_size: int) -> str:
        """Adopt a written, fsynced temp file as a local scan (not yet part of a case)."""
        file_id = uuid.uuid4().hex
        os.replace(data_path, self.file_path(file_id))
        with self._tx() as db:
            db.execute("INSERT INTO files (id, kind, media_type, name, size, sha256, original_size,"
                       " created_at) VALUES (?,?,?,?,?,?,?,?)",
                       (file_id, kind, media_type, name[:200], size, sha256, original_size, now()))
        return file_id

    def get_files(self, ids: list[str]) -> dict[str, LocalFile]:
        marks = ",".join("?" * len(ids))
        # only "?" placeholders are interpolated; the ids are bound parameters
        rows = self._rows(f"SELECT * FROM files WHERE id IN ({marks})", *ids) if ids else []  # noqa: S608
        return {r["id"]: _file(r) for r in rows}

    def case_files(self, case_id: str) -> list[LocalFile]:
        return [_file(r) for r in self._rows("SELECT * FROM files WHERE case_id=? ORDER BY rowid",
                                             case_id)]

    def set_upload_url(self, file_id: str, url: str | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE files SET upload_url=? WHERE id=?", (url, file_id))

    def set_attachment(self, file_id: str, attachment_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE files SET attachment_id=? WHERE id=?", (attachment_id, file_id))

    # ---- outgoing cases ----------------------------------------------------------------------
    def accept(self, case_id: str, item_code: str, body: dict[str, Any],
               file_ids: list[str]) -> bool:
        """Queue a case and claim its files; False when this case id was accepted before."""
        files = self.get_files(file_ids)
        total = sum(f.size for f in files.values())
        with self._tx() as db:
            if db.execute("SELECT 1 FROM outgoing WHERE case_id=?", (case_id,)).fetchone():
                return False
            db.execute("INSERT INTO outgoing (case_id, item_code, body, total_bytes, created_at)"
                       " VALUES (?,?,?,?,?)", (case_id, item_code,
                                               json.dumps(body, ensure_ascii=False), total, now()))
            for fid in file_ids:
                db.execute("UPDATE files SET case_id=? WHERE id=?", (case_id, fid))
        return True

    def next_unsent(self) -> Outgoing | None:
        rows = self._rows("SELECT * FROM outgoing WHERE state IN (?, ?) ORDER BY seq LIMIT 1",
                          PENDING, UPLOADING)
        return _out(rows[0]) if rows else None

    def get(self, case_id: str) -> Outgoing | None:
        rows = self._rows("SELECT * FROM outgoing WHERE case_id=?", case_id)
        return _out(rows[0]) if rows else None

    def outgoing(self) -> list[Outgoing]:
        return [_out(r) for r in self._rows("SELECT * FROM outgoing ORDER BY seq DESC")]

    def unsent_count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM outgoing WHERE state IN (?, ?)",
                              PENDING, UPLOADING)[0][0])

    def progress(self, case_id: str, sent: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE outgoing SET state=?, sent_bytes=? WHERE case_id=?",
                       (UPLOADING, sent, case_id))

    def submitted(self, case_id: str, tracking_code: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outgoing SET state=?, sent_bytes=total_bytes, tracking_code=?,"
                       " submitted_at=? WHERE case_id=?", (SUBMITTED, tracking_code, now(),
                                                           case_id))

    def refused(self, case_id: str, problem: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outgoing SET state=?, problem=? WHERE case_id=?",
                       (REFUSED, problem[:500], case_id))

    # ---- the hub's view of the village --------------------------------------------------------
    def cache(self, view: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO cached (case_id, tracking_code, view, updated_at)"
                       " VALUES (?,?,?,?) ON CONFLICT(case_id) DO UPDATE SET"
                       " view=excluded.view, updated_at=excluded.updated_at",
                       (str(view["case_id"]), str(view["tracking_code"]),
                        json.dumps(view, ensure_ascii=False), now()))

    def cached(self) -> dict[str, dict[str, Any]]:
        return {r["case_id"]: json.loads(r["view"]) for r in self._rows("SELECT * FROM cached")}

    def get_sync(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM sync WHERE key=?", key)
        return str(rows[0][0]) if rows else None

    def set_sync(self, **values: str) -> None:
        with self._tx() as db:
            for key, value in values.items():
                db.execute("INSERT INTO sync (key, value) VALUES (?,?) ON CONFLICT(key)"
                           " DO UPDATE SET value=excluded.value", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _file(r: sqlite3.Row) -> LocalFile:
    return LocalFile(r["id"], r["case_id"], r["kind"], r["media_type"], r["name"], r["size"],
                     r["sha256"], r["original_size"], r["upload_url"], r["attachment_id"])


def _out(r: sqlite3.Row) -> Outgoing:
    return Outgoing(r["seq"], r["case_id"], r["item_code"], json.loads(r["body"]), r["state"],
                    r["total_bytes"], r["sent_bytes"], r["tracking_code"], r["problem"],
                    r["created_at"])
