"""A department down for longer than the retry budget: its legs are parked as
``retries_exhausted``; the clerk must see them ``failed`` (settled, replayable), not ``dispatched``
for ever. The worker parks the last allowed delivery itself and publishes the ``failed`` event.
"""

from __future__ import annotations

import time
import uuid

import pytest

from hub.domain.models import LegState
from tests.faults.checks import dead_leg_ids, wait_for
from tests.faults.conftest import HubFactory
from tests.faults.scenario import clerk_for


@pytest.mark.slow
def test_outage_longer_than_retry_budget_marks_legs_failed(make_hub: HubFactory) -> None:
    # given tiny retry tiers and a circuit that never holds deliveries back
    hub = make_hub("embedded", retry={"tiers_s": [0.2, 0.2]}, circuit={"failures": 1000})
    hub.start_core()
    hub.start_workers()
    assert hub.sims.soap is not None
    hub.sims.soap.faults.down = True  # when 人社 stays down longer than the retry budget
    clerk = clerk_for(hub)
    try:
        ids = clerk.submit(6)
        wait_for(lambda: len(dead_leg_ids(hub)) > 0, 30, "a leg parked as retries_exhausted")
        time.sleep(2.0)
    finally:
        clerk.close()
    parked = dead_leg_ids(hub)
    assert set(parked.values()) == {"retries_exhausted"}
    # then each parked leg shows 'failed' to the clerk (it is settled and can be replayed)
    for key in parked:
        row = hub.store().get_case(uuid.UUID(key.split(":", 1)[0]))
        assert row is not None and key in {leg.leg_id for leg in row.legs}
        state = next(leg.state for leg in row.legs if leg.leg_id == key)
        assert state == LegState.FAILED, f"{key}: {state}"
    assert ids
