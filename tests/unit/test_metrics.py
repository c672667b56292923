"""Metric families, bounded labels, scrape-time gauges and the /metrics servers (real sockets)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from hub.bus.base import QueueStats
from hub.domain.circuit import CircuitState
from hub.domain.errors import ConfigError
from hub.observability import metrics
from hub.observability.metrics_http import (
    HttpMetricsMiddleware,
    bound_port,
    metrics_route,
    parse_addr,
    start_metrics_server,
    stop_metrics_server,
)
from tests.support.prometheus import exercise_every_family
from tests.support.services import free_port

EXPECTED_FAMILIES = {
    "hub_cases_received", "hub_legs_dispatched", "hub_legs_succeeded", "hub_legs_failed",
    "hub_department_request_duration_seconds", "hub_case_settle_seconds", "hub_retries",
    "hub_dead_letters", "hub_queue_depth", "hub_queue_oldest_age_seconds", "hub_outbox_pending",
    "hub_results_refused",
    "hub_circuit_state", "hub_bus_up", "hub_build_info", "hub_http_requests",
    "hub_http_request_duration_seconds", "hub_metrics_source_errors",
    "hub_audit_unsealed_age_seconds",
    "hub_town_cases_open", "hub_town_cases_overdue",
}


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(autouse=True)
def _clean_gauges() -> Iterator[None]:
    yield
    metrics.GAUGES.clear()
    metrics.DEPARTMENTS.set_known(None)
    metrics.ITEMS.set_known(None)


def test_every_family_is_exposed_with_hub_prefix() -> None:
    remove = exercise_every_family()
    try:
        families = {f.name for f in text_string_to_metric_families(
            metrics.exposition().decode())}
    finally:
        remove()
    assert families == EXPECTED_FAMILIES
    assert value("hub_build_info", version=_version(), python=_python()) == 1.0


def _version() -> str:
    for fam in text_string_to_metric_families(metrics.exposition().decode()):
        if fam.name == "hub_build_info":
            return str(fam.samples[0].labels["version"])
    raise AssertionError("no hub_build_info")


def _python() -> str:
    import platform

    return platform.python_version()


def test_hooks_count_what_happened() -> None:
    before = value("hub_legs_dispatched_total", department="social_security")
    metrics.leg_dispatched("social_security")
    metrics.leg_dispatched("social_security")
    assert value("hub_legs_dispatched_total", department="social_security") == before + 2


def test_observe_request_records_duration_even_when_the_call_fails() -> None:
    labels = {"department": "civil_affairs", "operation": "submit"}
    before = value("hub_department_request_duration_seconds_count", **labels)
    with pytest.raises(TimeoutError), metrics.observe_request("civil_affairs", "submit"):
        raise TimeoutError("department did not answer")
    assert value("hub_department_request_duration_seconds_count", **labels) == before + 1


def test_unknown_departments_and_items_collapse_to_other_once_configured() -> None:
    # Given the configured names
    metrics.configure_labels(departments=["social_security"], items=["birth_registration"])
    # When callers pass a case id or a person where a name belongs
    before = value("hub_legs_failed_total", department="other")
    metrics.leg_failed("c-2026-000123")
    metrics.case_received("张三", "accepted")
    # Then only "other" grows; no label carries the id or the name
    assert value("hub_legs_failed_total", department="other") == before + 1
    text = metrics.exposition().decode()
    assert "c-2026-000123" not in text and "张三" not in text


def test_unconfigured_labels_are_capped() -> None:
    given = metrics.LabelSet(cap=3)
    assert [given(f"d{i}") for i in range(5)] == ["d0", "d1", "d2", "other", "other"]
    assert given("d1") == "d1"
    assert given("Not A Slug!") == "other"


def test_scrape_time_gauges_combine_sources_and_survive_failing_ones() -> None:
    # Given two queue sources, an outbox, a broken source and a bus that is down
    metrics.GAUGES.add_queue_stats(lambda: {"social_security": QueueStats(4, 30.0)})
    metrics.GAUGES.add_queue_stats(lambda: {"social_security": QueueStats(1, 90.0)})
    metrics.GAUGES.add_outbox_pending(lambda: 7)
    errors_before = value("hub_metrics_source_errors_total", source="outbox")

    def broken() -> int:
        raise RuntimeError("store unavailable")

    metrics.GAUGES.add_outbox_pending(broken)
    metrics.GAUGES.add_circuit_state("medical_insurance", lambda: CircuitState.OPEN.gauge)
    metrics.GAUGES.add_bus_up(lambda: True)
    remove_bus = metrics.GAUGES.add_bus_up(lambda: False)
    # When scraped, then values are combined and the failure is counted, not raised
    assert value("hub_queue_depth", department="social_security") == 5
    assert value("hub_queue_oldest_age_seconds", department="social_security") == 90
    assert value("hub_outbox_pending") == 7
    assert value("hub_metrics_source_errors_total", source="outbox") >= errors_before + 1
    assert value("hub_circuit_state", department="medical_insurance") == 2
    assert value("hub_bus_up") == 0
    remove_bus()
    assert value("hub_bus_up") == 1


def test_parse_addr_defaults_to_loopback_never_all_interfaces() -> None:
    assert parse_addr("9101") == ("127.0.0.1", 9101)
    assert parse_addr(":9101") == ("127.0.0.1", 9101)
    assert parse_addr("10.0.0.5:9101") == ("10.0.0.5", 9101)
    assert parse_addr("[::1]:9101") == ("::1", 9101)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_addr("localhost:http")


def test_worker_metrics_server_serves_the_registry_over_http() -> None:
    server, thread = start_metrics_server(f"127.0.0.1:{free_port()}")
    try:
        metrics.leg_succeeded("medical_insurance")
        resp = httpx.get(f"http://127.0.0.1:{bound_port(server)}/metrics", timeout=5)
        assert resp.status_code == 200
        assert 'hub_legs_succeeded_total{department="medical_insurance"}' in resp.text
        assert "hub_build_info" in resp.text
        # Only the hub's registry: no default process/python collectors of the global registry.
        assert "python_gc_objects_collected_total" not in resp.text
    finally:
        stop_metrics_server(server, thread)
    assert not thread.is_alive()


def test_metrics_server_on_a_taken_port_names_the_address() -> None:
    server, thread = start_metrics_server("127.0.0.1:0")
    try:
        taken = f"127.0.0.1:{bound_port(server)}"
        with pytest.raises(ConfigError, match=taken):
            start_metrics_server(taken)
    finally:
        stop_metrics_server(server, thread)


@pytest.fixture
def api_url() -> Iterator[str]:
    """A FastAPI app with the middleware and /metrics, served by uvicorn on a free port."""
    app = FastAPI()
    app.add_middleware(HttpMetricsMiddleware)

    @app.get("/v1/cases/{case_id}")
    def get_case(case_id: str) -> dict[str, str]:
        return {"case_id": case_id}

    app.router.routes.append(metrics_route())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def test_api_metrics_use_route_templates_not_raw_paths(api_url: str) -> None:
    # Given requests for two different cases and a path that matches no route
    with httpx.Client(base_url=api_url, timeout=5) as client:
        assert client.get("/v1/cases/c-20260501-0001").status_code == 200
        assert client.get("/v1/cases/c-20260501-0002").status_code == 200
        assert client.get("/no/such/510104199001011234").status_code == 404
        # When /metrics is scraped from the API's own listener
        text = client.get("/metrics").text
    # Then requests are counted per template and no case id or path leaks into labels
    assert ('hub_http_requests_total{method="GET",route="/v1/cases/{case_id}",status="200"}'
            in text)
    assert 'route="unmatched",status="404"' in text
    assert "c-20260501" not in text and "510104199001011234" not in text


def test_a_slow_gauge_source_does_not_block_the_api(api_url: str) -> None:
    # Given a gauge source that waits until an API request has been served
    started, served = threading.Event(), threading.Event()
    outcome: list[bool] = []

    def slow_outbox() -> int:
        started.set()
        outcome.append(served.wait(timeout=5))
        return 0

    metrics.GAUGES.add_outbox_pending(slow_outbox)
    scrape = threading.Thread(target=lambda: httpx.get(f"{api_url}/metrics", timeout=20))
    scrape.start()
    # When the API is asked for a case while the scrape is in the source
    try:
        assert started.wait(timeout=10)
        resp = httpx.get(f"{api_url}/v1/cases/c-1", timeout=20)
        served.set()
    finally:
        scrape.join(timeout=20)
    # Then the request was served while the source was still waiting (no event-loop block)
    assert resp.status_code == 200
    assert outcome == [True]
