"""The SQL case store: one SQLAlchemy Core implementation for SQLite and PostgreSQL.

Cases, legs and the transactional outbox live here; terminals, attachments, the feed, audit
reads and figures are in ``hub.store.sql_records`` (a mixin). Every write runs in a ``WriteTx``
(see ``hub.store.tx``): its audit and feed entries commit with its data; on PostgreSQL the
``Sequencer`` (``hub.store.sequencer``) chains and numbers them soon after, under no lock shared
by unrelated writes (see ``docs/evidence.md``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select, update

from hub.config.catalogue import TOWN
from hub.domain.errors import TransientError
from hub.domain.ids import dispatched_event_id
from hub.domain.leg_states import (
    CaseStatus,
)
from hub.domain.leg_states import refusal_reason as _refusal
from hub.domain.models import Case, LegEvent, LegEventKind, LegMessage, LegState, utcnow
from hub.outbox.relay import OutboxRow
from hub.store import claims
from hub.store import schema as t
from hub.store.base import (
    ApplyResult,
    CasePage,
    CaseRow,
    CreateResult,
    LegChange,
    SupplementResult,
)
from hub.store.cases import CaseItem, create_cases, outbox_row
from hub.store.engine import guard, make_engine, readonly
from hub.store.legs import LegSet, apply_events
from hub.store.migrations import migrate
from hub.store.outbox_claims import claim_outbox
from hub.store.rows import case_row, decode_cursor, encode_cursor, leg_row
from hub.store.sequencer import Sequencer
from hub.store.sql_records import SqlMoreMixin
from hub.store.tx import WriteTx, dt_to_us


class SqlStore(SqlMoreMixin):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ro = readonly(engine)
        # SQLite has one writer: it chains its own entries. PostgreSQL: the sequencer does.
        self._inline = engine.dialect.name != "postgresql"
        self._sequencer = Sequencer(engine)
        self._wrote_pending = False
        self._claimer = secrets.token_hex(8)  # this store's name on the outbox rows it claims
        with guard("migration"):
            migrate(engine)

    @contextmanager
    def _write(self, what: str) -> Iterator[WriteTx]:
        with guard(what), self._engine.begin() as conn:
            tx = WriteTx(conn, inline=self._inline)
            yield tx
            tx.flush()  # not reached on an exception: the rollback discards the queued rows
        if tx.wrote_pending:
            self._wrote_pending = True
            self._sequencer.kick()

    def close(self) -> None:
        self._sequencer.stop()
        if self._wrote_pending:
            with contextlib.suppress(TransientError):
                self.seal()  # leave nothing of ours unsealed on a clean shutdown
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

    def add_supplement(self, case_id: uuid.UUID, department: str,
                       message: LegMessage) -> SupplementResult:
        cid = str(case_id)
        with self._write("add_supplement") as tx:
            legs = LegSet(tx, [cid])
            leg = legs.find(cid, department)
            if leg is None:
                return SupplementResult(applied=False, refused_reason="no such leg")
            current = leg.state
            if current is not LegState.NEEDS_MATERIALS:
                return SupplementResult(applied=False, leg_state=current,
                                        refused_reason=_refusal(current,
                                                                LegEventKind.RESUBMITTED))
            ids = [a.id for a in message.attachments]
            in_use = claims.taken(claims.owners(tx, ids), ids, cid)
            if in_use:
                return SupplementResult(applied=False, leg_state=current,
                                        refused_reason="attachment in use", in_use=in_use)
            # The n-th supplement of the leg: with the leg id, its idempotency key at the
            # department (counted in the write transaction, so two never share a number).
            earlier = tx.conn.execute(select(func.count()).select_from(t.outbox).where(
                t.outbox.c.leg_id == leg.leg_id, t.outbox.c.kind == "supplement")).scalar_one()
            message = message.model_copy(update={"sequence": int(earlier) + 1})
            if department != TOWN:  # the town's window reads the case here, nothing is sent
                self._outbox_insert(tx, message)
            self._link_attachments(tx, cid, [a.id for a in message.attachments])
            status = legs.change(leg, LegState.RESUBMITTED, "supplement", {
                "leg_id": leg.leg_id, "department": department, "message_id": message.message_id,
                "from": current.value, "to": LegState.RESUBMITTED.value,
                "attachments": [{"id": a.id, "sha256": a.sha256} for a in message.attachments]})
            legs.flush()
            return SupplementResult(applied=True, leg_state=LegState.RESUBMITTED,
                                    case_status=status)

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
        """Claim up to ``limit`` unsent rows, oldest first, for this store's relay (``CLAIM_S``;
        rows it claimed before are its again): competing relays get disjoint rows."""
        with guard("pending_outbox"):
            return claim_outbox(self._engine, self._ro, self._claimer, limit)

    def mark_outbox_sent(self, ids: Sequence[int]) -> list[LegChange]:
        """Mark outbox rows sent and move their still-pending dispatch legs to ``dispatched``;
        answers those changes, each as the event that made it (``hub.tracking`` hears them).

        Set-based: a handful of statements for the whole batch, not a chain per leg. Locks in
        the fixed order (``hub.store.locks``): the cases of the rows' legs, then the rows.
        Each leg still gets its own audit and feed entry."""
        if not ids:
            return []
        o = t.outbox.c
        changes: list[LegChange] = []
        with self._write("mark_outbox_sent") as tx:
            legs_of = tx.conn.execute(select(o.leg_id).where(
                o.id.in_(list(ids)), o.sent_us.is_(None), o.exchange == "dispatch",
                o.kind == "submit", o.leg_id.is_not(None))).scalars().all()
            cids = (tx.conn.execute(select(t.legs.c.case_id).distinct().where(
                t.legs.c.leg_id.in_(list(legs_of)))).scalars().all() if legs_of else [])
            legs = LegSet(tx, cids)  # locks the cases first
            rows = tx.conn.execute(select(o.id, o.leg_id, o.kind, o.exchange, o.message_id).where(
                o.id.in_(list(ids)), o.sent_us.is_(None)).order_by(o.id).with_for_update()
            ).all()
            if not rows:
                return []
            tx.conn.execute(update(t.outbox).where(o.id.in_([r.id for r in rows]))
                            .values(sent_us=tx.now_us))
            submits = [r for r in rows
                       if r.exchange == "dispatch" and r.kind == "submit" and r.leg_id]
            at = utcnow()
            for r in submits:
                leg = legs.leg(r.leg_id)
                if leg is None or leg.state is not LegState.PENDING:
                    continue  # a fast worker already reported further progress
                status = legs.change(leg, LegState.DISPATCHED, "leg_dispatched", {
                    "leg_id": leg.leg_id, "department": leg.department, "outbox_id": r.id,
                    "from": LegState.PENDING.value, "to": LegState.DISPATCHED.value})
                # Built from stored values only: no validation on the relay's hot path.
                changes.append((LegEvent.model_construct(
                    event_id=dispatched_event_id(r.message_id), case_id=uuid.UUID(leg.case_id),
                    leg_id=leg.leg_id, department=leg.department, kind=LegEventKind.DISPATCHED,
                    receipt=None, detail=None, missing_materials=[], at=at),
                    ApplyResult(applied=True, leg_state=LegState.DISPATCHED, case_status=status)))
            legs.flush()
        return changes

    def outbox_pending_count(self) -> int:
        with guard("outbox_pending_count"), self._ro.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.outbox)
                                    .where(t.outbox.c.sent_us.is_(None))).scalar_one())


_INSERT_OUTBOX = insert(t.outbox)


def open_sql_store(dsn: str) -> SqlStore:
    return SqlStore(make_engine(dsn))
