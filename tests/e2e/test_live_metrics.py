"""A running hub on RabbitMQ, scraped by a real Prometheus server (Debian package, loopback)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulators.demo import drive
from tests.integration.test_promtool import DASHBOARD, PROMETHEUS_BUILTIN, _dashboard_exprs, metric_names
from tests.support.hub import running_hub
from tests.support.prometheus import PrometheusServer
from tests.support.prometheus import prometheus as prometheus
from tests.support.services import require_promtool

pytestmark = pytest.mark.slow


def test_prometheus_scrapes_a_running_hub_on_rabbitmq(
        hub_data_dir: Path, amqp_url: str, namespace: str,
        prometheus: Callable[..., PrometheusServer]) -> None:
    # Given a hub on RabbitMQ that has handled some cases
    with running_hub(hub_data_dir, bus_url=amqp_url, namespace=namespace) as hub:
        result = drive(hub.rt, hub.url, cases=10, timeout_s=60)
        assert result.settled == 10
        target = hub.url.removeprefix("http://")
        # When a real Prometheus server scrapes its /metrics
        server = prometheus([target])
        # Then the figures can be queried back
        received = server.wait_for('sum(hub_cases_received_total{outcome="accepted"})',
                                   until=lambda r: bool(r) and float(r[0]["value"][1]) >= 10)
        assert float(received[0]["value"][1]) >= 10  # the registry is per process
        server.wait_for("hub_bus_up == 1")
        succeeded = server.wait_for("sum(hub_legs_succeeded_total)")
        assert float(succeeded[0]["value"][1]) >= 10
        depth = server.wait_for("hub_queue_depth")
        assert {s["metric"]["department"] for s in depth} == set(hub.rt.cfg.departments)
        assert len(hub.rt.cfg.departments) >= 7  # every configured department has its queue
        # And the exposition passes promtool, and the dashboard only asks for names it exports
        text = httpx.get(f"{hub.url}/metrics", timeout=5).text
        check = subprocess.run([require_promtool(), "check", "metrics"], input=text.encode(),
                               capture_output=True, check=False)
        assert check.returncode == 0 and not check.stdout and not check.stderr, check
        live = {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}
        _assert_dashboard_uses(live)
        labels = " ".join(re.findall(r"\{([^}]*)\}", text))
        assert not re.search(r"\d{17}[\dX]|1[3-9]\d{9}", labels)  # no person in any label


def _assert_dashboard_uses(live: set[str]) -> None:
    dashboard: Any = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    known = live | PROMETHEUS_BUILTIN
    missing: set[str] = set()
    for expr in _dashboard_exprs(dashboard):
        missing |= metric_names(expr) - known
    assert not missing, f"the dashboard queries names a running hub does not export: {missing}"
