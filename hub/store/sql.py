"""The SQL case store: one SQLAlchemy Core implementation for SQLite and PostgreSQL.

Cases, legs and the transactional outbox live here; terminals, attachments, the feed, audit
reads and figures are in ``hub.store.sql_records`` (a mixin). Every write runs in a ``WriteTx``
(see ``hub.store.tx``): serialised, audited, and fed to ``/v1/events`` in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select, update

from hub.domain.leg_states import (
    LEG_LABELS,
    CaseStatus,
    all_settled,
    derive_case_status,
)
from hub.domain.leg_states import refusal_reason as _refusal
from hub.domain.models import Case, LegEvent, LegEventKind, LegMessage, LegState
from hub.outbox.relay import OutboxRow
from hub.store import claims
from hub.store import schema as t
from hub.store.base import ApplyResult, CasePage, CaseRow, CreateResult, SupplementResult
from hub.store.cases import CaseItem, create_cases, outbox_row
from hub.store.engine import guard, make_engine, readonly
from hub.store.legs import LegSet, apply_events
from hub.store.migrations import migrate
from hub.store.rows import case_row, decode_cursor, encode_cursor, leg_row
from hub.store.sql_records import SqlMoreMixin
from hub.store.tx import WriteTx, dt_to_us


class SqlStore(SqlMoreMixin):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ro = readonly(engine)
        with guard("migration"):
            migrate(engine)

    @contextmanager
    def _write(self, what: str) -> Iterator[WriteTx]:
        with guard(what), self._engine.begin() as conn:
            tx = WriteTx(conn)
            yield tx
            tx.flush()  # not reached on an exception: the rollback discards the queued rows

    def close(self) -> None:
        self._engine.dispose()

    # ---- cases -------------------------------------------------------------------------------
    def create_case(self, case: Case, legs: Sequence[LegMessage], body_hash: str) -> CreateResult:
        return self.create_cases([(case, legs, body_hash)])[0]

    def create_cases(self, items: Sequence[CaseItem]) -> list[CreateResult]:
        """Create ``(case, legs, body_hash)`` items in order in ONE write transaction (one
        commit), each result exactly what ``create_case`` would answer one by one (same id
        and body: the same answer, not created; different body: conflict; duplicates within
        the batch included). See ``hub.store.cases``."""
        if not items:
            return []
        with self._write("create_cases") as tx:
            return create_cases(tx, items)

    def get_case(self, case_id: uuid.UUID) -> CaseRow | None:
        with guard("get_case"), self._ro.connect() as conn:
            r = conn.execute(select(t.cases).where(t.cases.c.case_id == str(case_id))
                             ).one_or_none()
            if r is None:
                return None
            legs = conn.execute(select(t.legs).where(t.legs.c.case_id == r.case_id)).all()
            return case_row(r, [leg_row(g) for g in legs])

    def list_cases(self, village: str, *, status: CaseStatus | None = None,
                   since: dt.datetime | None = None, cursor: str | None = None,
                   limit: int = 50) -> CasePage:
        c = t.cases.c
        q = select(t.cases).where(c.village == village)
        if status is not None:
            q = q.where(c.status == status.value)
        if since is not None:
            q = q.where(c.updated_us >= dt_to_us(since))
        if cursor:
            us, cid = decode_cursor(cursor)
            q = q.where(or_(c.updated_us > us, and_(c.updated_us == us, c.case_id > cid)))
        limit = max(1, min(limit, 500))
        q = q.order_by(c.updated_us, c.case_id).limit(limit + 1)
        with guard("list_cases"), self._ro.connect() as conn:
            rows = conn.execute(q).all()
            more = len(rows) > limit
            rows = rows[:limit]
            ids = [r.case_id for r in rows]
            legs: dict[str, list[Any]] = {i: [] for i in ids}
            if ids:
                for g in conn.execute(select(t.legs).where(t.legs.c.case_id.in_(ids))):
                    legs[g.case_id].append(leg_row(g))
        items = [case_row(r, legs[r.case_id]) for r in rows]
        nxt = encode_cursor(rows[-1].updated_us, rows[-1].case_id) if more and rows else None
        return CasePage(items=items, next_cursor=nxt)

    # ---- leg events --------------------------------------------------------------------------
    def apply_leg_event(self, event: LegEvent, *, defer_early: bool = False) -> ApplyResult:
        return self.apply_leg_events([event], defer_early=defer_early)[0]

    def apply_leg_events(self, events: Sequence[LegEvent], *,
                         defer_early: bool | Sequence[bool] = False) -> list[ApplyResult]:
        """Apply ``events`` in order in ONE write transaction, each exactly as
        ``apply_leg_event`` would (see ``hub.store.legs``); ``defer_early`` per event or for all."""
        if not events:
            return []
        with self._write("apply_leg_events") as tx:
            return apply_events(tx, events, defer_early=defer_early)

    def _after_leg_change(self, tx: WriteTx, cid: str, kind: str, audit: dict[str, Any], *,
                          department: str, state: LegState, missing: list[str]) -> CaseStatus:
        """Re-derive the case status, then audit and feed the change (same transaction)."""
        states = [LegState(s) for s in tx.conn.execute(
            select(t.legs.c.state).where(t.legs.c.case_id == cid)).scalars()]
        status, settled = derive_case_status(states), all_settled(states)
        case = tx.conn.execute(select(t.cases.c.village, t.cases.c.tracking_code)
                               .where(t.cases.c.case_id == cid)).one()
        tx.conn.execute(update(t.cases).where(t.cases.c.case_id == cid).values(
            status=status.value, settled=settled, updated_us=tx.now_us))
        tx.audit(kind, cid, {**audit, "case_status": status.value})
        tx.feed(case.village, cid, {
            "type": "leg", "case_id": cid, "tracking_code": case.tracking_code,
            "department": department, "state": state.value, "state_label": LEG_LABELS[state],
            "missing_materials": missing, "case_status": status.value,
            "case_status_label": status.label, "settled": settled})
        return status

    def add_supplement(self, case_id: uuid.UUID, department: str,
                       message: LegMessage) -> SupplementResult:
        cid = str(case_id)
        with self._write("add_supplement") as tx:
            leg = tx.conn.execute(select(t.legs).where(
                t.legs.c.case_id == cid, t.legs.c.department == department)).one_or_none()
            if leg is None:
                return SupplementResult(applied=False, refused_reason="no such leg")
            current = LegState(leg.state)
            if current is not LegState.NEEDS_MATERIALS:
                return SupplementResult(applied=False, leg_state=current,
                                        refused_reason=_refusal(current,
                                                                LegEventKind.RESUBMITTED))
            ids = [a.id for a in message.attachments]
            in_use = claims.taken(claims.owners(tx, ids), ids, cid)
            if in_use:
                return SupplementResult(applied=False, leg_state=current,
                                        refused_reason="attachment in use", in_use=in_use)
            tx.conn.execute(update(t.legs).where(t.legs.c.leg_id == leg.leg_id).values(
                state=LegState.RESUBMITTED.value, missing_materials="[]",
                updated_us=tx.now_us))
            # The n-th supplement of the leg: with the leg id, its idempotency key at the
            # department (counted in the write transaction, so two never share a number).
            earlier = tx.conn.execute(select(func.count()).select_from(t.outbox).where(
                t.outbox.c.leg_id == leg.leg_id, t.outbox.c.kind == "supplement")).scalar_one()
            message = message.model_copy(update={"sequence": int(earlier) + 1})
            self._outbox_insert(tx, message)
            self._link_attachments(tx, cid, [a.id for a in message.attachments])
            self._after_leg_change(tx, cid, "supplement", {
                "leg_id": leg.leg_id, "department": department, "message_id": message.message_id,
                "from": current.value, "to": LegState.RESUBMITTED.value,
                "attachments": [{"id": a.id, "sha256": a.sha256} for a in message.attachments]},
                department=department, state=LegState.RESUBMITTED, missing=[])
            return SupplementResult(applied=True, leg_state=LegState.RESUBMITTED)

    # ---- outbox ------------------------------------------------------------------------------
    @staticmethod
    def _outbox_insert(tx: WriteTx, leg: LegMessage) -> None:
        tx.conn.execute(_INSERT_OUTBOX, [outbox_row(tx, leg)])

    @staticmethod
    def _link_attachments(tx: WriteTx, cid: str, ids: Sequence[str]) -> None:
        if ids:
            tx.conn.execute(update(t.attachments).where(t.attachments.c.id.in_(list(ids)))
                            .values(case_id=cid))

    def pending_outbox(self, limit: int) -> list[OutboxRow]:
        o = t.outbox.c
        with guard("pending_outbox"), self._ro.connect() as conn:
            rows = conn.execute(select(t.outbox).where(o.sent_us.is_(None))
                                .order_by(o.id).limit(limit)).all()
        return [OutboxRow(id=r.id, exchange=r.exchange, routing_key=r.routing_key,
                          message_id=r.message_id, body=bytes(r.body),
                          headers=json.loads(r.headers)) for r in rows]

    def mark_outbox_sent(self, ids: Sequence[int]) -> None:
        """Mark outbox rows sent and move their still-pending dispatch legs to ``dispatched``.

        Set-based: a handful of statements for the whole batch, not a chain per leg (the relay
        holds the writer lock meanwhile). Each leg still gets its own audit and feed entry."""
        if not ids:
            return
        o = t.outbox.c
        with self._write("mark_outbox_sent") as tx:
            rows = tx.conn.execute(select(o.id, o.leg_id, o.kind, o.exchange).where(
                o.id.in_(list(ids)), o.sent_us.is_(None))).all()
            if not rows:
                return
            tx.conn.execute(update(t.outbox).where(o.id.in_([r.id for r in rows]))
                            .values(sent_us=tx.now_us))
            submits = [r for r in rows
                       if r.exchange == "dispatch" and r.kind == "submit" and r.leg_id]
            if not submits:
                return
            cids = tx.conn.execute(select(t.legs.c.case_id).distinct().where(
                t.legs.c.leg_id.in_([r.leg_id for r in submits]))).scalars()
            legs = LegSet(tx, cids)
            for r in submits:
                leg = legs.leg(r.leg_id)
                if leg is None or leg.state is not LegState.PENDING:
                    continue  # a fast worker already reported further progress
                legs.change(leg, LegState.DISPATCHED, "leg_dispatched", {
                    "leg_id": leg.leg_id, "department": leg.department, "outbox_id": r.id,
                    "from": LegState.PENDING.value, "to": LegState.DISPATCHED.value})
            legs.flush()

    def outbox_pending_count(self) -> int:
        with guard("outbox_pending_count"), self._ro.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.outbox)
                                    .where(t.outbox.c.sent_us.is_(None))).scalar_one())


_INSERT_OUTBOX = insert(t.outbox)


def open_sql_store(dsn: str) -> SqlStore:
    return SqlStore(make_engine(dsn))
