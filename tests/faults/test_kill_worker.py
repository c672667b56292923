"""Scenario 1: ``kill -9`` a department worker mid-stream, restart it; nothing lost or doubled.

The killed worker held deliveries it had not acknowledged (AMQP: unacked, back at once when the
connection dies; embedded: leased, back when the lease runs out) and possibly applications the
department had filed but the worker had not yet recorded. After the restart every leg is filed
exactly once: the worker's ledger and the department's idempotency key absorb the redelivery.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.checks import Figures, assert_sound, cores, wait_for
from tests.faults.conftest import HubFactory
from tests.faults.scenario import run_scenario

CASES = {"amqp": 200, "embedded": 150}


@pytest.mark.slow
@pytest.mark.parametrize("bus", ["amqp", "embedded"])
def test_worker_killed_mid_stream_and_restarted(bus: str, make_hub: HubFactory,
                                                record: Callable[[Figures], None]) -> None:
    # given a hub whose API/relay/tracker and each department worker run as processes
    hub = make_hub(bus)
    hub.start_core()
    hub.start_workers()
    filed = cores(hub)
    kills: dict[str, int] = {}

    def fault() -> None:
        # when the SOAP worker, then the SFTP worker, are killed while legs are flowing
        for dept in ("social_security", "medical_insurance"):
            wait_for(lambda d=dept: len(filed[d].filed) >= 5, 60, f"{dept} filing")
            kills[dept] = len(filed[dept].filed)
            hub.procs[f"worker-{dept}"].kill9()
            time.sleep(1.0)  # the department's queue backs up meanwhile
            hub.start_worker(dept)

    n = CASES[bus]
    figures = run_scenario(hub, "1 kill -9 department worker", cases=n, fault=fault, at=n // 3,
                           notes={"filed_at_kill": kills})
    record(figures)
    # then every accepted case settled, each leg filed exactly once, nothing dead-lettered
    assert_sound(figures)
    assert set(kills) == {"social_security", "medical_insurance"}
