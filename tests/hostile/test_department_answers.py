"""Hostile department answers, end to end through the running hub (issue 7).

Each test runs the hub (API, relay, embedded bus, tracker, one worker per department) against
the three simulators on real sockets, lets one department misbehave, and checks what a clerk
and an operator would see: the leg fails or waits with a clear reason, the worker keeps
running, other legs keep flowing, and nothing already stored changes.
Adapter-level refusals of the same inputs are in tests/contract/test_adapter_{soap,sftp,rest}.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paramiko
import pytest

from hub.config.departments import RetryPolicy
from hub.config.loading import HubConfig
from hub.config.settings import Settings
from hub.domain.callbacks import SIGNATURE_HEADER, sign
from hub.runtime.wiring import Runtime
from simulators.base import SimResult
from simulators.demo import VILLAGE, DemoResult, drive, start_hub
from simulators.departments import DepartmentSims
from tests.support.api import config

pytestmark = pytest.mark.slow


def fast_retries(cfg: HubConfig) -> HubConfig:
    """Short backoff tiers so a retried leg comes back within the test."""
    policy = RetryPolicy(quick_attempts=1, quick_wait_s=0.0, tiers_s=(0.3, 0.6), delivery_limit=50)
    return dataclasses.replace(cfg, departments={
        name: d.model_copy(update={"retry": policy}) for name, d in cfg.departments.items()})


@dataclasses.dataclass
class Hub:
    rt: Runtime
    url: str
    sims: DepartmentSims

    def views(self) -> dict[str, dict[str, Any]]:
        return {str(r.case.case_id): {g.department: (g.state.value, g.receipt) for g in r.legs}
                for r in (self.rt.store.get_case(uuid.UUID(v)) for v in self.case_ids())
                if r is not None}

    def case_ids(self) -> list[str]:
        out: list[str] = []
        cursor: str | None = None
        while True:
            page = self.rt.store.list_cases(VILLAGE, cursor=cursor, limit=500)
            out.extend(str(r.case.case_id) for r in page.items)
            cursor = page.next_cursor
            if not cursor:
                return out

    def worker_alive(self, department: str) -> bool:
        return any(t.name == f"worker-{department}" and t.is_alive() for t in self.rt.threads)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Callable[..., Hub]]:
    started: list[tuple[Runtime, DepartmentSims]] = []

    def start(before: Callable[[DepartmentSims], None] | None = None) -> Hub:
        sims = DepartmentSims(tmp_path / "sims").start()
        if before:
            before(sims)
        rt, url = start_hub(Settings(data_dir=tmp_path / "data", namespace="hostile"), sims,
                            fast_retries(config()))
        started.append((rt, sims))
        return Hub(rt, url, sims)

    yield start
    for rt, sims in started:
        rt.close()
        sims.stop()


def wait_for(check: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


# -- SOAP: XML bomb, DTD, external entity in the department's answer -----------------------------

@pytest.mark.parametrize("hostile", ["bomb", "external", "dtd"])
def test_hostile_soap_answers_dead_letter_the_leg_and_others_keep_flowing(
        hub: Callable[..., Hub], hostile: str) -> None:
    # given social security answering every call with a hostile XML document
    h = hub(lambda s: setattr(s.soap.faults, "hostile", hostile))
    # when cases for all three departments are submitted
    first: DemoResult = drive(h.rt, h.url, cases=10, seed=1, timeout_s=60)
    # then every case settles: social-security legs failed with the reason, others approved
    assert first.settled == first.submitted == 10
    failed = [leg for v in first.cases for leg in v["legs"]
              if leg["department"] == "social_security"]
    assert failed and all(leg["state"] == "failed" for leg in failed), failed
    dead = h.rt.buses[0].dead_letters("social_security")
    assert len(dead) == len(failed) and {d.reason for d in dead} == {"hostile_response"}
    others = [leg["state"] for v in first.cases for leg in v["legs"]
              if leg["department"] != "social_security"]
    assert others and "failed" not in others
    assert h.worker_alive("social_security")
    # and once the department answers sanely again, its legs flow through the same worker
    h.sims.soap.faults.hostile = None  # type: ignore[union-attr]
    second = drive(h.rt, h.url, cases=10, seed=2, timeout_s=60)
    assert second.settled == 10
    assert all(leg["state"] in ("approved", "rejected") for v in second.cases
               for leg in v["legs"] if leg["department"] == "social_security")


# -- SFTP: hostile reply files ------------------------------------------------------------------

HOSTILE_REPLIES = {
    "R_traversal.txt": "H|1.0|RESULT|1\r\nD|YB9-1|../../etc/cron.d/x|03|YB9|ok|\r\n"
    .encode("gb18030"),
    "R_badbytes.txt": b"H|1.0|RESULT|1\r\nD|YB9-2|x:medical_insurance|03|YB9|\x81\x20\xff|\r\n",
    "R_oversize.txt": b"H|1.0|RESULT|1\r\n" + b"x" * 1_100_000,
    "..evil.txt": "H|1.0|RESULT|1\r\nD|YB9-3|x:medical_insurance|03|YB9|ok|\r\n"
    .encode("gb18030"),
}


def test_hostile_reply_files_are_quarantined_and_nothing_stored_changes(
        hub: Callable[..., Hub]) -> None:
    # given a hub that settled some medical-insurance cases
    h = hub()
    first = drive(h.rt, h.url, cases=6, seed=3, timeout_s=60)
    assert first.settled == 6
    before = h.views()
    audit_before = sum(1 for _ in h.rt.store.audit_entries())
    sim = h.sims.sftp
    assert sim is not None
    # when the department leaves hostile reply files, one of them aimed at a settled leg
    leg = next(f"{c}:medical_insurance" for c, legs in before.items()
               if "medical_insurance" in legs)
    replies = {**HOSTILE_REPLIES, "R_forged_badbytes.txt":
               f"H|1.0|RESULT|1\r\nD|YB9-4|{leg}|04|YB9|".encode() + b"\xff\xfe|\r\n"}
    for name, data in replies.items():
        sim.inject_reply(name, data)
    quarantine = sim.root / "outbox" / "quarantine"
    wait_for(lambda: len(list(quarantine.glob("*.reason"))) == len(replies))
    # then each is set aside with its reason, none is applied, nothing stored changed
    reasons = sorted(p.read_text().split("\n")[0] for p in quarantine.glob("*.reason"))
    assert reasons == sorted(["content.traversal", "content.encoding", "content.oversize",
                              "name.traversal", "content.encoding"])
    assert not list((sim.root / "outbox").glob("R_*.txt"))
    assert h.views() == before
    assert sum(1 for _ in h.rt.store.audit_entries()) == audit_before
    assert h.worker_alive("medical_insurance")
    # and the worker keeps delivering
    second = drive(h.rt, h.url, cases=6, seed=4, timeout_s=60)
    assert second.settled == 6


# -- SFTP: the department's host key changed ----------------------------------------------------

def test_changed_host_key_is_refused_nothing_is_sent_and_the_leg_waits(
        hub: Callable[..., Hub]) -> None:
    # given the pinned key of the medical-insurance server is not the key it presents
    def impostor(s: DepartmentSims) -> None:
        other = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") \
            else paramiko.ECDSAKey.generate()
        line = s.sftp.known_hosts_line().split()  # type: ignore[union-attr]
        Path(s.overrides["medical_insurance"]["known_hosts"]).write_text(
            f"{line[0]} {other.get_name()} {other.get_base64()}\n")

    h = hub(impostor)
    sim = h.sims.sftp
    assert sim is not None
    # when three cases with a medical-insurance leg are submitted (the refused key trips the
    # circuit before any of them spends its retries)
    result = drive(h.rt, h.url, cases=3, seed=5, timeout_s=4,
                   items=["BIRTH", "INSURE_BOTH", "MED_ENROLL"])
    # then nothing reached the department, the leg is not failed, nothing is dead-lettered
    med = [(v["case_id"], leg["state"]) for v in result.cases for leg in v["legs"]
           if leg["department"] == "medical_insurance"]
    assert med and all(state in ("pending", "dispatched") for _, state in med), med
    assert sim.received == {} and h.rt.buses[0].dead_letters("medical_insurance") == []
    # and once the right key is pinned, the waiting legs are delivered exactly once
    Path(h.sims.overrides["medical_insurance"]["known_hosts"]).write_text(sim.known_hosts_line())
    wait_for(lambda: len(sim.received) == len(med), timeout_s=40)
    assert set(sim.received.values()) == {1}


# -- REST: replayed and forged callbacks --------------------------------------------------------

SECRET = "cb-s3cret"


def _post(h: Hub, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{h.url}/v1/callbacks/civil_affairs", content=body, headers=headers)


def test_replayed_and_forged_callbacks_change_nothing(hub: Callable[..., Hub],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_CIVIL_AFFAIRS_CALLBACK_SECRET", SECRET)
    # given settled civil-affairs cases and the department's signing secret
    h = hub()
    rest = h.sims.rest
    assert rest is not None
    rest.callback_secret = SECRET.encode()
    done = drive(h.rt, h.url, cases=12, seed=6, timeout_s=60)
    assert done.settled == 12
    before = h.views()
    audit_before = sum(1 for _ in h.rt.store.audit_entries())
    final: SimResult = next(r for r in rest.core.results_since(0) if r.outcome == "approved")
    case_id = final.key.split(":")[0]
    assert before[case_id]["civil_affairs"][0] == "approved"

    # when a genuine callback of an answer the hub already polled is replayed: a known
    # duplicate (one answer, one event id, whatever path it came by), never applied again
    body, headers = rest.signed(final)
    for _ in range(3):
        r = _post(h, body, headers)
        assert r.status_code == 200 and r.json()["applied"] is False, r.text
        assert r.json()["duplicate"] is True, r.text
    # when it is captured and replayed after the tolerance window: refused as stale
    old_body, old_headers = rest.signed(final, timestamp=time.time() - 3600)
    stale = _post(h, old_body, old_headers)
    assert stale.status_code == 401 and stale.json()["errors"][0]["code"] == "callback.stale"
    # when someone forges a rejection: wrong secret, or a genuine signature over another body
    forged_doc = {**final.as_json(), "result_id": "forged-1", "outcome": "rejected"}
    forged = json.dumps(forged_doc, ensure_ascii=False, sort_keys=True).encode()
    ts = str(int(time.time()))
    wrong_key = {**headers, "X-Hub-Timestamp": ts, SIGNATURE_HEADER: sign(b"guess", ts, forged)}
    swapped = {**headers}  # the genuine callback's signature on the forged body
    unsigned = {k: v for k, v in headers.items() if k != SIGNATURE_HEADER}
    for attempt in (wrong_key, swapped, unsigned):
        r = _post(h, forged, attempt)
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "callback.forged"
    # then the case state and the audit log are exactly as before: no refused entry either
    assert h.views() == before
    history = [e.kind for e in h.rt.store.case_history(uuid.UUID(case_id))]
    assert sum(1 for _ in h.rt.store.audit_entries()) == audit_before, history
