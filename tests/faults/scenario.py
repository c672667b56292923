"""One scenario's common course: submit through the real API, break something mid-stream, let
the fault script repair it, wait for the hub to settle, then gather the figures."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from simulators.demo import VILLAGE
from tests.faults.checks import Figures, check
from tests.faults.clerk import Clerk, FaultAt, Plan
from tests.support.faults import FaultHub


def clerk_for(hub: FaultHub) -> Clerk:
    terminal_id, token = hub.store().add_terminal(VILLAGE, "fault terminal")
    return Clerk(hub.base_url, token, hub.cfg, terminal_id=terminal_id)


def run_scenario(hub: FaultHub, scenario: str, *, cases: int | Plan,
                 fault: Callable[[], None] | None = None, at: int = 0,
                 expect_dead: Iterable[str] = (), settle_s: float = 150.0,
                 notes: dict[str, Any] | None = None) -> Figures:
    """Submit ``cases``; run ``fault`` (on a thread) once ``at`` are accepted; settle; check."""
    started = time.monotonic()
    clerk = clerk_for(hub)
    injector = FaultAt(at, fault) if fault is not None else None
    try:
        ids = clerk.submit(cases, on_progress=injector.progress if injector else None)
        if injector is not None:
            injector.join()
        clerk.settle(ids, settle_s)
    finally:
        clerk.close()
    info = dict(notes or {})
    info.update(retried_requests=clerk.retried_requests, recognised_resubmissions=clerk.recognised,
                supplements=clerk.supplements)
    submitted = cases if isinstance(cases, int) else len(cases)
    return check(hub, scenario, ids, submitted=submitted, started=started, expect_dead=expect_dead,
                 notes=info)
