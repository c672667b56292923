"""One adapter contract, run against each transport and its department simulator over sockets.

Given a simulator playing the department, when the hub submits legs, then it gets a receipt,
brings back approval, rejection and a request for more materials, never files a leg twice,
and every failure leaves the adapter as TransientError or PermanentError only.
"""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import time

import pytest

from hub.config.loading import HubConfig
from hub.domain.adapter import Result
from hub.domain.errors import PermanentError, TransientError
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


def settle(running: Running, leg_id: str, outcome: str, timeout: float = 10.0) -> list[Result]:
    """Poll (and acknowledge) until ``leg_id`` has ``outcome``; return every result seen."""
    seen: list[Result] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = running.adapter.poll_results()
        running.adapter.ack_results(batch)
        seen.extend(batch)
        if any(r.leg_id == leg_id and r.outcome == outcome for r in seen):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"{leg_id} never reached {outcome}; saw {[r.outcome for r in seen]}")


class AdapterContract:
    department: str
    sample: str

    @pytest.fixture
    def dept(self, request: pytest.FixtureRequest) -> Running:
        raise NotImplementedError

    def submit(self, dept: Running, config: HubConfig, leg_id: str, kind: str = "submit") -> str:
        case = sample_case(self.department, self.sample)
        return dept.adapter.submit(leg_request(config, self.department, case, leg_id, kind)) \
            .department_ref

    def test_submit_gets_receipt_then_approval(self, dept: Running, hub_config: HubConfig) -> None:
        ref = self.submit(dept, hub_config, "leg-ok-1")
        assert ref
        results = settle(dept, "leg-ok-1", "approved")
        assert [r.outcome for r in results if r.leg_id == "leg-ok-1"] == ["accepted", "approved"]
        assert dept.sim.core.records["leg-ok-1"]  # the department filed the mapped record

    def test_rejection_comes_back(self, dept: Running, hub_config: HubConfig) -> None:
        dept.sim.core.behaviour.script["leg-no-1"] = "rejected"
        self.submit(dept, hub_config, "leg-no-1")
        rejected = [r for r in settle(dept, "leg-no-1", "rejected") if r.outcome == "rejected"]
        assert rejected[0].detail

    def test_needs_materials_then_supplement_is_approved(self, dept: Running,
                                                         hub_config: HubConfig) -> None:
        dept.sim.core.behaviour.script["leg-more-1"] = "needs_materials"
        self.submit(dept, hub_config, "leg-more-1")
        asked = [r for r in settle(dept, "leg-more-1", "needs_materials")
                 if r.outcome == "needs_materials"]
        assert asked[0].missing_materials == ("household_register",)
        self.submit(dept, hub_config, "leg-more-1", kind="supplement")
        settle(dept, "leg-more-1", "approved")
        assert dept.sim.core.supplements["leg-more-1"] == 1

    def test_resend_does_not_duplicate(self, dept: Running, hub_config: HubConfig) -> None:
        self.submit(dept, hub_config, "leg-twice")
        self.submit(dept, hub_config, "leg-twice")
        settle(dept, "leg-twice", "approved")
        assert dept.sim.core.filed["leg-twice"] == 1

    def test_acknowledged_results_are_not_returned_again(self, dept: Running,
                                                        hub_config: HubConfig) -> None:
        self.submit(dept, hub_config, "leg-ack")
        settle(dept, "leg-ack", "approved")
        time.sleep(0.1)
        assert [r for r in dept.adapter.poll_results() if r.leg_id == "leg-ack"] == []

    def test_transient_failure_then_retry_files_once(self, dept: Running,
                                                     hub_config: HubConfig) -> None:
        dept.sim.faults.transient_next = 1
        with pytest.raises(TransientError):
            self.submit(dept, hub_config, "leg-busy")
        self.submit(dept, hub_config, "leg-busy")
        settle(dept, "leg-busy", "approved")
        assert dept.sim.core.filed["leg-busy"] == 1

    def test_lost_reply_then_resend_files_once(self, dept: Running, hub_config: HubConfig) -> None:
        dept.sim.faults.lose_reply_next = 1
        with pytest.raises(TransientError):
            self.submit(dept, hub_config, "leg-lost")
        self.submit(dept, hub_config, "leg-lost")
        settle(dept, "leg-lost", "approved")
        assert dept.sim.core.filed["leg-lost"] == 1

    def test_department_down_is_transient_and_unhealthy(self, dept: Running,
                                                        hub_config: HubConfig) -> None:
        dept.sim.faults.down = True
        with pytest.raises(TransientError):
            self.submit(dept, hub_config, "leg-down")
        assert not dept.adapter.health().ok
        dept.sim.faults.down = False
        assert dept.adapter.health().ok
        self.submit(dept, hub_config, "leg-down")
        settle(dept, "leg-down", "approved")
        assert dept.sim.core.filed["leg-down"] == 1

    def test_connection_refused_is_transient(self, dept: Running, hub_config: HubConfig) -> None:
        dept.sim.stop()
        with pytest.raises(TransientError):
            self.submit(dept, hub_config, "leg-refused")
        dept.sim.start()
        self.submit(dept, hub_config, "leg-refused")
        settle(dept, "leg-refused", "approved")
        assert dept.sim.core.filed["leg-refused"] == 1

    def test_refusal_is_permanent(self, dept: Running, hub_config: HubConfig) -> None:
        dept.sim.faults.reject_all = True
        with pytest.raises(PermanentError):
            self.submit(dept, hub_config, "leg-refuse")
        assert dept.sim.core.filed["leg-refuse"] == 0


class TestSoapAdapter(AdapterContract):
    department, sample = "social_security", "pension_enroll"

    @pytest.fixture
    def dept(self, soap_sim: Running) -> Running:
        return soap_sim


class TestSftpAdapter(AdapterContract):
    department, sample = "medical_insurance", "birth"

    @pytest.fixture
    def dept(self, sftp_sim: Running) -> Running:
        return sftp_sim


class TestRestAdapter(AdapterContract):
    department, sample = "civil_affairs", "dibao"

    @pytest.fixture
    def dept(self, rest_sim: Running) -> Running:
        return rest_sim
