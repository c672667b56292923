"""A running department worker drains its queue in batches on the real buses (RabbitMQ and
embedded): one confirmed publish per batch, every leg filed and announced once.

The batch bookkeeping itself (dedupe, one ledger transaction, each delivery's own fate) is
tested on the in-memory bus in tests/unit/test_worker_batch.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hub.bus.base import status_queue
from hub.bus.factory import tiers_of
from hub.delivery.ledger import Ledger
from hub.delivery.worker import DepartmentWorker
from tests.contract.bus_fixtures import BusEnv, bus_env  # noqa: F401 - the fixture
from tests.support.buses import PublishCounter, received_ids
from tests.support.hub import fast_config
from tests.support.legs import DEPT, FilingDepartment, dispatch, legs


@pytest.mark.parametrize("bus_env", ["embedded", "amqp"], indirect=True)
def test_a_running_worker_drains_its_queue_in_batches(
        bus_env: BusEnv, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    cfg = fast_config()
    bus = PublishCounter(bus_env.make(tiers_of(cfg.departments)))
    ledger = Ledger(tmp_path / "worker.db")
    dept = FilingDepartment()
    worker = DepartmentWorker(DEPT, cfg, bus, dept, ledger)  # type: ignore[arg-type]
    batch = legs(cfg, 150)
    # given a backlog of legs queued before the worker starts
    bus.inner.publish("dispatch", dispatch(batch))
    t = threading.Thread(target=worker.run, kwargs={"poll_interval_s": 5.0}, daemon=True)
    t.start()
    try:
        events = received_ids(bus.inner, status_queue(bus.namespace), 150, timeout_s=60)
    finally:
        worker.stop.set()
        t.join(timeout=30)
        ledger.close()
    # then every leg was filed once and announced once, in far fewer publishes than legs
    assert sorted(leg for leg, _ in dept.filed) == sorted(m.leg_id for m in batch)
    assert sorted(events) == sorted(f"s:{m.message_id}" for m in batch)
    assert bus.publishes < len(batch) / 4, bus.publishes
