"""Attachment claims decided inside the write transaction: one case per attachment.

The API checks ownership before it writes (a quick, friendly answer), but two requests of one
village naming the same upload can both pass that check. ``taken`` is asked again inside the
write transaction, which reads the attachment rows ``FOR UPDATE`` in ascending id
(``hub.store.locks``, step 2), so no other writer can link an attachment between the question
and the link: the first case to commit owns the upload,
every later case or supplement naming it is refused with the ids in use, and retention follows
the one true owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select

from hub.store import schema as t
from hub.store.tx import WriteTx


def owners(tx: WriteTx, ids: Iterable[str]) -> dict[str, str | None]:
    """Attachment id -> the case id that owns it (None: free), for the ids that exist."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    a = t.attachments.c
    return {r.id: r.case_id for r in tx.conn.execute(
        select(a.id, a.case_id).where(a.id.in_(wanted)).order_by(a.id).with_for_update())}


def taken(owned: Mapping[str, str | None], ids: Iterable[str], case_id: str) -> tuple[str, ...]:
    """The ids among ``ids`` that already belong to a case other than ``case_id``."""
    return tuple(sorted({i for i in ids if owned.get(i) not in (None, case_id)}))
