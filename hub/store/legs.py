"""Set-based leg changes inside one write transaction: the one place the store changes a leg.

Relay marks, supplements and batches of leg events all change legs through ``LegSet.change``;
``hub.tracking`` is the one caller of those store methods (and tells its hooks).

``LegSet`` loads the legs and case rows of the cases a batch touches in two statements, applies
the changes in memory in the batch's order (so several events of one leg or one case in one
batch behave exactly as if applied one transaction after another), queues the audit and feed
entries on the ``WriteTx`` as each change happens, and writes the changed legs, the changed
cases and the processed-event ids with one ``executemany`` each at the end.

Guarantees (the same as one event per transaction, see ``hub.store.base``): an event id already
processed, in the database or earlier in the batch, is a duplicate; an event that does not fit
the state machine is refused and recorded; a deferred early event is neither applied nor
recorded; every applied change re-derives its case's status from all its legs, appends one
audit entry and one feed entry carrying that status. ``LegSet`` first locks the rows of the
cases it loads (ascending id, ``hub.store.locks``), and processed-event ids are read after
that, so the in-memory state cannot go stale before the commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from hub.domain.leg_states import (
    LEG_LABELS,
    CaseStatus,
    all_settled,
    derive_case_status,
    is_early,
    next_state,
)
from hub.domain.leg_states import refusal_reason as _refusal
from hub.domain.models import LegEvent, LegEventKind, LegState
from hub.store import schema as t
from hub.store.base import ApplyResult
from hub.store.locks import lock_cases
from hub.store.tx import WriteTx, dumps

_UNKNOWN_LEG = "unknown leg for this case and department"

# Built once (see hub.store.tx): the hot statements of the relay and the tracker.
_CASES_LEGS = select(t.legs).where(t.legs.c.case_id.in_(bindparam("cids", expanding=True)))
_CASES = (select(t.cases.c.case_id, t.cases.c.village, t.cases.c.tracking_code)
          .where(t.cases.c.case_id.in_(bindparam("cids", expanding=True))))
_SEEN = (select(t.processed_events.c.event_id)
         .where(t.processed_events.c.event_id.in_(bindparam("ids", expanding=True))))
_SET_LEG = (update(t.legs).where(t.legs.c.leg_id == bindparam("k_leg_id"))
            .values(state=bindparam("state"), receipt=bindparam("receipt"),
                    detail=bindparam("detail"), missing_materials=bindparam("missing_materials"),
                    updated_us=bindparam("updated_us")))
_SET_CASE = (update(t.cases).where(t.cases.c.case_id == bindparam("k_case_id"))
             .values(status=bindparam("status"), settled=bindparam("settled"),
                     updated_us=bindparam("updated_us")))
_PROCESSED = insert(t.processed_events)


@dataclass
class _Leg:
    leg_id: str
    case_id: str
    department: str
    state: LegState
    receipt: str | None
    detail: str | None
    missing: list[str]


@dataclass
class _Case:
    village: str
    tracking_code: str
    legs: list[_Leg] = field(default_factory=list)


class LegSet:
    """The legs of some cases, changed in memory and written back by ``flush``."""

    def __init__(self, tx: WriteTx, case_ids: Iterable[str]) -> None:
        self.tx = tx
        cids = sorted(set(case_ids))
        self._cases: dict[str, _Case] = {}
        self._legs: dict[str, _Leg] = {}
        self._dirty_legs: dict[str, _Leg] = {}
        self._dirty_cases: dict[str, tuple[CaseStatus, bool]] = {}
        self._processed: list[dict[str, Any]] = []
        if not cids:
            return
        lock_cases(tx, cids)
        for c in tx.conn.execute(_CASES, {"cids": cids}):
            self._cases[c.case_id] = _Case(c.village, c.tracking_code)
        for r in tx.conn.execute(_CASES_LEGS, {"cids": cids}):
            leg = _Leg(r.leg_id, r.case_id, r.department, LegState(r.state), r.receipt,
                       r.detail, list(json.loads(r.missing_materials or "[]")))
            self._legs[leg.leg_id] = leg
            if r.case_id in self._cases:
                self._cases[r.case_id].legs.append(leg)

    def leg(self, leg_id: str) -> _Leg | None:
        return self._legs.get(leg_id)

    def find(self, case_id: str, department: str) -> _Leg | None:
        case = self._cases.get(case_id)
        return next((g for g in case.legs if g.department == department), None) if case else None

    # -- changes ---------------------------------------------------------------------------
    def change(self, leg: _Leg, new: LegState, kind: str, audit: dict[str, Any], *,
               receipt: str | None = None, detail: str | None = None,
               missing: Sequence[str] = ()) -> CaseStatus:
        """Move ``leg`` to ``new``; re-derive its case, audit and feed (as one transaction)."""
        leg.state = new
        leg.receipt = receipt or leg.receipt
        leg.detail = detail if detail is not None else leg.detail
        leg.missing = list(missing)
        self._dirty_legs[leg.leg_id] = leg
        case = self._cases[leg.case_id]
        states = [g.state for g in case.legs]
        status, settled = derive_case_status(states), all_settled(states)
        self._dirty_cases[leg.case_id] = (status, settled)
        self.tx.audit(kind, leg.case_id, {**audit, "case_status": status.value})
        self.tx.feed(case.village, leg.case_id, {
            "type": "leg", "case_id": leg.case_id, "tracking_code": case.tracking_code,
            "department": leg.department, "state": new.value, "state_label": LEG_LABELS[new],
            "missing_materials": list(missing), "case_status": status.value,
            "case_status_label": status.label, "settled": settled})
        return status

    def processed(self, event: LegEvent, *, applied: bool, reason: str | None = None) -> None:
        self._processed.append({"event_id": event.event_id, "case_id": str(event.case_id),
                                "applied": applied, "reason": reason,
                                "at_us": self.tx.now_us})

    def flush(self) -> None:
        now = self.tx.now_us
        conn = self.tx.conn
        if self._dirty_legs:
            conn.execute(_SET_LEG, [
                {"k_leg_id": g.leg_id, "state": g.state.value, "receipt": g.receipt,
                 "detail": g.detail, "missing_materials": dumps(g.missing), "updated_us": now}
                for g in self._dirty_legs.values()])
        if self._dirty_cases:
            conn.execute(_SET_CASE, [
                {"k_case_id": cid, "status": st.value, "settled": settled, "updated_us": now}
                for cid, (st, settled) in self._dirty_cases.items()])
        if self._processed:
            conn.execute(_PROCESSED, self._processed)
        self._dirty_legs, self._dirty_cases, self._processed = {}, {}, []


def apply_events(tx: WriteTx, events: Sequence[LegEvent], *,
                 defer_early: bool | Sequence[bool]) -> list[ApplyResult]:
    """Apply ``events`` in order inside ``tx`` (see the module docstring)."""
    defer = ([defer_early] * len(events) if isinstance(defer_early, bool)
             else list(defer_early))
    if len(defer) != len(events):
        raise ValueError("defer_early must have one flag per event")
    legs = LegSet(tx, (str(e.case_id) for e in events))  # locks the cases: then read ``seen``
    ids = sorted({e.event_id for e in events})
    seen = set(tx.conn.execute(_SEEN, {"ids": ids}).scalars()) if ids else set()
    out: list[ApplyResult] = []
    for event, early_ok in zip(events, defer, strict=True):
        out.append(_apply_one(tx, legs, seen, event, early_ok))
    legs.flush()
    return out


def _apply_one(tx: WriteTx, legs: LegSet, seen: set[str], event: LegEvent,
               defer_early: bool) -> ApplyResult:
    if event.event_id in seen:
        return ApplyResult(applied=False, duplicate=True)
    cid = str(event.case_id)
    leg = legs.leg(event.leg_id)
    if leg is None or leg.case_id != cid or leg.department != event.department:
        return _refuse(tx, legs, seen, event, _UNKNOWN_LEG, None)
    current = leg.state
    new = next_state(current, event.kind)
    if new is None and defer_early and is_early(current, event.kind):
        return ApplyResult(applied=False, deferred=True, leg_state=current)
    if new is None:
        return _refuse(tx, legs, seen, event, _refusal(current, event.kind), current)
    missing = (list(event.missing_materials) if event.kind is LegEventKind.NEEDS_MATERIALS
               else leg.missing if new is LegState.NEEDS_MATERIALS else [])
    # A retry is the hub's own evidence (for ``hub trace`` and the audit log): the leg keeps
    # what the department last told the clerk, its detail and its list of missing materials.
    evidence = event.kind is LegEventKind.RETRYING
    if evidence:
        missing = list(leg.missing)
    seen.add(event.event_id)
    legs.processed(event, applied=True)
    status = legs.change(leg, new, "leg_event", {
        "event_id": event.event_id, "leg_id": event.leg_id, "department": event.department,
        "event": event.kind.value, "from": current.value, "to": new.value,
        "receipt": event.receipt, "detail": event.detail,
        "missing_materials": list(event.missing_materials)},
        receipt=event.receipt, detail=None if evidence else event.detail, missing=missing)
    return ApplyResult(applied=True, leg_state=new, case_status=status)


def _refuse(tx: WriteTx, legs: LegSet, seen: set[str], event: LegEvent, reason: str,
            current: LegState | None) -> ApplyResult:
    seen.add(event.event_id)
    legs.processed(event, applied=False, reason=reason)
    tx.audit("leg_event_refused", str(event.case_id), {
        "event_id": event.event_id, "leg_id": event.leg_id, "department": event.department,
        "event": event.kind.value, "state": current.value if current else None,
        "reason": reason})
    return ApplyResult(applied=False, refused_reason=reason, leg_state=current)
