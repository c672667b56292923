"""Scenario 5: poison messages for one department; the queue keeps flowing; replay after the fix.

Some legs are refused for good by their department (人社 answers a SOAP fault, 民政 a 4xx):
each is dead-lettered at once with the department's reason and its leg shows ``failed``, while
every other case goes on and settles. A body that is not a leg message at all is parked as
``malformed``. After the fix (the department accepts them again) ``hub dlq replay`` sends the
refused legs back through the normal path; they are filed exactly once and their cases settle;
the garbage is purged. No parking lot is left holding anything.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable

import pytest

from hub.bus.base import Message
from hub.domain.models import LegState
from hub.intake.split_legs import leg_id
from tests.faults.checks import Figures, assert_sound, check, dead_leg_ids, wait_for
from tests.faults.clerk import Plan
from tests.faults.conftest import HubFactory
from tests.faults.scenario import clerk_for
from tests.support.faults import HUB, REPO, FaultHub

CASES = 120
GARBAGE = "poison-not-a-leg"


def poisoned_legs(plan: Plan, hub_items: dict[str, list[str]],
                  department: str, count: int) -> list[str]:
    keys = [leg_id(case["case_id"], department) for case, _ in plan
            if department in hub_items[str(case["item_code"])]]
    return keys[3:3 + count]  # not the very first: the queue is already flowing


@pytest.mark.slow
@pytest.mark.parametrize("bus", ["amqp", "embedded"])
def test_poison_dead_lettered_queue_flows_replay_after_fix(
        bus: str, make_hub: HubFactory, record: Callable[[Figures], None]) -> None:
    # given a hub, and departments that will refuse a few known legs for good
    hub = make_hub(bus)
    hub.start_core()
    hub.start_workers()
    assert hub.sims.soap and hub.sims.rest
    started = time.monotonic()
    clerk = clerk_for(hub)
    plan = clerk.plan(CASES)
    items = {i.code: list(i.departments) for i in hub.cfg.catalogue.items}
    soap_poison = poisoned_legs(plan, items, "social_security", 5)
    rest_poison = poisoned_legs(plan, items, "civil_affairs", 3)
    hub.sims.soap.faults.reject_keys.update(soap_poison)
    hub.sims.rest.faults.reject_keys.update(rest_poison)
    poison = set(soap_poison) | set(rest_poison)

    # when the cases are submitted, and garbage lands on the SFTP department's queue mid-stream
    def on_progress(n: int) -> None:
        if n == CASES // 2:
            hub.bus().publish("dispatch", [Message(GARBAGE, "medical_insurance", b"\xff{not json")])

    try:
        ids = clerk.submit(plan, on_progress=on_progress)
        clerk.settle(ids, 120)
        # then the poison is parked with its reason, and every other case settled
        first = check(hub, "5 poison (before replay)", ids, submitted=CASES, started=started,
                      expect_dead=poison | {GARBAGE})
        dead = dead_leg_ids(hub)
        first.notes["dead_reasons"] = sorted(set(dead.values()))
        record(first)
        assert_sound(first)
        assert dead[GARBAGE] == "malformed"
        assert all(dead[k] not in ("delivery_limit", "retries_exhausted") for k in poison), dead
        states = {k: leg_state(hub, k) for k in poison}
        assert all(s == LegState.FAILED for s in states.values()), states

        # when the departments are fixed and an operator replays the dead letters
        hub.sims.soap.faults.reject_keys.clear()
        hub.sims.rest.faults.reject_keys.clear()
        replayed = 0
        for dept in ("social_security", "civil_affairs"):
            out = subprocess.run([HUB, "dlq", "replay", "--all", "--department", dept, "--json"],
                                 env=hub.env(), cwd=REPO, capture_output=True, text=True,
                                 timeout=60, check=True)
            replayed += int(json.loads(out.stdout.strip().splitlines()[-1])["replayed"])
        garbage = [d.id for d in hub.bus().dead_letters("medical_insurance")]
        assert hub.bus().purge_dead(garbage) == 1
        wait_for(lambda: all(leg_state(hub, k) != LegState.FAILED for k in poison), 60,
                 "replayed legs to leave 'failed'")
        clerk.settle(ids, 120)
    finally:
        clerk.close()
    # then the replayed legs were filed exactly once and every case settled; nothing parked
    after = check(hub, "5 poison (after fix and hub dlq replay)", ids, submitted=CASES,
                  started=started, notes={"replayed": replayed})
    record(after)
    assert replayed == len(poison)
    assert_sound(after)


def leg_state(hub: FaultHub, key: str) -> LegState | None:
    row = hub.store().get_case(uuid.UUID(key.split(":", 1)[0]))
    return next((leg.state for leg in (row.legs if row else ()) if leg.leg_id == key), None)

