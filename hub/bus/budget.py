"""The one owner of a queue's retry budget: what a ``Retry`` costs, and when it is spent.

Modelled on dramatiq's ``Retries`` middleware: one object decides, for a delivery asking to be
retried, where it goes next — and, when the budget is spent, calls ``on_exhausted`` so the code
that decided is the code that settles the message's business meaning (a department worker marks
the leg failed: settled, replayable, visible to the clerk) before it is parked.

Rules (the same in both buses, which plan their delays with ``plan``, and in the worker, which
asks ``settle`` before returning a ``Retry``):

* A ``Retry`` without a delay consumes the next tier (``tiers_s``); when none is left the budget
  is spent (``retries_exhausted``).
* A ``Retry`` with ``delay_s`` (the department said when: rate limited, ``Retry-After``) waits
  that long and consumes no tier; only the delivery limit bounds it.
* The delivery at ``delivery_limit`` is the last one handled: a retry asked there is spent
  (``delivery_limit``), since the bus parks the next delivery unhandled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hub.bus.base import Dead, Delivery, Outcome, Retry
from hub.domain.reasons import Reason
from hub.domain.retry import RetryTiers

__all__ = ["OnExhausted", "RetryBudget"]

# (the delivery, the retry it asked for, the reason the budget is spent) -> the outcome to use
OnExhausted = Callable[[Delivery, Retry, Reason], Outcome]


def _park(_delivery: Delivery, retry: Retry, reason: Reason) -> Outcome:
    return Dead(reason, retry.reason)


@dataclass(frozen=True)
class RetryBudget:
    tiers: RetryTiers
    on_exhausted: OnExhausted = _park

    def plan(self, tier: int, delay_s: float | None) -> tuple[float, int] | None:
        """(delay, next tier) for a ``Retry`` at ``tier``; ``None`` once the tiers are used up."""
        if delay_s is not None:
            return max(0.0, delay_s), tier
        if tier >= len(self.tiers.tiers_s):
            return None
        return self.tiers.tiers_s[tier], tier + 1

    def spent(self, delivery: Delivery, retry: Retry) -> Reason | None:
        """Why ``retry`` cannot be granted to ``delivery`` (a reason), or None when it can."""
        if self.plan(delivery.tier, retry.delay_s) is None:
            return Reason.RETRIES_EXHAUSTED
        if delivery.attempt >= self.tiers.delivery_limit:
            return Reason.DELIVERY_LIMIT
        return None

    def settle(self, delivery: Delivery, retry: Retry) -> Outcome:
        """``retry`` while the budget lasts; else whatever ``on_exhausted`` makes of it."""
        reason = self.spent(delivery, retry)
        return retry if reason is None else self.on_exhausted(delivery, retry, reason)
