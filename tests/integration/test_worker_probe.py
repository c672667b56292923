"""A half-open circuit's probe settles the breaker whatever its outcome (issue 18, item 1).

After an outage opens the circuit, one probe leg goes through. If that leg fails for a reason
that says nothing about the department's health — the department refuses it (422), its record
cannot be mapped, the code hits a bug — the next leg must still reach the department. The
department is an in-process recorder (the breaker is the worker's bookkeeping, not a transport).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bus.base import Ack, Dead, Retry
from hub.bus.embedded import EmbeddedBus
from hub.config.loading import HubConfig
from hub.delivery.ledger import Ledger
from hub.delivery.protection import CircuitBreaker
from hub.delivery.worker import DepartmentWorker
from hub.domain.adapter import Receipt, SubmitRequest
from hub.domain.errors import PermanentError, TransientError
from tests.support.hub import fast_config
from tests.support.legs import DEPT, FilingDepartment, deliveries, legs


class Flaky(FilingDepartment):
    """Down while ``down``; then answers one call with ``probe_error``, then files."""

    def __init__(self, probe_error: Exception) -> None:
        super().__init__()
        self.down = True
        self.probe_error: Exception | None = probe_error

    def submit(self, request: SubmitRequest) -> Receipt:
        if self.down:
            raise TransientError("civil_affairs: HTTP 503")
        if self.probe_error is not None:
            error, self.probe_error = self.probe_error, None
            raise error
        return super().submit(request)


@pytest.fixture
def cfg() -> HubConfig:
    return fast_config()


@pytest.fixture
def rig(tmp_path: Path, cfg: HubConfig) -> Iterator[tuple[EmbeddedBus, Ledger]]:
    bus = EmbeddedBus(tmp_path / "bus.db", "probe", lease_s=1.0, poll_s=0.02)
    bus.declare({n: d.retry.tiers() for n, d in cfg.departments.items()})
    ledger = Ledger(tmp_path / "worker.db")
    yield bus, ledger
    ledger.close()
    bus.close()


@pytest.mark.parametrize("probe_error", [
    PermanentError("申请人信息不完整", reason="rejected"),  # the department refuses the record
    RuntimeError("a bug in the hub, not the department"),  # unexpected: retried later
], ids=["permanent", "unexpected"])
def test_the_leg_after_a_probe_without_verdict_reaches_the_department(
        rig: tuple[EmbeddedBus, Ledger], cfg: HubConfig, probe_error: Exception) -> None:
    bus, ledger = rig
    dept = Flaky(probe_error)
    worker = DepartmentWorker(DEPT, cfg, bus, dept, ledger, concurrency=1)  # type: ignore[arg-type]
    worker.breaker = CircuitBreaker(failures=1, probe_after_s=0.05)
    first, probe, after = legs(cfg, 3)
    # given an outage opened the circuit
    assert isinstance(worker.handle_batch(deliveries([first]))[0], Retry)
    assert worker.breaker.state != "closed"
    dept.down = False
    # when the half-open probe fails in a way that says nothing about the department's health
    outcome = worker.handle_batch(deliveries([probe]))[0]
    assert isinstance(outcome, Dead | Retry)
    # then the next leg is still sent (on main the breaker stayed jammed until the worker
    # stopped; the timer only bounds the test)
    timer = threading.Timer(10.0, worker.stop.set)
    timer.start()
    try:
        assert worker.handle_batch(deliveries([after])) == [Ack()]
    finally:
        timer.cancel()
    assert [leg for leg, _ in dept.filed] == [after.leg_id]
    assert worker.breaker.consecutive_failures == 0  # the leg closed the circuit
