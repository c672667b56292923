"""The in-memory bus's test helpers and its place in the factory (the shared behaviour is proved
by the bus contract suite, tests/contract/test_bus_contract.py, which runs on it too)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.bus.base import Ack, BatchHandler, Dead, Delivery, Message, Outcome, Retry, RetryTiers
from hub.bus.embedded import EmbeddedBus
from hub.bus.factory import open_bus, open_bus_url
from hub.bus.memory import MemoryBus
from hub.config.settings import Settings

TIERS = {"alpha": RetryTiers(tiers_s=(0.2, 0.2), delivery_limit=5)}
QUEUE = "t.dept.alpha"


@contextmanager
def consuming(bus: MemoryBus, handler: BatchHandler) -> Iterator[None]:
    stop = threading.Event()
    t = threading.Thread(target=bus.consume_batch, args=(QUEUE, handler),
                         kwargs={"stop": stop}, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=10)


def test_join_waits_for_retries_and_reports_what_is_left() -> None:
    bus = MemoryBus("t", poll_s=0.01)
    bus.declare(TIERS)
    seen: list[tuple[str, int]] = []

    def flaky(batch: Sequence[Delivery]) -> list[Outcome]:
        seen.extend((d.message.id, d.attempt) for d in batch)
        return [Retry("busy") if d.attempt == 1 else Ack() for d in batch]

    # given nobody consumes, join gives up saying what waits
    bus.publish("dispatch", [Message("m1", "alpha", b"{}")])
    with pytest.raises(TimeoutError, match="1 ready"):
        bus.join(QUEUE, timeout_s=0.1)
    # when a consumer retries it once, join returns only after the retry was acked
    with consuming(bus, flaky):
        bus.join(QUEUE, timeout_s=10)
        assert seen == [("m1", 1), ("m1", 2)]
    assert bus.stats(QUEUE).depth == 0 and bus.dead_letters() == []


def test_dead_letters_keep_the_original_and_a_stopped_consumer_gives_its_batch_back() -> None:
    bus = MemoryBus("t", poll_s=0.01)
    bus.declare(TIERS)
    bus.publish("dispatch", [Message("d1", "alpha", b'{"x": 1}', {"case": "c1"})])

    def crash(batch: Sequence[Delivery]) -> list[Outcome]:
        raise SystemExit("consumer going down")  # not an Exception: nothing is settled

    with pytest.raises(SystemExit):
        bus.consume_batch(QUEUE, crash, stop=threading.Event())
    assert bus.stats(QUEUE).depth == 1  # back in the queue, as from a dead process
    with consuming(bus, lambda batch: [Dead("rejected", "no") for _ in batch]):
        bus.join(QUEUE, timeout_s=10)
    [dead] = bus.dead_letters("alpha")
    assert (dead.message.id, dead.message.headers, dead.reason, dead.attempts) == (
        "d1", {"case": "c1"}, "rejected", 2)


def test_memory_url_opens_handles_on_one_broker_and_is_never_the_default(
        tmp_path: Path) -> None:
    a = open_bus_url("memory://shared-test", tmp_path, "t")
    b = open_bus_url("memory://shared-test", tmp_path, "t")
    a.declare(TIERS)
    a.publish("dispatch", [Message("m1", "alpha", b"{}")])
    assert isinstance(b, MemoryBus) and b.stats(QUEUE).depth == 1
    assert isinstance(open_bus(Settings(data_dir=tmp_path, bus_url=None)), EmbeddedBus)
