"""A real Prometheus server (Debian's ``/usr/bin/prometheus``) for tests, and metric helpers.

``run_prometheus(targets, tmp_dir)`` starts Prometheus on a free loopback port with a temporary
config and storage directory, scraping ``targets`` (``host:port`` strings) every second, waits
until it is ready, and stops it on exit::

    with run_prometheus(["127.0.0.1:9101"], tmp_path) as prom:
        result = prom.wait_for("hub_build_info")        # waits until the query has samples
        prom.query('sum(hub_legs_dispatched_total)')   # one instant query

The ``prometheus`` fixture is a factory for tests: ``prom = prometheus(["127.0.0.1:9101"])``;
every server it started is stopped at teardown. Import it into a test module (or a conftest)
with ``from tests.support.prometheus import prometheus as prometheus`` (explicit re-export).

``exercise_every_family()`` touches every metric family of ``hub.observability.metrics`` once, so that an
exposition contains a sample of each (for promtool and the dashboard checks).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.services import free_port, missing

PROMETHEUS = "/usr/bin/prometheus"


def require_prometheus() -> str:
    path = PROMETHEUS if os.path.exists(PROMETHEUS) else shutil.which("prometheus")
    if path is None:
        missing("prometheus is not installed (Debian package prometheus; make test installs it)")
        raise AssertionError("unreachable")
    return path


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    log_file: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; returns the ``result`` list of the vector."""
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        resp.raise_for_status()
        body = resp.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def wait_for(self, expr: str, timeout_s: float = 20.0,
                 until: Callable[[list[dict[str, Any]]], bool] = bool) -> list[dict[str, Any]]:
        """Repeat ``expr`` until ``until(result)`` (default: any sample); fail after timeout."""
        deadline = time.monotonic() + timeout_s
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if until(result):
                return result
            time.sleep(0.25)
        raise AssertionError(
            f"{expr!r} not satisfied after {timeout_s}s; last result {result}; "
            f"targets {self.targets()}; log tail:\n{self.log_tail()}")

    def targets(self) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.url}/api/v1/targets", timeout=5)
        return list(resp.json()["data"]["activeTargets"])

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def write_config(targets: Sequence[str], path: Path, *, scrape_interval_s: float = 1.0,
                 metrics_path: str = "/metrics", job: str = "hub") -> Path:
    interval = f"{round(scrape_interval_s * 1000)}ms"  # Prometheus durations take no decimals
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval,
                   "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": job, "metrics_path": metrics_path,
                            "static_configs": [{"targets": list(targets)}]}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@contextmanager
def run_prometheus(targets: Sequence[str], tmp_dir: Path, *, scrape_interval_s: float = 1.0,
                   metrics_path: str = "/metrics", job: str = "hub",
                   ready_timeout_s: float = 20.0) -> Iterator[PrometheusServer]:
    exe = require_prometheus()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(targets, tmp_dir / "prometheus.yml", scrape_interval_s=scrape_interval_s,
                          metrics_path=metrics_path, job=job)
    port = free_port()
    log_file = tmp_dir / "prometheus.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [exe, f"--config.file={config}", f"--storage.tsdb.path={tmp_dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h",
             "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_dir)
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, log_file)
    try:
        _wait_ready(server, ready_timeout_s)
        yield server
    finally:
        server.stop()


def _wait_ready(server: PrometheusServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"prometheus exited early:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"prometheus not ready after {timeout_s}s:\n{server.log_tail()}")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """Factory: ``prometheus(targets, **run_prometheus_kwargs)`` -> a running server."""
    stack: list[Any] = []

    def start(targets: Sequence[str], **kwargs: Any) -> PrometheusServer:
        cm = run_prometheus(targets, tmp_path / f"prometheus-{len(stack)}", **kwargs)
        server = cm.__enter__()
        stack.append(cm)
        return server

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


def exercise_every_family() -> Callable[[], None]:
    """Touch every family in ``hub.observability.metrics`` once; returns a function removing
    the gauge sources."""
    from hub.bus.base import QueueStats
    from hub.domain.circuit import CircuitState
    from hub.observability import metrics

    metrics.case_received("birth_registration", "accepted")
    metrics.leg_dispatched("social_security")
    metrics.leg_succeeded("social_security")
    metrics.leg_failed("civil_affairs")
    with metrics.observe_request("social_security", "submit"):
        pass
    metrics.case_settled(120.0)
    metrics.retry_scheduled("medical_insurance", 1)
    metrics.dead_lettered("civil_affairs", "rejected")
    metrics.http_request("/v1/cases/{case_id}", "GET", 200, 0.01)
    removers = [
        metrics.GAUGES.add_queue_stats(
            lambda: {"social_security": QueueStats(depth=3, oldest_age_s=12.5)}),
        metrics.GAUGES.add_outbox_pending(lambda: 2),
        metrics.GAUGES.add_circuit_state("social_security", lambda: CircuitState.CLOSED.gauge),
        metrics.GAUGES.add_bus_up(lambda: True),
        metrics.GAUGES.add_audit_unsealed_age(lambda: 0.05),
        metrics.TOWN_CASES.add(lambda: {("513401101", "TOWN_HOUSE"): (2, 1)}),
    ]

    def remove() -> None:
        for r in removers:
            r()

    return remove
