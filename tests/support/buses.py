"""Shared bus helpers for tests: wrappers around any real bus, and reading a queue's ids.

Tests use the real buses (``hub.bus.memory.MemoryBus`` for unit tests); they never define a fake
bus of their own. The wrappers here only observe or delay publishes, as a broker could:
``PublishCounter`` counts and can refuse the next publish (a broker that does not confirm),
``SlowDispatch`` holds dispatch publishes back (the fault suite's crash window). Everything else
goes to the wrapped bus.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from hub.bus.base import Ack, Bus, Delivery, ExchangeKind, Message, Outcome, PublishFailed


class PublishCounter:
    """The given bus, counting ``publish`` calls; ``fail_next`` makes the next one fail."""

    def __init__(self, bus: Bus) -> None:
        self.inner = bus
        self.namespace = bus.namespace
        self.publishes = 0
        self.fail_next = False

    def publish(self, exchange: ExchangeKind, messages: Sequence[Message]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise PublishFailed("broker did not confirm")
        self.publishes += 1
        self.inner.publish(exchange, messages)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class SlowDispatch:
    """A bus handle whose dispatch publishes start only after ``delay_s`` (the fault window)."""

    def __init__(self, inner: Bus, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def publish(self, exchange: ExchangeKind, messages: Sequence[Message]) -> None:
        if exchange == "dispatch":
            time.sleep(self.delay_s)
        self.inner.publish(exchange, messages)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def received_ids(bus: Bus, queue: str, expect: int, timeout_s: float = 20.0,
                 quiet_s: float = 1.0) -> list[str]:
    """Message ids consumed (and acked) from ``queue`` until ``expect`` came and ``quiet_s``
    passed without more (a duplicate would arrive then)."""
    seen: list[str] = []
    stop = threading.Event()

    def handler(batch: Sequence[Delivery]) -> list[Outcome]:
        seen.extend(d.message.id for d in batch)
        return [Ack()] * len(batch)

    t = threading.Thread(target=bus.consume_batch, args=(queue, handler),
                         kwargs={"stop": stop}, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout_s
    while len(seen) < expect and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(quiet_s)
    stop.set()
    t.join(timeout=10)
    return seen
