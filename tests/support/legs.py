"""Legs for one department and an in-process department that files them (worker tests).

What the worker tests are about is the worker's bookkeeping, not a transport: each real
transport has its own suite against a real peer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence

from hub.bus.base import Delivery, Message
from hub.config.loading import HubConfig
from hub.domain.adapter import Health, Receipt, Result, SubmitRequest
from hub.domain.errors import PermanentError
from hub.domain.models import LegMessage
from hub.intake import split_legs as router
from hub.intake.validation import validate_case
from simulators.samples import sample_case

DEPT = "civil_affairs"
VILLAGE = "513401101201"


class FilingDepartment:
    """A department that files every leg it is sent, in arrival order."""

    def __init__(self, refuse: set[str] | None = None, slow_submit_s: float = 0.0) -> None:
        self.filed: list[tuple[str, str]] = []  # (leg_id, kind)
        self.refuse = refuse or set()
        self.slow_submit_s = slow_submit_s
        self._lock = threading.Lock()

    def submit(self, request: SubmitRequest) -> Receipt:
        if request.leg_id in self.refuse:
            raise PermanentError("申请人信息不完整", reason="rejected")
        if request.kind == "submit" and self.slow_submit_s:
            time.sleep(self.slow_submit_s)
        with self._lock:
            self.filed.append((request.leg_id, request.kind))
        return Receipt(department_ref=f"MZ-{len(self.filed)}")

    def poll_results(self) -> list[Result]:
        return []

    def ack_results(self, results: Sequence[Result]) -> None:
        pass

    def health(self) -> Health:
        return Health(ok=True)

    def close(self) -> None:
        pass


def legs(cfg: HubConfig, n: int, department: str = DEPT) -> list[LegMessage]:
    """The ``department`` legs of ``n`` sample death registrations (deterministic)."""
    item = cfg.catalogue.get("DEATH")
    assert item is not None
    rng = random.Random(5)
    out = []
    for _ in range(n):
        raw, _ = sample_case(cfg, item, village_code=VILLAGE, rng=rng)
        case = validate_case(raw, cfg)
        out += [m for m in router.route(case, cfg) if m.department == department]
    return out


def deliveries(messages: Sequence[LegMessage], attempt: int = 1,
               department: str = DEPT) -> list[Delivery]:
    return [Delivery(Message(m.message_id, department, m.model_dump_json().encode()),
                     f"hub.dept.{department}", attempt) for m in messages]


def dispatch(messages: Sequence[LegMessage], department: str = DEPT) -> list[Message]:
    """The legs as the outbox relay publishes them to the dispatch exchange."""
    return [Message(m.message_id, department, m.model_dump_json().encode()) for m in messages]
