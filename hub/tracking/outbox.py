"""The relay's view of the outbox: rows read from the store, marked sent through the tracker.

The relay (``hub.outbox.relay``) sits below tracking and never writes a leg itself: marking a
dispatch row sent moves its leg to ``dispatched``, a leg change, so it goes through
``StatusTracker.outbox_sent`` like every other one.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.outbox.relay import OutboxRow
from hub.store.base import Store
from hub.tracking.tracker import StatusTracker


class TrackedOutbox:
    """An ``OutboxSource`` for the relay."""

    def __init__(self, store: Store, tracker: StatusTracker) -> None:
        self.store = store
        self.tracker = tracker

    def pending_outbox(self, limit: int) -> list[OutboxRow]:
        return self.store.pending_outbox(limit)

    def mark_sent(self, ids: Sequence[int]) -> None:
        self.tracker.outbox_sent(ids)
