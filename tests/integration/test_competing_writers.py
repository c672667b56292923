"""Several hub instances writing one PostgreSQL store at once, without a global lock: the same
case submitted twice, the same event applied twice, and relays competing for the outbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hub.domain.models import Case, LegEventKind
from hub.intake.split_legs import route
from hub.store import Store, open_store, outbox_claims
from tests.support.api import body_hash, config, event, raw_case, submit

pytestmark = pytest.mark.postgres


@pytest.fixture
def stores(pg_dsn: str) -> Iterator[list[Store]]:
    found = [open_store(pg_dsn) for _ in range(4)]
    yield found
    for s in found:
        s.close()


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    gate = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        gate.wait()
        try:
            out[i] = calls[i]()
        except Exception as exc:  # reported by the assertions
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    return out


def test_one_case_submitted_to_every_instance_at_once_is_created_once(
        stores: list[Store]) -> None:
    case = Case.model_validate(raw_case())
    legs = route(case, config())
    results = at_once([lambda s=s: s.create_case(case, legs, body_hash(case)) for s in stores])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert len({r.tracking_code for r in results}) == 1
    stores[0].seal()
    assert [f.event["type"] for f in stores[0].feed_since(case.origin.village_code, 0)] == [
        "case_created"]


def test_one_answer_applied_by_every_instance_at_once_changes_the_leg_once(
        stores: list[Store]) -> None:
    case, _ = submit(stores[0])
    answer = event(case, "civil_affairs", LegEventKind.SUBMITTED, receipt="R1")
    results = at_once([lambda s=s: s.apply_leg_event(answer) for s in stores])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.applied for r in results) == [False, False, False, True]
    assert all(r.duplicate for r in results if not r.applied)
    # the audit entries are chained by the sequencer soon after commit: wait for the seal
    deadline = time.monotonic() + 15
    while True:
        kinds = [h.kind for h in stores[1].case_history(case.case_id)]
        if len(kinds) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert kinds == ["case_created", "leg_event"]


def test_competing_relays_claim_disjoint_rows_and_take_over_a_dead_ones(
        stores: list[Store], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_claims, "CLAIM_S", 1.5)
    for _ in range(10):
        submit(stores[0])  # two legs each: 20 outbox rows
    claims = at_once([lambda s=s: s.pending_outbox(8) for s in stores[:3]])
    ids = [[r.id for r in c] for c in claims]
    flat = [i for c in ids for i in c]
    assert len(flat) == len(set(flat)) == 20, ids  # nobody got a row twice, none left out
    assert stores[0].pending_outbox(8) == claims[0]  # a relay's retry gets its own rows again
    assert stores[3].pending_outbox(50) == []  # a fourth relay finds everything claimed
    # when the first relay dies before marking its rows sent, they go to another after the claim
    for s in stores[1:3]:
        s.mark_outbox_sent([r.id for r in s.pending_outbox(50)])
    assert stores[3].pending_outbox(50) == []
    time.sleep(1.6)
    taken = stores[3].pending_outbox(50)
    assert sorted(r.id for r in taken) == sorted(ids[0])
    stores[3].mark_outbox_sent([r.id for r in taken])
    assert stores[0].outbox_pending_count() == 0
