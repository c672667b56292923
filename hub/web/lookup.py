"""Find a case by its tracking code (the code on the receipt), and the village's cases.

The store is keyed by case id; the tracking code column is unique, so one indexed read answers.
A village's list is read page by page from the store and searched here: a village service room
has hundreds of cases a year, not millions.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import Engine, func, select

from hub.store import schema as t
from hub.store.base import CaseRow, Store
from hub.store.engine import guard

_CODE = re.compile(r"^[0-9A-Z]{12}$")
_CROCKFORD_FIX = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalise_code(text: str) -> str | None:
    """``abcd efgh-jkmn`` -> ``ABCD-EFGH-JKMN``; None when it cannot be a tracking code."""
    raw = re.sub(r"[\s-]", "", text.upper()).translate(_CROCKFORD_FIX)
    if not _CODE.match(raw):
        return None
    return f"{raw[0:4]}-{raw[4:8]}-{raw[8:12]}"


def case_id_for_code(store: Store, code: str) -> uuid.UUID | None:
    norm = normalise_code(code)
    ro = getattr(store, "_ro", None)
    if norm is None or not isinstance(ro, Engine):
        return None
    with guard("case_by_tracking_code"), ro.connect() as conn:
        found = conn.execute(select(t.cases.c.case_id).where(
            t.cases.c.tracking_code == norm)).scalar_one_or_none()
    return uuid.UUID(found) if found else None


def case_by_code(store: Store, code: str) -> CaseRow | None:
    case_id = case_id_for_code(store, code)
    return store.get_case(case_id) if case_id else None


def village_cases(store: Store, village: str, cap: int = 20_000) -> list[CaseRow]:
    """Every case of the village (up to ``cap``), newest first."""
    out: list[CaseRow] = []
    cursor: str | None = None
    while len(out) < cap:
        page = store.list_cases(village, cursor=cursor, limit=500)
        out.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    out.sort(key=lambda r: r.created_at, reverse=True)
    return out


def latest_feed_seq(store: Store, village: str) -> int:
    """The village's newest feed position (a live page starts after it)."""
    ro = getattr(store, "_ro", None)
    if not isinstance(ro, Engine):
        return 0
    with guard("latest_feed_seq"), ro.connect() as conn:
        found = conn.execute(select(func.max(t.feed.c.seq)).where(
            t.feed.c.village == village)).scalar_one_or_none()
    return int(found or 0)
