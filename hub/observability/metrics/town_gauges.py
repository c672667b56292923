"""Scrape-time gauges of the town windows: open and overdue town cases per town and item.

``hub_town_cases_open{town, item}`` and ``hub_town_cases_overdue{town, item}`` (overdue: past the
item's 承诺时限, ``deadline_days``). Labels are the 9-digit town code and the catalogue item code,
both bounded by configuration (anything else becomes ``other``): never a case, a person or a
village. Every configured (town, item) pair is exposed, 0 when nothing is open. The hub
registers one callable per process (``add``) answering
``{(town, item): (open, overdue)}``; a callable that raises is logged and left out of that scrape.
Both families are exposed (possibly without samples) before anything registers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.observability.metrics.labels import OTHER

log = logging.getLogger(__name__)
TownCounts = Mapping[tuple[str, str], tuple[int, int]]


class TownCaseSource(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[int, Callable[[], TownCounts]] = {}
        self._next = 0
        self._towns: frozenset[str] = frozenset()
        self._items: frozenset[str] = frozenset()

    def configure(self, towns: Iterable[str], items: Iterable[str]) -> None:
        self._towns, self._items = frozenset(towns), frozenset(items)

    def add(self, fn: Callable[[], TownCounts]) -> Callable[[], None]:
        with self._lock:
            self._next += 1
            key = self._next
            self._sources[key] = fn

        def unregister() -> None:
            with self._lock:
                self._sources.pop(key, None)
        return unregister

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (GaugeMetricFamily("hub_town_cases_open",
                                  "Town-decided cases not yet decided, by town and item.",
                                  labels=["town", "item"]),
                GaugeMetricFamily("hub_town_cases_overdue",
                                  "Town-decided cases past the item's deadline, by town and item.",
                                  labels=["town", "item"]))

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        open_f, overdue_f = self._families()
        with self._lock:
            sources = list(self._sources.values())
        # Zeros for every configured town and item once a source is registered: a dashboard and
        # an alert see 0, not "no data" (bounded: towns x town items from configuration).
        totals: dict[tuple[str, str], list[int]] = {
            (town, item): [0, 0] for town in self._towns for item in self._items} if sources else {}
        for fn in sources:
            try:
                counts = fn()
            except Exception:
                log.warning("town case gauge source failed", exc_info=True)
                continue
            for (town, item), (n_open, n_overdue) in counts.items():
                key = (town if town in self._towns else OTHER,
                       item if item in self._items else OTHER)
                acc = totals.setdefault(key, [0, 0])
                acc[0] += n_open
                acc[1] += n_overdue
        for (town, item), (n_open, n_overdue) in sorted(totals.items()):
            open_f.add_metric([town, item], n_open)
            overdue_f.add_metric([town, item], n_overdue)
        return [open_f, overdue_f]
