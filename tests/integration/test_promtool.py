"""Operations artefacts checked by the real tools: promtool on rules, config and exposition;
the dashboard and alert rules against the names the code exports; a real Prometheus scrape."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from hub.bus.base import QueueStats
from hub.observability import metrics
from hub.observability.metrics_http import bound_port, start_metrics_server, stop_metrics_server
from tests.support.prometheus import PrometheusServer, exercise_every_family
from tests.support.prometheus import prometheus as prometheus  # the fixture
from tests.support.services import require_promtool

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
# Series Prometheus itself creates for every target.
PROMETHEUS_BUILTIN = {"up"}


@pytest.fixture
def every_family() -> Iterator[None]:
    remove = exercise_every_family()
    yield
    remove()


def exposed_names() -> set[str]:
    text = metrics.exposition().decode()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def promtool(
    *args: str, stdin: bytes | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([require_promtool(), *args], input=stdin, capture_output=True,
                          cwd=cwd, timeout=60, check=False)


# ---------------------------------------------------------------- promtool


@pytest.mark.promtool
def test_alert_rule_unit_tests_pass() -> None:
    res = promtool("test", "rules", "alerts_test.yml", cwd=PROM_DIR)
    assert res.returncode == 0, (res.stdout + res.stderr).decode()


@pytest.mark.promtool
def test_scrape_config_and_rules_are_valid() -> None:
    res = promtool("check", "config", "prometheus.yml", cwd=PROM_DIR)
    assert res.returncode == 0, (res.stdout + res.stderr).decode()


@pytest.mark.promtool
@pytest.mark.usefixtures("every_family")
def test_promtool_check_metrics_reports_nothing_for_the_hub_exposition() -> None:
    exposition = metrics.exposition()
    # Guard: the check is only meaningful if every family has samples.
    assert b"hub_queue_depth{" in exposition and b"hub_bus_up " in exposition
    res = promtool("check", "metrics", stdin=exposition)
    assert res.returncode == 0 and not res.stdout and not res.stderr, (
        res.stdout + res.stderr).decode()


@pytest.mark.promtool
def test_promtool_check_metrics_would_catch_a_bad_name() -> None:
    # The check above can fail: a counter without _total is reported.
    bad = b"# HELP hub_bad A counter.\n# TYPE hub_bad counter\nhub_bad 1\n"
    res = promtool("check", "metrics", stdin=bad)
    assert res.stdout or res.stderr


# ---------------------------------------------------------------- names used by dashboards/rules

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (not functions, labels, keywords or durations)."""
    names = set(re.findall(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,", expr))
    expr = re.sub(r"label_values\([^)]*\)", " ", expr)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    for match in re.finditer(r"(?<![\w.$])([A-Za-z_:][\w:]*)\b(?!\s*\()", expr):
        if match.group(1).lower() not in _KEYWORDS:
            names.add(match.group(1))
    return names


def test_metric_name_extraction_finds_metrics_only() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, route) (rate(hub_x_bucket{a="b"}[5m])))'
            ' / on () y_total offset 15m > bool 2 and label_values(hub_z, department)')
    assert metric_names(expr) == {"hub_x_bucket", "y_total", "hub_z"}


def _dashboard_exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            is_query = key == "query" and isinstance(value, str) and "(" in value
            if is_query or (key in ("expr", "definition") and isinstance(value, str)):
                yield value
            else:
                yield from _dashboard_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _dashboard_exprs(item)


@pytest.mark.usefixtures("every_family")
def test_every_dashboard_query_uses_metrics_the_hub_exports() -> None:
    exprs = list(_dashboard_exprs(json.loads(DASHBOARD.read_text(encoding="utf-8"))))
    assert len(exprs) >= 15
    known = exposed_names() | PROMETHEUS_BUILTIN
    for expr in exprs:
        used = metric_names(expr)
        assert used, f"no metric in {expr!r}"
        assert used <= known, f"{expr!r} uses unknown {used - known}"


@pytest.mark.usefixtures("every_family")
def test_every_alert_rule_uses_metrics_the_hub_exports() -> None:
    rules = yaml.safe_load((PROM_DIR / "alerts.yml").read_text(encoding="utf-8"))
    known = exposed_names() | PROMETHEUS_BUILTIN
    alerts = [r for g in rules["groups"] for r in g["rules"]]
    assert {r["alert"] for r in alerts} >= {
        "DepartmentFailing", "DeadLettersGrowing", "BacklogTooOld", "OutboxStuck",
        "NoCasesDuringWorkingHours", "BusDown", "TargetDown"}
    for rule in alerts:
        used = metric_names(rule["expr"])
        assert used and used <= known, f"{rule['alert']} uses unknown {used - known}"


# ---------------------------------------------------------------- a real Prometheus server


@pytest.mark.promtool
def test_real_prometheus_scrapes_the_metrics_server_and_answers_queries(
    prometheus: Callable[..., PrometheusServer],
) -> None:
    # Given a worker-style metrics server with a few values set
    remove = metrics.GAUGES.add_queue_stats(
        lambda: {"medical_insurance": QueueStats(depth=42, oldest_age_s=7.0)})
    for _ in range(3):
        metrics.leg_dispatched("civil_affairs")
    expected = metrics.REGISTRY.get_sample_value(
        "hub_legs_dispatched_total", {"department": "civil_affairs"})
    server, thread = start_metrics_server("127.0.0.1:0")
    try:
        # When a real Prometheus scrapes it every second
        prom = prometheus([f"127.0.0.1:{bound_port(server)}"], scrape_interval_s=1.0)
        # Then the values come back through Prometheus's HTTP API
        info = prom.wait_for("hub_build_info")
        assert info[0]["metric"]["version"] == _build_version()
        counter = prom.wait_for('hub_legs_dispatched_total{department="civil_affairs"}')
        assert float(counter[0]["value"][1]) == expected
        depth = prom.query('hub_queue_depth{department="medical_insurance"}')
        assert float(depth[0]["value"][1]) == 42
        assert float(prom.query("up")[0]["value"][1]) == 1
    finally:
        stop_metrics_server(server, thread)
        remove()


def _build_version() -> str:
    for fam in text_string_to_metric_families(metrics.exposition().decode()):
        if fam.name == "hub_build_info":
            return str(fam.samples[0].labels["version"])
    raise AssertionError("hub_build_info missing")
