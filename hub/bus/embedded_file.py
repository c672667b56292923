"""The embedded bus's SQLite file: its tables, how it is opened, write transactions, doorbells.

WAL + ``synchronous=FULL`` (a commit is on disk when it returns), ``busy_timeout`` so several
processes on one machine serialise their writers, ``BEGIN IMMEDIATE`` for every write so a
reader never has to upgrade to a writer.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from hub.bus.doorbell import Doorbell

__all__ = ["SCHEMA", "WriteTx", "connect", "doorbell"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS lanes (
  queue TEXT PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL,
  tiers TEXT NOT NULL, delivery_limit INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, msg_id TEXT NOT NULL,
  routing_key TEXT NOT NULL, body BLOB NOT NULL, headers TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, tier INTEGER NOT NULL DEFAULT 0,
  visible_at REAL NOT NULL, lease TEXT, enqueued_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at);
CREATE TABLE IF NOT EXISTS dead (
  id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, lane TEXT NOT NULL,
  msg_id TEXT NOT NULL, routing_key TEXT NOT NULL, body BLOB NOT NULL, headers TEXT NOT NULL,
  reason TEXT NOT NULL, detail TEXT NOT NULL, attempts INTEGER NOT NULL, dead_at REAL NOT NULL);
"""


# One doorbell per (bus file, queue) in this process: a publish wakes only that queue's
# consumers here; consumers in other processes find it by polling.
_BELLS: dict[tuple[str, str], Doorbell] = {}
_BELLS_LOCK = threading.Lock()


def doorbell(path_key: str, queue: str) -> Doorbell:
    with _BELLS_LOCK:
        return _BELLS.setdefault((path_key, queue), Doorbell())



def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=30000")
    return db


class WriteTx:
    """``BEGIN IMMEDIATE`` .. ``COMMIT`` (rollback on error): one writer at a time, no upgrades."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
