"""Outbox rows claimed by competing relays: several hub instances, each publishing other rows.

A relay's ``pending_outbox`` claims up to ``limit`` unsent rows for ``CLAIM_S`` seconds: rows no
one has claimed, whose claim has run out (a relay that died), or that this relay claimed before
(its own retry after a failed publish). On PostgreSQL the candidate rows are locked
``FOR UPDATE SKIP LOCKED``: two relays claiming at once skip each other's rows instead of
waiting or taking the same ones. A relay that dies between publishing and marking leaves its
rows to the next relay after the claim runs out; consumers deduplicate by ``message_id``.

Idle polls stay read-only: the claim (a write) is made only when a read finds candidates.
SQLite (the embedded, one-machine hub) makes no claims: a claim there would be one more
fsync'd write on the store's single writer per batch; its relays read the oldest unsent rows as
before, and two relays on one file (``hub serve --processes N``) may publish a row twice, which
consumers deduplicate by ``message_id``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, exists, or_, select, update

from hub.outbox.relay import OutboxRow
from hub.store import schema as t
from hub.store.tx import now_us

# Short: a claim only has to outlive one publish-and-mark. One that runs out early costs a
# duplicate publish (consumers deduplicate); one that is long delays a restarted relay.
CLAIM_S = 5.0


def _claimable(me: str, now: int) -> ColumnElement[bool]:
    o = t.outbox.c
    return and_(o.sent_us.is_(None),
                or_(o.claimed_until_us.is_(None), o.claimed_until_us < now, o.claimed_by == me))


def claim_outbox(engine: Engine, ro: Engine, me: str, limit: int) -> list[OutboxRow]:
    o = t.outbox.c
    now = now_us()
    if engine.dialect.name != "postgresql":
        with ro.connect() as conn:
            found = conn.execute(select(t.outbox).where(o.sent_us.is_(None))
                                 .order_by(o.id).limit(limit)).all()
        return [_row(r) for r in found]
    with ro.connect() as conn:
        if not conn.execute(select(exists().where(_claimable(me, now)))).scalar():
            return []
    with engine.begin() as conn:
        ids = (select(o.id).where(_claimable(me, now)).order_by(o.id).limit(limit)
               .with_for_update(skip_locked=True))
        rows = conn.execute(update(t.outbox).where(o.id.in_(ids))
                            .values(claimed_by=me, claimed_until_us=now + int(CLAIM_S * 1e6))
                            .returning(o.id, o.exchange, o.routing_key, o.message_id, o.body,
                                       o.headers)).all()
    return [_row(r) for r in sorted(rows, key=lambda r: r.id)]


def _row(r: Any) -> OutboxRow:
    return OutboxRow(id=r.id, exchange=r.exchange, routing_key=r.routing_key,
                     message_id=r.message_id, body=bytes(r.body), headers=json.loads(r.headers))
