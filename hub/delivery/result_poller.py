"""Department answers back into the hub: poll the adapter, publish each result as a leg event.

A worker runs one ``ResultPoller`` on a thread of its own beside its consumer. Results are
published before they are acknowledged to the adapter (``ack_results`` archives reply files,
advances cursors), so a crash in between re-publishes them; their event ids are deterministic
(``r:<department>:<result id>``), so the status tracker applies each once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hub.bus.base import Bus, Message
from hub.domain.adapter import Adapter, Result
from hub.domain.errors import TransientError
from hub.domain.models import LegEvent, LegEventKind, utcnow

log = logging.getLogger("hub.results")

Emit = Callable[..., None]  # (event name, **fields): the worker's metrics and log hook


def event_message(event: LegEvent) -> Message:
    return Message(id=event.event_id, routing_key=event.kind.value,
                   body=event.model_dump_json().encode(),
                   headers={"case_id": str(event.case_id), "leg_id": event.leg_id,
                            "department": event.department})


def result_event(r: Result, department: str) -> LegEvent:
    case_id = r.leg_id.split(":", 1)[0]
    return LegEvent(event_id=f"r:{department}:{r.result_id}", case_id=case_id, leg_id=r.leg_id,
                    department=department, kind=LegEventKind(r.outcome),
                    receipt=r.department_ref, detail=r.detail,
                    missing_materials=list(r.missing_materials), at=utcnow())


class ResultPoller:
    def __init__(self, department: str, adapter: Adapter, bus: Bus, emit: Emit,
                 stop: threading.Event) -> None:
        self.department = department
        self.adapter = adapter
        self.bus = bus
        self._emit = emit
        self.stop = stop
        self._failures = 0

    def poll_once(self) -> int:
        """Fetch department answers and publish them as leg events; -1 when the poll failed."""
        try:
            results = self.adapter.poll_results()
        except TransientError as exc:
            self._failures += 1
            if self._failures & (self._failures - 1) == 0:  # 1st, 2nd, 4th, 8th...
                self._emit("poll_failed", reason=str(exc)[:200], failures=self._failures)
            return -1
        self._failures = 0
        if not results:
            return 0
        self.bus.publish("events", [event_message(result_event(r, self.department))
                                    for r in results])
        self.adapter.ack_results(results)
        self._emit("results", count=len(results))
        return len(results)

    def poll_forever(self, interval_s: float = 0.5, max_interval_s: float = 30.0) -> None:
        """Poll until stopped, backing off while the department cannot be reached."""
        wait = interval_s
        while not self.stop.is_set():
            try:
                failed = self.poll_once() < 0
            except Exception:  # a poll failure must not kill the worker
                log.exception("polling results of %s failed", self.department)
                failed = True
            wait = min(wait * 2, max_interval_s) if failed else interval_s
            self.stop.wait(wait)
