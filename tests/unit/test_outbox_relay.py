"""The outbox relay on the embedded bus: batches, the run loop, and quick retries."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hub.bus.embedded import EmbeddedBus
from hub.config.departments import RetryPolicy
from hub.delivery.quick_retry import quick_retry
from hub.domain.errors import PermanentError, TransientError
from hub.domain.retry import RetryTiers
from hub.outbox.relay import OutboxRow, Relay
from tests.contract.test_bus_contract import SqliteOutbox


def test_relay_publishes_in_batches_and_marks_sent(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db", "t")
    bus.declare({"alpha": RetryTiers()})
    src = SqliteOutbox(tmp_path / "o.db")
    src.add([OutboxRow(0, "dispatch", "alpha", f"o{i}", b"{}") for i in range(25)]
            + [OutboxRow(0, "events", "leg.submitted", "e1", b"{}")])
    relay = Relay(src, bus, batch=10)
    assert [relay.run_once() for _ in range(4)] == [10, 10, 6, 0]
    assert bus.stats("t.dept.alpha").depth == 25
    assert bus.stats("t.status").depth == 1


def test_run_loop_relays_rows_added_later_and_stops(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db", "t")
    bus.declare({"alpha": RetryTiers()})
    src_path = tmp_path / "o.db"
    SqliteOutbox(src_path)  # create the table
    stop = threading.Event()

    def run() -> None:
        Relay(SqliteOutbox(src_path), EmbeddedBus(tmp_path / "bus.db", "t")).run(stop, 0.01)

    t = threading.Thread(target=run)
    t.start()
    SqliteOutbox(src_path).add([OutboxRow(0, "dispatch", "alpha", "late", b"{}")])
    for _ in range(200):
        if bus.stats("t.dept.alpha").depth == 1:
            break
        stop.wait(0.02)
    stop.set()
    t.join(5)
    assert not t.is_alive()
    assert bus.stats("t.dept.alpha").depth == 1


def test_quick_retry_absorbs_transient_errors_then_gives_up() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("blip")
        return "ok"

    policy = RetryPolicy(quick_attempts=3, quick_wait_s=0.001)
    assert quick_retry(flaky, policy) == "ok"
    calls.clear()
    with pytest.raises(TransientError):
        quick_retry(lambda: (calls.append(1), (_ for _ in ()).throw(TransientError("x"))),
                    RetryPolicy(quick_attempts=2, quick_wait_s=0.001))
    assert len(calls) == 2

    def permanent() -> None:
        calls.append(1)
        raise PermanentError("no")

    calls.clear()
    with pytest.raises(PermanentError):
        quick_retry(permanent, policy)
    assert len(calls) == 1
