"""Terminals, attachments, the feed, audit reads and figures of the SQL store (a mixin).

Terminal tokens: 32 random bytes (URL-safe base64), returned once by ``add_terminal`` and stored
only as their SHA-256; ``authenticate`` looks the hash up, so a revoked or unknown token fails.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine, func, insert, select, text, update

from hub.evidence.audit_chain import ChainedEntry
from hub.store import schema as t
from hub.store import sequencer
from hub.store.base import AttachmentRow, AuditRecord, FeedEvent, Terminal
from hub.store.engine import guard
from hub.store.rows import attachment_row, terminal_row
from hub.store.tx import WriteTx, dt_to_us

_AUDIT_BATCH = 500


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SqlMoreMixin:
    _engine: Engine
    _ro: Engine
    _wrote_pending: bool

    def _write(self, what: str) -> AbstractContextManager[WriteTx]:
        raise NotImplementedError

    # ---- terminals ---------------------------------------------------------------------------
    def add_terminal(self, village: str, name: str) -> tuple[str, str]:
        terminal_id = "t" + secrets.token_hex(6)
        token = secrets.token_urlsafe(32)
        with self._write("add_terminal") as tx:
            tx.conn.execute(insert(t.terminals).values(
                id=terminal_id, village=village, name=name, token_hash=token_hash(token),
                created_us=tx.now_us))
            tx.audit("terminal_added", None, {"terminal_id": terminal_id, "village": village})
        return terminal_id, token

    def authenticate(self, token: str) -> Terminal | None:
        if not token:
            return None
        with guard("authenticate"), self._ro.connect() as conn:
            r = conn.execute(select(t.terminals).where(
                t.terminals.c.token_hash == token_hash(token),
                t.terminals.c.revoked_us.is_(None))).one_or_none()
        return terminal_row(r) if r is not None else None

    def list_terminals(self) -> list[Terminal]:
        with guard("list_terminals"), self._ro.connect() as conn:
            rows = conn.execute(select(t.terminals).order_by(t.terminals.c.created_us)).all()
        return [terminal_row(r) for r in rows]

    def revoke_terminal(self, terminal_id: str) -> bool:
        with self._write("revoke_terminal") as tx:
            res = tx.conn.execute(update(t.terminals).where(
                t.terminals.c.id == terminal_id, t.terminals.c.revoked_us.is_(None))
                .values(revoked_us=tx.now_us))
            if res.rowcount:
                tx.audit("terminal_revoked", None, {"terminal_id": terminal_id})
            return bool(res.rowcount)

    # ---- attachments -------------------------------------------------------------------------
    def record_attachment(self, row: AttachmentRow) -> None:
        with self._write("record_attachment") as tx:
            tx.conn.execute(insert(t.attachments).values(
                id=row.id, village=row.village, terminal_id=row.terminal_id, kind=row.kind,
                media_type=row.media_type, size=row.size, sha256=row.sha256, key_id=row.key_id,
                created_us=dt_to_us(row.created_at),
                case_id=str(row.case_id) if row.case_id else None))
            tx.audit("attachment_stored", None, {
                "attachment_id": row.id, "village": row.village, "kind": row.kind,
                "size": row.size, "sha256": row.sha256, "key_id": row.key_id})

    def get_attachments(self, ids: Sequence[str]) -> dict[str, AttachmentRow]:
        if not ids:
            return {}
        with guard("get_attachments"), self._ro.connect() as conn:
            rows = conn.execute(select(t.attachments).where(
                t.attachments.c.id.in_(list(ids)), t.attachments.c.deleted_us.is_(None))).all()
        return {r.id: attachment_row(r) for r in rows}

    def list_attachments(self, *, include_deleted: bool = False) -> list[AttachmentRow]:
        q = select(t.attachments).order_by(t.attachments.c.created_us)
        if not include_deleted:
            q = q.where(t.attachments.c.deleted_us.is_(None))
        with guard("list_attachments"), self._ro.connect() as conn:
            return [attachment_row(r) for r in conn.execute(q)]

    def mark_attachment_deleted(self, attachment_id: str, *, reason: str) -> bool:
        with self._write("mark_attachment_deleted") as tx:
            r = tx.conn.execute(select(t.attachments).where(
                t.attachments.c.id == attachment_id, t.attachments.c.deleted_us.is_(None))
                .with_for_update()).one_or_none()
            if r is None:
                return False
            tx.conn.execute(update(t.attachments).where(t.attachments.c.id == attachment_id)
                            .values(deleted_us=tx.now_us))
            tx.audit("attachment_deleted", r.case_id, {
                "attachment_id": attachment_id, "kind": r.kind, "sha256": r.sha256,
                "reason": reason})
            return True

    # ---- feed and audit ----------------------------------------------------------------------
    def feed_since(self, village: str, after_seq: int, limit: int = 100) -> list[FeedEvent]:
        self._own_writes()
        f = t.feed.c
        with guard("feed_since"), self._ro.connect() as conn:
            rows = conn.execute(select(t.feed).where(f.village == village, f.seq > after_seq)
                                .order_by(f.seq).limit(limit)).all()
        return [FeedEvent(seq=r.seq, village=r.village, case_id=uuid.UUID(r.case_id),
                          event=json.loads(r.event)) for r in rows]

    def append_audit(self, kind: str, case_id: str | None, data: Mapping[str, Any]) -> None:
        with self._write("append_audit") as tx:
            tx.audit(kind, case_id, data)

    # The audit log and the feed a reader gets are sealed. A store instance that has written
    # reads its own writes: it seals what is pending first (serialised with the sequencer).
    def seal(self) -> sequencer.Sealed:
        """Seal every pending audit entry and feed event now (``hub audit seal``)."""
        self._wrote_pending = False
        with guard("seal"):
            return sequencer.seal_all(self._engine)

    def unsealed(self) -> tuple[int, float]:
        """(pending entries and events, age in seconds of the oldest; 0.0 when none)."""
        with guard("unsealed"), self._ro.connect() as conn:
            return sequencer.unsealed(conn)

    def _own_writes(self) -> None:
        if self._wrote_pending:
            self.seal()

    def audit_entries(self, since_seq: int | None = None) -> Iterator[ChainedEntry]:
        self._own_writes()
        after = (since_seq - 1) if since_seq else 0
        while True:
            with guard("audit_entries"), self._ro.connect() as conn:
                rows = conn.execute(select(t.audit).where(t.audit.c.seq > after)
                                    .order_by(t.audit.c.seq).limit(_AUDIT_BATCH)).all()
            for r in rows:
                yield ChainedEntry(seq=r.seq, entry=json.loads(r.entry), prev_hash=r.prev_hash,
                                   hash=r.hash)
            if len(rows) < _AUDIT_BATCH:
                return
            after = rows[-1].seq

    def audit_head(self) -> tuple[int, str]:
        """The chain head row: (seq, hash) of the newest entry; (0, GENESIS) for none."""
        self._own_writes()
        with guard("audit_head"), self._ro.connect() as conn:
            row = conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)
                               .where(t.audit_head.c.id == 1)).one()
        return int(row.seq), str(row.hash)

    def case_history(self, case_id: uuid.UUID) -> list[AuditRecord]:
        self._own_writes()
        with guard("case_history"), self._ro.connect() as conn:
            rows = conn.execute(select(t.audit).where(t.audit.c.case_id == str(case_id))
                                .order_by(t.audit.c.seq)).all()
        return [AuditRecord(seq=r.seq, case_id=r.case_id, kind=r.kind,
                            entry=json.loads(r.entry)) for r in rows]

    # ---- figures -----------------------------------------------------------------------------
    def leg_counts(self) -> dict[str, dict[str, int]]:
        g = t.legs.c
        with guard("leg_counts"), self._ro.connect() as conn:
            rows = conn.execute(select(g.department, g.state, func.count())
                                .group_by(g.department, g.state)).all()
        out: dict[str, dict[str, int]] = {}
        for dept, state, n in rows:
            out.setdefault(dept, {})[state] = int(n)
        return out

    def unsettled_case_count(self) -> int:
        with guard("unsettled_case_count"), self._ro.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.cases)
                                    .where(t.cases.c.settled.is_(False))).scalar_one())

    def ping(self) -> bool:
        try:
            with guard("ping"), self._ro.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # readiness answers False rather than raising
            return False
