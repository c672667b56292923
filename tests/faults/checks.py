""""Nothing lost, nothing duplicated", checked from the departments' side and from the store.

``check`` gathers the figures of one scenario and ``assert_sound`` fails the test with the
evidence. Definitions (per scenario):

* **accepted**: cases the API answered 202 (a resubmission after a crash counts once);
* **settled**: accepted cases the store shows settled;
* **duplicated**: applications a department filed more than once for one leg key, plus
  applications filed under a key the hub has no leg for (must be 0);
* **lost**: accepted cases missing from the store or not settled, plus legs a department never
  filed (other than the ones expected to be refused for good) (must be 0);
* **resent**: extra submissions that reached a department and that it recognised by the
  idempotency key (retries after lost replies, redeliveries after a kill): allowed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from hub.bus.base import dept_queue, status_queue
from hub.domain.models import LegState
from hub.store.base import LegRow
from simulators.base import SimCore
from tests.support.faults import FaultHub


@dataclass
class Figures:
    scenario: str
    bus: str
    submitted: int
    accepted: int
    settled: int
    legs: int
    duplicated: int
    lost: int
    resent: int
    dead_letters: int
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        doc = asdict(self)
        doc["problems"] = doc["problems"][:20]
        return json.dumps(doc, ensure_ascii=False, sort_keys=False)


def cores(hub: FaultHub) -> dict[str, SimCore]:
    """The business system of every configured department's simulator."""
    return {name: run.sim.core for name, run in hub.sims.running.items()}


def wait_for(cond: Any, timeout_s: float, what: str, step_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def queues_drained(hub: FaultHub, timeout_s: float = 15.0) -> dict[str, int]:
    """Depth of every work queue and the status queue once they drained (or time ran out)."""
    bus = hub.bus()
    names = [dept_queue(hub.namespace, d) for d in hub.cfg.departments]
    names.append(status_queue(hub.namespace))
    depths: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        depths = {q: bus.stats(q).depth for q in names}
        if not any(depths.values()) or time.monotonic() > deadline:
            return depths
        time.sleep(0.3)


def dead_leg_ids(hub: FaultHub) -> dict[str, str]:
    """Dead letters by leg id (or message id when the body is not a leg) -> reason."""
    out: dict[str, str] = {}
    for d in hub.bus().dead_letters():
        try:
            key = str(json.loads(d.message.body)["leg_id"])
        except (ValueError, KeyError, TypeError):
            key = d.message.id
        out[key] = d.reason
    return out


def check(hub: FaultHub, scenario: str, ids: Iterable[str], *, submitted: int, started: float,
          expect_dead: Iterable[str] = (), notes: dict[str, Any] | None = None) -> Figures:
    ids = list(ids)
    expected_dead = set(expect_dead)
    store = hub.store()
    rows = {i: store.get_case(uuid.UUID(i)) for i in ids}
    problems: list[str] = []
    missing = [i for i, r in rows.items() if r is None]
    unsettled = [i for i, r in rows.items() if r is not None and not r.settled]
    problems += [f"case {i} missing from the store" for i in missing]
    problems += [f"case {i} not settled" for i in unsettled]
    legs: list[LegRow] = [leg for r in rows.values() if r is not None for leg in r.legs]
    by_dept = cores(hub)
    never_filed = [leg for leg in legs if leg.leg_id not in expected_dead
                   and by_dept[leg.department].filed[leg.leg_id] == 0]
    problems += [f"leg {leg.leg_id} ({leg.state}) never filed" for leg in never_filed]
    known = {leg.leg_id for leg in legs}
    twice = {k: n for c in by_dept.values() for k, n in c.filed.items() if n > 1}
    unknown = [k for c in by_dept.values() for k, n in c.filed.items() if n and k not in known]
    problems += [f"leg key {k} filed {n} times" for k, n in twice.items()]
    problems += [f"key {k} filed but unknown to the hub" for k in unknown]
    failed = [leg.leg_id for leg in legs
              if leg.state == LegState.FAILED and leg.leg_id not in expected_dead]
    problems += [f"leg {k} failed unexpectedly" for k in failed]
    dead = dead_leg_ids(hub)
    if set(dead) != expected_dead:
        problems.append(f"dead letters {sorted(dead)} != expected {sorted(expected_dead)}")
    if store.unsettled_case_count():
        problems.append(f"store: {store.unsettled_case_count()} unsettled case(s)")
    if store.outbox_pending_count():
        problems.append(f"store: {store.outbox_pending_count()} outbox row(s) never relayed")
    counted = sum(n for per in store.leg_counts().values() for n in per.values())
    if counted != len(legs):
        problems.append(f"store leg counts add up to {counted}, cases have {len(legs)} legs")
    depths = queues_drained(hub)
    problems += [f"queue {q} still holds {n}" for q, n in depths.items() if n]
    resent = sum(n - 1 for c in by_dept.values() for n in c.received.values() if n > 1)
    figures = Figures(
        scenario=scenario, bus=hub.kind, submitted=submitted, accepted=len(ids),
        settled=sum(1 for r in rows.values() if r is not None and r.settled), legs=len(legs),
        duplicated=sum(n - 1 for n in twice.values()) + len(unknown),
        lost=len(missing) + len(unsettled) + len(never_filed), resent=resent,
        dead_letters=len(dead), seconds=round(time.monotonic() - started, 1),
        notes=dict(notes or {}), problems=problems)
    figures.notes.setdefault("legs_by_state", store.leg_counts())
    return figures


def assert_sound(f: Figures) -> None:
    assert f.accepted == f.submitted, f.line()
    assert f.duplicated == 0, f.line()
    assert f.lost == 0, f.line()
    assert f.settled == f.accepted, f.line()
    assert not f.problems, f.line()
