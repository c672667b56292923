"""The status tracker: the one writer of leg state.

Every change of a leg goes through a ``StatusTracker`` method, and every change it makes is told
to its hook by ``_told`` (metrics, logs, benchmarks), the same way whatever made it:

* ``handle_batch``: leg events consumed from ``hub.events`` (workers' receipts, retries,
  failures, polled department answers);
* ``apply``: an event arriving outside the bus (a signed callback);
* ``outbox_sent``: the relay marked rows sent, moving still-pending legs to ``dispatched``
  (the relay reads and marks its rows through ``hub.tracking.outbox.TrackedOutbox``);
* ``supplement``: a clerk's supplement moving a leg to ``resubmitted``.

The store makes each change with its audit entry and village-feed entry in one transaction
(``hub.store.legs.LegSet.change``); the hook runs after the commit.

Each event goes through the leg state machine inside one store transaction (dedupe by event id,
transition check, case status, audit entry, village feed). An event that does not fit the state
machine is refused and recorded by the store, then acknowledged: it is evidence, not a retry
candidate. A body that is not a leg event is dead-lettered as ``malformed``.

``handle_batch`` (for ``Bus.consume_batch``) applies a whole batch in ONE store transaction
with exactly the per-event semantics (``Store.apply_leg_events``): a malformed body is parked
on its own, an early event is retried in a second, a store failure retries the whole batch
(nothing of it was committed), and the hook runs once per event after the commit.

One bad event never holds a batch: an event whose ids do not fit the store (``hub.domain.ids.MAX_ID``)
is dead-lettered as ``malformed`` before the batch is written, and when the store refuses a
batch for good (a value it cannot hold: ``PermanentError``) the events are applied one by one,
so only the event the store refuses is dead-lettered and the rest are applied.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from hub.bus.base import Ack, Dead, Delivery, Outcome, Retry
from hub.domain.errors import PermanentError
from hub.domain.ids import MAX_ID, supplement_event_id
from hub.domain.models import LegEvent, LegEventKind, LegMessage, LegState, utcnow
from hub.domain.reasons import Reason
from hub.store.base import ApplyResult, Store, SupplementResult

log = logging.getLogger("hub.tracker")

TrackerHook = Callable[[LegEvent, ApplyResult], None]

# An early event (see hub.domain.leg_states.is_early) is deferred this many times, then refused and recorded.
EARLY_RETRIES = 12


def early_delay_s(attempt: int) -> float:
    """1, 2, 4 … 60 s: together well over the longest lease a crashed consumer can hold."""
    return float(min(2 ** max(attempt - 1, 0), 60))


class StatusTracker:
    def __init__(self, store: Store, hook: TrackerHook | None = None) -> None:
        self.store = store
        self._hook = hook

    def apply(self, event: LegEvent) -> ApplyResult:
        """Apply one event arriving outside the bus (a signed callback) exactly as a consumed
        one: through the store's state machine, then the same hooks (metrics, logs)."""
        result = self.store.apply_leg_events([event])[0]
        self._told(event, result)
        return result

    def outbox_sent(self, ids: Sequence[int]) -> None:
        """Mark outbox rows sent (after the bus confirmed them); their still-pending dispatch
        legs move to ``dispatched`` in the same transaction."""
        for event, result in self.store.mark_outbox_sent(ids):
            self._told(event, result)

    def supplement(self, case_id: uuid.UUID, department: str,
                   message: LegMessage) -> SupplementResult:
        """A clerk's supplement: the leg waiting for materials moves to ``resubmitted`` and
        the supplement's message joins the outbox, in one transaction."""
        result = self.store.add_supplement(case_id, department, message)
        if result.applied:
            self._told(LegEvent(event_id=supplement_event_id(message.message_id),
                                case_id=case_id, leg_id=message.leg_id, department=department,
                                kind=LegEventKind.RESUBMITTED, at=utcnow()),
                       ApplyResult(applied=True, leg_state=LegState.RESUBMITTED,
                                   case_status=result.case_status))
        return result

    def handle_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(deliveries)
        events: list[LegEvent] = []
        where: list[int] = []
        for i, delivery in enumerate(deliveries):
            try:
                event = LegEvent.model_validate_json(delivery.message.body)
            except ValidationError as exc:
                outcomes[i] = Dead(Reason.MALFORMED,
                                   f"not a valid leg event: {exc.error_count()} error(s)")
                continue
            if len(event.event_id) > MAX_ID or len(event.leg_id) > MAX_ID:
                outcomes[i] = Dead(Reason.MALFORMED, f"event or leg id over {MAX_ID} characters")
                continue
            events.append(event)
            where.append(i)
        if events:
            defer = [deliveries[i].attempt <= EARLY_RETRIES for i in where]
            try:
                results = self.store.apply_leg_events(events, defer_early=defer)
            except PermanentError as exc:  # one event the store cannot hold: find it, alone
                log.warning("store refused a batch of %d leg events (%s): applying one by one",
                            len(events), exc.reason)
                self._one_by_one(deliveries, events, where, defer, outcomes)
                return [o if o is not None else Ack() for o in outcomes]
            except Exception as exc:  # nothing of the batch was committed: all come back later
                log.warning("store unavailable for a batch of %d leg events: %s", len(events),
                            type(exc).__name__)
                retry = Retry(f"store unavailable: {type(exc).__name__}")
                return [o if o is not None else retry for o in outcomes]
            for i, event, result in zip(where, events, results, strict=True):
                if result.deferred:
                    outcomes[i] = Retry(f"{event.kind.value} arrived before the leg reached it",
                                        early_delay_s(deliveries[i].attempt))
                    continue
                self._told(event, result)
                outcomes[i] = Ack()
        return [o if o is not None else Ack() for o in outcomes]

    def _one_by_one(self, deliveries: Sequence[Delivery], events: Sequence[LegEvent],
                    where: Sequence[int], defer: Sequence[bool],
                    outcomes: list[Outcome | None]) -> None:
        """Apply each event in its own transaction; a permanent refusal parks that one only."""
        for i, event, early_ok in zip(where, events, defer, strict=True):
            try:
                result = self.store.apply_leg_events([event], defer_early=[early_ok])[0]
            except PermanentError as exc:
                log.error("store refused leg event", extra={
                    "case_id": str(event.case_id), "leg_id": event.leg_id[:MAX_ID],
                    "event": event.kind.value, "reason": exc.reason})
                outcomes[i] = Dead(exc.reason, str(exc)[:500])
                continue
            except Exception as exc:
                outcomes[i] = Retry(f"store unavailable: {type(exc).__name__}")
                continue
            if result.deferred:
                outcomes[i] = Retry(f"{event.kind.value} arrived before the leg reached it",
                                    early_delay_s(deliveries[i].attempt))
                continue
            self._told(event, result)
            outcomes[i] = Ack()

    def _told(self, event: LegEvent, result: ApplyResult) -> None:
        """The one place a decided leg change (or refusal) is told: log, then the hook."""
        if result.refused_reason:
            log.warning("refused leg event", extra={"case_id": str(event.case_id),
                                                    "leg_id": event.leg_id,
                                                    "event": event.kind.value,
                                                    "reason": result.refused_reason})
        if self._hook is not None:
            try:
                self._hook(event, result)
            except Exception:
                log.exception("tracker hook failed")
