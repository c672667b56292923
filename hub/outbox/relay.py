"""Transactional outbox: store writes and the messages they cause commit together.

The store appends ``OutboxRow``s in the same transaction as the case, legs or events that cause
them. A relay publishes pending rows with confirms, then marks them sent. A crash between publish
and mark re-publishes the row; consumers deduplicate by ``message_id``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hub.bus.base import Bus, ExchangeKind, Message
from hub.bus.doorbell import Doorbell, IdlePoll
from hub.domain.errors import PermanentError, TransientError


@dataclass(frozen=True)
class OutboxRow:
    id: int
    exchange: ExchangeKind
    routing_key: str
    message_id: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class OutboxSource(Protocol):
    """What the relay needs: in the hub, ``hub.tracking.outbox.TrackedOutbox`` (marking a
    dispatch row sent changes its leg, so it goes through the tracker, never the store)."""

    def pending_outbox(self, limit: int) -> list[OutboxRow]:
        """Oldest unsent rows first."""

    def mark_sent(self, ids: Sequence[int]) -> None: ...


# --- the relay -------------------------------------------------------------------------------

log = logging.getLogger(__name__)


class Relay:
    """Moves outbox rows onto the bus: publish a batch (pipelined confirms), then mark it sent.

    A crash after the publish and before the mark re-publishes those rows on the next run:
    at-least-once, deduplicated by consumers on ``message_id``. Rows are published grouped by
    exchange, oldest first.
    """

    def __init__(self, source: OutboxSource, bus: Bus, batch: int = 500,
                 bell: Doorbell | None = None) -> None:
        self.source = source
        self.bus = bus
        self.batch = batch
        # Rung by intake in this process after each commit; other writers are found by polling.
        self.bell = bell or Doorbell()

    def run_once(self) -> int:
        rows = self.source.pending_outbox(self.batch)
        if not rows:
            return 0
        for kind in ("dispatch", "events"):
            group = [r for r in rows if r.exchange == kind]
            if group:
                self.bus.publish(kind, [
                    Message(r.message_id, r.routing_key, r.body, dict(r.headers)) for r in group
                ])
        self.source.mark_sent([r.id for r in rows])
        return len(rows)

    def run(self, stop: threading.Event, idle_sleep_s: float = 0.05) -> None:
        """Relay until ``stop``; a failed publish waits and tries the same rows again."""
        idle = IdlePoll(self.bell, ceiling_s=idle_sleep_s)
        while not stop.is_set():
            rung = self.bell.rung
            try:
                sent = self.run_once()
            except TransientError as exc:
                log.warning("outbox relay: bus unavailable (%s); retrying", exc)
                stop.wait(1.0)
                continue
            except PermanentError as exc:
                # e.g. unroutable: a queue is missing. Never mark unsent rows; keep trying slowly.
                log.error("outbox relay: publish refused (%s); retrying in 5 s", exc)
                stop.wait(5.0)
                continue
            if sent == 0:
                idle.wait(rung)  # a ring (intake committed in this process) ends it at once
            else:
                idle.found()
