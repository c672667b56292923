"""The fault suite's own checks must be able to fail: a leg never delivered is counted as lost,
an application filed twice as duplicated (here the department is made to misbehave on purpose)."""

from __future__ import annotations

import time

import pytest

from tests.faults.checks import check
from tests.faults.conftest import HubFactory
from tests.faults.scenario import clerk_for


@pytest.mark.slow
def test_missing_worker_is_lost_and_double_filing_is_duplicated(make_hub: HubFactory) -> None:
    # given a hub with no worker for 医保 (medical_insurance)
    hub = make_hub("embedded")
    hub.start_core()
    hub.start_worker("social_security")
    hub.start_worker("civil_affairs")
    clerk = clerk_for(hub)
    started = time.monotonic()
    try:
        # when cases that need 医保 are submitted and given a few seconds
        ids = clerk.submit(12)
        clerk.settle(ids, timeout_s=4)
    finally:
        clerk.close()
    assert hub.sims.soap is not None
    filed = hub.sims.soap.core.filed
    some_key = next(iter(filed))
    filed[some_key] += 1  # and 人社 is made to have filed one application twice
    figures = check(hub, "self-test", ids, submitted=12, started=started)
    # then the checks report the lost legs and the duplicate
    assert figures.lost > 0
    assert figures.duplicated == 1
    assert any("never filed" in p for p in figures.problems)
    assert any(f"{some_key} filed 2 times" in p for p in figures.problems)
