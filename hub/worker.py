"""A department worker: consume -> deduplicate -> map -> transport -> receipt -> event -> ack.

One worker serves one department (``hub worker --department NAME``) and may run on a gateway
host with a leg in that department's network. Guarantees:

* **Exactly once in effect.** A local ledger (SQLite) remembers each message id it submitted and
  whether its event went out; a redelivered message is not submitted again. The department also
  deduplicates on the leg's idempotency key, which covers a crash between submit and ledger.
  Event ids are deterministic, so the status tracker drops a re-published event.
* **The exception decides the fate.** Transient errors get a few quick in-process retries, then
  the bus's delayed tiers; a permanent error publishes a ``failed`` leg event and dead-letters the
  message with its reason; a malformed message is dead-lettered as ``malformed`` at once.
* **The department is protected.** A token-bucket rate limit, and a circuit breaker that, after N
  consecutive transient failures, pauses consumption until a probe succeeds: an outage becomes a
  backlog, not a storm.
Results (reply files, status queries) are polled on a second thread and published as events.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from adapters.base import Adapter, Result, SubmitRequest
from adapters.protection import CircuitBreaker, RateLimiter
from hub import mapping
from hub.bus.base import Ack, Bus, Dead, Delivery, Message, Outcome, Retry, dept_queue
from hub.bus.quick import quick_retry
from hub.config import HubConfig
from hub.errors import MalformedMessage, PermanentError, TransientError
from hub.models import AttachmentRef, LegEvent, LegEventKind, LegMessage, utcnow

log = logging.getLogger("hub.worker")

WorkerHook = Callable[[str, str, dict[str, object]], None]  # (event, department, fields)


class Ledger:
    """Which messages this worker already submitted, and whether their event went out."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS submitted (message_id TEXT PRIMARY KEY, receipt TEXT,"
            " event TEXT NOT NULL, published INTEGER NOT NULL DEFAULT 0)")
        self._lock = threading.Lock()

    def get(self, message_id: str) -> tuple[str, bool] | None:
        with self._lock:
            row = self._db.execute("SELECT event, published FROM submitted WHERE message_id=?",
                                   (message_id,)).fetchone()
        return (str(row[0]), bool(row[1])) if row else None

    def record(self, message_id: str, receipt: str, event_json: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO submitted VALUES (?,?,?,0)",
                             (message_id, receipt, event_json))

    def mark_published(self, message_id: str) -> None:
        # The receipt (``record``) is durable (synchronous=FULL) before the event is published;
        # this mark need not be: with WAL and synchronous=NORMAL it survives a process crash
        # and is only lost to a power cut before the next FULL commit fsyncs the log. Losing it
        # means a redelivery re-publishes the event, whose id is deterministic, so the status
        # tracker drops the copy. One fsync per leg instead of two.
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("UPDATE submitted SET published=1 WHERE message_id=?",
                                 (message_id,))
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def event_message(event: LegEvent) -> Message:
    return Message(id=event.event_id, routing_key=event.kind.value,
                   body=event.model_dump_json().encode(),
                   headers={"case_id": str(event.case_id), "leg_id": event.leg_id,
                            "department": event.department})


class DepartmentWorker:
    def __init__(
        self,
        department: str,
        cfg: HubConfig,
        bus: Bus,
        adapter: Adapter,
        ledger: Ledger,
        *,
        open_attachment: Callable[[AttachmentRef], Iterator[bytes]] | None = None,
        hook: WorkerHook | None = None,
    ) -> None:
        self.department = department
        self.dept = cfg.departments[department]
        self.cfg = cfg
        self.bus = bus
        self.adapter = adapter
        self.ledger = ledger
        self.open_attachment = open_attachment
        self.limiter = RateLimiter(self.dept.rate_limit_per_s)
        self.breaker = CircuitBreaker.from_policy(self.dept.circuit)
        self._hook = hook
        self._poll_failures = 0
        self.stop = threading.Event()

    # -- hooks: metrics and logs live here, never in the flow; a failing hook loses nothing --
    def _emit(self, event: str, **fields: object) -> None:
        if self._hook is None:
            return
        try:
            self._hook(event, self.department, dict(fields))
        except Exception:
            log.exception("worker hook %s failed", event)

    def handle(self, delivery: Delivery) -> Outcome:
        try:
            msg = LegMessage.model_validate_json(delivery.message.body)
        except ValidationError as exc:
            raise MalformedMessage(f"not a valid leg message: {exc.error_count()} error(s)") from exc
        if msg.department != self.department:
            raise MalformedMessage(f"leg for {msg.department} on {self.department}'s queue")
        done = self.ledger.get(msg.message_id)
        if done is not None:
            event_json, published = done
            if not published:
                self._publish_json(msg.message_id, event_json)
            self._emit("duplicate", message_id=msg.message_id)
            return Ack()
        if not self._wait_for_circuit():
            return Retry("worker stopping", 1.0)
        if not self.limiter.acquire(self.stop):
            return Retry("worker stopping", 1.0)
        try:
            return self._submit(msg, delivery)
        except PermanentError as exc:
            self._fail(msg, exc)
            self._emit("dead", reason=exc.reason, case_id=str(msg.case_id), leg_id=msg.leg_id)
            return Dead(exc.reason, str(exc)[:500])
        except TransientError as exc:
            self.breaker.record_failure()
            self._note_retry(msg, delivery.attempt, exc)
            if self._budget_spent(delivery.attempt):
                # Every delayed tier is used up: park it here, where the leg can be marked
                # failed (settled, replayable) — a leg parked by the bus alone would show
                # "dispatched" to the clerk for ever.
                spent = PermanentError(f"retries exhausted after {delivery.attempt} deliveries: "
                                       f"{exc}", reason="retries_exhausted")
                self._fail(msg, spent)
                self._emit("dead", reason=spent.reason, case_id=str(msg.case_id),
                           leg_id=msg.leg_id)
                return Dead(spent.reason, str(spent)[:500])
            self._emit("retry", attempt=delivery.attempt, reason=str(exc)[:200],
                       case_id=str(msg.case_id), leg_id=msg.leg_id)
            return Retry(str(exc)[:500], exc.retry_after_s)

    def _budget_spent(self, attempt: int) -> bool:
        """True on the last delivery the retry policy allows (one per tier, plus the first)."""
        policy = self.dept.retry
        return attempt > len(policy.tiers_s) or attempt >= policy.delivery_limit

    def _wait_for_circuit(self) -> bool:
        """Pause (holding this delivery) while the circuit is open; True once we may call."""
        while not self.breaker.allow():
            self._emit("circuit", state=self.breaker.state)
            if self.stop.wait(0.2):
                return False
        return True

    def _submit(self, msg: LegMessage, delivery: Delivery) -> Outcome:
        record = mapping.apply(self.dept.mapping, msg.payload, self.cfg.code_tables)
        # Departments key a leg and its supplements by the leg id (a supplement answers the
        # department's request on that application; a resent supplement changes nothing).
        request = SubmitRequest(leg_id=msg.leg_id, case_id=str(msg.case_id), item_code=msg.item_code,
                                kind=msg.kind, record=record, attachments=msg.attachments,
                                open_attachment=self.open_attachment)
        self._emit("submit", case_id=str(msg.case_id), leg_id=msg.leg_id, attempt=delivery.attempt)
        receipt = quick_retry(lambda: self.adapter.submit(request), self.dept.retry)
        self.breaker.record_success()
        kind = LegEventKind.SUBMITTED if msg.kind == "submit" else LegEventKind.RESUBMITTED
        event = LegEvent(event_id=f"s:{msg.message_id}", case_id=msg.case_id, leg_id=msg.leg_id,
                         department=self.department, kind=kind,
                         receipt=receipt.department_ref, at=utcnow())
        event_json = event.model_dump_json()
        self.ledger.record(msg.message_id, receipt.department_ref, event_json)
        self._publish_json(msg.message_id, event_json)
        self._emit("submitted", case_id=str(msg.case_id), leg_id=msg.leg_id,
                   duplicate=receipt.duplicate)
        return Ack()

    def _publish_json(self, message_id: str, event_json: str) -> None:
        event = LegEvent.model_validate_json(event_json)
        self.bus.publish("events", [event_message(event)])
        self.ledger.mark_published(message_id)

    def _note_retry(self, msg: LegMessage, attempt: int, exc: TransientError) -> None:
        """Evidence of the failed attempt for ``hub trace`` (best effort: the retry matters)."""
        event = LegEvent(event_id=f"t:{msg.message_id}:{attempt}", case_id=msg.case_id,
                         leg_id=msg.leg_id, department=self.department,
                         kind=LegEventKind.RETRYING,
                         detail=f"attempt {attempt}: {type(exc).__name__}: {exc}"[:2000],
                         at=utcnow())
        try:
            self.bus.publish("events", [event_message(event)])
        except Exception:  # noqa: BLE001 - the bus may be what failed; the retry still happens
            log.warning("could not publish retry evidence for %s", msg.leg_id)

    def _fail(self, msg: LegMessage, exc: PermanentError) -> None:
        event = LegEvent(event_id=f"f:{msg.message_id}", case_id=msg.case_id, leg_id=msg.leg_id,
                         department=self.department, kind=LegEventKind.FAILED,
                         detail=f"{exc.reason}: {exc}"[:2000], at=utcnow())
        self.bus.publish("events", [event_message(event)])

    # -- results ---------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Fetch department answers and publish them as leg events; -1 when the poll failed."""
        try:
            results = self.adapter.poll_results()
        except TransientError as exc:
            self._poll_failures += 1
            if self._poll_failures & (self._poll_failures - 1) == 0:  # 1st, 2nd, 4th, 8th...
                self._emit("poll_failed", reason=str(exc)[:200], failures=self._poll_failures)
            return -1
        self._poll_failures = 0
        if not results:
            return 0
        self.bus.publish("events", [event_message(result_event(r, self.department))
                                    for r in results])
        self.adapter.ack_results(results)
        self._emit("results", count=len(results))
        return len(results)

    def poll_forever(self, interval_s: float = 0.5, max_interval_s: float = 30.0) -> None:
        """Poll until stopped, backing off while the department cannot be reached."""
        wait = interval_s
        while not self.stop.is_set():
            try:
                failed = self.poll_once() < 0
            except Exception:  # a poll failure must not kill the worker
                log.exception("polling results of %s failed", self.department)
                failed = True
            wait = min(wait * 2, max_interval_s) if failed else interval_s
            self.stop.wait(wait)

    def run(self, *, prefetch: int = 16, poll_interval_s: float = 0.5) -> None:
        """Consume and poll until ``self.stop`` is set."""
        poller = threading.Thread(target=self.poll_forever, args=(poll_interval_s,),
                                  name=f"poll-{self.department}", daemon=True)
        poller.start()
        try:
            self.bus.consume(dept_queue(self.bus.namespace, self.department), self.handle,
                             stop=self.stop, prefetch=prefetch)
        finally:
            self.stop.set()
            poller.join(timeout=10)


def result_event(r: Result, department: str) -> LegEvent:
    case_id = r.leg_id.split(":", 1)[0]
    return LegEvent(event_id=f"r:{department}:{r.result_id}", case_id=case_id, leg_id=r.leg_id,
                    department=department, kind=LegEventKind(r.outcome),
                    receipt=r.department_ref, detail=r.detail,
                    missing_materials=list(r.missing_materials), at=utcnow())


def decode_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage("not valid JSON") from exc


__all__: Sequence[str] = ["DepartmentWorker", "Ledger", "event_message", "result_event"]
