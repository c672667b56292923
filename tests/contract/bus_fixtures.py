"""Fixtures for the bus contract suite: one parametrised ``bus_env`` for both buses.

``bus_env.make()`` opens another bus on the same file / vhost and namespace (as another
process would); ``spec()`` describes it for a child process (tests/support/bus_crash_child.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hub.bus.base import Bus, Handler
from hub.domain.retry import RetryTiers

FAST = RetryTiers(tiers_s=(0.3, 0.6), delivery_limit=5)


@dataclass
class BusEnv:
    kind: str
    target: str  # amqp URL or SQLite path
    namespace: str
    opened: list[Bus] = field(default_factory=list)

    def make(self, departments: Mapping[str, RetryTiers] | None = None) -> Bus:
        bus: Bus
        if self.kind == "amqp":
            from hub.bus.amqp import AmqpBus

            bus = AmqpBus(self.target, self.namespace)
        else:
            from hub.bus.embedded import EmbeddedBus

            bus = EmbeddedBus(Path(self.target), self.namespace, lease_s=1.0, poll_s=0.02)
        self.opened.append(bus)
        bus.declare(departments or {"alpha": FAST, "beta": FAST})
        return bus

    def spec(self, departments: Mapping[str, RetryTiers]) -> str:
        return json.dumps({
            "kind": self.kind, "target": self.target, "namespace": self.namespace,
            "departments": {d: [list(t.tiers_s), t.delivery_limit] for d, t in departments.items()},
        })

    def queue(self, department: str) -> str:
        return f"{self.namespace}.dept.{department}"


@pytest.fixture(params=["embedded", "amqp"])
def bus_env(request: pytest.FixtureRequest, tmp_path: Path, namespace: str) -> Iterator[BusEnv]:
    if request.param == "amqp":
        url = request.getfixturevalue("amqp_url")
        env = BusEnv("amqp", url, namespace)
    else:
        env = BusEnv("embedded", str(tmp_path / "bus.db"), namespace)
    yield env
    for bus in env.opened:
        bus.close()


@contextmanager
def consuming(bus: Bus, queue: str, handler: Handler, prefetch: int = 16) -> Iterator[None]:
    """Run ``bus.consume`` on a thread for the duration of the block; re-raise its errors."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            bus.consume(queue, handler, stop=stop, prefetch=prefetch)
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
