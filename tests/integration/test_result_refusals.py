"""One bad department answer never blocks the others (issue 18, item 3).

The REST and SOAP simulators serve a results list in which bad answers sit before a good one:
a leg id the hub never sent, a detail over the model's limit, an unknown outcome. The result
poller (real adapter, real socket, embedded bus) publishes the good answer, refuses each bad
one with a reason counted in ``hub_results_refused``, and the cursor moves past all of them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bus.base import Ack, Delivery, status_queue
from hub.bus.embedded import EmbeddedBus
from hub.config.loading import HubConfig
from hub.delivery.result_poller import ResultPoller
from hub.observability import metrics
from hub.observability.hooks import worker_hook
from simulators.base import SimResult
from tests.support.sims import (  # noqa: F401 - fixtures
    Running,
    hub_config,
    rest_sim,
    soap_sim,
)


@pytest.fixture
def bus(tmp_path: Path, hub_config: HubConfig) -> Iterator[EmbeddedBus]:  # noqa: F811
    b = EmbeddedBus(tmp_path / "bus.db", "answers", lease_s=1.0, poll_s=0.02)
    b.declare({n: d.retry.tiers() for n, d in hub_config.departments.items()})
    yield b
    b.close()


def serve(running: Running, *answers: tuple[str, str, str, str]) -> None:
    """Put answers (result id, leg id, outcome, detail) on the simulator's results list."""
    core = running.sim.core
    with core._lock:
        for result_id, leg_id, outcome, detail in answers:
            core._results.append(SimResult(
                seq=len(core._results) + 1, result_id=result_id, key=leg_id, outcome=outcome,
                department_ref="REF-1", detail=detail, missing_materials=(), ready_at=0.0))


def published(bus: EmbeddedBus) -> list[str]:
    seen: list[str] = []
    stop = threading.Event()

    def handler(d: Delivery) -> Ack:
        seen.append(d.message.id)
        return Ack()

    def batch(ds: list[Delivery]) -> list[Ack]:
        return [handler(d) for d in ds]

    t = threading.Thread(target=bus.consume_batch, args=(status_queue(bus.namespace), batch),
                         kwargs={"stop": stop}, daemon=True)
    t.start()
    time.sleep(1.0)
    stop.set()
    t.join(timeout=10)
    return seen


def refused_count(department: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "hub_results_refused_total", {"department": department, "reason": reason})
    return value or 0.0


@pytest.mark.parametrize(("sim", "department", "outcome_reason"), [
    ("rest_sim", "civil_affairs", "malformed_result"),
    ("soap_sim", "social_security", "unknown_outcome"),
])
def test_bad_answers_are_refused_counted_and_passed_by(
        request: pytest.FixtureRequest, bus: EmbeddedBus, sim: str, department: str,
        outcome_reason: str) -> None:
    running: Running = request.getfixturevalue(sim)
    good_leg = f"{uuid.uuid4()}:{department}"
    before = {r: refused_count(department, r)
              for r in ("unknown_leg", "detail_too_long", "malformed_result", outcome_reason)}
    # given three bad answers ahead of a good one
    serve(running,
          ("A-1", "not-a-leg-of-the-hub", "approved", "审核通过"),
          ("A-2", good_leg, "maybe", "?"),
          ("A-3", good_leg, "approved", "很长的说明" * 500),
          ("A-4", good_leg, "approved", "审核通过，已办结"))
    events: list[tuple[str, dict[str, object]]] = []

    def emit(event: str, **fields: object) -> None:
        events.append((event, fields))
        worker_hook(event, department, dict(fields))

    poller = ResultPoller(department, running.adapter, bus, emit, threading.Event())
    # when the worker polls
    poller.poll_once()
    # then the good answer is published, and only it
    assert published(bus) == [f"r:{department}:A-4"]
    # and each bad one is refused with its reason and counted
    reasons = sorted(str(f["reason"]) for e, f in events if e == "result_refused")
    assert len(reasons) == 3, events
    assert "unknown_leg" in reasons and outcome_reason in reasons
    for reason in set(reasons):
        assert refused_count(department, reason) - before.get(reason, 0.0) == reasons.count(reason)
    # and the cursor moved past all four: the next poll sees nothing again
    events.clear()
    assert poller.poll_once() == 0
    assert events == []
