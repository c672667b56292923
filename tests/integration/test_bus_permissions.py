"""Least privilege on the real broker: a department worker user, with exactly the exported
permissions, cannot read another department's queue nor publish to dispatch (issue 9)."""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions as px
import pytest

from hub.bus.amqp import AmqpBus
from hub.bus.base import Message
from hub.bus.topology import definitions
from hub.domain.retry import RetryTiers
from tests.support import services

pytestmark = pytest.mark.amqp
DEPTS = {d: RetryTiers() for d in ("social_security", "medical_insurance", "civil_affairs")}


@pytest.fixture
def worker_url(amqp_url: str, namespace: str) -> Iterator[str]:
    """The topology declared by the core, and a medical_insurance worker user in the vhost."""
    core = AmqpBus(amqp_url, namespace)
    core.declare(DEPTS)
    core.close()
    vhost = urllib.parse.unquote(amqp_url.rsplit("/", 1)[1])
    defs = definitions(DEPTS, namespace)
    user = f"hub-worker-medical_insurance-{secrets.token_hex(3)}"
    password = secrets.token_hex(16)
    perm = next(p for p in defs["permissions"] if p["user"] == "hub-worker-medical_insurance")
    services.rabbitmqctl("add_user", user, password)
    try:
        services.rabbitmqctl("set_permissions", "-p", vhost, user, perm["configure"],
                             perm["write"], perm["read"])
        for tp in defs["topic_permissions"]:
            if tp["user"] == "hub-worker-medical_insurance":
                services.rabbitmqctl("set_topic_permissions", "-p", vhost, user,
                                     tp["exchange"], tp["write"], tp["read"])
        yield (f"amqp://{user}:{password}@{services.AMQP_HOST}:{services.AMQP_PORT}/"
               f"{urllib.parse.quote(vhost, safe='')}")
    finally:
        services.rabbitmqctl("delete_user", user)


def _channel(url: str) -> tuple[pika.BlockingConnection, Any]:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.confirm_delivery()
    return conn, ch


def test_worker_cannot_read_other_department_queue(worker_url: str, namespace: str) -> None:
    conn, ch = _channel(worker_url)
    try:
        # its own queue is readable ...
        assert ch.basic_get(f"{namespace}.dept.medical_insurance")[0] is None
        # ... another department's is refused
        with pytest.raises(px.ChannelClosedByBroker) as err:
            ch.basic_get(f"{namespace}.dept.social_security")
        assert err.value.reply_code == 403
    finally:
        conn.close()


def test_worker_cannot_publish_to_dispatch(worker_url: str, namespace: str) -> None:
    conn, ch = _channel(worker_url)
    try:
        # it may publish events ...
        ch.basic_publish(f"{namespace}.events", "leg.submitted", b"{}",
                         pika.BasicProperties(delivery_mode=2), mandatory=True)
        # ... but not work for any department
        with pytest.raises(px.ChannelClosedByBroker) as err:
            ch.basic_publish(f"{namespace}.dispatch", "social_security", b"{}",
                             pika.BasicProperties(delivery_mode=2), mandatory=True)
        assert err.value.reply_code == 403
    finally:
        conn.close()


def test_worker_cannot_inject_into_another_department_via_retry(
    worker_url: str, namespace: str
) -> None:
    conn, ch = _channel(worker_url)
    try:
        with pytest.raises(px.ChannelClosedByBroker) as err:
            ch.basic_publish(f"{namespace}.retry", "social_security.t0", b"{}",
                             pika.BasicProperties(delivery_mode=2), mandatory=True)
        assert err.value.reply_code == 403
    finally:
        conn.close()


def test_worker_bus_declares_passively_and_publishes_events(
        worker_url: str, amqp_url: str, namespace: str) -> None:
    bus = AmqpBus(worker_url, namespace)
    try:
        bus.declare(DEPTS)  # everything exists: passive checks only, no configure right needed
        bus.publish("events", [Message("e1", "leg.submitted", b"{}")])
    finally:
        bus.close()
    # and the event reached the status lane (read with the core's rights)
    conn, ch = _channel(amqp_url)
    try:
        _, props, body = ch.basic_get(f"{namespace}.status", auto_ack=True)
        assert props is not None and props.message_id == "e1" and body == b"{}"
    finally:
        conn.close()
