"""The case store, run identically against SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from hub.domain.leg_states import CaseStatus
from hub.domain.models import Case, LegEventKind, LegMessage, LegState
from hub.evidence import audit_chain as auditchain
from hub.intake.split_legs import route, supplement
from hub.store import Store
from hub.store.engine import normalise_dsn
from tests.support.api import (
    VILLAGE_A,
    VILLAGE_B,
    body_hash,
    config,
    event,
    raw_case,
    store_for,
    submit,
)

K = LegEventKind


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def dsn(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture
def store(store_kind: str, dsn: str, tmp_path: Path) -> Iterator[Store]:
    from hub.store import open_store

    s = open_store(dsn)
    yield s
    s.close()


def raw_sql(dsn: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(normalise_dsn(dsn))
    try:
        with engine.begin() as conn:
            res = conn.execute(text(sql))
            return [tuple(r) for r in res] if res.returns_rows else []
    finally:
        engine.dispose()


def test_create_case_writes_case_legs_outbox_audit_and_feed_together(store: Store) -> None:
    case, result = submit(store, "MED_ASSIST")  # 民政 + 医保
    assert result.created and not result.conflict and result.tracking_code
    row = store.get_case(case.case_id)
    assert row is not None and row.village == VILLAGE_A and row.status is CaseStatus.RECEIVED
    assert {g.department: g.state for g in row.legs} == {
        "civil_affairs": LegState.PENDING, "medical_insurance": LegState.PENDING}
    pending = store.pending_outbox(10)
    assert sorted(r.routing_key for r in pending) == ["civil_affairs", "medical_insurance"]
    msg = LegMessage.model_validate_json(pending[0].body)
    assert msg.case_id == case.case_id and msg.kind == "submit"
    assert [f.event["type"] for f in store.feed_since(VILLAGE_A, 0)] == ["case_created"]
    assert store.feed_since(VILLAGE_B, 0) == []
    assert [h.kind for h in store.case_history(case.case_id)] == ["case_created"]
    assert store.unsettled_case_count() == 1 and store.outbox_pending_count() == 2


def test_same_case_same_body_is_idempotent_and_different_body_conflicts(store: Store) -> None:
    case, first = submit(store)
    legs = route(case, config())
    again = store.create_case(case, legs, body_hash(case))
    assert not again.created and not again.conflict
    assert again.tracking_code == first.tracking_code
    changed = store.create_case(case, legs, "f" * 64)
    assert changed.conflict and not changed.created
    assert store.outbox_pending_count() == 2  # nothing stored twice


def test_relay_mark_moves_dispatch_legs_to_dispatched(store: Store) -> None:
    case, _ = submit(store)
    rows = store.pending_outbox(10)
    store.mark_outbox_sent([r.id for r in rows])
    store.mark_outbox_sent([r.id for r in rows])  # a repeated mark changes nothing
    row = store.get_case(case.case_id)
    assert row is not None
    assert {g.state for g in row.legs} == {LegState.DISPATCHED}
    assert store.pending_outbox(10) == [] and store.outbox_pending_count() == 0
    kinds = [h.kind for h in store.case_history(case.case_id)]
    assert kinds.count("leg_dispatched") == 2


def test_events_drive_the_legs_and_the_case_status(store: Store) -> None:
    case, _ = submit(store)
    ca, mi = "civil_affairs", "medical_insurance"
    for dept in (ca, mi):
        assert store.apply_leg_event(event(case, dept, K.SUBMITTED, receipt="R1")).applied
    assert store.apply_leg_event(event(case, ca, K.APPROVED)).case_status is \
        CaseStatus.IN_PROGRESS
    result = store.apply_leg_event(event(case, mi, K.NEEDS_MATERIALS, missing=["id_card"]))
    assert result.applied and result.case_status is CaseStatus.WAITING_MATERIALS
    row = store.get_case(case.case_id)
    assert row is not None
    leg = {g.department: g for g in row.legs}[mi]
    assert leg.missing_materials == ("id_card",) and leg.receipt == "R1"
    assert store.apply_leg_event(event(case, mi, K.REJECTED)).case_status is \
        CaseStatus.PARTLY_APPROVED
    row = store.get_case(case.case_id)
    assert row is not None and row.settled and store.unsettled_case_count() == 0
    feed = store.feed_since(VILLAGE_A, 0)
    assert feed[-1].event["case_status"] == "partly_approved"
    assert [f.seq for f in feed] == sorted(f.seq for f in feed)


def test_duplicate_event_is_applied_once(store: Store) -> None:
    case, _ = submit(store)
    ev = event(case, "civil_affairs", K.SUBMITTED, event_id="ev-1")
    assert store.apply_leg_event(ev).applied
    again = store.apply_leg_event(ev)
    assert again.duplicate and not again.applied
    assert [h.kind for h in store.case_history(case.case_id)].count("leg_event") == 1


def test_out_of_order_and_unknown_events_are_refused_and_recorded(store: Store) -> None:
    case, _ = submit(store)
    refused = store.apply_leg_event(event(case, "civil_affairs", K.RESUBMITTED))
    assert not refused.applied and refused.refused_reason and \
        refused.leg_state is LegState.PENDING
    unknown = store.apply_leg_event(event(case, "social_security", K.SUBMITTED))
    assert not unknown.applied and "unknown leg" in (unknown.refused_reason or "")
    row = store.get_case(case.case_id)
    assert row is not None and {g.state for g in row.legs} == {LegState.PENDING}
    kinds = [h.kind for h in store.case_history(case.case_id)]
    assert kinds.count("leg_event_refused") == 2


def test_supplement_moves_only_that_departments_leg(store: Store) -> None:
    case, _ = submit(store)
    for dept in ("civil_affairs", "medical_insurance"):
        store.apply_leg_event(event(case, dept, K.SUBMITTED))
        store.apply_leg_event(event(case, dept, K.NEEDS_MATERIALS, missing=["x"]))
    store.mark_outbox_sent([r.id for r in store.pending_outbox(10)])
    msg = supplement(case, "medical_insurance", [], {}, config())
    assert store.add_supplement(case.case_id, "medical_insurance", msg).applied
    row = store.get_case(case.case_id)
    assert row is not None
    assert {g.department: g.state for g in row.legs} == {
        "civil_affairs": LegState.NEEDS_MATERIALS, "medical_insurance": LegState.RESUBMITTED}
    [out] = store.pending_outbox(10)
    assert out.routing_key == "medical_insurance" and out.headers["kind"] == "supplement"
    twice = store.add_supplement(case.case_id, "medical_insurance",
                                 supplement(case, "medical_insurance", [], {}, config()))
    assert not twice.applied and twice.leg_state is LegState.RESUBMITTED
    assert not store.add_supplement(case.case_id, "social_security", msg).applied


def test_list_cases_is_per_village_filtered_and_paginated(store: Store) -> None:
    mine = [submit(store)[0].case_id for _ in range(5)]
    submit(store, village=VILLAGE_B)
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = store.list_cases(VILLAGE_A, cursor=cursor, limit=2)
        seen += [c.case_id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(mine)
    assert store.list_cases(VILLAGE_A, status=CaseStatus.APPROVED).items == []
    assert len(store.list_cases(VILLAGE_A, status=CaseStatus.RECEIVED).items) == 5
    with pytest.raises(ValueError):
        store.list_cases(VILLAGE_A, cursor="not-a-cursor")


def test_terminal_tokens_are_stored_only_as_hashes_and_revocable(store: Store, dsn: str) -> None:
    tid, token = store.add_terminal(VILLAGE_A, "民主村一号机")
    term = store.authenticate(token)
    assert term is not None and term.id == tid and term.village == VILLAGE_A
    assert store.authenticate(token + "x") is None and store.authenticate("") is None
    dump = json.dumps(raw_sql(dsn, "SELECT * FROM terminals"), default=str)
    assert token not in dump
    assert store.revoke_terminal(tid) and not store.revoke_terminal(tid)
    assert store.authenticate(token) is None
    assert [t.revoked_at is not None for t in store.list_terminals()] == [True]


def test_attachments_are_recorded_linked_and_deleted_with_audit(store: Store) -> None:
    from hub.domain.models import utcnow
    from hub.store.base import AttachmentRow

    store.record_attachment(AttachmentRow(id="a1", village=VILLAGE_A, terminal_id="t1",
                                          kind="birth_certificate", media_type="image/jpeg",
                                          size=3, sha256="a" * 64, key_id="k1",
                                          created_at=utcnow()))
    raw = raw_case(attachment_ids=["a1", "a1", "a1"])
    case = Case.model_validate(raw)
    store.create_case(case, route(case, config()), body_hash(case))
    att = store.get_attachments(["a1", "nope"])
    assert list(att) == ["a1"] and att["a1"].case_id == case.case_id
    assert store.mark_attachment_deleted("a1", reason="retention")
    assert store.get_attachments(["a1"]) == {}
    assert len(store.list_attachments(include_deleted=True)) == 1
    assert "attachment_deleted" in [h.kind for h in store.case_history(case.case_id)]


def test_audit_chain_is_intact_and_detects_an_edited_entry(store: Store, dsn: str) -> None:
    case, _ = submit(store)
    store.apply_leg_event(event(case, "civil_affairs", K.SUBMITTED))
    store.append_audit("note", None, {"x": 1})
    entries = list(store.audit_entries())
    assert [e.seq for e in entries] == [1, 2, 3]
    assert auditchain.verify(entries) == []
    assert [e.seq for e in store.audit_entries(since_seq=2)] == [2, 3]
    raw_sql(dsn, "UPDATE audit SET entry = replace(entry, 'civil_affairs', 'x') WHERE seq = 2")
    breaches = auditchain.verify(store.audit_entries())
    assert [b.seq for b in breaches] == [2]


def test_concurrent_writers_keep_one_unbroken_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                case, _ = submit(store)
                store.apply_leg_event(event(case, "civil_affairs", K.SUBMITTED))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    entries = list(store.audit_entries())
    assert len(entries) == 40 and auditchain.verify(entries) == []
    feed = store.feed_since(VILLAGE_A, 0, limit=100)
    assert len(feed) == 40


def test_reopening_migrates_nothing_twice(store_kind: str, dsn: str, tmp_path: Path,
                                          request: pytest.FixtureRequest) -> None:
    from hub.store import open_store

    first = open_store(dsn)
    submit(first)
    first.close()
    second = open_store(dsn)
    assert second.ping() and second.unsettled_case_count() == 1
    second.close()
    from hub.store.migrations import MIGRATIONS

    assert sorted(raw_sql(dsn, "SELECT version FROM schema_version")) == [
        (m.version,) for m in MIGRATIONS]
    assert store_for  # helper kept importable for API tests


def test_leg_counts_group_by_department_and_state(store: Store) -> None:
    case, _ = submit(store)
    submit(store, "MED_ENROLL")
    store.apply_leg_event(event(case, "civil_affairs", K.SUBMITTED))
    assert store.leg_counts() == {"civil_affairs": {"submitted": 1},
                                  "medical_insurance": {"pending": 2}}


def _story(store: Store, case: Case) -> tuple[list[object], list[tuple[str, str]],
                                              list[object], list[dict[str, object]]]:
    """What a user of the store sees of one case: legs, history, feed (ids and times left out)."""
    row = store.get_case(case.case_id)
    assert row is not None
    legs = [(g.department, g.state, g.receipt, g.missing_materials) for g in row.legs]
    drop = ("seq", "at", "case_id", "event_id", "tracking_code", "leg_id")
    history = [(h.kind, json.dumps({k: v for k, v in h.entry.items() if k not in drop},
                                   sort_keys=True)) for h in store.case_history(case.case_id)
               if h.kind != "case_created"]
    feed = [{k: v for k, v in f.event.items() if k not in drop}
            for f in store.feed_since(VILLAGE_A, 0)
            if f.case_id == case.case_id and f.event["type"] != "case_created"]
    return [row.status, row.settled], history, legs, feed


def test_a_batch_of_events_ends_exactly_as_the_same_events_one_by_one(store: Store) -> None:
    # Given two identical cases, and one story of events: several per leg, a duplicate inside
    # the batch, an out-of-order event, an unknown department, and an early one that is
    # deferred and then arrives again once its leg caught up
    one, _ = submit(store)
    many, _ = submit(store)
    ca, mi = "civil_affairs", "medical_insurance"

    def story(case: Case) -> list[object]:
        dup = event(case, ca, K.SUBMITTED, receipt="R1", event_id=f"{case.case_id}-dup")
        early = event(case, mi, K.RESUBMITTED, event_id=f"{case.case_id}-early")
        return [dup, dup, event(case, ca, K.APPROVED), early,
                event(case, mi, K.SUBMITTED, receipt="R2"),
                event(case, mi, K.NEEDS_MATERIALS, missing=["id_card"]),
                event(case, "social_security", K.SUBMITTED), event(case, mi, K.DISPATCHED),
                event(case, ca, K.APPROVED), event(case, mi, K.RETRYING), early]

    # When one case gets them one transaction each and the other in ONE batch
    singles = [store.apply_leg_event(e, defer_early=True) for e in story(one)]  # type: ignore[arg-type]
    batch = store.apply_leg_events(story(many), defer_early=True)  # type: ignore[arg-type]

    # Then every answer, leg, history entry and feed entry is the same
    assert batch == singles
    assert [r.duplicate for r in batch][:2] == [False, True]
    assert batch[3].deferred and batch[-1].applied  # it fits once the leg needs materials
    assert _story(store, many) == _story(store, one)
    # and the chain is unbroken after a batch
    assert auditchain.verify(store.audit_entries()) == []


def test_a_batch_with_a_refused_event_still_applies_the_rest_once(store: Store) -> None:
    case, _ = submit(store)
    ca = "civil_affairs"
    sub = event(case, ca, K.SUBMITTED, event_id="b-sub")
    results = store.apply_leg_events([event(case, ca, K.RESUBMITTED), sub,
                                      event(case, ca, K.ACCEPTED)])
    assert [r.applied for r in results] == [False, True, True]
    assert results[0].refused_reason and results[2].leg_state is LegState.ACCEPTED
    # a redelivered batch changes nothing
    again = store.apply_leg_events([sub])
    assert again[0].duplicate
    assert [h.kind for h in store.case_history(case.case_id)].count("leg_event") == 2
    assert store.apply_leg_events([]) == []


def test_relay_mark_of_many_cases_keeps_one_entry_per_leg(store: Store) -> None:
    cases = [submit(store)[0] for _ in range(3)]
    store.apply_leg_event(event(cases[0], "civil_affairs", K.SUBMITTED))  # worker was faster
    store.mark_outbox_sent([r.id for r in store.pending_outbox(100)])
    states = {}
    for c in cases:
        row = store.get_case(c.case_id)
        assert row is not None
        states[c.case_id] = {g.department: g.state for g in row.legs}
    assert states[cases[0].case_id]["civil_affairs"] is LegState.SUBMITTED
    assert states[cases[0].case_id]["medical_insurance"] is LegState.DISPATCHED
    assert all(set(states[c.case_id].values()) == {LegState.DISPATCHED} for c in cases[1:])
    kinds = [h.kind for c in cases for h in store.case_history(c.case_id)]
    assert kinds.count("leg_dispatched") == 5
    assert auditchain.verify(store.audit_entries()) == []


def _intake_story(store: Store, att: str, *, batch: bool) -> list[Any]:
    """One intake script, in one batch or one case at a time; what a user sees of it."""
    from hub.domain.models import utcnow
    from hub.store.base import AttachmentRow
    from hub.store.rows import tracking_code

    store.record_attachment(AttachmentRow(id=att, village=VILLAGE_A, terminal_id="t1",
                                          kind="birth_certificate", media_type="image/jpeg",
                                          size=3, sha256="a" * 64, key_id="k1",
                                          created_at=utcnow()))
    a, b, p, q = (Case.model_validate(raw_case()) for _ in range(4))
    c, d = (Case.model_validate(raw_case(attachment_ids=[att] * 3)) for _ in range(2))
    for stored_before in (p, q):
        store.create_case(stored_before, route(stored_before, config()), body_hash(stored_before))
    script = [(a, body_hash(a)), (b, body_hash(b)), (a, body_hash(a)), (b, "f" * 64),
              (p, body_hash(p)), (q, "e" * 64), (c, body_hash(c)), (d, body_hash(d)),
              (a, "0" * 64)]
    items = [(case, route(case, config()), h) for case, h in script]
    results = store.create_cases(items) if batch else [store.create_case(*i) for i in items]
    answers = [(r.created, r.conflict, r.status, bool(r.in_use),
                r.tracking_code == tracking_code(case.case_id) if r.tracking_code else None)
               for (case, _h), r in zip(script, results, strict=True)]
    names = {str(x.case_id): n for n, x in zip("abpqcd", (a, b, p, q, c, d), strict=True)}
    outbox = [r.headers["case_id"] for r in store.pending_outbox(100)
              if r.headers["case_id"] in names]
    feed = [(names[str(f.case_id)], f.event["type"]) for f in store.feed_since(VILLAGE_A, 0)
            if str(f.case_id) in names]
    history = {n: [h.kind for h in store.case_history(x.case_id)]
               for n, x in zip("abcd", (a, b, c, d), strict=True)}
    owner = store.get_attachments([att])[att].case_id
    return [answers, [names[i] for i in outbox], feed, history,
            names[str(owner)] if owner else None]


def test_a_batch_of_cases_ends_exactly_as_the_same_cases_one_by_one(store: Store) -> None:
    # Given one intake script with repeats, conflicts (in the batch and against stored cases)
    # and two cases naming the same attachment
    # When it runs once case by case and once as ONE create_cases batch
    one_by_one = _intake_story(store, "att-one", batch=False)
    batched = _intake_story(store, "att-batch", batch=True)
    # Then the clerk-visible outcome is the same, and it is the one-by-one semantics
    assert batched == one_by_one
    answers, outbox, feed, history, owner = batched
    received = CaseStatus.RECEIVED
    free, taken = False, True
    assert answers == [(True, False, received, free, True), (True, False, received, free, True),
                       (False, False, received, free, True), (False, True, None, free, None),
                       (False, False, received, free, True), (False, True, None, free, None),
                       (True, False, received, free, True), (False, False, None, taken, None),
                       (False, True, None, free, None)]
    assert outbox == ["p", "p", "q", "q", "a", "a", "b", "b", "c", "c"]
    assert [t for _n, t in feed] == ["case_created"] * 5
    assert history == {"a": ["case_created"], "b": ["case_created"], "c": ["case_created"],
                       "d": []}
    assert owner == "c"  # the first case to claim an attachment owns it; d is refused
    assert auditchain.verify(list(store.audit_entries())) == []


def test_a_failing_batch_of_cases_stores_none_of_them(store: Store) -> None:
    from hub.domain.errors import PermanentError

    # Given a batch whose second case carries the same leg twice (the store refuses it)
    good, bad = (Case.model_validate(raw_case()) for _ in range(2))
    legs = route(bad, config())
    items = [(good, route(good, config()), body_hash(good)),
             (bad, [*legs, legs[0]], body_hash(bad))]
    # When the batch is created, Then it fails and nothing of it is stored
    with pytest.raises(PermanentError):
        store.create_cases(items)
    assert store.get_case(good.case_id) is None and store.outbox_pending_count() == 0
    assert list(store.audit_entries()) == [] and store.feed_since(VILLAGE_A, 0) == []
    # And the good case is accepted afterwards, alone
    assert store.create_cases(items[:1])[0].created
    assert store.create_cases([]) == []
