"""Scenario 6: the all-in-one ``hub run`` on the embedded bus, ``kill -9``-ed during a burst.

The shipped command, unmodified: API, relay, tracker and all three workers in one process on
SQLite (store) and the embedded SQLite bus, configured only through ``HUB_*`` variables and a
config folder. Killed mid-burst it leaves committed cases, unrelayed outbox rows, leased
deliveries (they come back when the shipped 30 s lease runs out) and half-done submissions;
restarted, it finishes all of them, filing each leg exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.checks import Figures, assert_sound, cores
from tests.faults.conftest import HubFactory
from tests.faults.scenario import run_scenario

CASES = 150


@pytest.mark.slow
def test_hub_run_killed_during_burst_and_restarted(make_hub: HubFactory,
                                                   record: Callable[[Figures], None]) -> None:
    # given ``hub run`` on the embedded bus and SQLite, talking to the three departments
    hub = make_hub("embedded")
    hub.start_hub_run()
    seen: dict[str, object] = {}

    def fault() -> None:
        # when the process is killed -9 in the middle of the burst, then started again
        seen["filed_at_kill"] = sum(len(c.filed) for c in cores(hub).values())
        hub.procs["hub-run"].kill9()
        seen["outbox_pending_at_kill"] = hub.store().outbox_pending_count()
        time.sleep(1.0)
        hub.start_hub_run()

    figures = run_scenario(hub, "6 hub run (embedded) kill -9 during burst", cases=CASES,
                           fault=fault, at=CASES // 2, notes=seen)
    record(figures)
    # then every accepted case settled, each leg filed exactly once, nothing dead-lettered
    assert_sound(figures)
