"""Every message to a department carries its own idempotency key (issue 18, item 12).

Against each simulator over its real protocol: a second supplement is filed as a new message
(not dropped as a resend of the first), and a resend of a message with the same key is a no-op.
"""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import dataclasses
import time

import pytest

from hub.config.loading import HubConfig
from hub.domain.adapter import SubmitRequest, idempotency_key
from tests.contract.test_adapter_contract import settle
from tests.support.sims import (  # noqa: F401 - fixtures
    Running,
    hub_config,
    leg_request,
    rest_sim,
    sample_case,
    sftp_sim,
    soap_sim,
    ssh_keys,
)

SAMPLES = {"social_security": "pension_enroll", "medical_insurance": "birth",
           "civil_affairs": "dibao"}


@pytest.fixture(params=["social_security", "medical_insurance", "civil_affairs"])
def department(request: pytest.FixtureRequest) -> tuple[str, Running]:
    fixture = {"social_security": "soap_sim", "medical_insurance": "sftp_sim",
               "civil_affairs": "rest_sim"}[request.param]
    return request.param, request.getfixturevalue(fixture)


def _wait(check: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def _supplement(base: SubmitRequest, sequence: int, value: str) -> SubmitRequest:
    first_field = next(iter(base.record))
    return dataclasses.replace(base, kind="supplement", sequence=sequence,
                               record={**base.record, first_field: value})


def test_keys_are_distinct_per_message() -> None:
    keys = {idempotency_key("c:d", n) for n in range(3)}
    assert len(keys) == 3 and idempotency_key("c:d", 1) == idempotency_key("c:d", 1)


def test_second_supplement_is_filed_and_a_resend_is_not(department: tuple[str, Running],
                                                        hub_config: HubConfig) -> None:
    name, dept = department
    leg = f"leg-keys-{name}"
    core = dept.sim.core
    core.behaviour.script[leg] = "needs_materials"
    submit = leg_request(hub_config, name, sample_case(name, SAMPLES[name]), leg)
    dept.adapter.submit(submit)
    settle(dept, leg, "needs_materials")
    # given the clerk answered the request for materials once
    first_field = next(iter(submit.record))
    dept.adapter.submit(_supplement(submit, 1, "补充一"))
    _wait(lambda: core.records[leg][first_field] == "补充一")
    # when a second supplement follows (a new message, its own key)
    second = _supplement(submit, 2, "补充二")
    receipt = dept.adapter.submit(second)
    # then the department files it instead of taking it for a resend of the first
    assert not receipt.duplicate
    _wait(lambda: core.records[leg][first_field] == "补充二")
    assert core.records[leg][first_field] == "补充二"
    assert core.supplements_filed[leg] == 2
    # and a resend of the second supplement (same key) changes nothing
    arrived = core.supplements[leg]
    again = dept.adapter.submit(second)
    _wait(lambda: core.supplements[leg] > arrived)
    assert core.supplements_filed[leg] == 2
    if name != "medical_insurance":  # an SFTP upload has no synchronous answer
        assert again.duplicate
