"""Embedded bus: the ``Bus`` protocol on one SQLite file (the default when no broker is set).

Features: the same topology as RabbitMQ (``hub.bus.topology``), emulated in tables: dispatch
routes by department to ``{ns}.dept.{dept}``, events route to ``{ns}.status``, a message that
matches no queue raises ``UnroutableError`` (the routable ones of the batch are kept, as with
RabbitMQ). Consumed messages are *leased* for ``lease_s`` seconds and the lease is renewed while
the handler runs; a consumer that dies lets them come back once the lease runs out. ``Retry``
makes the message invisible for the next tier's delay; past the tiers or the delivery limit it
goes to the parking lot, as does ``Dead``, keeping the original message, reason, attempts, time.

Guarantees: WAL + ``synchronous=FULL``: ``publish`` returns once committed to disk. Several
processes on one machine may share the file (``busy_timeout`` serialises writers). At-least-once.

Connection settings: ``path`` of the file, ``namespace``, ``lease_s``, ``poll_s`` (idle poll).
The file's tables and transactions are in ``hub.bus.embedded_file``, the parking lots
(``hub dlq``) in ``hub.bus.embedded_parking``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hub.bus.base import (
    Ack,
    BatchHandler,
    Delivery,
    ExchangeKind,
    Message,
    QueueStats,
    UnroutableError,
)
from hub.bus.doorbell import Doorbell, IdlePoll
from hub.bus.embedded_file import SCHEMA, WriteTx, connect, doorbell
from hub.bus.embedded_parking import ParkingLots
from hub.bus.settle import Later, run_batch
from hub.bus.topology import STATUS_LANE, Lane, lanes
from hub.domain.errors import PermanentError
from hub.domain.reasons import Reason
from hub.domain.retry import RetryTiers

log = logging.getLogger(__name__)

class EmbeddedBus(ParkingLots):
    def __init__(
        self, path: Path, namespace: str = "hub", *, lease_s: float = 30.0, poll_s: float = 0.05
    ) -> None:
        self.path = Path(path)
        self.namespace = namespace
        self.lease_s = lease_s
        self.poll_s = poll_s
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._key = str(self.path.resolve())
        self._db().executescript(SCHEMA)

    # -- plumbing -------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
        return db

    def _bell(self, queue: str) -> Doorbell:
        return doorbell(self._key, queue)

    def _tx(self) -> WriteTx:
        return WriteTx(self._db())

    def _lane(self, queue: str) -> Lane:
        row = self._db().execute(
            "SELECT namespace, name, tiers, delivery_limit FROM lanes WHERE queue=?", (queue,)
        ).fetchone()
        if row is None:
            raise PermanentError(f"queue {queue!r} is not declared", reason=Reason.NOT_DECLARED)
        tiers = RetryTiers(tuple(json.loads(row[2])), int(row[3]))
        return Lane(row[0], row[1], tiers)

    def _lanes(self) -> list[Lane]:
        rows = self._db().execute(
            "SELECT queue FROM lanes WHERE namespace=? ORDER BY queue", (self.namespace,)
        ).fetchall()
        return [self._lane(r[0]) for r in rows]

    # -- Bus ------------------------------------------------------------------------------
    def declare(self, departments: Mapping[str, RetryTiers]) -> None:
        with self._tx() as db:
            for lane in lanes(self.namespace, departments):
                db.execute(
                    "INSERT INTO lanes VALUES (?,?,?,?,?) ON CONFLICT(queue) DO UPDATE SET "
                    "tiers=excluded.tiers, delivery_limit=excluded.delivery_limit",
                    (lane.queue, self.namespace, lane.name, json.dumps(lane.tiers.tiers_s),
                     lane.tiers.delivery_limit),
                )

    def _route(self, exchange: ExchangeKind, routing_key: str) -> str | None:
        if exchange == "events":
            name = STATUS_LANE
        elif routing_key == STATUS_LANE:
            return None
        else:
            name = routing_key
        queue = Lane(self.namespace, name, RetryTiers()).queue
        row = self._db().execute("SELECT 1 FROM lanes WHERE queue=?", (queue,)).fetchone()
        return queue if row else None

    def publish(self, exchange: ExchangeKind, messages: Sequence[Message]) -> None:
        unroutable: list[str] = []
        queues: set[str] = set()
        now = time.time()
        with self._tx() as db:
            for m in messages:
                queue = self._route(exchange, m.routing_key)
                if queue is None:
                    unroutable.append(m.id)
                    continue
                queues.add(queue)
                db.execute(
                    "INSERT INTO messages (queue, msg_id, routing_key, body, headers, visible_at,"
                    " enqueued_at) VALUES (?,?,?,?,?,?,?)",
                    (queue, m.id, m.routing_key, m.body, json.dumps(dict(m.headers)), now, now),
                )
        for queue in queues:
            self._bell(queue).ring()
        if unroutable:
            raise UnroutableError(
                f"{len(unroutable)} message(s) to {self.namespace}.{exchange} matched no queue",
                message_ids=unroutable,
            )

    def _lease(self, queue: str, token: str, limit: int) -> list[tuple[Any, ...]]:
        now = time.time()
        # A read first (WAL readers never block the writer): an idle consumer polling every
        # few ms must not queue for the write lock that publishers and acks need.
        if self._db().execute("SELECT 1 FROM messages WHERE queue=? AND visible_at<=? LIMIT 1",
                              (queue, now)).fetchone() is None:
            return []
        with self._tx() as db:
            rows = db.execute(
                "SELECT seq, msg_id, routing_key, body, headers, attempts, tier FROM messages "
                "WHERE queue=? AND visible_at<=? ORDER BY seq LIMIT ?",
                (queue, now, max(1, limit)),
            ).fetchall()
            db.executemany(
                "UPDATE messages SET visible_at=?, lease=?, attempts=attempts+1 WHERE seq=?",
                [(now + self.lease_s, token, r[0]) for r in rows],
            )
        # attempts as seen by the handler: this delivery included
        return [(*r[:5], r[5] + 1, r[6]) for r in rows]

    def _release(self, seqs: list[int], token: str) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE messages SET visible_at=?, lease=NULL, attempts=attempts-1 "
                "WHERE seq=? AND lease=?",
                [(time.time(), s, token) for s in seqs],
            )

    def _renew(self, token: str, done: threading.Event) -> None:
        # Keeps our leases alive while a slow handler runs; stops when this process dies.
        while not done.wait(min(self.lease_s / 3, 0.5)):
            try:
                with self._tx() as db:
                    db.execute(
                        "UPDATE messages SET visible_at=? WHERE lease=?",
                        (time.time() + self.lease_s, token),
                    )
            except sqlite3.Error:
                log.exception("embedded bus: lease renewal failed")
        self.close()  # this thread's connection

    def _ack(self, seqs: list[int], token: str) -> None:
        if seqs:
            with self._tx() as db:
                db.executemany("DELETE FROM messages WHERE seq=? AND lease=?",
                               [(s, token) for s in seqs])

    def consume_batch(
        self, queue: str, handler: BatchHandler, *, stop: threading.Event, max_batch: int = 256,
        max_wait_s: float = 0.005, prefetch: int | None = None,
    ) -> None:
        # A batch is what is ready when we lease; only after an idle wait ended by a publish in
        # this process do we wait ``max_wait_s`` for the messages right behind it.
        lane = self._lane(queue)
        limit = max(1, min(max_batch, prefetch or max_batch))
        token = uuid.uuid4().hex
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(token, done), daemon=True)
        renewer.start()
        try:
            bell = self._bell(queue)
            idle = IdlePoll(bell, ceiling_s=self.poll_s)
            while not stop.is_set():
                rung = bell.rung
                rows = self._lease(queue, token, limit)
                if not rows:
                    idle.wait(rung)
                    if bell.rung != rung and max_wait_s > 0:
                        stop.wait(max_wait_s)  # woken by a publish: let the batch fill a little
                    continue
                idle.found()
                acked: list[int] = []
                try:
                    self._handle_batch(lane, token, rows, handler, acked)
                finally:
                    self._ack(acked, token)  # one commit for the batch's acks
        finally:
            done.set()
            renewer.join(timeout=5)

    def _handle_batch(self, lane: Lane, token: str, rows: list[tuple[Any, ...]],
                      handler: BatchHandler, acked: list[int]) -> None:
        """Run the shared settlement rules; settle Later/Park now, collect the acks."""
        batch = [(Delivery(Message(r[1], r[2], bytes(r[3]), json.loads(r[4])), lane.queue, r[5],
                           int(r[6])), int(r[6])) for r in rows]
        for row, (delivery, _tier), fate in zip(rows, batch, run_batch(lane, handler, batch),
                                                strict=True):
            seq = row[0]
            if isinstance(fate, Ack):
                acked.append(seq)
            elif isinstance(fate, Later):
                with self._tx() as db:
                    db.execute(
                        "UPDATE messages SET visible_at=?, tier=?, lease=NULL "
                        "WHERE seq=? AND lease=?",
                        (time.time() + fate.delay_s, fate.tier, seq, token),
                    )
            else:
                self._dead(seq, token, lane, delivery.message, fate.reason, fate.detail,
                           fate.attempts)

    def _dead(self, seq: int, token: str, lane: Lane, m: Message, reason: str, detail: str,
              attempts: int) -> None:
        with self._tx() as db:
            cur = db.execute("DELETE FROM messages WHERE seq=? AND lease=?", (seq, token))
            if cur.rowcount != 1:
                return  # our lease ran out and another consumer owns the message now
            db.execute(
                "INSERT INTO dead (queue, lane, msg_id, routing_key, body, headers, reason, "
                "detail, attempts, dead_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (lane.dead_queue, lane.name, m.id, m.routing_key, m.body,
                 json.dumps(dict(m.headers)), reason, detail, attempts, time.time()),
            )

    def stats(self, queue: str) -> QueueStats:
        table, col = ("dead", "dead_at") if queue.endswith(".dead") else ("messages",
                                                                          "enqueued_at")
        depth, oldest = self._db().execute(
            f"SELECT count(*), min({col}) FROM {table} WHERE queue=?",  # noqa: S608 - fixed names
            (queue,),
        ).fetchone()
        return QueueStats(int(depth), None if oldest is None else max(0.0, time.time() - oldest))

    def ping(self) -> bool:
        try:
            return bool(self._db().execute("SELECT 1").fetchone() == (1,))
        except sqlite3.Error:
            return False

    def close(self) -> None:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
