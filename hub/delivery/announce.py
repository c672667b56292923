"""What a department worker tells the hub: the leg events it publishes, and the batch flush.

``flush`` records a batch's receipts in the worker's ledger (one transaction), publishes their
``submitted`` events (one confirmed publish) and only then acks them; ``submitted_event``,
``retrying_event`` and ``failed_event`` build the leg events of a receipt, a failed attempt
(evidence for ``hub trace``) and a failure for good, with deterministic ids
(``hub.domain.ids``) so the status tracker drops a re-published one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from hub.bus.base import Ack, Bus, Outcome, Retry, outcome_for_exception
from hub.delivery.ledger import Ledger
from hub.delivery.result_poller import event_message
from hub.domain import ids
from hub.domain.adapter import Receipt
from hub.domain.errors import PermanentError, TransientError
from hub.domain.models import LegEvent, LegEventKind, LegMessage, utcnow

__all__ = ["Submitted", "failed_event", "flush", "retrying_event", "submitted_event"]

log = logging.getLogger("hub.worker")

Emit = Callable[..., None]  # the worker's hook: emit(event, **fields)


@dataclass(frozen=True)
class Submitted:
    """A leg the department accepted; recorded and announced when its batch is flushed."""

    index: int
    msg: LegMessage
    receipt: Receipt
    event: LegEvent
    event_json: str



def submitted_event(msg: LegMessage, receipt: Receipt) -> LegEvent:
    kind = LegEventKind.SUBMITTED if msg.kind == "submit" else LegEventKind.RESUBMITTED
    return LegEvent(event_id=ids.submitted_event_id(msg.message_id), case_id=msg.case_id,
                    leg_id=msg.leg_id, department=msg.department, kind=kind,
                    receipt=receipt.department_ref, at=utcnow())


def retrying_event(msg: LegMessage, attempt: int, exc: TransientError) -> LegEvent:
    return LegEvent(event_id=ids.retrying_event_id(msg.message_id, attempt), case_id=msg.case_id,
                    leg_id=msg.leg_id, department=msg.department, kind=LegEventKind.RETRYING,
                    detail=f"attempt {attempt}: {type(exc).__name__}: {exc}"[:2000], at=utcnow())


def failed_event(msg: LegMessage, exc: PermanentError) -> LegEvent:
    return LegEvent(event_id=ids.failed_event_id(msg.message_id), case_id=msg.case_id,
                    leg_id=msg.leg_id, department=msg.department, kind=LegEventKind.FAILED,
                    detail=f"{exc.reason}: {exc}"[:2000], at=utcnow())


def flush(department: str, ledger: Ledger, bus: Bus, emit: Emit, submitted: list[Submitted],
          republish: dict[str, tuple[str, list[int]]], outcomes: list[Outcome | None]) -> None:
    """Record the batch's receipts (one transaction), then publish their events (one
    confirmed publish), then ack. A failure leaves those deliveries to come back: the
    ledger (or the department's idempotency key) keeps them from being submitted again."""
    try:
        ledger.record_many([(s.msg.message_id, s.receipt.department_ref, s.event_json)
                                 for s in submitted])
    except Exception as exc:
        log.exception("ledger of %s unavailable", department)
        for s in submitted:
            outcomes[s.index] = Retry(f"ledger unavailable: {type(exc).__name__}")
        submitted = []
    events = [(s.msg.message_id, event_message(s.event), [s.index]) for s in submitted]
    events += [(mid, event_message(LegEvent.model_validate_json(event_json)), indexes)
               for mid, (event_json, indexes) in republish.items()]
    if not events:
        return
    try:
        bus.publish("events", [message for _, message, _ in events])
    except Exception as exc:
        fate = outcome_for_exception(exc)
        for _, _, indexes in events:
            for i in indexes:
                outcomes[i] = fate
        return
    try:
        ledger.mark_published_many([mid for mid, _, _ in events])
    except Exception:  # the events are out; a redelivery would re-publish (deduplicated)
        log.warning("could not mark %d published events of %s", len(events), department)
    for _, _, indexes in events:
        for i in indexes:
            outcomes[i] = Ack()
    for s in submitted:
        emit("submitted", case_id=str(s.msg.case_id), leg_id=s.msg.leg_id,
                   duplicate=s.receipt.duplicate)
