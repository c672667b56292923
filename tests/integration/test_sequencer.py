"""The sequencer on PostgreSQL: writes do not wait for each other, the feed stays gap-free, the
chain verifies (and still catches tampering), and a stalled sequencer fails ``hub audit verify``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from hub.cli.main import main
from hub.domain.models import LegEventKind
from hub.store import Store, open_store
from hub.store.engine import normalise_dsn
from hub.store.tx import now_us
from tests.support.api import VILLAGE_A, VILLAGE_B, event, submit

pytestmark = pytest.mark.postgres
K = LegEventKind


@pytest.fixture
def dsn(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HUB_STORE_DSN", pg_dsn)
    return pg_dsn


@pytest.fixture
def store(dsn: str) -> Iterator[Store]:
    s = open_store(dsn)
    yield s
    s.close()


def sql(dsn: str, statement: str) -> list[Any]:
    engine = create_engine(normalise_dsn(dsn))
    try:
        with engine.begin() as conn:
            res = conn.execute(text(statement))
            return list(res) if res.returns_rows else []
    finally:
        engine.dispose()


def wait_sealed(store: Store, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while store.unsealed()[0]:
        assert time.monotonic() < deadline, "the sequencer did not seal"
        time.sleep(0.02)


def test_a_write_does_not_wait_for_a_transaction_holding_the_chain_head(
        store: Store, dsn: str) -> None:
    # given a transaction that holds the chain head (what every write used to take first)
    engine = create_engine(normalise_dsn(dsn))
    conn = engine.connect()
    conn.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))
    try:
        # when a village submits a case meanwhile, it is stored at once
        done = threading.Event()
        worker = threading.Thread(target=lambda: (submit(store), done.set()), daemon=True)
        worker.start()
        assert done.wait(5.0), "intake waited for the chain head"
        assert store.unsealed()[0] == 2  # its audit entry and feed event wait for the sequencer
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()
    # then, the head free again, the sequencer seals them soon after
    wait_sealed(store)
    other = open_store(dsn)
    assert [f.event["type"] for f in other.feed_since(VILLAGE_A, 0)] == ["case_created"]
    other.close()


def test_the_feed_is_gap_free_and_the_chain_verifies_under_concurrent_writers(
        store: Store, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    reader = open_store(dsn)  # another instance: it sees only what the sequencer sealed
    stop = threading.Event()
    seen: dict[str, list[int]] = {VILLAGE_A: [], VILLAGE_B: []}
    errors: list[BaseException] = []

    def follow(village: str) -> None:  # a village screen resuming from the last seq it got
        after = 0
        while True:
            batch = reader.feed_since(village, after, 50)
            seen[village] += [f.seq for f in batch]
            after = batch[-1].seq if batch else after
            if not batch and stop.is_set():
                return
            time.sleep(0.002)

    def write(n: int) -> None:
        try:
            for i in range(12):
                case, _ = submit(store, village=VILLAGE_A if (n + i) % 2 else VILLAGE_B)
                store.apply_leg_event(event(case, "civil_affairs", K.SUBMITTED, receipt="R"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    followers = [threading.Thread(target=follow, args=(v,)) for v in seen]
    writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for th in followers + writers:
        th.start()
    for th in writers:
        th.join()
    wait_sealed(store)
    stop.set()
    for th in followers:
        th.join()
    reader.close()
    assert not errors
    # every event of the feed reached its village's screen, each once, in order
    for village, seqs in seen.items():
        stored = [r[0] for r in sql(dsn, f"SELECT seq FROM feed WHERE village = '{village}' "
                                         "ORDER BY seq")]
        assert seqs == stored
    assert len(seen[VILLAGE_A]) + len(seen[VILLAGE_B]) == 8 * 12 * 2
    # and the chain is whole: numbered 1..n without gaps and verified by the command
    seqs = [r[0] for r in sql(dsn, "SELECT seq FROM audit ORDER BY seq")]
    assert seqs == list(range(1, 8 * 12 * 2 + 1))
    assert main(["audit", "verify"]) == 0
    assert "audit log intact: 192 entries" in capsys.readouterr().out
    # a case's entries keep their causal order in the chain
    for (entries,) in sql(dsn, "SELECT string_agg(kind, ',' ORDER BY seq) FROM audit "
                               "GROUP BY case_id"):
        assert entries == "case_created,leg_event"
    # tampering after the concurrent run is still named
    sql(dsn, "UPDATE audit SET entry = replace(entry, 'civil_affairs', 'x') WHERE seq = 100")
    assert main(["audit", "verify", "--json"]) == 1
    assert 100 in [b["seq"] for b in json.loads(capsys.readouterr().out)["breaches"]]


def test_a_stalled_sequencer_fails_verify_until_sealed(
        store: Store, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    submit(store)
    store.close()  # no instance is sequencing any more
    # given an entry committed two minutes ago and never sealed
    old = now_us() - 120_000_000
    sql(dsn, "INSERT INTO audit_pending (case_id, kind, at_us, data) "
             f"VALUES (NULL, 'note', {old}, '{{\"x\": 1}}')")
    count, age = store.unsealed()
    assert count == 1 and age > 100  # what hub_audit_unsealed_age_seconds reports
    # then verify fails, saying why
    assert main(["audit", "verify"]) == 1
    assert "not yet sealed into the chain" in capsys.readouterr().out
    assert main(["audit", "verify", "--max-unsealed-age", "600"]) == 0
    capsys.readouterr()
    # and `hub audit seal` brings it into the chain: verify passes again
    assert main(["audit", "seal"]) == 0
    assert "sealed 1 audit entries" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    assert [e.entry["kind"] for e in store.audit_entries()][-1] == "note"


def test_exactly_one_instance_sequences_and_another_takes_over(dsn: str) -> None:
    first, second = open_store(dsn), open_store(dsn)
    try:
        submit(first)
        submit(second)
        wait_sealed(first)
        seqs = [first._sequencer, second._sequencer]  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while sum(s.leader for s in seqs) != 1:
            assert time.monotonic() < deadline, "no single leaseholder"
            time.sleep(0.05)
        leader, other = (first, second) if seqs[0].leader else (second, first)
        leader.close()  # the leaseholder goes away
        submit(other)
        wait_sealed(other, timeout=5.0)
        assert other._sequencer.leader  # type: ignore[attr-defined]
    finally:
        first.close()
        second.close()
