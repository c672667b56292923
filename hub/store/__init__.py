"""The case store: one interface (``Store``), SQLite by default, PostgreSQL by DSN.

    open_store(dsn) -> Store     sqlite:///path  or  postgresql://user@host/db
    open_default_store(settings) the store named by HUB_STORE_DSN, else SQLite under HUB_DATA_DIR
"""

from __future__ import annotations

from hub.config.settings import Settings
from hub.store.base import (
    ApplyResult,
    AttachmentRow,
    AuditRecord,
    CasePage,
    CaseRow,
    CreateResult,
    FeedEvent,
    LegRow,
    Store,
    SupplementResult,
    Terminal,
)


def open_store(dsn: str) -> Store:
    from hub.store.sql import open_sql_store

    return open_sql_store(dsn)


def open_default_store(settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return open_store(settings.effective_store_dsn())


__all__ = ["ApplyResult", "AttachmentRow", "AuditRecord", "CasePage", "CaseRow", "CreateResult",
           "FeedEvent", "LegRow", "Store", "SupplementResult", "Terminal", "open_default_store",
           "open_store"]
