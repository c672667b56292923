"""Department answers back into the hub: poll the adapter, publish each result as a leg event.

A worker runs one ``ResultPoller`` on a thread of its own beside its consumer. Results are
published before they are acknowledged to the adapter (``ack_results`` archives reply files,
advances cursors), so a crash in between re-publishes them; their event ids are deterministic
(``hub.ids.answer_event_id``, the same for a signed callback), so the status tracker applies
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

from adapters.base import Adapter, Result
from hub import ids
from hub.bus.base import Bus, Message
from hub.errors import PermanentError, TransientError
from hub.models import LegEvent, LegEventKind, utcnow

log = logging.getLogger("hub.worker")

Emit = Callable[..., None]  # (event name, **fields): the worker's metrics and log hook


def event_message(event: LegEvent) -> Message:
    return Message(id=event.event_id, routing_key=event.kind.value,
                   body=event.model_dump_json().encode(),
                   headers={"case_id": str(event.case_id), "leg_id": event.leg_id,
                            "department": event.department})


# The leg event kinds a department answer may carry (``adapters.base.ResultOutcome``).
ANSWERS = frozenset({LegEventKind.ACCEPTED, LegEventKind.NEEDS_MATERIALS, LegEventKind.APPROVED,
                     LegEventKind.REJECTED})
MAX_DETAIL = 2000  # LegEvent.detail
MAX_MATERIALS = 50


class RefusedResult(PermanentError):
    """A department answer the hub cannot apply; ``reason`` says why (a short slug)."""


def result_event(r: Result, department: str) -> LegEvent:
    """The leg event of one department answer (polled or called back); RefusedResult if bad."""
    leg = ids.parse_leg_id(r.leg_id)
    if leg is None or leg.department != department:
        raise RefusedResult(f"{department}: result for a leg id the hub did not send",
                            reason="unknown_leg")
    try:
        kind = LegEventKind(r.outcome)
    except ValueError:
        kind = LegEventKind.RETRYING  # not an answer
    if kind not in ANSWERS:
        raise RefusedResult(f"{department}: unknown outcome", reason="unknown_outcome")
    if r.detail is not None and len(r.detail) > MAX_DETAIL:
        raise RefusedResult(f"{department}: detail over {MAX_DETAIL} characters",
                            reason="detail_too_long")
    if len(r.missing_materials) > MAX_MATERIALS or not all(
            isinstance(m, str) and 0 < len(m) <= 64 for m in r.missing_materials):
        raise RefusedResult(f"{department}: missing materials malformed",
                            reason="malformed_result")
    if not r.result_id or (r.department_ref is not None and len(r.department_ref) > MAX_DETAIL):
        raise RefusedResult(f"{department}: result id or reference malformed",
                            reason="malformed_result")
    texts = [r.detail or "", r.department_ref or "", *r.missing_materials]
    if any("\x00" in text for text in texts):  # no database text column holds a NUL
        raise RefusedResult(f"{department}: NUL character in the answer",
                            reason="malformed_result")
    return LegEvent(event_id=ids.answer_event_id(department, r.result_id), case_id=leg.case_id,
                    leg_id=r.leg_id, department=department, kind=kind,
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
