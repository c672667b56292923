"""Transactional outbox: store writes and the messages they cause commit together.

The store appends ``OutboxRow``s in the same transaction as the case, legs or events that cause
them. A relay publishes pending rows with confirms, then marks them sent. A crash between publish
and mark re-publishes the row; consumers deduplicate by ``message_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hub.bus.base import ExchangeKind


@dataclass(frozen=True)
class OutboxRow:
    id: int
    exchange: ExchangeKind
    routing_key: str
    message_id: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class OutboxSource(Protocol):
    """What the relay needs from a store."""

    def pending_outbox(self, limit: int) -> list[OutboxRow]:
        """Oldest unsent rows first."""

    def mark_outbox_sent(self, ids: Sequence[int]) -> None: ...
