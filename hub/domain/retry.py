"""Retry tiers: how long a leg waits between delivery attempts, and how many attempts it gets.

A department's ``RetryPolicy`` (``hub.config.departments``) produces them; the buses declare
their delay queues and delivery limit from them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryTiers:
    """Delayed retry tiers and the delivery limit of one department's queue."""

    tiers_s: tuple[float, ...] = (10.0, 60.0, 600.0, 3600.0)
    delivery_limit: int = 20
