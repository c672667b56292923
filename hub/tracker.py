"""The status tracker: applies leg events from ``hub.events`` to the store.

Each event goes through the leg state machine inside one store transaction (dedupe by event id,
transition check, case status, audit entry, village feed). An event that does not fit the state
machine is refused and recorded by the store, then acknowledged: it is evidence, not a retry
candidate. A body that is not a leg event is dead-lettered as ``malformed``.

``handle_batch`` (for ``Bus.consume_batch``) applies a whole batch in ONE store transaction
with exactly the per-event semantics (``Store.apply_leg_events``): a malformed body is parked
on its own, an early event is retried in a second, a store failure retries the whole batch
(nothing of it was committed), and the hook runs once per event after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from hub.bus.base import Ack, Dead, Delivery, Outcome, Retry
from hub.models import LegEvent
from hub.store.base import ApplyResult, Store

log = logging.getLogger("hub.tracker")

TrackerHook = Callable[[LegEvent, ApplyResult], None]

# An early event (see hub.status.is_early) is deferred this many times, then refused and recorded.
EARLY_RETRIES = 12


def early_delay_s(attempt: int) -> float:
    """1, 2, 4 … 60 s: together well over the longest lease a crashed consumer can hold."""
    return float(min(2 ** max(attempt - 1, 0), 60))


class StatusTracker:
    def __init__(self, store: Store, hook: TrackerHook | None = None) -> None:
        self.store = store
        self._hook = hook

    def handle_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(deliveries)
        events: list[LegEvent] = []
        where: list[int] = []
        for i, delivery in enumerate(deliveries):
            try:
                events.append(LegEvent.model_validate_json(delivery.message.body))
                where.append(i)
            except ValidationError as exc:
                outcomes[i] = Dead("malformed",
                                   f"not a valid leg event: {exc.error_count()} error(s)")
        if events:
            try:
                results = self.store.apply_leg_events(
                    events, defer_early=[deliveries[i].attempt <= EARLY_RETRIES for i in where])
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
                self._after(event, result)
                outcomes[i] = Ack()
        return [o if o is not None else Ack() for o in outcomes]

    def _after(self, event: LegEvent, result: ApplyResult) -> None:
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
