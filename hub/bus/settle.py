"""How a batch of deliveries is settled: the rules every bus shares, written once.

A bus leases a batch, calls ``run_batch`` and then *executes* what it answers; it decides
nothing itself. The rules:

- **Delivery limit**: a delivery whose attempt is past the lane's ``delivery_limit`` is parked as
  ``delivery_limit`` without reaching the handler; it was not handled this time, so the dead
  letter counts one attempt less.
- **Handler**: the rest go to the handler in one call (``batch_outcomes``: an exception settles
  every delivery of the batch by ``outcome_for_exception``; a ``MalformedMessage`` parks at once
  as ``malformed``).
- **Retry**: ``Retry`` waits for the lane's next tier (or its explicit ``delay_s``, which uses no
  tier); once the tiers are used up it is parked as ``retries_exhausted``.
- **Dead**: parked with its own reason and detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.bus.base import Ack, BatchHandler, Delivery, Outcome, Retry, batch_outcomes
from hub.bus.topology import Lane
from hub.domain.reasons import Reason

DELIVERY_LIMIT = Reason.DELIVERY_LIMIT
RETRIES_EXHAUSTED = Reason.RETRIES_EXHAUSTED


@dataclass(frozen=True)
class Later:
    """Deliver again after ``delay_s``; the message has then reached retry tier ``tier``."""

    delay_s: float
    tier: int
    explicit: bool  # the handler asked for this delay (rate limited): no tier was used


@dataclass(frozen=True)
class Park:
    """Move to the lane's parking lot with these facts."""

    reason: str
    detail: str
    attempts: int


Settlement = Ack | Later | Park


def past_limit(lane: Lane, delivery: Delivery) -> bool:
    """The delivery limit: True when this delivery must not reach the handler."""
    return delivery.attempt > lane.tiers.delivery_limit


def settlement(lane: Lane, delivery: Delivery, tier: int, outcome: Outcome) -> Settlement:
    """What to do with one handled delivery (at retry ``tier``) given its outcome."""
    if isinstance(outcome, Ack):
        return outcome
    if isinstance(outcome, Retry):
        plan = lane.next_retry(tier, outcome.delay_s)
        if plan is None:
            return Park(RETRIES_EXHAUSTED, outcome.reason, delivery.attempt)
        return Later(plan[0], plan[1], outcome.delay_s is not None)
    return Park(outcome.reason, outcome.detail, delivery.attempt)


def run_batch(lane: Lane, handler: BatchHandler,
              batch: Sequence[tuple[Delivery, int]]) -> list[Settlement]:
    """Settle a leased batch of (delivery, retry tier): one settlement per delivery, in order."""
    live = [d for d, _tier in batch if not past_limit(lane, d)]
    outcomes = iter(batch_outcomes(handler, live, lane.queue) if live else [])
    out: list[Settlement] = []
    for delivery, tier in batch:
        if past_limit(lane, delivery):
            handled = delivery.attempt - 1
            out.append(Park(DELIVERY_LIMIT, f"delivered {handled} times", handled))
        else:
            out.append(settlement(lane, delivery, tier, next(outcomes)))
    return out
