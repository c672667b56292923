"""Creating cases inside one write transaction: one case, or a batch of them (group commit).

``create_cases`` looks up every case id of the batch in one statement, decides each item in the
batch's order in memory, queues the audit and feed entries on the ``WriteTx`` as each case is
created, and writes the cases, legs, outbox rows and attachment links with one ``executemany``
each. One commit (one fsync) then covers the whole batch.

Guarantees (exactly those of one ``create_case`` per transaction, see ``hub.store.base``): a
case id already stored, or created earlier in the same batch, answers ``created=False`` with the
stored tracking code and status when the body hash is the same, and ``conflict`` (nothing
written) when it differs; every created case gets its legs, one outbox row per leg in leg order,
its attachments linked to it (an attachment another case owns, also one created earlier in the
batch, refuses the case with ``in_use`` and writes nothing for it: ``hub.store.claims``), one
``case_created`` audit entry and one feed entry, in the batch's order. The batch first locks
its case ids and the attachment rows it names (``hub.store.locks``), so the in-memory view of
which ids exist and who owns an upload cannot go stale before the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from hub.config.catalogue import TOWN
from hub.domain.leg_states import CaseStatus, derive_case_status
from hub.domain.models import Case, LegMessage, LegState
from hub.store import claims, locks
from hub.store import schema as t
from hub.store.base import CreateResult
from hub.store.rows import tracking_code
from hub.store.tx import WriteTx, dumps

CaseItem = tuple[Case, Sequence[LegMessage], str]

_INSERT_CASE = insert(t.cases)
_INSERT_LEG = insert(t.legs)
_INSERT_OUTBOX = insert(t.outbox)
_LINK = (update(t.attachments).where(t.attachments.c.id == bindparam("a_id"))
         .values(case_id=bindparam("a_case")))


def outbox_row(tx: WriteTx, leg: LegMessage) -> dict[str, Any]:
    return {"exchange": "dispatch", "routing_key": leg.department, "message_id": leg.message_id,
            "body": leg.model_dump_json().encode(), "leg_id": leg.leg_id, "kind": leg.kind,
            "headers": dumps({"case_id": str(leg.case_id), "leg_id": leg.leg_id,
                              "kind": leg.kind}),
            "sent_us": None, "created_us": tx.now_us}


def create_cases(tx: WriteTx, items: Sequence[CaseItem]) -> list[CreateResult]:
    c = t.cases.c
    ids = sorted({str(case.case_id) for case, _legs, _hash in items})
    locks.lock_new_cases(tx, ids)
    # case id -> (body hash, tracking code, status) of what is stored, or created in this batch
    known: dict[str, tuple[str, str, CaseStatus]] = {
        r.case_id: (r.body_hash, r.tracking_code, CaseStatus(r.status))
        for r in tx.conn.execute(select(c.case_id, c.body_hash, c.tracking_code, c.status)
                                 .where(c.case_id.in_(ids)))}
    cases: list[dict[str, Any]] = []
    legs_rows: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    results: list[CreateResult] = []
    # attachment id -> owning case, as stored and as claimed earlier in this batch
    owned = claims.owners(tx, (a.id for case, _l, _h in items for a in case.attachments))
    for case, legs, body_hash in items:
        cid = str(case.case_id)
        old = known.get(cid)
        if old is not None:
            same = old[0] == body_hash
            results.append(CreateResult(created=False, conflict=not same,
                                        tracking_code=old[1] if same else None,
                                        status=old[2] if same else None))
            continue
        in_use = claims.taken(owned, (a.id for a in case.attachments), cid)
        if in_use:
            results.append(CreateResult(created=False, conflict=False, tracking_code=None,
                                        status=None, in_use=in_use))
            continue
        owned.update({a.id: cid for a in case.attachments})
        code = tracking_code(case.case_id)
        village = case.origin.village_code
        status = derive_case_status([LegState.PENDING] * len(legs))
        known[cid] = (body_hash, code, status)
        cases.append({"case_id": cid, "tracking_code": code, "village": village,
                      "item_code": case.item_code, "status": status.value, "settled": False,
                      "body_hash": body_hash, "case_json": case.model_dump_json(),
                      "created_us": tx.now_us, "updated_us": tx.now_us})
        legs_rows += [{"leg_id": leg.leg_id, "case_id": cid, "department": leg.department,
                       "state": LegState.PENDING.value, "missing_materials": "[]",
                       "updated_us": tx.now_us} for leg in legs]
        # A town-decided leg waits for people at the town's window (hub.town): nothing to send.
        outbox += [outbox_row(tx, leg) for leg in legs if leg.department != TOWN]
        links += [{"a_id": a.id, "a_case": cid} for a in case.attachments]
        tx.audit("case_created", cid, {
            "item_code": case.item_code, "village": village, "tracking_code": code,
            "body_hash": body_hash, "terminal_id": case.origin.terminal_id,
            "legs": [g.leg_id for g in legs],
            "attachments": [{"id": a.id, "sha256": a.sha256} for a in case.attachments]})
        tx.feed(village, cid, {"type": "case_created", "case_id": cid, "tracking_code": code,
                               "item_code": case.item_code, "case_status": status.value,
                               "case_status_label": status.label, "settled": False})
        results.append(CreateResult(created=True, conflict=False, tracking_code=code,
                                    status=status))
    # Cases before legs before outbox rows (the order of one create_case); executemany keeps
    # each list's order, so outbox ids follow the batch's order.
    for stmt, rows in ((_INSERT_CASE, cases), (_INSERT_LEG, legs_rows),
                       (_INSERT_OUTBOX, outbox), (_LINK, links)):
        if rows:
            tx.conn.execute(stmt, rows)
    return results
