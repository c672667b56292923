"""The status tracker's batch path: one store transaction per batch, one fate per message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hub.bus.base import Ack, Dead, Delivery, Message, Retry
from hub.domain.models import LegEvent, LegEventKind, LegState
from hub.store import Store, open_store
from hub.store.base import ApplyResult
from hub.tracking.tracker import EARLY_RETRIES, StatusTracker
from tests.support.api import event, submit

K = LegEventKind
CA, MI = "civil_affairs", "medical_insurance"


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def store(dsn: str) -> Iterator[Store]:
    s = open_store(dsn)
    yield s
    s.close()


def delivery(ev: LegEvent | bytes, attempt: int = 1) -> Delivery:
    body = ev if isinstance(ev, bytes) else ev.model_dump_json().encode()
    mid = "junk" if isinstance(ev, bytes) else ev.event_id
    return Delivery(Message(mid, "submitted", body), "hub.status", attempt)


def test_a_batch_settles_each_message_by_its_own_fate(store: Store) -> None:
    # given a case and a batch: a receipt, a malformed body, an approval that overtook its
    # receipt, the receipt of the other leg, and the first receipt again (redelivered)
    case, _ = submit(store)
    seen: list[tuple[str, ApplyResult]] = []
    tracker = StatusTracker(store, lambda ev, res: seen.append((ev.event_id, res)))
    sub = event(case, CA, K.SUBMITTED, receipt="R1")
    early = event(case, MI, K.RESUBMITTED)
    other = event(case, MI, K.SUBMITTED, receipt="R2")
    batch = [delivery(sub), delivery(b'{"not": "an event"}'), delivery(early),
             delivery(other), delivery(sub)]

    # when the tracker handles the batch
    outcomes = tracker.handle_batch(batch)

    # then the malformed one is parked, the early one waits a second, the rest are acked
    assert outcomes[0] == Ack() and outcomes[3] == Ack() and outcomes[4] == Ack()
    assert isinstance(outcomes[1], Dead) and outcomes[1].reason == "malformed"
    assert isinstance(outcomes[2], Retry) and outcomes[2].delay_s == 1.0
    # and the legs moved once each; the hook heard every event that was decided, in order
    row = store.get_case(case.case_id)
    assert row is not None
    assert {g.department: g.state for g in row.legs} == {CA: LegState.SUBMITTED,
                                                          MI: LegState.SUBMITTED}
    assert [(i, r.applied, r.duplicate) for i, r in seen] == [
        (sub.event_id, True, False), (other.event_id, True, False), (sub.event_id, False, True)]

    # when the early event comes back later, its leg has caught up: it applies
    needs = event(case, MI, K.NEEDS_MATERIALS, missing=["id_card"])
    assert tracker.handle_batch([delivery(needs), delivery(early, attempt=2)]) == [Ack(), Ack()]
    row = store.get_case(case.case_id)
    assert row is not None and {g.department: g.state for g in row.legs}[MI] is LegState.RESUBMITTED


def test_an_event_early_for_too_long_is_refused_and_recorded(store: Store) -> None:
    case, _ = submit(store)
    tracker = StatusTracker(store)
    late = event(case, CA, K.RESUBMITTED)
    assert tracker.handle_batch([delivery(late, attempt=EARLY_RETRIES + 1)]) == [Ack()]
    kinds = [h.kind for h in store.case_history(case.case_id)]
    assert kinds.count("leg_event_refused") == 1


def test_a_store_failure_retries_the_whole_batch_and_commits_nothing(
    store: Store, dsn: str
) -> None:
    # given a store whose processed-events table is gone (the batch's last write fails)
    case, _ = submit(store)
    engine = create_engine(dsn)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE processed_events RENAME TO processed_away"))
    engine.dispose()
    heard: list[str] = []
    tracker = StatusTracker(store, lambda ev, res: heard.append(ev.event_id))
    batch = [delivery(event(case, CA, K.SUBMITTED)), delivery(b"{"),
             delivery(event(case, MI, K.SUBMITTED))]

    # when the tracker handles a batch
    outcomes = tracker.handle_batch(batch)

    # then every event is retried later (the malformed one still parked), nothing changed
    assert isinstance(outcomes[0], Retry) and isinstance(outcomes[2], Retry)
    assert isinstance(outcomes[1], Dead)
    assert heard == []
    row = store.get_case(case.case_id)
    assert row is not None and {g.state for g in row.legs} == {LegState.PENDING}
    assert [h.kind for h in store.case_history(case.case_id)] == ["case_created"]
