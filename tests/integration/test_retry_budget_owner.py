"""One owner of the retry budget (issue 12, item 3): the worker and the bus decide alike.

A department that answers "slow down, retry after N seconds" (a ``Retry`` carrying ``delay_s``)
consumes no retry tier on the bus; only the delivery limit bounds it. The worker used to count
deliveries against the tiers instead and failed the leg after ``len(tiers) + 1`` deliveries,
while the bus would have delivered it again. Run on the embedded bus with the real run loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bus.base import Ack, Delivery, Message, status_queue
from hub.bus.embedded import EmbeddedBus
from hub.config.loading import HubConfig
from hub.delivery.ledger import Ledger
from hub.delivery.worker import DepartmentWorker
from hub.domain.adapter import Receipt, SubmitRequest
from hub.domain.errors import RateLimited, TransientError
from tests.support.hub import fast_config
from tests.support.legs import DEPT, FilingDepartment, legs


class Throttling(FilingDepartment):
    """Answers the first ``calls`` submissions with ``error``, then files."""

    def __init__(self, calls: int, error: Exception) -> None:
        super().__init__()
        self.left = calls
        self.error = error
        self._count_lock = threading.Lock()

    def submit(self, request: SubmitRequest) -> Receipt:
        with self._count_lock:
            self.left -= 1
            if self.left >= 0:
                raise self.error
        return super().submit(request)


@pytest.fixture
def cfg() -> HubConfig:
    return fast_config(tiers_s=(0.05, 0.05), delivery_limit=20)


@pytest.fixture
def rig(tmp_path: Path, cfg: HubConfig) -> Iterator[tuple[EmbeddedBus, Ledger]]:
    bus = EmbeddedBus(tmp_path / "bus.db", "budget", lease_s=1.0, poll_s=0.02)
    bus.declare({n: d.retry.tiers() for n, d in cfg.departments.items()})
    ledger = Ledger(tmp_path / "worker.db")
    yield bus, ledger
    ledger.close()
    bus.close()


def first_event(bus: EmbeddedBus, prefixes: tuple[str, ...], timeout_s: float = 30) -> str:
    """The first leg event whose id starts with one of ``prefixes`` (retry evidence skipped)."""
    seen: list[str] = []
    stop = threading.Event()

    def handler(d: Delivery) -> Ack:
        if d.message.id.startswith(prefixes):
            seen.append(d.message.id)
            stop.set()
        return Ack()

    def batch(ds: list[Delivery]) -> list[Ack]:
        return [handler(d) for d in ds]

    t = threading.Thread(target=bus.consume_batch, args=(status_queue(bus.namespace), batch),
                         kwargs={"stop": stop}, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout_s
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(timeout=10)
    assert seen, "no submitted or failed event arrived"
    return seen[0]


def run_one_leg(rig: tuple[EmbeddedBus, Ledger], cfg: HubConfig, dept: FilingDepartment) -> str:
    bus, ledger = rig
    worker = DepartmentWorker(DEPT, cfg, bus, dept, ledger)  # type: ignore[arg-type]
    worker.breaker.failures = 1000  # the circuit never holds deliveries back here
    (leg,) = legs(cfg, 1)
    bus.publish("dispatch", [Message(leg.message_id, DEPT, leg.model_dump_json().encode())])
    t = threading.Thread(target=worker.run, kwargs={"poll_interval_s": 5.0}, daemon=True)
    t.start()
    try:
        return first_event(bus, ("s:", "f:"))
    finally:
        worker.stop.set()
        t.join(timeout=30)


def test_a_rate_limited_leg_is_not_failed_while_the_delivery_limit_allows(
        rig: tuple[EmbeddedBus, Ledger], cfg: HubConfig) -> None:
    quick = cfg.departments[DEPT].retry.quick_attempts
    # given the department rate-limits the leg's first 5 deliveries (each tried `quick` times)
    dept = Throttling(5 * quick, RateLimited("civil_affairs: HTTP 429", retry_after_s=0.05))
    # then the leg is submitted on its 6th delivery, not failed after the 2 tiers
    assert run_one_leg(rig, cfg, dept).startswith("s:")
    assert len(dept.filed) == 1


def test_a_leg_whose_tiers_are_spent_is_failed_by_the_worker(
        rig: tuple[EmbeddedBus, Ledger], cfg: HubConfig) -> None:
    # given the department is down for longer than the two tiers
    dept = Throttling(10_000, TransientError("civil_affairs: HTTP 503"))
    # then the worker marks the leg failed itself, and the bus parks it with the reason
    assert run_one_leg(rig, cfg, dept).startswith("f:")
    bus, _ = rig
    assert [d.reason for d in bus.dead_letters(DEPT)] == ["retries_exhausted"]
