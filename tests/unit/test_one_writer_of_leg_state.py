"""Every leg change goes through the status tracker (``hub.tracking``), the one writer of leg state.

A whole case runs through a hub process on the in-memory bus: intake, the relay's dispatch, the
workers' receipts, a department asking for materials, the clerk's supplement, the decisions.
A hook on the runtime's tracker must hear every change the audit log recorded, and nothing
the audit log did not: a path changing a leg behind the tracker's back (as the relay and
supplements once did) leaves the hooks, the metrics and the logs blind to it.
"""

from __future__ import annotations

import ast
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from hub.bus.memory import MemoryBroker, MemoryBus
from hub.domain.adapter import Health, Receipt, Result, SubmitRequest
from hub.domain.models import LegEvent
from hub.runtime.wiring import Runtime
from hub.store.base import ApplyResult
from tests.support.api import Api
from tests.support.hub import fast_config

ASKS = "medical_insurance"  # the department that asks for a material once
HUB = Path(__file__).resolve().parents[2] / "hub"
# Store methods that change a leg: only hub.tracking calls them (hub.store implements them).
LEG_WRITES = {"apply_leg_event", "apply_leg_events", "mark_outbox_sent", "add_supplement"}


class AnsweringDepartment:
    """Files each message and answers it on the next poll: a request for the household
    register first (``ASKS`` only), approval after a supplement or at once elsewhere."""

    _ids = itertools.count(1)

    def __init__(self, department: str) -> None:
        self.department = department
        self._answers: list[Result] = []
        self._lock = threading.Lock()

    def submit(self, request: SubmitRequest) -> Receipt:
        asks = self.department == ASKS and request.kind == "submit"
        answer = Result(result_id=f"{self.department}-{next(self._ids)}",
                        leg_id=request.leg_id,
                        outcome="needs_materials" if asks else "approved",
                        missing_materials=("household_register",) if asks else ())
        with self._lock:
            self._answers.append(answer)
        return Receipt(department_ref=f"{self.department}-{request.leg_id[-4:]}")

    def poll_results(self) -> list[Result]:
        with self._lock:
            out, self._answers = self._answers, []
        return out

    def ack_results(self, results: Sequence[Result]) -> None:
        pass

    def health(self) -> Health:
        return Health(ok=True)

    def close(self) -> None:
        pass


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[tuple[Api, Runtime]]:
    api = Api(tmp_path, None)
    broker = MemoryBroker()
    rt = Runtime(settings=api.settings, cfg=fast_config(), store=api.store, blobs=api.blobs,
                 bus_factory=lambda: MemoryBus("hub", broker=broker, poll_s=0.01))
    rt.new_bus()  # declare the topology
    try:
        yield api, rt
    finally:
        rt.close()
        api.client.close()


def wait_for(check: Callable[[], bool], timeout_s: float = 15.0, *, strict: bool = True
             ) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            assert not strict, "timed out"
            return
        time.sleep(0.02)


def test_the_tracker_hears_every_leg_change_of_a_whole_case(
        hub_process: tuple[Api, Runtime]) -> None:
    api, rt = hub_process
    heard: list[tuple[str, str, str]] = []  # (leg id, event kind, leg state after)
    heard_ids: list[str] = []

    def hook(event: LegEvent, result: ApplyResult) -> None:
        if result.applied and result.leg_state is not None:
            heard.append((event.leg_id, event.kind.value, result.leg_state.value))
            heard_ids.append(event.event_id)

    # given a hub process on the in-memory bus, with a hook on its tracker
    rt.tracker_hooks.append(hook)
    rt.start_core()
    body = api.new_case(api.token_a)  # uploads through the harness' own client
    departments = [d for d in rt.cfg.departments]
    for d in departments:
        rt.start_worker(d, AnsweringDepartment(d), poll_interval_s=0.02)
    rt.start_api("127.0.0.1", 0)
    api.client = httpx.Client(base_url=f"http://127.0.0.1:{rt.api_port}", timeout=10)
    case_id = uuid.UUID(body["case_id"])

    def states() -> dict[str, str]:
        row = api.store.get_case(case_id)
        return {g.department: g.state.value for g in row.legs} if row else {}

    # when a case comes in and a department asks for the household register
    assert api.submit(body).status_code == 202
    wait_for(lambda: states().get(ASKS) == "needs_materials")
    extra = api.upload(api.token_a, b"household register, page 2", "household_register").json()
    ref = {"id": extra["id"], "kind": "household_register", "media_type": "image/jpeg",
           "size": extra["size"], "sha256": extra["sha256"]}
    # and the clerk supplies it
    r = api.client.post(f"/v1/cases/{case_id}/supplements", headers=api.auth(api.token_a),
                        json={"department": ASKS, "attachments": [ref]})
    assert r.status_code == 202, r.text
    wait_for(lambda: set(states().values()) == {"approved"})

    # then every leg change the audit log holds was heard by the hook, in the same order
    changes = {"leg_dispatched", "supplement", "leg_event"}
    recorded = [(h.entry["leg_id"], h.entry["to"]) for h in api.store.case_history(case_id)
                if h.kind in changes]
    wait_for(lambda: len(heard) >= len(recorded), 2.0, strict=False)  # hooks run after commits
    assert [(leg, state) for leg, _kind, state in heard] == recorded
    # and each leg was heard dispatched by the relay; the supplement was heard as well
    kinds = [(leg.rsplit(":", 1)[1], kind) for leg, kind, _state in heard]
    legs = set(states())
    assert {d for d, k in kinds if k == "dispatched"} == legs
    supplements = [e for e in heard_ids if e.startswith("u:")]
    assert len(supplements) == 1 and kinds.count((ASKS, "resubmitted")) >= 1
    assert {d for d, k in kinds if k == "approved"} == legs


def _leg_writes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(HUB.parent)}:{node.lineno} .{node.func.attr}()"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in LEG_WRITES]


def test_no_module_outside_tracking_asks_the_store_to_change_a_leg() -> None:
    outside = [p for p in HUB.rglob("*.py")
               if not p.is_relative_to(HUB / "tracking") and not p.is_relative_to(HUB / "store")]
    assert outside
    assert [w for p in outside for w in _leg_writes(p)] == []
