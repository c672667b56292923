"""Department workers handle batches: one ledger transaction and one confirmed publish per
batch, with every delivery keeping its own fate. On the in-memory bus (the worker's bookkeeping
is what is tested; tests/integration/test_worker_batch.py runs a worker on the real buses).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bus.base import Ack, Dead, Delivery, Message, Retry, status_queue
from hub.bus.factory import tiers_of
from hub.bus.memory import MemoryBus
from hub.config.loading import HubConfig
from hub.delivery.ledger import Ledger
from hub.delivery.worker import DepartmentWorker
from tests.support.buses import PublishCounter, received_ids
from tests.support.hub import fast_config
from tests.support.legs import DEPT, FilingDepartment, deliveries, legs


@pytest.fixture
def cfg() -> HubConfig:
    return fast_config()


@pytest.fixture
def rig(cfg: HubConfig, tmp_path: Path) -> Iterator[tuple[PublishCounter, Ledger]]:
    bus = MemoryBus("hub", poll_s=0.01)
    bus.declare(tiers_of(cfg.departments))
    ledger = Ledger(tmp_path / "worker.db")
    yield PublishCounter(bus), ledger
    ledger.close()


def status_events(bus: PublishCounter, expect: int) -> list[str]:
    return received_ids(bus.inner, status_queue(bus.namespace), expect, quiet_s=0.2)


def test_a_batch_is_filed_once_recorded_together_and_announced_in_one_publish(
        rig: tuple[PublishCounter, Ledger], cfg: HubConfig) -> None:
    bus, ledger = rig
    dept = FilingDepartment()
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
        rig: tuple[PublishCounter, Ledger], cfg: HubConfig) -> None:
    bus, ledger = rig
    dept = FilingDepartment()
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
        rig: tuple[PublishCounter, Ledger], cfg: HubConfig) -> None:
    bus, ledger = rig
    batch = legs(cfg, 4)
    dept = FilingDepartment(refuse={batch[1].leg_id})
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
        rig: tuple[PublishCounter, Ledger], cfg: HubConfig) -> None:
    bus, ledger = rig
    dept = FilingDepartment(slow_submit_s=0.05)  # submissions are slow, supplements fast
    worker = DepartmentWorker(DEPT, cfg, bus, dept, ledger, concurrency=8)  # type: ignore[arg-type]
    batch = legs(cfg, 6)
    supplements = [m.model_copy(update={"message_id": m.message_id + "-sup", "kind": "supplement"})
                   for m in batch]
    outcomes = worker.handle_batch(deliveries([*batch, *supplements]))
    assert outcomes == [Ack()] * 12
    for m in batch:
        kinds = [kind for leg, kind in dept.filed if leg == m.leg_id]
        assert kinds == ["submit", "supplement"], (m.leg_id, kinds)
