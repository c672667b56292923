"""Department workers consume in batches: one ledger transaction and one confirmed publish per
batch, with every delivery keeping its own fate. Run on both buses (RabbitMQ and embedded).

The department here is an in-process recorder (what the batching is about is the worker's
bookkeeping, not a transport; each real transport has its own suite against a real peer).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from hub.bus.base import Ack, Bus, Dead, Delivery, ExchangeKind, Message, PublishFailed, Retry
from hub.bus.base import status_queue as status_queue_of
from hub.config.loading import HubConfig
from hub.delivery.ledger import Ledger
from hub.delivery.worker import DepartmentWorker
from hub.domain.adapter import Health, Receipt, Result, SubmitRequest
from hub.domain.errors import PermanentError
from hub.domain.models import LegMessage
from hub.intake import split_legs as router
from hub.intake.validation import validate_case
from simulators.samples import sample_case
from tests.contract.bus_fixtures import BusEnv, bus_env  # noqa: F401 - the fixture
from tests.support.hub import fast_config

DEPT = "civil_affairs"
VILLAGE = "513401101201"


class Recorder:
    """A department that files every leg it is sent, in arrival order."""

    def __init__(self, refuse: set[str] | None = None, slow_submit_s: float = 0.0) -> None:
        self.filed: list[tuple[str, str]] = []  # (leg_id, kind)
        self.refuse = refuse or set()
        self.slow_submit_s = slow_submit_s
        self._lock = threading.Lock()

    def submit(self, request: SubmitRequest) -> Receipt:
        if request.leg_id in self.refuse:
            raise PermanentError("申请人信息不完整", reason="rejected")
        if request.kind == "submit" and self.slow_submit_s:
            time.sleep(self.slow_submit_s)
        with self._lock:
            self.filed.append((request.leg_id, request.kind))
        return Receipt(department_ref=f"MZ-{len(self.filed)}")

    def poll_results(self) -> list[Result]:
        return []

    def ack_results(self, results: Sequence[Result]) -> None:
        pass

    def health(self) -> Health:
        return Health(ok=True)

    def close(self) -> None:
        pass


class CountingBus:
    """The real bus, counting publish calls; ``fail_next`` makes the next publish fail."""

    def __init__(self, bus: Bus) -> None:
        self.inner = bus
        self.namespace = bus.namespace
        self.publishes = 0
        self.fail_next = False

    def publish(self, exchange: ExchangeKind, messages: Sequence[Message]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise PublishFailed("broker did not confirm")
        self.publishes += 1
        self.inner.publish(exchange, messages)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture
def cfg() -> HubConfig:
    return fast_config()


def legs(cfg: HubConfig, n: int) -> list[LegMessage]:
    item = cfg.catalogue.get("DEATH")
    assert item is not None
    rng = random.Random(5)
    out = []
    for _ in range(n):
        raw, _ = sample_case(cfg, item, village_code=VILLAGE, rng=rng)
        case = validate_case(raw, cfg)
        out += [m for m in router.route(case, cfg) if m.department == DEPT]
    return out


def deliveries(messages: Sequence[LegMessage], attempt: int = 1) -> list[Delivery]:
    return [Delivery(Message(m.message_id, DEPT, m.model_dump_json().encode()),
                     f"hub.dept.{DEPT}", attempt) for m in messages]


@pytest.fixture
def rig(bus_env: BusEnv, cfg: HubConfig,  # noqa: F811 - the fixture
        tmp_path: Path) -> Iterator[tuple[CountingBus, Ledger]]:
    bus = CountingBus(bus_env.make({n: d.retry.tiers() for n, d in cfg.departments.items()}))
    ledger = Ledger(tmp_path / "worker.db")
    yield bus, ledger
    ledger.close()


def status_events(bus: Bus, expect: int, timeout_s: float = 20.0) -> list[str]:
    """Event ids arriving on the status queue until ``expect`` came and a quiet second passed."""
    seen: list[str] = []
    stop = threading.Event()

    def handler(d: Delivery) -> Ack:
        seen.append(d.message.id)
        return Ack()

    t = threading.Thread(target=bus.consume, args=(status_queue_of(bus.namespace), handler),
                         kwargs={"stop": stop}, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout_s
    while len(seen) < expect and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # anything extra (a duplicate) would arrive now
    stop.set()
    t.join(timeout=10)
    return seen


def test_a_batch_is_filed_once_recorded_together_and_announced_in_one_publish(
        rig: tuple[CountingBus, Ledger], cfg: HubConfig) -> None:
    bus, ledger = rig
    dept = Recorder()
    worker = DepartmentWorker(DEPT, cfg, bus, dept, ledger)  # type: ignore[arg-type]
    batch = legs(cfg, 12)
    # given a batch in which one message arrived twice (a redelivery beside the original)
    outcomes = worker.handle_batch(deliveries([*batch, batch[3]]))
    # then every delivery is acked, each leg filed exactly once, and one publish announced all
    assert outcomes == [Ack()] * 13
    assert sorted(leg for leg, _ in dept.filed) == sorted(m.leg_id for m in batch)
    assert bus.publishes == 1
    assert set(ledger.get_many(m.message_id for m in batch)) == {m.message_id for m in batch}
    # and the same messages delivered again are not filed again
    assert worker.handle_batch(deliveries(batch, attempt=2)) == [Ack()] * 12
    assert len(dept.filed) == 12
    assert sorted(status_events(bus, 12)) == sorted(f"s:{m.message_id}" for m in batch)


def test_a_failed_publish_retries_the_batch_without_filing_it_again(
        rig: tuple[CountingBus, Ledger], cfg: HubConfig) -> None:
    bus, ledger = rig
    dept = Recorder()
    worker = DepartmentWorker(DEPT, cfg, bus, dept, ledger)  # type: ignore[arg-type]
    batch = legs(cfg, 5)
    # given the bus fails to confirm the batch's events
    bus.fail_next = True
    first = worker.handle_batch(deliveries(batch))
    # then every delivery comes back later (nothing acked without its event out)
    assert all(isinstance(o, Retry) for o in first), first
    assert len(dept.filed) == 5
    # and on redelivery the ledger answers: the events go out, nothing is filed twice
    assert worker.handle_batch(deliveries(batch, attempt=2)) == [Ack()] * 5
    assert len(dept.filed) == 5
    assert sorted(status_events(bus, 5)) == sorted(f"s:{m.message_id}" for m in batch)


def test_a_refused_leg_is_parked_alone_and_its_failure_announced(
        rig: tuple[CountingBus, Ledger], cfg: HubConfig) -> None:
    bus, ledger = rig
    batch = legs(cfg, 4)
    dept = Recorder(refuse={batch[1].leg_id})
    worker = DepartmentWorker(DEPT, cfg, bus, dept, ledger)  # type: ignore[arg-type]
    garbage = Delivery(Message("garbage", DEPT, b"{not json"), f"hub.dept.{DEPT}", 1)
    outcomes = worker.handle_batch([*deliveries(batch), garbage])
    assert outcomes[0] == outcomes[2] == outcomes[3] == Ack()
    assert isinstance(outcomes[1], Dead) and outcomes[1].reason == "rejected"
    assert isinstance(outcomes[4], Dead) and outcomes[4].reason == "malformed"
    events = status_events(bus, 4)
    assert f"f:{batch[1].message_id}" in events
    assert sorted(e for e in events if e.startswith("s:")) == sorted(
        f"s:{m.message_id}" for m in (batch[0], batch[2], batch[3]))


def test_a_supplement_never_overtakes_its_submission_in_a_batch(
        rig: tuple[CountingBus, Ledger], cfg: HubConfig) -> None:
    bus, ledger = rig
    dept = Recorder(slow_submit_s=0.05)  # submissions are slow, supplements fast
    worker = DepartmentWorker(DEPT, cfg, bus, dept, ledger, concurrency=8)  # type: ignore[arg-type]
    batch = legs(cfg, 6)
    supplements = [m.model_copy(update={"message_id": m.message_id + "-sup", "kind": "supplement"})
                   for m in batch]
    outcomes = worker.handle_batch(deliveries([*batch, *supplements]))
    assert outcomes == [Ack()] * 12
    for m in batch:
        kinds = [kind for leg, kind in dept.filed if leg == m.leg_id]
        assert kinds == ["submit", "supplement"], (m.leg_id, kinds)


def test_a_running_worker_drains_its_queue_in_batches(
        rig: tuple[CountingBus, Ledger], cfg: HubConfig) -> None:
    bus, ledger = rig
    dept = Recorder()
    worker = DepartmentWorker(DEPT, cfg, bus, dept, ledger)  # type: ignore[arg-type]
    batch = legs(cfg, 150)
    # given a backlog of legs queued before the worker starts
    bus.inner.publish("dispatch", [Message(m.message_id, DEPT, m.model_dump_json().encode())
                                   for m in batch])
    t = threading.Thread(target=worker.run, kwargs={"poll_interval_s": 5.0}, daemon=True)
    t.start()
    try:
        events = status_events(bus, 150, timeout_s=60)
    finally:
        worker.stop.set()
        t.join(timeout=30)
    # then every leg was filed once and announced once, in far fewer publishes than legs
    assert sorted(leg for leg, _ in dept.filed) == sorted(m.leg_id for m in batch)
    assert sorted(events) == sorted(f"s:{m.message_id}" for m in batch)
    assert bus.publishes < len(batch) / 4, bus.publishes
