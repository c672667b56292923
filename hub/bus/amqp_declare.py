"""Declaring the bus topology on RabbitMQ (``hub.bus.topology``), least privilege first.

Passive checks come first, so a user that may not configure (a department worker's) still
starts when the topology exists; whatever is missing is then created. A queue or exchange
that exists with other arguments stops with ``topology_mismatch``.
"""

from __future__ import annotations

import pika.exceptions as px

from hub.bus._amqp_wire import Publisher
from hub.bus.amqp_connect import translate
from hub.bus.topology import (
    PARKING_ARGUMENTS,
    Lane,
    exchange,
    retry_queue_arguments,
    work_queue_arguments,
)
from hub.domain.errors import PermanentError
from hub.domain.reasons import Reason

__all__ = ["declare_topology"]


def declare_topology(all_lanes: list[Lane], pub: Publisher) -> None:
    """Passive checks first (a least-privilege user may not configure); create what is missing."""
    ns = all_lanes[0].namespace
    names = [ln.queue for ln in all_lanes] + [ln.dead_queue for ln in all_lanes]
    ch = pub.conn.channel()
    try:
        for kind in ("dispatch", "events", "retry", "dead"):
            ch.exchange_declare(exchange(ns, kind), passive=True)
        for q in names:
            ch.queue_declare(q, passive=True)
        ch.close()
        return
    except px.ChannelClosedByBroker as exc:
        if exc.reply_code != 404:
            raise translate(exc) from exc
    try:
        ch = pub.conn.channel()
        for kind, typ in (("dispatch", "direct"), ("events", "topic"), ("retry", "topic"),
                          ("dead", "topic")):
            ch.exchange_declare(exchange(ns, kind), typ, durable=True)
        for ln in all_lanes:
            ch.queue_declare(ln.queue, durable=True, arguments=work_queue_arguments(ln))
            ch.queue_declare(ln.dead_queue, durable=True, arguments=dict(PARKING_ARGUMENTS))
            src = (exchange(ns, "events"), "#") if ln.is_status else (
                exchange(ns, "dispatch"), ln.name)
            ch.queue_bind(ln.queue, src[0], routing_key=src[1])
            ch.queue_bind(ln.dead_queue, exchange(ns, "dead"), routing_key=ln.name)
            for i in range(len(ln.tiers.tiers_s)):
                ch.queue_declare(ln.retry_queue(i), durable=True,
                                 arguments=retry_queue_arguments(ln, i))
                ch.queue_bind(ln.retry_queue(i), exchange(ns, "retry"),
                              routing_key=ln.retry_key(i))
        ch.close()
    except px.ChannelClosedByBroker as exc:
        if exc.reply_code == 406:
            raise PermanentError(f"existing queue or exchange differs from the declared "
                                 f"topology: {exc.reply_text}", reason=Reason.TOPOLOGY_MISMATCH) from exc
        raise translate(exc) from exc
