"""The AMQP bus takes a list of broker nodes and uses whichever answers; every queue it declares
is a quorum queue, the parking lots included, and a dead letter parked there survives being
listed many times.

The list's other "node" is a loopback port nobody listens on (a node that is down); the live
one is the machine's broker (a fresh vhost). The three-node cluster scenario is
tests/faults/test_cluster.py.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator

import pytest

from hub.bus.amqp import AmqpBus
from hub.bus.amqp_connect import node_urls
from hub.bus.base import Dead, Delivery, Message, RetryTiers, dead_queue, dept_queue
from hub.domain.errors import PermanentError
from tests.support.services import free_port, rabbitmqctl

DEPTS = {"social_security": RetryTiers(tiers_s=(0.3,), delivery_limit=5)}


def down_node(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=f"guest:guest@127.0.0.1:{free_port()}").geturl()


@pytest.fixture
def nodes(amqp_url: str) -> list[str]:
    return [down_node(amqp_url), amqp_url, down_node(amqp_url)]


@pytest.fixture
def bus(nodes: list[str], namespace: str) -> Iterator[AmqpBus]:
    b = AmqpBus(",".join(nodes), namespace)
    yield b
    b.close()


def test_node_list_parses_and_refuses_an_empty_one() -> None:
    assert node_urls(" amqp://a/%2F , amqp://b/%2F,") == ["amqp://a/%2F", "amqp://b/%2F"]
    with pytest.raises(PermanentError):
        node_urls(" , ")


@pytest.mark.amqp
def test_publishes_through_whichever_node_answers(bus: AmqpBus, nodes: list[str],
                                                   namespace: str) -> None:
    # given a node list whose first and last nodes are down
    bus.declare(DEPTS)
    queue = dept_queue(namespace, "social_security")
    # when processes publish, each with its own connection
    for i in range(4):
        other = AmqpBus(",".join(nodes), namespace)
        try:
            other.publish("dispatch", [Message(id=f"m{i}", routing_key="social_security",
                                               body=b"{}")])
        finally:
            other.close()
    # then every message arrived through the live node
    assert bus.stats(queue).depth == 4
    assert bus.ping()
    # and with no live node in the list the bus says so instead of hanging
    dead = AmqpBus(",".join([nodes[0], nodes[2]]), namespace)
    assert not dead.ping()
    dead.close()


@pytest.mark.amqp
def test_every_declared_queue_is_quorum_with_parking_lots_that_keep_dead_letters(
        bus: AmqpBus, namespace: str, amqp_url: str) -> None:
    bus.declare(DEPTS)
    vhost = urllib.parse.unquote(urllib.parse.urlsplit(amqp_url).path[1:])
    rows = rabbitmqctl("list_queues", "-p", vhost, "name", "type", "--formatter", "json")
    types = {r["name"]: r["type"] for r in json.loads(rows) if r["name"].startswith(namespace)}
    assert types and set(types.values()) == {"quorum"}, types
    assert types[dead_queue(namespace, "social_security")] == "quorum"
    # given a dead letter in the parking lot
    bus.publish("dispatch", [Message(id="d1", routing_key="social_security", body=b"{}")])
    parked: list[str] = []

    def refuse(d: Delivery) -> Dead:
        parked.append(d.message.id)
        return Dead("rejected", "refused for the test")

    stop = threading.Event()
    def refuse_all(ds: list[Delivery]) -> list[Dead]:
        return [refuse(d) for d in ds]

    t = threading.Thread(target=bus.consume_batch,
                         args=(dept_queue(namespace, "social_security"), refuse_all),
                         kwargs={"stop": stop})
    t.start()
    try:
        for _ in range(100):
            if bus.dead_letters():
                break
            stop.wait(0.1)
    finally:
        stop.set()
        t.join(30)
    # when an operator lists the parking lot more often than RabbitMQ 4's default quorum
    # delivery limit (20) would allow
    for _ in range(25):
        listed = bus.dead_letters()
    # then the dead letter is still there
    assert [d.message.id for d in listed] == ["d1"]
