"""Metrics and logs around handling: adapter, bus and worker/tracker hooks.

Business code emits plain hook events; this module turns them into Prometheus metrics and
masked JSON log lines with correlation ids. Every hook here is wrapped so that a failure is
logged and never fails or loses a message (``hub.observability.metrics`` functions never raise).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hub.bus.base import Bus, ExchangeKind, Message, QueueStats, dept_queue
from hub.domain.adapter import Adapter, Health, Receipt, Result, SubmitRequest
from hub.domain.circuit import CircuitState
from hub.domain.models import LegEvent, LegEventKind
from hub.domain.reasons import Reason
from hub.observability import metrics
from hub.observability.logs import log_context
from hub.store.base import ApplyResult, Store

log = logging.getLogger("hub.flow")

class InstrumentedAdapter:
    """Times every department call (``hub_department_request_duration_seconds``)."""

    def __init__(self, inner: Adapter) -> None:
        self.inner = inner
        self.department = inner.department

    def submit(self, request: SubmitRequest) -> Receipt:
        with metrics.observe_request(self.department, "submit"):
            return self.inner.submit(request)

    def poll_results(self) -> list[Result]:
        with metrics.observe_request(self.department, "poll_results"):
            return self.inner.poll_results()

    def ack_results(self, results: Sequence[Result]) -> None:
        with metrics.observe_request(self.department, "ack_results"):
            self.inner.ack_results(results)

    def health(self) -> Health:
        return self.inner.health()

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # transport extras (e.g. take_quarantined)
        return getattr(self.inner, name)


class CountingBus:
    """A bus handle that counts legs dispatched as the relay publishes them."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.namespace = inner.namespace

    def publish(self, exchange: ExchangeKind, messages: Sequence[Message]) -> None:
        self.inner.publish(exchange, messages)
        if exchange == "dispatch":
            for m in messages:
                metrics.leg_dispatched(m.routing_key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def worker_hook(event: str, department: str, fields: dict[str, object]) -> None:
    ids = {k: fields.get(k) for k in ("case_id", "leg_id", "message_id")}
    with log_context(department=department, event=event, **ids):
        if event == "submitted":
            metrics.leg_succeeded(department)
            log.info("leg submitted to department")
        elif event == "retry":
            attempt = fields.get("attempt")
            tier = min(attempt, 10) if isinstance(attempt, int) else 0
            metrics.retry_scheduled(department, str(tier))
            log.warning("leg delivery failed transiently; will retry: %s", fields.get("reason"))
        elif event == "dead":
            metrics.leg_failed(department)
            metrics.dead_lettered(department, str(fields.get("reason", "unknown")))
            log.error("leg dead-lettered: %s", fields.get("reason"))
        elif event == "duplicate":
            log.info("redelivered leg already submitted; acknowledged without resubmitting")
        elif event == "circuit":
            log.debug("circuit %s: holding deliveries", fields.get("state"))
        elif event == "poll_failed":
            log.warning("polling department results failed: %s", fields.get("reason"))
        elif event == "result_refused":
            metrics.result_refused(department, str(fields.get("reason", "unknown")))  # logged
        elif event == "results":
            log.info("department results received: %s", fields.get("count"))


def tracker_hook(store: Store) -> Callable[[LegEvent, ApplyResult], None]:
    def hook(event: LegEvent, result: ApplyResult) -> None:
        with log_context(case_id=str(event.case_id), leg_id=event.leg_id,
                         department=event.department, event=event.kind.value):
            if result.applied:
                log.info("leg event applied: %s", result.leg_state)
            if result.applied and event.kind is LegEventKind.FAILED:
                log.warning("leg failed: %s", event.detail)
            if result.applied and result.leg_state is not None and result.leg_state.settled:
                row = store.get_case(event.case_id)
                if row is not None and row.settled:
                    metrics.case_settled(time.time() - row.created_at.timestamp())
    return hook


PRIMED_REASONS = (Reason.REJECTED, Reason.MALFORMED, Reason.UNMAPPABLE, Reason.DELIVERY_LIMIT,
                  Reason.RETRIES_EXHAUSTED)


def prime_metrics(departments: Sequence[str]) -> None:
    """Expose every department's counters at zero from the start.

    A counter child that does not exist yet is absent from the scrape, so ``rate()`` and
    ``increase()`` miss its first increment and dashboards show "no data" instead of 0.
    """
    for d in departments:
        for family in (metrics.LEGS_DISPATCHED, metrics.LEGS_SUCCEEDED, metrics.LEGS_FAILED):
            family.labels(d)
        metrics.RETRIES.labels(d, "1")
        for reason in PRIMED_REASONS:
            metrics.DEAD_LETTERS.labels(d, reason)


def register_gauges(bus: Bus, store: Store | None, departments: Sequence[str],
                    breakers: Mapping[str, Any] | None = None) -> list[Callable[[], None]]:
    """Scrape-time gauges: queue depth and age, outbox backlog, circuits, bus up."""
    def queues() -> dict[str, QueueStats]:
        return {d: bus.stats(dept_queue(bus.namespace, d)) for d in departments}

    handles = [metrics.GAUGES.add_queue_stats(queues), metrics.GAUGES.add_bus_up(bus.ping)]
    if store is not None:
        handles.append(metrics.GAUGES.add_outbox_pending(store.outbox_pending_count))
        handles.append(metrics.GAUGES.add_audit_unsealed_age(lambda: store.unsealed()[1]))
    for name, breaker in (breakers or {}).items():
        handles.append(metrics.GAUGES.add_circuit_state(name, _circuit_reader(breaker)))
    return handles


def _circuit_reader(breaker: Any) -> Callable[[], int]:
    def read() -> int:
        try:
            return CircuitState(str(breaker.state)).gauge
        except ValueError:
            return CircuitState.OPEN.gauge
    return read
