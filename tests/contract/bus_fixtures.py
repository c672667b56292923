"""Fixtures for the bus contract suite: one parametrised ``bus_env`` for the three buses.

``bus_env.make()`` opens another bus on the same file / vhost / in-memory broker and namespace
(as another process would); ``spec()`` describes it for a child process
(tests/support/bus_crash_child.py), which the in-memory bus cannot serve.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hub.bus.base import Bus, Delivery, Outcome, outcome_for_exception
from hub.bus.memory import MemoryBroker
from hub.domain.retry import RetryTiers

FAST = RetryTiers(tiers_s=(0.3, 0.6), delivery_limit=5)


@dataclass
class BusEnv:
    kind: str
    target: str  # amqp URL, SQLite path, or "" (in-memory)
    namespace: str
    opened: list[Bus] = field(default_factory=list)
    declared: dict[str, RetryTiers] = field(default_factory=dict)
    broker: MemoryBroker = field(default_factory=MemoryBroker)

    def make(self, departments: Mapping[str, RetryTiers] | None = None) -> Bus:
        bus: Bus
        if self.kind == "amqp":
            from hub.bus.amqp import AmqpBus

            bus = AmqpBus(self.target, self.namespace)
        elif self.kind == "memory":
            from hub.bus.memory import MemoryBus

            bus = MemoryBus(self.namespace, broker=self.broker, poll_s=0.02)
        else:
            from hub.bus.embedded import EmbeddedBus

            bus = EmbeddedBus(Path(self.target), self.namespace, lease_s=1.0, poll_s=0.02)
        self.opened.append(bus)
        departments = departments or {"alpha": FAST, "beta": FAST}
        bus.declare(departments)
        self.declared.update(departments)
        return bus

    def spec(self, departments: Mapping[str, RetryTiers]) -> str:
        if self.kind == "memory":
            pytest.skip("the in-memory bus lives in one process: no other process can consume "
                        "from it, so a consumer process cannot be killed")
        return json.dumps({
            "kind": self.kind, "target": self.target, "namespace": self.namespace,
            "departments": {d: [list(t.tiers_s), t.delivery_limit] for d, t in departments.items()},
        })

    def queue(self, department: str) -> str:
        return f"{self.namespace}.dept.{department}"


@pytest.fixture(params=["embedded", "amqp", "memory"])
def bus_env(request: pytest.FixtureRequest, tmp_path: Path, namespace: str) -> Iterator[BusEnv]:
    if request.param == "amqp":
        url = request.getfixturevalue("amqp_url")
        env = BusEnv("amqp", url, namespace)
    elif request.param == "memory":
        env = BusEnv("memory", "", namespace)
    else:
        env = BusEnv("embedded", str(tmp_path / "bus.db"), namespace)
    yield env
    for bus in env.opened:
        bus.close()
    if env.kind == "amqp" and env.declared:
        from hub.bus.admin import delete_namespace

        delete_namespace(env.target, namespace, env.declared)


def one_at_a_time(handler: Callable[[Delivery], Outcome]) -> Callable[[Sequence[Delivery]],
                                                                       list[Outcome]]:
    """A batch handler answering each delivery by ``handler`` (its exception decides that one
    delivery's fate), for stories told one message at a time."""
    def batch(deliveries: Sequence[Delivery]) -> list[Outcome]:
        out: list[Outcome] = []
        for d in deliveries:
            try:
                out.append(handler(d))
            except Exception as exc:
                out.append(outcome_for_exception(exc))
        return out

    return batch


@contextmanager
def consuming(bus: Bus, queue: str, handler: Callable[[Delivery], Outcome],
              max_batch: int = 16) -> Iterator[None]:
    """Run ``bus.consume_batch`` on a thread for the duration of the block, handing each delivery
    to ``handler``; re-raise the consumer's errors."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            bus.consume_batch(queue, one_at_a_time(handler), stop=stop, max_batch=max_batch)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=20)
    assert not t.is_alive(), "consumer did not stop"
    if errors:
        raise errors[0]


def eventually(pred: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
