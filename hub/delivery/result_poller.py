"""Department answers back into the hub: poll the adapter, publish each result as a leg event.

A worker runs one ``ResultPoller`` on a thread of its own beside its consumer. Results are
published before they are acknowledged to the adapter (``ack_results`` archives reply files,
advances cursors), so a crash in between re-publishes them; their event ids are deterministic
(``hub.domain.ids.answer_event_id``, the same for a signed callback), so the status tracker applies
each answer once, however often and by whichever path it arrives.

One bad answer never blocks the others: a result whose leg id is not one the hub built for this
department, whose outcome is unknown or whose detail is over the model's limit is refused with
a reason (``RefusedResult``), logged and counted (the ``result_refused`` hook event), and
acknowledged with the rest so the department's cursor moves past it. An item the transport
could not read at all is reported by its ``take_quarantined()`` the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hub.bus.base import Bus, Message
from hub.domain.adapter import Adapter
from hub.domain.answers import RefusedResult, result_event
from hub.domain.errors import TransientError
from hub.domain.models import LegEvent

log = logging.getLogger("hub.results")

Emit = Callable[..., None]  # (event name, **fields): the worker's metrics and log hook


def event_message(event: LegEvent) -> Message:
    return Message(id=event.event_id, routing_key=event.kind.value,
                   body=event.model_dump_json().encode(),
                   headers={"case_id": str(event.case_id), "leg_id": event.leg_id,
                            "department": event.department})




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
        events: list[LegEvent] = []
        for r in results:
            try:
                events.append(result_event(r, self.department))
            except RefusedResult as exc:
                self._refused(exc.reason, str(exc), r.result_id)
        quarantined = self._take_quarantined()
        for q in quarantined:
            self._refused(str(getattr(q, "reason", "unreadable")), "unreadable answer",
                          str(getattr(q, "name", "")))
        if not results and not quarantined:
            return 0
        if events:
            self.bus.publish("events", [event_message(e) for e in events])
        self.adapter.ack_results(results)  # refused ones too: the cursor moves past them
        self._emit("results", count=len(events))
        return len(results)

    def _take_quarantined(self) -> list[object]:
        take = getattr(self.adapter, "take_quarantined", None)
        if take is None:
            return []
        try:
            return list(take())
        except Exception:  # noqa: BLE001 - a report, not the flow
            log.warning("could not read quarantined answers of %s", self.department)
            return []

    def _refused(self, reason: str, problem: str, result_id: str) -> None:
        log.warning("department answer refused: %s", problem,
                    extra={"department": self.department, "reason": reason})
        self._emit("result_refused", reason=reason, result_id=result_id[:128])

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
