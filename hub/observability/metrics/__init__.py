"""Prometheus metrics of the hub: every family, one registry, and the hooks that feed them.

All families live in the module-level ``REGISTRY`` (not prometheus-client's global default), so
a process exposes exactly the hub's metrics and tests can read them without cross-talk.
Names follow Prometheus conventions: ``hub_`` prefix, base units (``_seconds``), counters end in
``_total`` (the client appends it). Exposition is clean under ``promtool check metrics``.

Bounded labels, always: no label carries a case id, a person or a terminal id. ``item`` and
``department`` values are checked against the names known from configuration
(``configure_labels``); anything else becomes ``"other"``. Before configuration, slug-shaped
names are accepted up to a cap per label, then ``"other"``. Free-form labels (operation, reason,
tier, route) are bounded the same way.

Hooks never raise: a metrics failure is logged and swallowed, because metrics must never lose a
message. Hooks for business code:

    case_received(item, outcome)          leg_dispatched(dept) / leg_succeeded / leg_failed
    with observe_request(dept, op): ...   case_settled(seconds)
    retry_scheduled(dept, tier)           dead_lettered(dept, reason)
    http_request(route, method, status, seconds)

Scrape-time gauges (queue depth and oldest age, outbox pending, circuit state, bus up) come from
callables registered on ``GAUGES`` (a ``GaugeSource``), evaluated at each scrape.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from importlib import metadata
from typing import ParamSpec

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)

from hub.observability.metrics.gauges import GaugeSource
from hub.observability.metrics.labels import OTHER, ROUTE_TEMPLATE, TOKEN, LabelSet
from hub.observability.metrics.town_gauges import TownCaseSource

__all__ = [
    "DEPARTMENTS",
    "GAUGES",
    "ITEMS",
    "OTHER",
    "REGISTRY",
    "UNMATCHED",
    "GaugeSource",
    "LabelSet",
    "TownCaseSource",
    "case_received",
    "case_settled",
    "configure_labels",
    "dead_lettered",
    "exposition",
    "http_request",
    "leg_dispatched",
    "leg_failed",
    "leg_succeeded",
    "observe_request",
    "result_refused",
    "retry_scheduled",
]

log = logging.getLogger(__name__)
UNMATCHED = "unmatched"  # the route label of requests no route matched
_P = ParamSpec("_P")


DEPARTMENTS = LabelSet(cap=50)
ITEMS = LabelSet(cap=300)
_OUTCOMES = LabelSet(cap=10, known={"accepted", "duplicate", "rejected", "failed"})
_OPERATIONS = LabelSet(cap=30)
_REASONS = LabelSet(cap=30)
_TIERS = LabelSet(cap=20, pattern=TOKEN)
_ROUTES = LabelSet(cap=100, pattern=ROUTE_TEMPLATE)
_METHODS = LabelSet(cap=10, known={"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# The text format shows ``*_created`` timestamps as extra gauge families: they double the series
# count and nothing here reads them. (Process-wide setting of prometheus-client.)
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

CASES_RECEIVED = Counter(
    "hub_cases_received", "Cases submitted by terminals, by service item and intake outcome.",
    ["item", "outcome"], registry=REGISTRY)
LEGS_DISPATCHED = Counter(
    "hub_legs_dispatched", "Legs handed to a department worker for delivery.",
    ["department"], registry=REGISTRY)
LEGS_SUCCEEDED = Counter(
    "hub_legs_succeeded", "Legs the department acknowledged with a receipt.",
    ["department"], registry=REGISTRY)
LEGS_FAILED = Counter(
    "hub_legs_failed", "Legs that failed for good (dead-lettered).",
    ["department"], registry=REGISTRY)
DEPARTMENT_REQUEST_SECONDS = Histogram(
    "hub_department_request_duration_seconds",
    "Duration of one call into a department system (SOAP, SFTP, REST), success or not.",
    ["department", "operation"], registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0))
CASE_SETTLE_SECONDS = Histogram(
    "hub_case_settle_seconds",
    "Time from intake until every leg of a case reached a final state.",
    registry=REGISTRY,
    # Departments answer in minutes to weeks.
    buckets=(60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400,
             14 * 86400, 30 * 86400))
RETRIES = Counter(
    "hub_retries", "Deliveries rescheduled after a transient failure, by backoff tier.",
    ["department", "tier"], registry=REGISTRY)
DEAD_LETTERS = Counter(
    "hub_dead_letters", "Messages parked in a dead-letter queue, by reason.",
    ["department", "reason"], registry=REGISTRY)
RESULTS_REFUSED = Counter(
    "hub_results_refused", "Department answers refused or quarantined (the rest flow), by reason.",
    ["department", "reason"], registry=REGISTRY)
HTTP_REQUESTS = Counter(
    "hub_http_requests", "HTTP requests served by the API, by route template.",
    ["route", "method", "status"], registry=REGISTRY)
HTTP_REQUEST_SECONDS = Histogram(
    "hub_http_request_duration_seconds", "HTTP request duration by route template.",
    ["route"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
BUILD_INFO = Info("hub_build", "Version of the running hub.", registry=REGISTRY)

GAUGES = GaugeSource(department_label=DEPARTMENTS)
REGISTRY.register(GAUGES)
TOWN_CASES = TownCaseSource()  # hub_town_cases_open / _overdue (hub.town registers the source)
REGISTRY.register(TOWN_CASES)


def _version() -> str:
    try:
        return metadata.version("village-hub")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO.info({"version": _version(), "python": platform.python_version()})


def configure_labels(*, departments: Iterable[str] | None = None,
                     items: Iterable[str] | None = None) -> None:
    """Restrict ``department`` / ``item`` label values to configured names (others: "other")."""
    if departments is not None:
        DEPARTMENTS.set_known(departments)
    if items is not None:
        ITEMS.set_known(items)


def _never_raise(func: Callable[_P, None]) -> Callable[_P, None]:
    @wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except Exception:
            log.warning("metrics hook %s failed", func.__name__, exc_info=True)

    return wrapper


@_never_raise
def case_received(item: str, outcome: str) -> None:
    """One submitted case: outcome is accepted | duplicate | rejected | failed."""
    CASES_RECEIVED.labels(item=ITEMS(item), outcome=_OUTCOMES(outcome)).inc()


@_never_raise
def leg_dispatched(department: str) -> None:
    LEGS_DISPATCHED.labels(department=DEPARTMENTS(department)).inc()


@_never_raise
def leg_succeeded(department: str) -> None:
    LEGS_SUCCEEDED.labels(department=DEPARTMENTS(department)).inc()


@_never_raise
def leg_failed(department: str) -> None:
    LEGS_FAILED.labels(department=DEPARTMENTS(department)).inc()


@_never_raise
def case_settled(seconds: float) -> None:
    CASE_SETTLE_SECONDS.observe(max(0.0, seconds))


@_never_raise
def retry_scheduled(department: str, tier: int | str) -> None:
    """A transient failure rescheduled into backoff tier ``tier`` (0-based index or name)."""
    RETRIES.labels(department=DEPARTMENTS(department), tier=_TIERS(tier)).inc()


@_never_raise
def dead_lettered(department: str, reason: str) -> None:
    """A message parked for good; ``reason`` is ``PermanentError.reason`` (a short slug)."""
    DEAD_LETTERS.labels(department=DEPARTMENTS(department), reason=_REASONS(reason)).inc()


@_never_raise
def result_refused(department: str, reason: str) -> None:
    """A department answer the hub could not apply (``RefusedResult.reason``, a short slug)."""
    RESULTS_REFUSED.labels(department=DEPARTMENTS(department), reason=_REASONS(reason)).inc()


@_never_raise
def http_request(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request; ``route`` must be the template (``/v1/cases/{case_id}``), never a path."""
    r = UNMATCHED if route == UNMATCHED else _ROUTES(route)
    HTTP_REQUESTS.labels(route=r, method=_METHODS(method.upper()), status=str(int(status))).inc()
    HTTP_REQUEST_SECONDS.labels(route=r).observe(max(0.0, seconds))


@contextmanager
def observe_request(department: str, operation: str) -> Iterator[None]:
    """Time one department call; the duration is recorded whether the body raises or not."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _observe_duration(department, operation, time.perf_counter() - start)


@_never_raise
def _observe_duration(department: str, operation: str, seconds: float) -> None:
    DEPARTMENT_REQUEST_SECONDS.labels(
        department=DEPARTMENTS(department), operation=_OPERATIONS(operation)).observe(seconds)


def exposition() -> bytes:
    """The text exposition of ``REGISTRY`` (what ``/metrics`` serves)."""
    return bytes(generate_latest(REGISTRY))
