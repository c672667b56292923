"""Removing a namespace's topology from RabbitMQ (demo and benchmark clean-up).

Runs with the core user's rights; deletes every queue and exchange the topology of
``namespace`` declares. Used only for throw-away namespaces (``hub demo --bus amqp``, benches).
"""

from __future__ import annotations

import contextlib
import logging

import pika

from hub.bus.base import RetryTiers
from hub.bus.topology import exchange, lanes

log = logging.getLogger("hub.bus.admin")


def delete_namespace(url: str, namespace: str, departments: tuple[str, ...] = (
        "social_security", "medical_insurance", "civil_affairs")) -> None:
    try:
        nodes = [pika.URLParameters(u.strip()) for u in url.split(",") if u.strip()]
        conn = pika.BlockingConnection(nodes)
    except Exception:
        log.warning("could not connect to delete namespace %s", namespace)
        return
    try:
        ch = conn.channel()
        for lane in lanes(namespace, {d: RetryTiers() for d in departments}):
            names = [lane.queue, lane.dead_queue,
                     *(lane.retry_queue(t) for t in range(len(lane.tiers.tiers_s)))]
            for q in names:
                ch.queue_delete(q)
        for kind in ("dispatch", "events", "retry", "dead"):
            ch.exchange_delete(exchange(namespace, kind))
    except Exception:
        log.warning("deleting namespace %s was incomplete", namespace, exc_info=True)
    finally:
        with contextlib.suppress(Exception):  # clean-up is best effort
            conn.close()
