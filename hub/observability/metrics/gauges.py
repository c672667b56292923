"""Scrape-time gauges: queue depth and oldest age, outbox pending, circuit state, bus up.

These values live elsewhere (the bus, the store, the breaker), so rather than pushing them the
hub registers cheap callables on a ``GaugeSource`` collector that evaluates them when Prometheus
scrapes. Guarantees: a callable that raises is logged, counted in
``hub_metrics_source_errors_total{source}`` and left out of that scrape, never failing the scrape;
every family is exposed (possibly without samples) even before anything registers, so dashboards
and rules can rely on the names.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.bus.base import QueueStats
from hub.observability.metrics.labels import LabelSet

log = logging.getLogger(__name__)
Unregister = Callable[[], None]
_T = TypeVar("_T")


class _Sources(Generic[_T]):
    """Registered callables of one kind, by handle."""

    def __init__(self, kind: str, owner: GaugeSource) -> None:
        self.kind = kind
        self._owner = owner
        self._fns: dict[int, tuple[str, Callable[[], _T]]] = {}

    def add(self, fn: Callable[[], _T], tag: str = "") -> Unregister:
        with self._owner.lock:
            key = self._owner.next_key()
            self._fns[key] = (tag, fn)

        def unregister() -> None:
            with self._owner.lock:
                self._fns.pop(key, None)

        return unregister

    def clear(self) -> None:
        with self._owner.lock:
            self._fns.clear()

    def call(self) -> list[tuple[str, _T]]:
        with self._owner.lock:
            fns = list(self._fns.values())
        results: list[tuple[str, _T]] = []
        for tag, fn in fns:
            try:
                results.append((tag, fn()))
            except Exception:
                self._owner.count_error(self.kind)
                log.warning("metrics source %s failed", self.kind, exc_info=True)
        return results


class GaugeSource(Collector):
    """Gauges evaluated at scrape time from callables that processes register.

    ``add_queue_stats(fn -> {department: QueueStats})``, ``add_outbox_pending(fn -> int)``,
    ``add_circuit_state(department, fn -> int)`` (``hub.domain.circuit.CircuitState.gauge``),
    ``add_bus_up(fn -> bool)``, ``add_audit_unsealed_age(fn -> seconds)`` (the maximum of its
    sources);
    each returns a function that unregisters it. Several sources of one kind combine: depths and
    pending counts add up, ages and circuit states take the maximum, the bus is up only if every
    source says so. Callables run on the scrape thread: keep them cheap (one indexed query).
    """

    def __init__(self, department_label: LabelSet) -> None:
        self._dept = department_label
        self.lock = threading.Lock()
        self._next = 0
        self._errors = {"queue": 0, "outbox": 0, "circuit": 0, "bus": 0, "audit": 0}
        self._queues: _Sources[Mapping[str, QueueStats]] = _Sources("queue", self)
        self._outbox: _Sources[int] = _Sources("outbox", self)
        self._circuits: _Sources[int] = _Sources("circuit", self)
        self._bus: _Sources[bool] = _Sources("bus", self)
        self._unsealed: _Sources[float] = _Sources("audit", self)

    def next_key(self) -> int:
        self._next += 1
        return self._next

    def count_error(self, kind: str) -> None:
        with self.lock:
            self._errors[kind] += 1

    def add_queue_stats(self, fn: Callable[[], Mapping[str, QueueStats]]) -> Unregister:
        return self._queues.add(fn)

    def add_outbox_pending(self, fn: Callable[[], int]) -> Unregister:
        return self._outbox.add(fn)

    def add_circuit_state(self, department: str, fn: Callable[[], int]) -> Unregister:
        return self._circuits.add(fn, tag=department)

    def add_bus_up(self, fn: Callable[[], bool]) -> Unregister:
        return self._bus.add(fn)

    def add_audit_unsealed_age(self, fn: Callable[[], float]) -> Unregister:
        return self._unsealed.add(fn)

    def clear(self) -> None:
        """Drop every registered source (tests; a component shutting down)."""
        for sources in (self._queues, self._outbox, self._circuits, self._bus, self._unsealed):
            sources.clear()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "hub_queue_depth", "Messages waiting in a department queue.",
                labels=["department"]),
            GaugeMetricFamily(
                "hub_queue_oldest_age_seconds",
                "Age of the oldest message waiting in a department queue.",
                labels=["department"]),
            GaugeMetricFamily("hub_outbox_pending", "Outbox rows not yet published to the bus."),
            GaugeMetricFamily(
                "hub_circuit_state", "Department circuit breaker: 0 closed, 1 half-open, 2 open.",
                labels=["department"]),
            GaugeMetricFamily("hub_bus_up", "1 when the bus connection is up, else 0."),
            GaugeMetricFamily(
                "hub_audit_unsealed_age_seconds",
                "Age of the oldest audit entry or feed event not yet sealed by the sequencer."),
        )

    @staticmethod
    def _errors_family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "hub_metrics_source_errors", "Scrape-time metric sources that raised.",
            labels=["source"])

    def describe(self) -> Iterable[Metric]:
        return [*self._families(), self._errors_family()]

    def collect(self) -> Iterable[Metric]:
        depth_f, age_f, outbox_f, circuit_f, bus_f, unsealed_f = self._families()
        depth: dict[str, float] = {}
        age: dict[str, float] = {}
        for _, stats in self._queues.call():
            for dept, st in stats.items():
                d = self._dept(dept)
                depth[d] = depth.get(d, 0.0) + float(st.depth)
                age[d] = max(age.get(d, 0.0), float(st.oldest_age_s or 0.0))
        for d in sorted(depth):
            depth_f.add_metric([d], depth[d])
            age_f.add_metric([d], age[d])
        pending = self._outbox.call()
        if pending:
            outbox_f.add_metric([], sum(float(v) for _, v in pending))
        circuits: dict[str, float] = {}
        for dept, value in self._circuits.call():
            d = self._dept(dept)
            circuits[d] = max(circuits.get(d, 0.0), float(value))
        for d in sorted(circuits):
            circuit_f.add_metric([d], circuits[d])
        bus = self._bus.call()
        if bus:
            bus_f.add_metric([], 1.0 if all(up for _, up in bus) else 0.0)
        unsealed = self._unsealed.call()
        if unsealed:
            unsealed_f.add_metric([], max(float(v) for _, v in unsealed))
        errors = self._errors_family()
        with self.lock:
            for kind, n in sorted(self._errors.items()):
                errors.add_metric([kind], n)
        return [depth_f, age_f, outbox_f, circuit_f, bus_f, unsealed_f, errors]
