"""Removing a namespace's topology from RabbitMQ (demo and benchmark clean-up).

Runs with the core user's rights; deletes every queue and exchange the topology of
``namespace`` declares for the given departments (by default those of the configuration).
Used only for throw-away namespaces (``hub demo --bus amqp``, benches, tests).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

import pika

from hub.bus.topology import exchange, lanes
from hub.domain.retry import RetryTiers

log = logging.getLogger("hub.bus.admin")


def configured_tiers() -> dict[str, RetryTiers]:
    """The departments of the configuration (``HUB_CONFIG_DIR`` or the default) and their tiers."""
    from hub.bus.factory import department_tiers
    from hub.config.settings import get_settings

    return dict(department_tiers(get_settings()))


def delete_namespace(url: str, namespace: str,
                     departments: Mapping[str, RetryTiers] | None = None) -> None:
    """Delete the topology declared for ``departments`` (default: the configured ones)."""
    declared = configured_tiers() if departments is None else departments
    try:
        nodes = [pika.URLParameters(u.strip()) for u in url.split(",") if u.strip()]
        conn = pika.BlockingConnection(nodes)
    except Exception:
        log.warning("could not connect to delete namespace %s", namespace)
        return
    try:
        ch = conn.channel()
        for lane in lanes(namespace, declared):
            retry_queues = [lane.retry_queue(t) for t in range(len(lane.tiers.tiers_s))]
            for q in (lane.queue, lane.dead_queue, *retry_queues):
                ch.queue_delete(q)
        for kind in ("dispatch", "events", "retry", "dead"):
            ch.exchange_delete(exchange(namespace, kind))
    except Exception:
        log.warning("deleting namespace %s was incomplete", namespace, exc_info=True)
    finally:
        with contextlib.suppress(Exception):  # clean-up is best effort
            conn.close()
