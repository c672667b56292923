"""AMQP bus: the ``Bus`` protocol on RabbitMQ via pika (production; several machines).

Features: topology from ``hub.bus.topology`` (quorum work queues with an explicit delivery limit
and at-least-once dead-lettering, TTL retry tiers, quorum parking lots that never expire). Every
publish is persistent, ``mandatory`` and confirmed; confirms are *pipelined* (a window of
outstanding publishes, not one round trip each); ``basic.return`` raises ``UnroutableError`` and a
nack raises ``PublishFailed``. Consumers ack manually after the effect, with prefetch and
heartbeats. ``consume_batch`` (the one consumption path) collects deliveries up to ``max_batch`` or
``max_wait_s`` and hands them, in arrival order, to one worker thread, one batch at a time; their
settlements (``hub.bus.settle``) go back through ``add_callback_threadsafe`` (pika is not
thread-safe). One connection per thread.
Lost connections are re-opened with jittered exponential backoff (tenacity); an authentication or
access refusal stops with a clear ``PermanentError``. ``Retry`` republishes (confirmed) to the
lane's tier queue and then acks; an explicit ``delay_s`` is rounded up to the nearest tier.
``Dead`` publishes the original with reason, detail, attempts and time headers to the parking lot,
confirmed, then acks.

Connection settings: ``url`` (``amqp://`` or ``amqps://``; several comma-separated URLs name the
nodes of a cluster, tried in turn: ``hub.bus.amqp_connect``), TLS files, ``heartbeat_s``;
``confirm_window`` outstanding confirms per publisher. Declaring the topology is in
``hub.bus.amqp_declare``, the parking lots (``hub dlq``) in ``hub.bus.amqp_parking``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pika
import pika.exceptions as px
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_when_event_set,
    wait_random_exponential,
)

from hub.bus._amqp_wire import Publisher, delivery_of, props_for
from hub.bus.amqp_connect import Reconnect, connection_parameters, node_urls, translate
from hub.bus.amqp_declare import declare_topology
from hub.bus.amqp_parking import ParkingLots
from hub.bus.base import (
    Ack,
    BatchHandler,
    Delivery,
    ExchangeKind,
    Message,
    PublishFailed,
    QueueStats,
)
from hub.bus.settle import Later, Settlement, run_batch
from hub.bus.topology import Lane, exchange, lanes
from hub.domain.errors import PermanentError, TransientError
from hub.domain.reasons import Reason
from hub.domain.retry import RetryTiers

log = logging.getLogger(__name__)


class AmqpBus(ParkingLots):
    def __init__(
        self,
        url: str,
        namespace: str = "hub",
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        heartbeat_s: int = 30,
        confirm_window: int = 2000,
        publish_timeout_s: float = 30.0,
    ) -> None:
        self.namespace = namespace
        self._params = [
            connection_parameters(u, ca_file=ca_file, cert_file=cert_file, key_file=key_file,
                                  heartbeat_s=heartbeat_s)
            for u in node_urls(url)
        ]
        self._next_node = 0
        self._window = confirm_window
        self._publish_timeout_s = publish_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._publishers: list[Publisher] = []
        self._lanes: dict[str, Lane] = {}

    # -- connections ----------------------------------------------------------------------
    def _connect(self) -> pika.BlockingConnection:
        """A connection to the first node that answers, starting one node further along the
        list each time: connections spread over the cluster, and a reconnect after a node was
        lost tries the next node first (pika walks the rest of the list in order)."""
        with self._lock:
            k = self._next_node % len(self._params)
            self._next_node += 1
        try:
            return pika.BlockingConnection(self._params[k:] + self._params[:k])
        except Exception as exc:
            raise translate(exc) from exc

    def _publisher(self) -> Publisher:
        pub: Publisher | None = getattr(self._local, "pub", None)
        if pub is None or not pub.is_open():
            pub = Publisher(self._connect(), self._window, self._publish_timeout_s)
            self._local.pub = pub
            with self._lock:
                self._publishers.append(pub)
        return pub

    def _drop_publisher(self) -> None:
        pub: Publisher | None = getattr(self._local, "pub", None)
        self._local.pub = None
        if pub is not None:
            pub.close()

    def _with_publisher(self, fn: Any, *, limit_s: float = 15.0) -> Any:
        """Run ``fn(publisher)``; on a lost connection reconnect with backoff and run it again."""
        for attempt in Retrying(
            retry=retry_if_exception_type(Reconnect),
            wait=wait_random_exponential(multiplier=0.1, max=2.0),
            stop=stop_after_delay(limit_s),
            reraise=True,
        ):
            with attempt:
                try:
                    return fn(self._publisher())
                except Reconnect:
                    self._drop_publisher()
                    raise
                except PublishFailed:
                    # A nack or a missing confirm: the next attempt gets a new connection and
                    # channel. On a cluster, a channel that published to a quorum queue whose
                    # leader died can go on refusing every publish to it (seen on RabbitMQ
                    # 3.10), while a new channel publishes at once.
                    self._drop_publisher()
                    raise
                except px.AMQPError as exc:
                    self._drop_publisher()
                    raise translate(exc) from exc
        raise AssertionError("unreachable")

    # -- Bus ------------------------------------------------------------------------------
    def declare(self, departments: Mapping[str, RetryTiers]) -> None:
        all_lanes = lanes(self.namespace, departments)
        self._with_publisher(partial(declare_topology, all_lanes))
        with self._lock:
            self._lanes.update({ln.queue: ln for ln in all_lanes})

    def publish(self, exchange_kind: ExchangeKind, messages: Sequence[Message]) -> None:
        name = exchange(self.namespace, exchange_kind)
        batch = [(name, m.routing_key, m.body, props_for(m)) for m in messages]
        self._with_publisher(lambda pub: pub.publish(batch))

    def _lane(self, queue: str) -> Lane:
        lane = self._lanes.get(queue)
        if lane is None:
            raise PermanentError(f"queue {queue!r} is not declared by this process; "
                                 "call declare() first", reason=Reason.NOT_DECLARED)
        return lane

    def consume_batch(
        self, queue: str, handler: BatchHandler, *, stop: threading.Event, max_batch: int = 256,
        max_wait_s: float = 0.005, prefetch: int | None = None,
    ) -> None:
        lane = self._lane(queue)
        for attempt in Retrying(
            retry=retry_if_exception_type(Reconnect),
            wait=wait_random_exponential(multiplier=0.2, max=10.0),
            stop=stop_when_event_set(stop),
            reraise=True,
        ):
            with attempt:
                try:
                    self._consume_batch_once(lane, handler, stop, max(1, max_batch), max_wait_s,
                                             max(1, prefetch or max_batch))
                except Reconnect:
                    if stop.is_set():
                        return
                    log.warning("bus connection lost while consuming %s; reconnecting", queue)
                    raise

    def _consume_batch_once(self, lane: Lane, handler: BatchHandler, stop: threading.Event,
                            max_batch: int, max_wait_s: float, prefetch: int) -> None:
        """Collect deliveries on the connection's thread; hand each batch, in arrival order, to
        ONE worker thread (so batches never overtake each other), and start the next batch only
        once the previous one was handled: while it runs, the next one fills up to
        ``max_batch``. Settlements go back through ``add_callback_threadsafe``."""
        conn = self._connect()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"bus-{lane.name}-batch")
        pending: list[tuple[int, Delivery, int]] = []
        first_at = [0.0]
        busy = threading.Event()

        def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
            delivery, tier = delivery_of(lane, method, props, body)
            if not pending:
                first_at[0] = time.monotonic()
            pending.append((method.delivery_tag, delivery, tier))

        try:
            ch = conn.channel()
            ch.basic_qos(prefetch_count=prefetch)
            ch.basic_consume(lane.queue, on_message, auto_ack=False)
            while not stop.is_set():
                wait = 0.1
                if pending and not busy.is_set():
                    due = first_at[0] + max_wait_s - time.monotonic()
                    if len(pending) >= max_batch or due <= 0:
                        batch = pending[:max_batch]
                        del pending[:max_batch]
                        first_at[0] = time.monotonic()
                        busy.set()
                        pool.submit(self._work_batch, conn, ch, lane, batch, handler, stop, busy)
                        continue
                    wait = max(due, 0.0005)
                conn.process_data_events(time_limit=wait)
            deadline = time.monotonic() + 30
            while busy.is_set() and time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.05)
            conn.process_data_events(time_limit=0)  # run the last settlements
        except Exception as exc:
            raise translate(exc) from exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            try:
                if conn.is_open:
                    conn.close()  # unsettled deliveries go back to the queue
            except px.AMQPError:
                pass

    def _work_batch(self, conn: Any, ch: Any, lane: Lane, batch: list[tuple[int, Delivery, int]],
                    handler: BatchHandler, stop: threading.Event, busy: threading.Event) -> None:
        try:
            if stop.is_set():
                return  # not started: closing the channel gives them back to the queue
            fates = run_batch(lane, handler, [(d, tier) for _tag, d, tier in batch])
            settles: list[Any] = []
            for (tag, delivery, _tier), fate in zip(batch, fates, strict=True):
                try:
                    self._settle(lane, delivery, fate)
                    settles.append(partial(ch.basic_ack, tag))
                except TransientError as exc:
                    log.warning("could not park/retry message %s (%s); requeueing",
                                delivery.message.id, exc)
                    settles.append(partial(ch.basic_nack, tag, requeue=True))

            def settle_all() -> None:
                for settle in settles:
                    settle()

            try:
                conn.add_callback_threadsafe(settle_all)
            except Exception:  # connection gone: the broker redelivers
                log.warning("connection closed before settling a batch of %d", len(batch))
        finally:
            busy.clear()

    def _settle(self, lane: Lane, d: Delivery, fate: Settlement) -> None:
        """Carry out a settlement before the ack: republish to a tier queue or the parking lot."""
        if isinstance(fate, Ack):
            return
        if isinstance(fate, Later):
            # An explicit delay is rounded up to the nearest tier queue (TTLs are per queue).
            idx = lane.tier_for_delay(fate.delay_s) if fate.explicit else fate.tier - 1
            props = props_for(d.message, {"x-hub-attempt": d.attempt, "x-hub-tier": fate.tier})
            item = (exchange(self.namespace, "retry"), lane.retry_key(idx), d.message.body, props)
            self._with_publisher(lambda pub: pub.publish([item]))
            return
        extra = {"x-hub-dead-id": uuid.uuid4().hex, "x-hub-reason": fate.reason,
                 "x-hub-detail": fate.detail[:1000], "x-hub-attempts": fate.attempts,
                 "x-hub-dead-at": f"{time.time():.3f}"}
        props = props_for(d.message, extra)
        dead = (exchange(self.namespace, "dead"), lane.name, d.message.body, props)
        self._with_publisher(lambda pub: pub.publish([dead]))

    def stats(self, queue: str) -> QueueStats:
        def depth(pub: Publisher) -> int:
            ch = pub.conn.channel()
            try:
                return int(ch.queue_declare(queue, passive=True).method.message_count)
            finally:
                if ch.is_open:
                    ch.close()

        return QueueStats(int(self._with_publisher(depth)), None)

    def ping(self) -> bool:
        try:
            self._with_publisher(lambda pub: pub.conn.process_data_events(0), limit_s=2.0)
            return True
        except Exception:  # ping answers, it does not raise
            return False

    def close(self) -> None:
        with self._lock:
            pubs, self._publishers = self._publishers, []
        for pub in pubs:
            pub.close()
        self._local = threading.local()


__all__ = ["AmqpBus"]
