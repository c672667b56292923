"""Wire details of the AMQP bus: the pipelined confirming publisher and header (de)coding.

``Publisher`` owns one connection (one thread) and one channel in confirm mode. It drives
pika's channel implementation directly so that many publishes are in flight at once and their
``basic.ack``/``basic.nack``/``basic.return`` are tallied as they arrive (pika's
``BlockingChannel.confirm_delivery`` would wait one round trip per message). RabbitMQ sends a
``basic.return`` before the ack of the same message, so once every tag is settled the returned
set is complete.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import pika
import pika.exceptions as px
from pika.spec import Basic

from hub.bus.base import (
    INTERNAL_HEADER_PREFIX,
    DeadLetter,
    Delivery,
    Message,
    PublishFailed,
    UnroutableError,
)
from hub.bus.topology import Lane

log = logging.getLogger(__name__)

# (exchange, routing key, body, properties)
Item = tuple[str, str, bytes, pika.BasicProperties]

_BROKER_HEADERS = ("x-death", "x-delivery-count", "x-first-death", "x-last-death")


def props_for(m: Message, extra: dict[str, Any] | None = None) -> pika.BasicProperties:
    headers: dict[str, Any] = dict(m.headers)
    headers.setdefault(INTERNAL_HEADER_PREFIX + "routing-key", m.routing_key)
    headers.update(extra or {})
    return pika.BasicProperties(
        message_id=m.id, delivery_mode=pika.DeliveryMode.Persistent, headers=headers
    )


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _user_headers(h: dict[str, Any]) -> dict[str, str]:
    return {k: _text(v) for k, v in h.items()
            if not k.startswith(INTERNAL_HEADER_PREFIX) and not k.startswith(_BROKER_HEADERS)}


def _message(props: Any, body: bytes, fallback_rk: str) -> tuple[Message, dict[str, Any]]:
    h: dict[str, Any] = dict(props.headers or {})
    rk = _text(h.get(INTERNAL_HEADER_PREFIX + "routing-key", fallback_rk))
    return Message(_text(props.message_id or ""), rk, body, _user_headers(h)), h


def delivery_of(lane: Lane, method: Any, props: Any, body: bytes) -> tuple[Delivery, int]:
    """The handler's view of a delivery, and the retry tier it has reached."""
    msg, h = _message(props, body, method.routing_key)
    before = int(h.get(INTERNAL_HEADER_PREFIX + "attempt", 0))
    returned = int(h.get("x-delivery-count", 0))  # quorum queue: earlier deliveries given back
    tier = int(h.get(INTERNAL_HEADER_PREFIX + "tier", 0))
    return Delivery(msg, lane.queue, before + returned + 1, tier), tier


def dead_letter_of(lane: Lane, props: Any, body: bytes) -> DeadLetter:
    msg, h = _message(props, body, lane.name)
    p = INTERNAL_HEADER_PREFIX
    if p + "dead-id" in h:
        return DeadLetter(_text(h[p + "dead-id"]), lane.name, msg, _text(h[p + "reason"]),
                          _text(h.get(p + "detail", "")), int(h.get(p + "attempts", 0)),
                          float(h.get(p + "dead-at", 0.0)))
    # Dead-lettered by the broker itself (quorum delivery limit): facts come from x-death.
    deaths = h.get("x-death") or [{}]
    first = deaths[0]
    when = first.get("time")
    dead_at = when.timestamp() if hasattr(when, "timestamp") else 0.0
    reason = _text(h.get("x-first-death-reason", first.get("reason", "broker")))
    attempts = int(h.get("x-delivery-count", 0)) + int(h.get(p + "attempt", 0))
    dead_id = f"b-{msg.id}-{int(dead_at)}"
    return DeadLetter(dead_id, lane.name, msg, reason.replace("-", "_"), "dead-lettered by broker",
                      attempts, dead_at)


class Publisher:
    def __init__(self, conn: pika.BlockingConnection, window: int, timeout_s: float) -> None:
        self.conn = conn
        self.window = max(1, window)
        self.timeout_s = timeout_s
        self._ch = conn.channel()
        self._impl = self._ch._impl  # the asynchronous channel under the blocking facade
        self._pending: OrderedDict[int, str] = OrderedDict()
        self._next = 1
        self._nacked: list[str] = []
        self._returned: list[str] = []
        ready: list[bool] = []
        self._impl.confirm_delivery(ack_nack_callback=self._on_confirm,
                                    callback=lambda _frame: ready.append(True))
        self._impl.add_on_return_callback(self._on_return)
        self._pump(lambda: bool(ready))

    def is_open(self) -> bool:
        return bool(self.conn.is_open and self._ch.is_open)

    def _on_confirm(self, frame: Any) -> None:
        m = frame.method
        tags = [t for t in self._pending if t <= m.delivery_tag] if m.multiple else (
            [m.delivery_tag] if m.delivery_tag in self._pending else [])
        for t in tags:
            mid = self._pending.pop(t)
            if isinstance(m, Basic.Nack):
                self._nacked.append(mid)

    def _on_return(self, _ch: Any, _method: Any, props: Any, _body: bytes) -> None:
        self._returned.append(_text(props.message_id or "?"))

    def _pump(self, done: Any) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not done():
            if self._ch.is_closed:
                reason = self._ch._closing_reason
                if isinstance(reason, px.ChannelClosedByBroker) and reason.reply_code == 404:
                    raise UnroutableError(f"no such exchange: {reason.reply_text}")
                raise px.ChannelWrongStateError(f"publisher channel closed: {reason!r}")
            if time.monotonic() > deadline:
                raise PublishFailed(f"{len(self._pending)} publish(es) not confirmed in time")
            self.conn.process_data_events(time_limit=0.005)

    def publish(self, items: Sequence[Item]) -> None:
        """Publish all, keeping at most ``window`` unconfirmed; return once all are confirmed."""
        self._nacked.clear()
        self._returned.clear()
        for exchange, rk, body, props in items:
            self._impl.basic_publish(exchange, rk, body, props, mandatory=True)
            self._pending[self._next] = props.message_id or "?"
            self._next += 1
            if len(self._pending) >= self.window:
                self._pump(lambda: len(self._pending) < self.window // 2 + 1)
        self._pump(lambda: not self._pending)
        if self._returned:
            raise UnroutableError(f"{len(self._returned)} message(s) matched no queue",
                                  message_ids=self._returned)
        if self._nacked:
            raise PublishFailed(f"broker refused {len(self._nacked)} message(s) (nack)")

    def close(self) -> None:
        try:
            if self.conn.is_open:
                self.conn.close()
        except Exception:  # closing is best effort
            log.debug("closing a publisher connection failed", exc_info=True)
