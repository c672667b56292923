"""In-memory bus: the ``Bus`` protocol inside one process, for tests (never the default).

In the spirit of dramatiq's ``StubBroker`` and FastStream's ``TestBroker``: the same topology
(``hub.bus.topology``: dispatch routes by department, events go to the status lane, a message that
matches no queue raises ``UnroutableError`` while the routable ones are kept) and the same
settlement rules as the other buses (``hub.bus.settle``: delivery limit, retry tiers and explicit
delays with real waits, parking lots, malformed bodies), so the bus contract suite runs on it.
Nothing is written to disk: a process that dies loses everything, which is why production never
uses it. Several ``MemoryBus`` handles on one ``MemoryBroker`` share queues, as several
processes share a broker; ``open_bus_url("memory://NAME")`` gives handles on one named broker.

Test helpers: ``join(queue, timeout_s)`` waits until a queue is empty (nothing ready, waiting for
a retry or being handled); ``dead_letters()`` lists the parking lots, as on every bus.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hub.bus.base import (
    Ack,
    BatchHandler,
    DeadLetter,
    Delivery,
    ExchangeKind,
    Message,
    QueueStats,
    UnroutableError,
)
from hub.bus.settle import Later, run_batch
from hub.bus.topology import STATUS_LANE, Lane, lanes
from hub.domain.errors import PermanentError
from hub.domain.reasons import Reason
from hub.domain.retry import RetryTiers


@dataclass
class _Entry:
    seq: int
    message: Message
    enqueued_at: float
    attempts: int = 0  # deliveries so far
    tier: int = 0


@dataclass
class _Queue:
    lane: Lane
    ready: list[tuple[int, _Entry]] = field(default_factory=list)  # heap by seq (queue order)
    waiting: list[tuple[float, int, _Entry]] = field(default_factory=list)  # heap by due time
    in_flight: int = 0
    dead: list[DeadLetter] = field(default_factory=list)

    def promote(self, now: float) -> None:
        """Move retries whose delay is over back into the queue, in their original order."""
        while self.waiting and self.waiting[0][0] <= now:
            _due, _seq, entry = heapq.heappop(self.waiting)
            heapq.heappush(self.ready, (entry.seq, entry))

    def depth(self) -> int:
        return len(self.ready) + len(self.waiting) + self.in_flight


class MemoryBroker:
    """The shared state behind ``MemoryBus`` handles: queues, parking lots, one lock."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queues: dict[str, _Queue] = {}
        self.seq = itertools.count(1)
        self.dead_ids = itertools.count(1)


_NAMED: dict[str, MemoryBroker] = {}
_NAMED_LOCK = threading.Lock()


def named_broker(name: str) -> MemoryBroker:
    """The process-wide broker called ``name`` (``memory://name``), created on first use."""
    with _NAMED_LOCK:
        return _NAMED.setdefault(name, MemoryBroker())


class MemoryBus:
    def __init__(self, namespace: str = "hub", *, broker: MemoryBroker | None = None,
                 poll_s: float = 0.05) -> None:
        self.namespace = namespace
        self.broker = broker or MemoryBroker()
        self.poll_s = poll_s  # longest idle wait before a consumer looks at ``stop`` again

    def _queue(self, queue: str) -> _Queue:
        q = self.broker.queues.get(queue)
        if q is None:
            raise PermanentError(f"queue {queue!r} is not declared", reason=Reason.NOT_DECLARED)
        return q

    def _mine(self) -> list[_Queue]:
        return [q for q in self.broker.queues.values() if q.lane.namespace == self.namespace]

    # -- Bus ------------------------------------------------------------------------------
    def declare(self, departments: Mapping[str, RetryTiers]) -> None:
        with self.broker.cond:
            for lane in lanes(self.namespace, departments):
                q = self.broker.queues.get(lane.queue)
                if q is None:
                    self.broker.queues[lane.queue] = _Queue(lane)
                else:
                    q.lane = lane  # tiers and limit follow the latest declaration

    def _route(self, exchange: ExchangeKind, routing_key: str) -> _Queue | None:
        if exchange == "events":
            name = STATUS_LANE
        elif routing_key == STATUS_LANE:
            return None
        else:
            name = routing_key
        return self.broker.queues.get(Lane(self.namespace, name, RetryTiers()).queue)

    def publish(self, exchange: ExchangeKind, messages: Sequence[Message]) -> None:
        unroutable: list[str] = []
        now = time.time()
        with self.broker.cond:
            for m in messages:
                q = self._route(exchange, m.routing_key)
                if q is None:
                    unroutable.append(m.id)
                    continue
                entry = _Entry(next(self.broker.seq), _copy(m), now)
                heapq.heappush(q.ready, (entry.seq, entry))
            self.broker.cond.notify_all()
        if unroutable:
            raise UnroutableError(
                f"{len(unroutable)} message(s) to {self.namespace}.{exchange} matched no queue",
                message_ids=unroutable,
            )

    def consume_batch(
        self, queue: str, handler: BatchHandler, *, stop: threading.Event, max_batch: int = 256,
        max_wait_s: float = 0.005, prefetch: int | None = None,
    ) -> None:
        q = self._queue(queue)
        limit = max(1, min(max_batch, prefetch or max_batch))
        while not stop.is_set():
            entries = self._take(q, limit, stop, max_wait_s)
            if entries:
                self._handle(q, entries, handler)

    def _take(self, q: _Queue, limit: int, stop: threading.Event,
              max_wait_s: float) -> list[_Entry]:
        """Lease up to ``limit`` ready messages in queue order; wait a while when none are."""
        cond = self.broker.cond
        with cond:
            q.promote(time.time())
            if not q.ready:
                due = q.waiting[0][0] - time.time() if q.waiting else self.poll_s
                if not cond.wait(max(0.0005, min(due, self.poll_s))) or stop.is_set():
                    return []
                # woken by a publish: let the messages right behind it join the batch
                cond.wait_for(lambda: len(q.ready) >= limit or stop.is_set(), max_wait_s)
                q.promote(time.time())
            taken = [heapq.heappop(q.ready)[1] for _ in range(min(limit, len(q.ready)))]
            for entry in taken:
                entry.attempts += 1
            q.in_flight += len(taken)
            return taken

    def _handle(self, q: _Queue, entries: list[_Entry], handler: BatchHandler) -> None:
        lane = q.lane
        batch = [(Delivery(e.message, lane.queue, e.attempts, e.tier), e.tier) for e in entries]
        try:
            fates = run_batch(lane, handler, batch)
        except BaseException:
            # The consumer is going down (as if its process died): everything comes back.
            with self.broker.cond:
                q.in_flight -= len(entries)
                for e in entries:
                    heapq.heappush(q.ready, (e.seq, e))
                self.broker.cond.notify_all()
            raise
        now = time.time()
        with self.broker.cond:
            q.in_flight -= len(entries)
            for entry, fate in zip(entries, fates, strict=True):
                if isinstance(fate, Ack):
                    continue
                if isinstance(fate, Later):
                    entry.tier = fate.tier
                    heapq.heappush(q.waiting, (now + fate.delay_s, entry.seq, entry))
                else:
                    q.dead.append(DeadLetter(str(next(self.broker.dead_ids)), lane.name,
                                             entry.message, fate.reason, fate.detail,
                                             fate.attempts, now))
            self.broker.cond.notify_all()

    def dead_letters(self, department: str | None = None) -> list[DeadLetter]:
        with self.broker.cond:
            return [dl for q in self._mine() if department in (None, q.lane.name)
                    for dl in q.dead]

    def replay(self, dead_letter_ids: Sequence[str]) -> int:
        wanted = set(dead_letter_ids)
        n = 0
        now = time.time()
        with self.broker.cond:
            for q in self._mine():
                keep = []
                for dl in q.dead:
                    if dl.id in wanted:
                        entry = _Entry(next(self.broker.seq), dl.message, now)
                        heapq.heappush(q.ready, (entry.seq, entry))
                        n += 1
                    else:
                        keep.append(dl)
                q.dead = keep
            self.broker.cond.notify_all()
        return n

    def purge_dead(self, dead_letter_ids: Sequence[str]) -> int:
        wanted = set(dead_letter_ids)
        n = 0
        with self.broker.cond:
            for q in self._mine():
                before = len(q.dead)
                q.dead = [dl for dl in q.dead if dl.id not in wanted]
                n += before - len(q.dead)
        return n

    def stats(self, queue: str) -> QueueStats:
        now = time.time()
        with self.broker.cond:
            if queue.endswith(".dead"):
                dead = next((q.dead for q in self.broker.queues.values()
                             if q.lane.dead_queue == queue), [])
                oldest = min((d.dead_at for d in dead), default=None)
                return QueueStats(len(dead), None if oldest is None else max(0.0, now - oldest))
            q = self._queue(queue)
            times = [e.enqueued_at for _s, e in q.ready] + [e.enqueued_at for *_x, e in q.waiting]
            oldest = min(times, default=None)
            return QueueStats(q.depth(), None if oldest is None else max(0.0, now - oldest))

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass  # nothing is held per handle; the broker lives as long as someone refers to it

    # -- test helpers ---------------------------------------------------------------------
    def join(self, queue: str, timeout_s: float = 10.0) -> None:
        """Wait until ``queue`` is empty: nothing ready, waiting for a retry or being handled.

        Raises ``TimeoutError`` (saying what is left) when that takes longer than ``timeout_s``.
        """
        q = self._queue(queue)
        with self.broker.cond:
            if not self.broker.cond.wait_for(lambda: q.depth() == 0, timeout_s):
                raise TimeoutError(
                    f"{queue} not empty after {timeout_s}s: {len(q.ready)} ready, "
                    f"{len(q.waiting)} waiting to retry, {q.in_flight} being handled")


def _copy(m: Message) -> Message:
    """What a consumer receives: the message as published, headers copied (never shared)."""
    return Message(m.id, m.routing_key, bytes(m.body), dict(m.headers))
