"""Database engines for the store: SQLite (WAL, serialised writers) and PostgreSQL (psycopg 3).

SQLite: one file, ``journal_mode=WAL`` so readers never block the writer, ``synchronous=FULL``
because a committed case must survive a power cut, ``busy_timeout`` so concurrent writers wait
instead of failing, and every write transaction opens with ``BEGIN IMMEDIATE`` (pysqlite's own
deferred BEGIN would let two writers both read and then deadlock on upgrade). Read-only work uses
the engine from ``readonly(engine)``, which opens a plain deferred ``BEGIN``.

SQLAlchemy errors are translated at this boundary by ``guard()``: a database that is down or busy
is a ``TransientError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from hub.domain.errors import PermanentError, TransientError
from hub.domain.reasons import Reason

_READONLY = "hub_readonly"


def normalise_dsn(dsn: str) -> str:
    """Accept the usual ``postgresql://`` and ``postgres://`` spellings; we drive psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix):]
    return dsn


def make_engine(dsn: str) -> Engine:
    url = normalise_dsn(dsn)
    if url.startswith("sqlite"):
        # A pool as wide as the API's request threads (anyio: 40): connections past pool_size
        # are closed on return, and reopening one costs its PRAGMAs (profiled under HTTP load).
        engine = create_engine(url, pool_size=16, max_overflow=32,
                               connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_hooks(engine)
        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30,
                             connect_args={"connect_timeout": 10})
    raise PermanentError(f"unsupported store DSN scheme: {dsn.split(':', 1)[0]}",
                         reason=Reason.CONFIG)


def _sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                       "busy_timeout=30000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def readonly(engine: Engine) -> Engine:
    return engine.execution_options(**{_READONLY: True})


@contextmanager
def guard(what: str) -> Iterator[None]:
    try:
        yield
    except IntegrityError as exc:
        raise PermanentError(f"store refused {what}: integrity violation",
                             reason=Reason.INTEGRITY) from exc
    except DataError as exc:  # a value the database cannot hold (too long, a NUL): retrying won't help
        raise PermanentError(f"store refused {what}: a value it cannot hold",
                             reason=Reason.UNSTORABLE) from exc
    except SQLAlchemyError as exc:
        raise TransientError(f"store unavailable during {what}: {type(exc).__name__}") from exc
