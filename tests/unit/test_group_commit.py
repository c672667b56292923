"""Group commit for intake (hub.store.group) over real SQLite and PostgreSQL stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hub.domain.errors import PermanentError, TransientError
from hub.domain.models import Case, LegMessage
from hub.evidence import audit_chain as auditchain
from hub.intake.group_commit import CLOSED_MESSAGE, GroupCommitter
from hub.intake.split_legs import route
from hub.store import Store, open_store
from hub.store.base import CreateResult
from tests.support.api import VILLAGE_A, body_hash, config, raw_case


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    dsn = (f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_dsn")))
    s = open_store(dsn)
    yield s
    s.close()


class GatedStore:
    """The real store, with its first ``create_cases`` held until the test opens the gate:
    lets a test line up the next batch deterministically. Records every batch's size."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.sizes: list[int] = []

    def create_cases(self, items: Sequence[tuple[Case, Sequence[LegMessage], str]]
                     ) -> list[CreateResult]:
        self.sizes.append(len(items))
        self.entered.set()
        assert self.gate.wait(30)
        return self.store.create_cases(items)


def new_case() -> tuple[Case, list[LegMessage], str]:
    case = Case.model_validate(raw_case())
    return case, route(case, config()), body_hash(case)


def wait_until(cond: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_many_threads_each_case_stored_once_and_answered_as_one_by_one(store: Store) -> None:
    # Given 40 distinct cases, each submitted twice from 16 threads at once (racing repeats)
    committer = GroupCommitter(store, max_batch=16)
    cases = [new_case() for _ in range(40)]
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda i: committer.submit(*cases[i % 40]), range(80)))
    finally:
        committer.close()
    # Then every case is created exactly once; its repeat answers the same tracking code
    for n, (case, legs, _h) in enumerate(cases):
        first, second = results[n], results[n + 40]
        assert sorted([first.created, second.created]) == [False, True]
        assert not first.conflict and not second.conflict
        assert first.tracking_code == second.tracking_code
        row = store.get_case(case.case_id)
        assert row is not None and len(row.legs) == len(legs)
    assert store.outbox_pending_count() == sum(len(legs) for _c, legs, _h in cases)
    assert len(store.feed_since(VILLAGE_A, 0, limit=500)) == 40
    entries = list(store.audit_entries())
    assert len(entries) == 40 and auditchain.verify(entries) == []
    # And the cases really were committed in groups (fewer transactions than cases)
    assert committer.cases == 80 and committer.batches < committer.cases


def test_a_failing_batch_fails_every_caller_in_it_and_stores_none(store: Store) -> None:
    # Given a committer held inside its first commit, and three cases queued behind it, one
    # of which the store refuses (the same leg twice)
    gated = GatedStore(store)
    committer = GroupCommitter(gated, max_batch=64, max_wait_s=0)  # type: ignore[arg-type]
    first, good1, good2 = new_case(), new_case(), new_case()
    case, legs, h = new_case()
    bad = (case, [*legs, legs[0]], h)
    outcomes: dict[str, CreateResult | BaseException] = {}

    def go(name: str, item: tuple[Case, list[LegMessage], str]) -> None:
        try:
            outcomes[name] = committer.submit(*item)
        except BaseException as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=go, args=("first", first))]
    threads[0].start()
    assert gated.entered.wait(10)
    for name, item in (("good1", good1), ("bad", bad), ("good2", good2)):
        threads.append(threading.Thread(target=go, args=(name, item)))
        threads[-1].start()
    wait_until(lambda: committer.queued == 3)
    # When the gate opens
    gated.gate.set()
    for th in threads:
        th.join(10)
    committer.close()
    # Then the first batch committed, and every caller of the failed batch got the same error
    assert gated.sizes == [1, 3]
    assert isinstance(outcomes["first"], CreateResult) and outcomes["first"].created
    errors = [outcomes[n] for n in ("good1", "bad", "good2")]
    assert all(isinstance(e, PermanentError) for e in errors)
    assert errors[0] is errors[1] is errors[2]
    # And none of them was stored
    for case_id in (good1[0].case_id, bad[0].case_id, good2[0].case_id):
        assert store.get_case(case_id) is None
    assert store.get_case(first[0].case_id) is not None
    assert len(list(store.audit_entries())) == 1


def test_close_commits_what_was_submitted_then_refuses_new_cases(store: Store) -> None:
    # Given five cases waiting behind a commit in progress
    gated = GatedStore(store)
    committer = GroupCommitter(gated, max_batch=2)  # type: ignore[arg-type]
    items = [new_case() for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(committer.submit, *items[0])
        assert gated.entered.wait(10)
        rest = [pool.submit(committer.submit, *item) for item in items[1:]]
        wait_until(lambda: committer.queued == 5)
        # When the hub closes the committer while they wait
        closing = threading.Thread(target=committer.close)
        closing.start()
        wait_until(lambda: committer.closed)
        # Then a new case is refused with a clear, retryable error
        with pytest.raises(TransientError, match=CLOSED_MESSAGE):
            committer.submit(*new_case())
        gated.gate.set()
        closing.join(10)
        answers = [first.result(10), *(f.result(10) for f in rest)]
    # And every case submitted before the close was committed and answered
    assert all(a.created for a in answers)
    assert all(store.get_case(c.case_id) is not None for c, _l, _h in items)
    assert max(gated.sizes) <= 2 and not committer.running
    committer.close()  # idempotent


def test_a_lone_case_is_not_held_back_and_an_idle_committer_stops_its_thread(
        store: Store) -> None:
    # Given a committer that would wait up to 5 s to fill a batch, and exits its thread when idle
    committer = GroupCommitter(store, max_wait_s=5.0, idle_exit_s=0.05)
    try:
        # When one case arrives alone
        t0 = time.monotonic()
        result = committer.submit(*new_case())
        # Then it is answered without waiting for company (generous bound)
        assert result.created and time.monotonic() - t0 < 2.5
        # And the idle committer lets its thread go, and starts one again for the next case
        wait_until(lambda: not committer.running)
        assert committer.submit(*new_case()).created
    finally:
        committer.close()
    assert committer.batches == 2 and committer.cases == 2
