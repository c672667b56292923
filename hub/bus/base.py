"""The one ``Bus`` protocol every part of the hub talks to, and its value types.

Three implementations honour it and are run through one contract suite
(``tests/contract/test_bus_contract.py``): ``AmqpBus`` (RabbitMQ via pika; production, several
machines), ``EmbeddedBus`` (SQLite; the default on one machine) and ``MemoryBus`` (one process,
for tests). All three settle deliveries by the same rules (``hub.bus.settle``).

Topology (``namespace`` defaults to ``hub``; tests use a fresh one per test):

    {ns}.dispatch  direct exchange, routing key = department  -> queue {ns}.dept.{department}
    {ns}.events    topic exchange, routing key = leg event kind -> queue {ns}.status (tracker)
    {ns}.retry     per-department delay tiers, dead-lettered back to the work queue
    {ns}.dead      per-department parking lot {ns}.dept.{department}.dead (never expires)

Guarantees: ``publish`` returns only once every message is durably accepted (confirmed); an
unroutable message raises. ``consume_batch`` hands batches of deliveries to the handler and
settles each by its returned ``Outcome`` (or the exception raised): ``Ack`` after the effect,
``Retry`` through the delay tiers, ``Dead`` to the parking lot with the reason. Delivery is
at-least-once: handlers deduplicate by ``Message.id``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from hub.domain.errors import PermanentError, TransientError
from hub.domain.reasons import Reason
from hub.domain.retry import RetryTiers

_log = logging.getLogger("hub.bus")

ExchangeKind = Literal["dispatch", "events"]


@dataclass(frozen=True)
class Message:
    id: str
    routing_key: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    message: Message
    queue: str
    attempt: int  # 1 on first delivery; counts redeliveries and delayed retries
    tier: int = 0  # retry tiers used so far (hub.bus.budget.RetryBudget decides with it)


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Retry:
    reason: str
    delay_s: float | None = None  # None: the next tier of the department's retry policy


@dataclass(frozen=True)
class Dead:
    reason: Reason
    detail: str = ""


Outcome = Ack | Retry | Dead
# One outcome per delivery, in the same order; raising settles every delivery of the batch
# by ``outcome_for_exception``.
BatchHandler = Callable[[Sequence[Delivery]], Sequence[Outcome]]


@dataclass(frozen=True)
class DeadLetter:
    id: str  # the bus's handle for this dead letter (for show / replay / purge)
    department: str
    message: Message
    reason: str
    detail: str
    attempts: int
    dead_at: float  # unix time


@dataclass(frozen=True)
class QueueStats:
    depth: int
    oldest_age_s: float | None


class Bus(Protocol):
    namespace: str

    def declare(self, departments: Mapping[str, RetryTiers]) -> None:
        """Create (idempotently) the exchanges and queues for these departments."""

    def publish(self, exchange: ExchangeKind, messages: Sequence[Message]) -> None:
        """Publish durably; returns once all are confirmed. Raises on unroutable or nack."""

    def consume_batch(
        self,
        queue: str,
        handler: BatchHandler,
        *,
        stop: threading.Event,
        max_batch: int = 256,
        max_wait_s: float = 0.005,
        prefetch: int | None = None,
    ) -> None:
        """Deliver messages of ``queue`` to ``handler``, up to ``max_batch`` at once, until
        ``stop`` is set (the one consumption path of every bus).

        A batch is what arrived within ``max_wait_s`` of its first delivery (or what is ready,
        for the embedded bus), in queue order; batches are handled one at a time, in order, on
        one thread. Each delivery is settled by its own outcome, after the handler returned,
        by the rules of ``hub.bus.settle`` (a delivery past the delivery limit is parked without
        reaching the handler). ``prefetch``
        (default ``max_batch``) bounds the unsettled deliveries held by this consumer.
        """

    def dead_letters(self, department: str | None = None) -> list[DeadLetter]: ...

    def replay(self, dead_letter_ids: Sequence[str]) -> int:
        """Send dead letters back through the normal path; returns how many were replayed."""

    def purge_dead(self, dead_letter_ids: Sequence[str]) -> int: ...

    def stats(self, queue: str) -> QueueStats: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


def dept_queue(namespace: str, department: str) -> str:
    return f"{namespace}.dept.{department}"


def dead_queue(namespace: str, department: str) -> str:
    return f"{namespace}.dept.{department}.dead"


def status_queue(namespace: str) -> str:
    return f"{namespace}.status"


# --- errors and the fate of a failed handler ---------------------------------------------------


class UnroutableError(PermanentError):
    """A published message matched no queue (AMQP basic.return / no embedded binding)."""

    def __init__(self, message: str, *, message_ids: Sequence[str] = ()) -> None:
        super().__init__(message, reason=Reason.UNROUTABLE)
        self.message_ids = tuple(message_ids)


class PublishFailed(TransientError):
    """The bus did not confirm a publish (nack, lost connection, timeout); retry may succeed."""


# Header names the buses add to messages on the wire; stripped before handlers see a Message.
INTERNAL_HEADER_PREFIX = "x-hub-"


def outcome_for_exception(exc: BaseException) -> Outcome:
    """The fate of a message whose handler raised ``exc`` (the one place this is decided).

    ``PermanentError`` (including ``MalformedMessage``) dead-letters at once with its reason;
    ``TransientError`` and any other ``Exception`` retry later through the tiers, bounded by the
    delivery limit.
    """
    if isinstance(exc, PermanentError):
        return Dead(exc.reason, f"{type(exc).__name__}: {exc}"[:500])
    if isinstance(exc, TransientError):
        return Retry(f"{type(exc).__name__}: {exc}"[:500], exc.retry_after_s)
    return Retry(f"unexpected {type(exc).__name__}: {exc}"[:500])


def batch_outcomes(handler: BatchHandler, deliveries: Sequence[Delivery],
                   queue: str) -> list[Outcome]:
    """Run a batch handler; one outcome per delivery, or the exception's fate for all of them.

    A handler answering the wrong number of outcomes is a bug: every delivery retries."""
    try:
        outcomes = list(handler(deliveries))
        if len(outcomes) != len(deliveries):
            raise RuntimeError(f"batch handler answered {len(outcomes)} outcomes for "
                               f"{len(deliveries)} deliveries")
        return outcomes
    except Exception as exc:
        if not isinstance(exc, TransientError | PermanentError):
            _log.exception("batch handler failed on %d message(s) of %s", len(deliveries), queue)
        fate = outcome_for_exception(exc)
        return [fate] * len(deliveries)
