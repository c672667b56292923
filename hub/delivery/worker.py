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
Results (reply files, status queries) are polled on a second thread and published as events
(``hub.delivery.result_poller.ResultPoller``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from pydantic import ValidationError

from hub.bus.base import (
    Ack,
    Bus,
    Dead,
    Delivery,
    Outcome,
    Retry,
    dept_queue,
    outcome_for_exception,
)
from hub.bus.budget import RetryBudget
from hub.config import mapping
from hub.config.loading import HubConfig
from hub.delivery.announce import (
    Submitted,
    failed_event,
    flush,
    retrying_event,
    submitted_event,
)
from hub.delivery.ledger import Ledger
from hub.delivery.protection import CircuitBreaker, RateLimiter
from hub.delivery.quick_retry import quick_retry
from hub.delivery.result_poller import ResultPoller, event_message
from hub.domain.adapter import Adapter, SubmitRequest
from hub.domain.errors import MalformedMessage, PermanentError, TransientError
from hub.domain.models import AttachmentRef, LegMessage
from hub.domain.reasons import Reason

log = logging.getLogger("hub.worker")

WorkerHook = Callable[[str, str, dict[str, object]], None]  # (event, department, fields)


_Result = Outcome | Submitted


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
        concurrency: int = 8,
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
        # The one owner of the retry budget (the buses plan with the same rules).
        self.budget = RetryBudget(self.dept.retry.tiers(), self._exhausted)
        self._hook = hook
        self.concurrency = max(1, concurrency)  # legs of one batch submitted at once
        self._pool: ThreadPoolExecutor | None = None
        self.stop = threading.Event()

    # -- hooks: metrics and logs live here, never in the flow; a failing hook loses nothing --
    def _emit(self, event: str, **fields: object) -> None:
        if self._hook is None:
            return
        try:
            self._hook(event, self.department, dict(fields))
        except Exception:
            log.exception("worker hook %s failed", event)

    def batch_size(self) -> int:
        """Deliveries per batch: a quarter second's worth at the rate limit, 1 to 64.

        A batch's ``submitted`` events go out together after its last submit, so a batch
        never takes much longer than a quarter of a second at the department's rate."""
        return max(1, min(64, int(self.dept.rate_limit_per_s / 4)))

    def handle_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Submit a batch (``Bus.consume_batch``); one outcome per delivery, in order.

        Each delivery keeps the one-message semantics (dedupe, circuit, rate limit, quick
        retries, the exception decides its fate); legs are submitted ``concurrency`` at a time,
        the messages of one leg in queue order. The receipts of the whole batch are then
        recorded in ONE ledger transaction and their events published in ONE confirmed
        publish: one fsync and one confirm round trip per batch, not per leg."""
        outcomes: list[Outcome | None] = [None] * len(deliveries)
        parsed: list[tuple[int, LegMessage]] = []
        for i, delivery in enumerate(deliveries):
            try:
                parsed.append((i, self._parse(delivery)))
            except MalformedMessage as exc:
                outcomes[i] = Dead(exc.reason, str(exc)[:500])
        done = self.ledger.get_many(m.message_id for _, m in parsed)
        republish: dict[str, tuple[str, list[int]]] = {}
        legs: dict[str, list[tuple[int, LegMessage]]] = {}
        first: set[str] = set()
        for i, msg in parsed:
            if msg.message_id in done or msg.message_id in first:
                # Submitted before (or twice in this batch): never again; an event that did
                # not go out yet goes out with this batch's.
                self._emit("duplicate", message_id=msg.message_id)
                event_json, published = done.get(msg.message_id, ("", True))
                if published:
                    outcomes[i] = Ack()
                else:
                    republish.setdefault(msg.message_id, (event_json, []))[1].append(i)
                continue
            first.add(msg.message_id)
            legs.setdefault(msg.leg_id, []).append((i, msg))
        submitted: list[Submitted] = []
        for results in self._submit_legs(list(legs.values()), deliveries):
            for i, result in results:
                if isinstance(result, Submitted):
                    submitted.append(result)
                else:
                    outcomes[i] = result
        self._flush(submitted, republish, outcomes)
        return [o if o is not None else Retry("not settled") for o in outcomes]

    def _parse(self, delivery: Delivery) -> LegMessage:
        try:
            msg = LegMessage.model_validate_json(delivery.message.body)
        except ValidationError as exc:
            raise MalformedMessage(f"not a valid leg message: {exc.error_count()} error(s)") from exc
        if msg.department != self.department:
            raise MalformedMessage(f"leg for {msg.department} on {self.department}'s queue")
        return msg

    def _submit_legs(self, legs: list[list[tuple[int, LegMessage]]],
                     deliveries: Sequence[Delivery]) -> list[list[tuple[int, _Result]]]:
        def one_leg(items: list[tuple[int, LegMessage]]) -> list[tuple[int, _Result]]:
            return [(i, self._submit_one(i, msg, deliveries[i])) for i, msg in items]

        if len(legs) <= 1 or self.concurrency <= 1:
            return [one_leg(items) for items in legs]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency,
                                            thread_name_prefix=f"submit-{self.department}")
        return list(self._pool.map(one_leg, legs))

    def _submit_one(self, index: int, msg: LegMessage, delivery: Delivery) -> _Result:
        if not self._wait_for_circuit():
            return Retry("worker stopping", 1.0)
        try:  # every way out settles the breaker: a probe without a verdict is handed back
            return self._submit_allowed(index, msg, delivery)
        finally:
            self.breaker.release()

    def _submit_allowed(self, index: int, msg: LegMessage, delivery: Delivery) -> _Result:
        if not self.limiter.acquire(self.stop):
            return Retry("worker stopping", 1.0)
        try:
            return self._submit(index, msg, delivery)
        except PermanentError as exc:
            return self._fail_permanently(msg, exc)
        except TransientError as exc:
            self.breaker.record_failure()
            self._note_retry(msg, delivery.attempt, exc)
            outcome = self.budget.settle(delivery, Retry(str(exc)[:500], exc.retry_after_s))
            if isinstance(outcome, Retry):
                self._emit("retry", attempt=delivery.attempt, reason=str(exc)[:200],
                           case_id=str(msg.case_id), leg_id=msg.leg_id)
            return outcome
        except Exception as exc:  # a bug, not the department: retry later, never lose the leg
            log.exception("submitting a leg to %s failed unexpectedly", self.department)
            fate = outcome_for_exception(exc)
            return self.budget.settle(delivery, fate) if isinstance(fate, Retry) else fate

    def _exhausted(self, delivery: Delivery, retry: Retry, reason: Reason) -> Outcome:
        """The retry budget is spent (``RetryBudget.on_exhausted``): mark the leg failed here,
        settled and replayable — a leg parked by the bus alone would show "dispatched" to the
        clerk for ever — then park the message with the reason."""
        msg = self._parse(delivery)
        spent = PermanentError(f"retries exhausted after {delivery.attempt} deliveries: "
                               f"{retry.reason}", reason=reason)
        return self._fail_permanently(msg, spent)

    def _fail_permanently(self, msg: LegMessage, exc: PermanentError) -> Outcome:
        try:
            self._fail(msg, exc)
        except Exception as pub:  # the failed event could not go out: try the leg again later
            return outcome_for_exception(pub)
        self._emit("dead", reason=exc.reason, case_id=str(msg.case_id), leg_id=msg.leg_id)
        return Dead(exc.reason, str(exc)[:500])

    def _flush(self, submitted: list[Submitted], republish: dict[str, tuple[str, list[int]]],
               outcomes: list[Outcome | None]) -> None:
        flush(self.department, self.ledger, self.bus, self._emit, submitted, republish, outcomes)

    def _wait_for_circuit(self) -> bool:
        """Pause (holding this delivery) while the circuit is open; True once we may call."""
        while not self.breaker.allow():
            self._emit("circuit", state=self.breaker.state)
            if self.stop.wait(0.2):
                return False
        return True

    def _submit(self, index: int, msg: LegMessage, delivery: Delivery) -> Submitted:
        record = mapping.apply(self.dept.mapping, msg.payload, self.cfg.code_tables)
        # Each message carries its own idempotency key (leg id + sequence): a resend repeats it,
        # a new supplement has a new one (hub.domain.adapter.idempotency_key).
        request = SubmitRequest(leg_id=msg.leg_id, case_id=str(msg.case_id), item_code=msg.item_code,
                                kind=msg.kind, record=record, attachments=msg.attachments,
                                open_attachment=self.open_attachment, sequence=msg.sequence)
        self._emit("submit", case_id=str(msg.case_id), leg_id=msg.leg_id, attempt=delivery.attempt)
        receipt = quick_retry(lambda: self.adapter.submit(request), self.dept.retry)
        self.breaker.record_success()
        event = submitted_event(msg, receipt)
        return Submitted(index, msg, receipt, event, event.model_dump_json())

    def _note_retry(self, msg: LegMessage, attempt: int, exc: TransientError) -> None:
        """Evidence of the failed attempt for ``hub trace`` (best effort: the retry matters)."""
        try:
            self.bus.publish("events", [event_message(retrying_event(msg, attempt, exc))])
        except Exception:  # noqa: BLE001 - the bus may be what failed; the retry still happens
            log.warning("could not publish retry evidence for %s", msg.leg_id)

    def _fail(self, msg: LegMessage, exc: PermanentError) -> None:
        self.bus.publish("events", [event_message(failed_event(msg, exc))])

    def run(self, *, poll_interval_s: float = 0.5) -> None:
        """Consume (in batches) and poll until ``self.stop`` is set."""
        results = ResultPoller(self.department, self.adapter, self.bus, self._emit, self.stop)
        poller = threading.Thread(target=results.poll_forever, args=(poll_interval_s,),
                                  name=f"poll-{self.department}", daemon=True)
        poller.start()
        try:
            self.bus.consume_batch(dept_queue(self.bus.namespace, self.department),
                                   self.handle_batch, stop=self.stop,
                                   max_batch=self.batch_size())
        finally:
            self.stop.set()
            poller.join(timeout=10)
            if self._pool is not None:
                self._pool.shutdown(wait=True)


__all__: Sequence[str] = ["DepartmentWorker", "WorkerHook"]
