"""The bus topology, declared once and shared by both buses and the RabbitMQ definitions export.

A *lane* is one consumable work queue with its retry tiers and parking lot: one per department
plus the status lane (``{ns}.status``, fed by ``{ns}.events``).

    {ns}.dispatch  direct  routing key = department    -> {ns}.dept.{dept}        (quorum)
    {ns}.events    topic   '#'                         -> {ns}.status             (quorum)
    {ns}.retry     topic   '{lane}.t{i}'               -> {ns}.retry.{lane}.t{i}  (TTL = tier,
                           dead-lettered through the default exchange back to the lane's queue)
    {ns}.dead      topic   '{lane}'                    -> {lane}'s parking lot    (quorum, never
                           expires)

Every queue is a quorum queue: on a cluster each is replicated on (by default) every node, up to
the broker's initial group size; losing a minority of nodes loses no message.

Retry and dead exchanges are *topic* exchanges on purpose: RabbitMQ topic permissions can then
restrict a department's worker to routing keys of its own lane, so it cannot inject work into
another department through the retry path (issue 9, least privilege).

``definitions()`` renders the same topology plus per-department users as RabbitMQ definitions
JSON (``rabbitmqctl import_definitions``). Password hashes are left empty for the deployer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.bus.base import dead_queue, dept_queue, status_queue
from hub.bus.budget import RetryBudget
from hub.domain.retry import RetryTiers

STATUS_LANE = "status"
DEFAULT_DEPARTMENTS = ("social_security", "medical_insurance", "civil_affairs")


@dataclass(frozen=True)
class Lane:
    namespace: str
    name: str  # department name, or "status"
    tiers: RetryTiers

    @property
    def is_status(self) -> bool:
        return self.name == STATUS_LANE

    @property
    def queue(self) -> str:
        if self.is_status:
            return status_queue(self.namespace)
        return dept_queue(self.namespace, self.name)

    @property
    def dead_queue(self) -> str:
        if self.is_status:
            return f"{status_queue(self.namespace)}.dead"
        return dead_queue(self.namespace, self.name)

    def retry_key(self, tier: int) -> str:
        return f"{self.name}.t{tier}"

    def retry_queue(self, tier: int) -> str:
        return f"{self.namespace}.retry.{self.name}.t{tier}"

    def next_retry(self, tier: int, delay_s: float | None) -> tuple[float, int] | None:
        """(delay, next tier) for a ``Retry`` at ``tier``; ``None`` once the tiers are used up.

        The rule is ``hub.bus.budget.RetryBudget.plan`` (the one the worker decides with).
        """
        return RetryBudget(self.tiers).plan(tier, delay_s)

    def tier_for_delay(self, delay_s: float) -> int:
        """The first tier at least ``delay_s`` long (the last one if none is)."""
        for i, t in enumerate(self.tiers.tiers_s):
            if t >= delay_s:
                return i
        return len(self.tiers.tiers_s) - 1


def exchange(namespace: str, kind: str) -> str:
    return f"{namespace}.{kind}"


def lanes(
    namespace: str, departments: Mapping[str, RetryTiers], status: RetryTiers | None = None
) -> list[Lane]:
    """Department lanes plus the status lane; rejects a department named like the status lane."""
    if STATUS_LANE in departments:
        raise ValueError(f"department name {STATUS_LANE!r} is reserved for the status lane")
    out = [Lane(namespace, d, t) for d, t in sorted(departments.items())]
    out.append(Lane(namespace, STATUS_LANE, status or RetryTiers()))
    return out


# Members per quorum queue on a cluster (capped by the broker at the nodes it has): three
# survive the loss of one node; more would only add write amplification.
REPLICAS = 3


def work_queue_arguments(lane: Lane) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-quorum-initial-group-size": REPLICAS,
        "x-delivery-limit": lane.tiers.delivery_limit,
        "x-dead-letter-exchange": exchange(lane.namespace, "dead"),
        "x-dead-letter-routing-key": lane.name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def retry_queue_arguments(lane: Lane, tier: int) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-quorum-initial-group-size": REPLICAS,
        "x-message-ttl": int(lane.tiers.tiers_s[tier] * 1000),
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": lane.queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


# Parking lots are quorum queues too (replicated like the lanes they serve: a node that dies
# takes no dead letters with it). They never expire and have no length limit, so a dead letter
# stays until an operator replays or purges it. Their delivery limit is set, not left to the
# broker's default (RabbitMQ 4 defaults to 20, and a parking lot has no dead-letter exchange,
# so the 21st listing would drop the message): every listing (``hub bus dead``) returns each
# dead letter once, and 2**31 - 1 listings are out of reach. No "-1" (unlimited): RabbitMQ
# 3.x rejects it, and the same definitions must load on both.
PARKING_DELIVERY_LIMIT = 2**31 - 1
PARKING_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum", "x-quorum-initial-group-size": REPLICAS,
                                     "x-delivery-limit": PARKING_DELIVERY_LIMIT}


def _rx(name: str) -> str:
    return "^" + re.escape(name) + "$"


def _users(namespace: str, all_lanes: list[Lane]) -> tuple[list[Any], list[Any], list[Any]]:
    users: list[dict[str, Any]] = []
    perms: list[dict[str, Any]] = []
    topic: list[dict[str, Any]] = []
    note = "password_hash is filled at deploy time from the environment; never commit it"
    ns = re.escape(namespace)
    users.append({"name": "hub-core", "password_hash": "", "hashing_algorithm":
                  "rabbit_password_hashing_sha256", "tags": "", "_note": note})
    perms.append({"user": "hub-core", "vhost": "/", "configure": f"^{ns}\\..*",
                  "write": f"^{ns}\\..*", "read": f"^{ns}\\..*"})
    for lane in all_lanes:
        if lane.is_status:
            continue
        user = f"hub-worker-{lane.name}"
        users.append({"name": user, "password_hash": "", "hashing_algorithm":
                      "rabbit_password_hashing_sha256", "tags": "", "_note": note})
        perms.append({
            "user": user, "vhost": "/",
            # Passive declares only: the core (or this import) creates the topology.
            "configure": "^$",
            # Publish: events, and its own lane's retry and dead paths (keys checked below).
            "write": "|".join(_rx(exchange(namespace, k)) for k in ("events", "retry", "dead")),
            "read": _rx(lane.queue),
        })
        for kind, key in (("retry", f"^{re.escape(lane.name)}\\.t[0-9]+$"),
                          ("dead", _rx(lane.name)), ("events", ".*")):
            topic.append({"user": user, "vhost": "/", "exchange": exchange(namespace, kind),
                          "write": key, "read": "^$"})
    return users, perms, topic


def definitions(departments: Mapping[str, RetryTiers], namespace: str = "hub") -> dict[str, Any]:
    """RabbitMQ definitions JSON for this topology (deterministic: sorted, no timestamps)."""
    all_lanes = lanes(namespace, departments)
    exchanges = [
        {"name": exchange(namespace, k), "vhost": "/", "type": t, "durable": True,
         "auto_delete": False, "internal": False, "arguments": {}}
        for k, t in (("dispatch", "direct"), ("events", "topic"), ("retry", "topic"),
                     ("dead", "topic"))
    ]
    queues: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []

    def q(name: str, args: dict[str, Any]) -> None:
        queues.append({"name": name, "vhost": "/", "durable": True, "auto_delete": False,
                       "arguments": args})

    def b(src: str, dest: str, key: str) -> None:
        bindings.append({"source": src, "vhost": "/", "destination": dest,
                         "destination_type": "queue", "routing_key": key, "arguments": {}})

    for lane in all_lanes:
        q(lane.queue, work_queue_arguments(lane))
        q(lane.dead_queue, dict(PARKING_ARGUMENTS))
        if lane.is_status:
            b(exchange(namespace, "events"), lane.queue, "#")
        else:
            b(exchange(namespace, "dispatch"), lane.queue, lane.name)
        b(exchange(namespace, "dead"), lane.dead_queue, lane.name)
        for i in range(len(lane.tiers.tiers_s)):
            q(lane.retry_queue(i), retry_queue_arguments(lane, i))
            b(exchange(namespace, "retry"), lane.retry_queue(i), lane.retry_key(i))
    users, perms, topic = _users(namespace, all_lanes)
    return {
        "_note": "generated by `hub topology export`; fill password_hash from the environment",
        "vhosts": [{"name": "/"}],
        "users": users,
        "permissions": perms,
        "topic_permissions": topic,
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
        "policies": [],
    }
