"""Scenario 2: ``kill -9`` the API/relay process between store commit and publish; restart it.

The relay here waits 1.5 s before each dispatch publish, so when the process dies the store
holds outbox rows that are committed (the clerk got 202) but not on the bus; the test checks
that such rows existed at the moment of the kill. Requests in flight fail and the terminal sends
them again; after the restart the relay publishes the rows it never marked sent (some perhaps a
second time: the worker's ledger recognises those), and every case settles exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.checks import Figures, assert_sound
from tests.faults.conftest import HubFactory
from tests.faults.scenario import run_scenario

CASES = {"amqp": 200, "embedded": 150}


@pytest.mark.slow
@pytest.mark.parametrize("bus", ["amqp", "embedded"])
def test_api_relay_killed_between_commit_and_publish(bus: str, make_hub: HubFactory,
                                                     record: Callable[[Figures], None]) -> None:
    # given the API/relay/tracker process with a slow relay, and the department workers
    hub = make_hub(bus)
    hub.start_core(relay_delay_s=1.5)
    hub.start_workers()
    seen: dict[str, int] = {}

    def fault() -> None:
        # when it is killed mid-burst while committed outbox rows wait for the relay
        time.sleep(0.7)
        hub.procs["core"].kill9()
        seen["outbox_pending_at_kill"] = hub.store().outbox_pending_count()
        time.sleep(1.0)  # intake fails meanwhile; the terminal keeps retrying
        hub.start_core()

    n = CASES[bus]
    figures = run_scenario(hub, "2 kill -9 API/relay between commit and publish", cases=n,
                           fault=fault, at=n // 2, notes=seen)
    record(figures)
    # then the kill did land between commit and publish for some cases...
    assert seen["outbox_pending_at_kill"] > 0, figures.line()
    # ...and still every accepted case settled, each leg filed once, nothing dead-lettered
    assert_sound(figures)
