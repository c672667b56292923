"""The bus contract: the same tests against the embedded SQLite bus, RabbitMQ and the in-memory bus.

Each test is a short story (given / when / then) about behaviour a user of the bus notices:
nothing lost, failures retried on schedule, the undeliverable parked with its reason.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.bus.base import (
    Ack,
    BatchHandler,
    Bus,
    Dead,
    Delivery,
    Message,
    Outcome,
    Retry,
    UnroutableError,
)
from hub.domain.errors import MalformedMessage
from hub.domain.retry import RetryTiers
from hub.outbox.relay import OutboxRow, Relay
from tests.contract.bus_fixtures import FAST, BusEnv, bus_env, consuming, eventually
from tests.support import services

__all__ = ["bus_env"]
REPO = Path(__file__).resolve().parents[2]


def msgs(n: int, dept: str = "alpha", prefix: str = "m") -> list[Message]:
    return [Message(f"{prefix}{i}", dept, json.dumps({"n": i}).encode(), {"case": f"c{i}"})
            for i in range(n)]


class Recorder:
    """A handler that records deliveries and answers with ``decide(delivery)``."""

    def __init__(self, decide=lambda d: Ack()) -> None:  # type: ignore[no-untyped-def]
        self.decide = decide
        self.seen: list[tuple[str, int, float]] = []
        self.lock = threading.Lock()

    def __call__(self, d: Delivery) -> Outcome:
        with self.lock:
            self.seen.append((d.message.id, d.attempt, time.monotonic()))
        result: Outcome = self.decide(d)
        return result

    def ids(self) -> set[str]:
        with self.lock:
            return {s[0] for s in self.seen}


class TestBusContract:
    def test_published_messages_are_delivered_once_and_acked(self, bus_env: BusEnv) -> None:
        # given a bus with two departments and 50 messages for alpha, 5 for beta
        bus = bus_env.make()
        bus.publish("dispatch", msgs(50))
        bus.publish("dispatch", msgs(5, "beta", "b"))
        rec = Recorder()
        # when alpha's queue is consumed
        with consuming(bus, bus_env.queue("alpha"), rec):
            eventually(lambda: len(rec.seen) >= 50, what="50 deliveries")
            time.sleep(0.3)
        # then each alpha message arrived exactly once, first attempt, with headers intact
        assert sorted(s[0] for s in rec.seen) == sorted(f"m{i}" for i in range(50))
        assert {s[1] for s in rec.seen} == {1}
        assert bus.stats(bus_env.queue("alpha")).depth == 0
        assert bus.stats(bus_env.queue("beta")).depth == 5  # routed by department only

    def test_events_reach_the_status_queue(self, bus_env: BusEnv) -> None:
        bus = bus_env.make()
        bus.publish("events", [Message("e1", "leg.submitted", b"{}")])
        rec = Recorder()
        with consuming(bus, f"{bus_env.namespace}.status", rec):
            eventually(lambda: rec.seen, what="event delivery")
        assert rec.seen[0][0] == "e1"

    def test_message_comes_back_after_consumer_process_is_killed(self, bus_env: BusEnv) -> None:
        # given a message being handled by another process
        deps = {"alpha": FAST, "beta": FAST}
        bus = bus_env.make(deps)
        bus.publish("dispatch", [Message("k1", "alpha", b"{}")])
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.support.bus_crash_child", bus_env.spec(deps),
             bus_env.queue("alpha")],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )
        try:
            line = child.stdout.readline() if child.stdout else ""
            assert line.startswith("GOT k1 1"), line
            # when that process dies without settling it
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=10)
        # then the message is delivered again, as a later attempt
        rec = Recorder()
        with consuming(bus, bus_env.queue("alpha"), rec):
            eventually(lambda: rec.seen, timeout=15, what="redelivery")
        assert rec.seen[0][0] == "k1"
        assert rec.seen[0][1] >= 2

    def test_retry_waits_for_each_tier(self, bus_env: BusEnv) -> None:
        # given a handler that fails twice (tiers 0.3 s then 0.6 s)
        bus = bus_env.make()
        rec = Recorder(lambda d: Retry("department down") if d.attempt < 3 else Ack())
        with consuming(bus, bus_env.queue("alpha"), rec):
            bus.publish("dispatch", [Message("r1", "alpha", b"{}")])
            eventually(lambda: len(rec.seen) >= 3, what="third attempt")
        # then the gaps follow the tiers (generous upper tolerance for a loaded machine)
        t = [s[2] for s in rec.seen]
        assert [s[1] for s in rec.seen] == [1, 2, 3]
        assert 0.25 <= t[1] - t[0] < 1.5
        assert 0.55 <= t[2] - t[1] < 2.0
        assert bus.dead_letters() == []

    def test_delivery_limit_parks_the_message(self, bus_env: BusEnv) -> None:
        # given a handler that always crashes and a delivery limit of 3
        tiers = RetryTiers(tiers_s=(0.05,) * 6, delivery_limit=3)
        bus = bus_env.make({"alpha": tiers})

        def crash(d: Delivery) -> Outcome:
            raise RuntimeError("bug")

        rec = Recorder(crash)
        with consuming(bus, bus_env.queue("alpha"), rec):
            bus.publish("dispatch", [Message("L1", "alpha", b"{}")])
            dead = eventually(bus.dead_letters, what="dead letter")
        # then it was tried exactly 3 times and parked for the delivery limit
        assert [s[1] for s in rec.seen] == [1, 2, 3]
        assert dead[0].reason == "delivery_limit"
        assert dead[0].attempts == 3

    def test_dead_outcome_keeps_original_reason_and_attempts(self, bus_env: BusEnv) -> None:
        bus = bus_env.make()
        original = Message("d1", "alpha", b'{"x": 1}', {"case": "c9"})
        rec = Recorder(lambda d: Dead("rejected", "department says no"))
        before = time.time()
        with consuming(bus, bus_env.queue("alpha"), rec):
            bus.publish("dispatch", [original])
            dead = eventually(bus.dead_letters, what="dead letter")
        assert len(rec.seen) == 1
        d = dead[0]
        assert (d.message.id, d.message.body, d.message.routing_key) == ("d1", b'{"x": 1}', "alpha")
        assert d.message.headers == {"case": "c9"}
        assert (d.department, d.reason, d.detail, d.attempts) == (
            "alpha", "rejected", "department says no", 1)
        assert before - 1 <= d.dead_at <= time.time() + 1
        assert bus.dead_letters("beta") == []

    def test_malformed_message_is_parked_at_once(self, bus_env: BusEnv) -> None:
        bus = bus_env.make()

        def strict(d: Delivery) -> Outcome:
            try:
                json.loads(d.message.body)
            except ValueError as exc:
                raise MalformedMessage("body is not JSON") from exc
            return Ack()

        rec = Recorder(strict)
        with consuming(bus, bus_env.queue("alpha"), rec):
            bus.publish("dispatch", [Message("bad", "alpha", b"{not json"),
                                     Message("good", "alpha", b"{}")])
            dead = eventually(bus.dead_letters, what="dead letter")
            eventually(lambda: "good" in rec.ids(), what="good message")
        assert [s[0] for s in rec.seen].count("bad") == 1
        assert (dead[0].message.id, dead[0].reason) == ("bad", "malformed")

    def test_replay_sends_the_original_back(self, bus_env: BusEnv) -> None:
        bus = bus_env.make()
        first = threading.Event()

        def decide(d: Delivery) -> Outcome:
            if not first.is_set():
                first.set()
                return Dead("rejected")
            return Ack()

        rec = Recorder(decide)
        with consuming(bus, bus_env.queue("alpha"), rec):
            bus.publish("dispatch", [Message("p1", "alpha", b'{"a": 1}')])
            dead = eventually(bus.dead_letters, what="dead letter")
            # when the operator replays it
            assert bus.replay([dead[0].id]) == 1
            eventually(lambda: len(rec.seen) >= 2, what="replayed delivery")
        # then the same message was handled again and the parking lot is empty
        assert [s[0] for s in rec.seen] == ["p1", "p1"]
        assert bus.dead_letters() == []
        assert bus.replay([dead[0].id]) == 0

    def test_purge_removes_only_the_chosen(self, bus_env: BusEnv) -> None:
        bus = bus_env.make()
        rec = Recorder(lambda d: Dead("rejected"))
        with consuming(bus, bus_env.queue("alpha"), rec):
            bus.publish("dispatch", msgs(3))
            eventually(lambda: len(bus.dead_letters()) == 3, what="3 dead letters")
        dead = bus.dead_letters()
        assert bus.purge_dead([dead[0].id]) == 1
        assert sorted(d.message.id for d in bus.dead_letters()) == sorted(
            d.message.id for d in dead[1:])

    def test_unroutable_publish_raises(self, bus_env: BusEnv) -> None:
        bus = bus_env.make()
        with pytest.raises(UnroutableError) as err:
            bus.publish("dispatch", [Message("u1", "nowhere", b"{}"),
                                     Message("u2", "alpha", b"{}")])
        assert err.value.message_ids == ("u1",)
        assert bus.stats(bus_env.queue("alpha")).depth == 1  # the routable one is kept

    def test_outbox_relay_survives_crash_between_publish_and_mark(
        self, bus_env: BusEnv, tmp_path: Path
    ) -> None:
        # given 30 pending outbox rows and a relay that "crashes" right after publishing
        bus = bus_env.make()
        src = SqliteOutbox(tmp_path / "outbox.db")
        src.add([OutboxRow(0, "dispatch", "alpha", f"o{i}", b"{}") for i in range(30)])
        src.crash_on_mark = True
        with pytest.raises(SystemExit):
            Relay(src, bus, batch=100).run_once()
        # when a new relay starts
        src.crash_on_mark = False
        assert Relay(src, bus, batch=100).run_once() == 30
        assert src.pending_outbox(100) == []
        # then every row was delivered (twice: consumers deduplicate by message id)
        rec = Recorder()
        with consuming(bus, bus_env.queue("alpha"), rec):
            eventually(lambda: len(rec.seen) >= 60, what="60 deliveries")
        assert rec.ids() == {f"o{i}" for i in range(30)}

    def test_recovers_from_broker_closing_connections(self, bus_env: BusEnv) -> None:
        if bus_env.kind != "amqp":
            pytest.skip("broker-side connection close exists only for RabbitMQ")
        vhost = bus_env.target.rsplit("/", 1)[1]
        bus = bus_env.make()
        rec = Recorder()
        sent: list[str] = []
        with consuming(bus, bus_env.queue("alpha"), rec):
            for round_ in range(6):
                batch = msgs(50, prefix=f"x{round_}-")
                bus.publish("dispatch", batch)
                sent += [m.id for m in batch]
                if round_ == 2:
                    services.rabbitmqctl("close_all_connections", "--vhost", vhost, "test")
            eventually(lambda: rec.ids() >= set(sent), timeout=30, what="all after close")
        assert rec.ids() == set(sent)


@contextmanager
def consuming_batches(bus: Bus, queue: str, handler: BatchHandler,
                      max_batch: int = 16) -> Iterator[None]:
    """Run ``bus.consume_batch`` on a thread for the duration of the block."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            bus.consume_batch(queue, handler, stop=stop, max_batch=max_batch, max_wait_s=0.02)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=20)
    assert not t.is_alive(), "batch consumer did not stop"
    if errors:
        raise errors[0]


class BatchRecorder:
    """A batch handler that records each batch and answers ``decide(delivery)`` per message."""

    def __init__(self, decide=lambda d: Ack()) -> None:  # type: ignore[no-untyped-def]
        self.decide = decide
        self.batches: list[list[tuple[str, int]]] = []
        self.lock = threading.Lock()

    def __call__(self, batch: Sequence[Delivery]) -> list[Outcome]:
        with self.lock:
            self.batches.append([(d.message.id, d.attempt) for d in batch])
        return [self.decide(d) for d in batch]

    def seen(self) -> list[tuple[str, int]]:
        with self.lock:
            return [s for b in self.batches for s in b]


_BATCH_CHILD = """
import json, sys, threading, time
from pathlib import Path
from hub.domain.retry import RetryTiers
spec = json.loads(sys.argv[1])
deps = {d: RetryTiers(tuple(t), int(n)) for d, (t, n) in spec["departments"].items()}
if spec["kind"] == "amqp":
    from hub.bus.amqp import AmqpBus
    bus = AmqpBus(spec["target"], spec["namespace"])
else:
    from hub.bus.embedded import EmbeddedBus
    bus = EmbeddedBus(Path(spec["target"]), spec["namespace"], lease_s=1.0, poll_s=0.02)
bus.declare(deps)
def handler(batch):
    print("GOT " + " ".join(d.message.id for d in batch), flush=True)
    while True:
        time.sleep(60)
bus.consume_batch(sys.argv[2], handler, stop=threading.Event(), max_batch=8, max_wait_s=0.2)
"""


class TestBatchConsumeContract:
    def test_batches_keep_queue_order_and_each_message_is_acked_once(
        self, bus_env: BusEnv
    ) -> None:
        # given 100 messages waiting in order
        bus = bus_env.make()
        bus.publish("dispatch", msgs(100))
        rec = BatchRecorder()
        # when they are consumed in batches of at most 16
        with consuming_batches(bus, bus_env.queue("alpha"), rec, max_batch=16):
            eventually(lambda: len(rec.seen()) >= 100, what="100 deliveries")
            time.sleep(0.3)
        # then they arrive exactly once, in queue order, in batches, and nothing is left
        assert [s[0] for s in rec.seen()] == [f"m{i}" for i in range(100)]
        assert all(1 <= len(b) <= 16 for b in rec.batches) and len(rec.batches) < 100
        assert bus.stats(bus_env.queue("alpha")).depth == 0

    def test_each_message_of_a_batch_gets_its_own_fate(self, bus_env: BusEnv) -> None:
        # given one batch where one message is fine, one must wait and one is rejected
        bus = bus_env.make()
        fates: dict[str, Outcome] = {"ok": Ack(), "later": Retry("department busy"),
                                     "no": Dead("rejected", "no")}

        def decide(d: Delivery) -> Outcome:
            return Ack() if d.attempt > 1 else fates[d.message.id]

        rec = BatchRecorder(decide)
        bus.publish("dispatch", [Message(i, "alpha", b"{}") for i in fates])
        with consuming_batches(bus, bus_env.queue("alpha"), rec):
            dead = eventually(bus.dead_letters, what="dead letter")
            eventually(lambda: ("later", 2) in rec.seen(), what="the retried message")
            time.sleep(0.3)
        # then only the retried one came back, the rejected one is parked, the acked one gone
        assert sorted(rec.seen()) == [("later", 1), ("later", 2), ("no", 1), ("ok", 1)]
        assert [(d.message.id, d.reason) for d in dead] == [("no", "rejected")]
        assert bus.stats(bus_env.queue("alpha")).depth == 0

    def test_a_failing_batch_handler_settles_every_message_of_the_batch(
        self, bus_env: BusEnv
    ) -> None:
        # given a handler that crashes on the first batch and a message that is malformed
        bus = bus_env.make()
        crashed: list[str] = []

        def handler(batch: Sequence[Delivery]) -> list[Outcome]:
            if any(d.message.id == "poison" for d in batch):
                raise MalformedMessage("poison in the batch")
            if not crashed:
                crashed.extend(d.message.id for d in batch)
                raise RuntimeError("store hiccup")
            rec(batch)
            return [Ack() for _ in batch]

        rec = BatchRecorder()
        bus.publish("dispatch", [Message("poison", "alpha", b"{")])
        with consuming_batches(bus, bus_env.queue("alpha"), handler):
            dead = eventually(bus.dead_letters, what="poison parked")
            bus.publish("dispatch", msgs(5))
            eventually(lambda: {s[0] for s in rec.seen()} >= {f"m{i}" for i in range(5)},
                       what="the batch after the crash")
        # then a permanent error parks the batch, an unexpected one retries it later
        assert [(d.message.id, d.reason) for d in dead] == [("poison", "malformed")]
        assert crashed and all((i, 2) in rec.seen() for i in crashed)  # back after the crash
        assert sorted(s[0] for s in rec.seen()) == [f"m{i}" for i in range(5)]

    def test_batch_comes_back_after_consumer_process_is_killed(self, bus_env: BusEnv) -> None:
        # given a batch being handled by another process
        deps = {"alpha": FAST, "beta": FAST}
        bus = bus_env.make(deps)
        bus.publish("dispatch", msgs(3, prefix="k"))
        child = subprocess.Popen(
            [sys.executable, "-c", _BATCH_CHILD, bus_env.spec(deps), bus_env.queue("alpha")],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )
        try:
            line = child.stdout.readline() if child.stdout else ""
            assert line.startswith("GOT k0"), line
            # when that process dies without settling them
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=10)
        # then every message is delivered again, in order, as a later attempt
        rec = BatchRecorder()
        with consuming_batches(bus, bus_env.queue("alpha"), rec):
            eventually(lambda: len(rec.seen()) >= 3, timeout=15, what="redelivery")
        assert [s[0] for s in rec.seen()] == ["k0", "k1", "k2"]
        assert all(s[1] >= 2 for s in rec.seen() if s[0] in line.split())


class SqliteOutbox:
    """A tiny OutboxSource for tests (the real store implements the same protocol)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, exchange,"
                        " rk, mid, body, sent INTEGER DEFAULT 0)")
        self.crash_on_mark = False

    def add(self, rows: Sequence[OutboxRow]) -> None:
        self.db.executemany("INSERT INTO outbox (exchange, rk, mid, body) VALUES (?,?,?,?)",
                            [(r.exchange, r.routing_key, r.message_id, r.body) for r in rows])

    def pending_outbox(self, limit: int) -> list[OutboxRow]:
        rows = self.db.execute("SELECT id, exchange, rk, mid, body FROM outbox WHERE sent=0 "
                               "ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [OutboxRow(*r) for r in rows]

    def mark_sent(self, ids: Sequence[int]) -> None:
        if self.crash_on_mark:
            raise SystemExit("simulated crash between publish and mark")
        self.db.executemany("UPDATE outbox SET sent=1 WHERE id=?", [(i,) for i in ids])


