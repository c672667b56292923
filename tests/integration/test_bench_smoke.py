"""Smoke test of ``python -m bench`` at tiny scale: every benchmark runs and prints its figures.

It checks the JSON lines' shape only; timings are never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import services

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "fan-out": {"cases_per_s", "p50_ms", "p99_ms", "complete"},
    "fan-out-baseline": {"cases_per_s", "complete"},
    "http-intake": {"cases_per_s", "accepted"},
    "backlog": {"drain_s", "peak_rss_small_mib", "peak_rss_large_mib", "drained"},
    "attachment": {"upload_mb_per_s", "sftp_mb_per_s", "api_rss_growth_mib",
                   "delivery_rss_growth_mib", "delivered_intact"},
    "terminal-link": {"terminal_goodput_mbit", "curl_goodput_mbit", "goodput_ratio",
                      "wire_bytes_per_file_byte", "link_back_to_first_forward_s"},
}


@pytest.mark.timeout(300)
def test_every_benchmark_prints_its_figures_at_tiny_scale() -> None:
    # given RabbitMQ and PostgreSQL for the AMQP runs, and tiny sizes
    services.require_amqp()
    services.require_postgres()
    env = {**os.environ, "BENCH_CASES": "20", "BENCH_RATE_CASES": "20",
           "BENCH_HTTP_CASES": "20", "BENCH_BACKLOG": "1000", "BENCH_BACKLOG_SMALL": "200",
           "BENCH_SCAN_MB": "1", "BENCH_LINK_MB": "1", "BENCH_LINK_MBIT": "50"}
    # when the whole bench runs
    res = subprocess.run([sys.executable, "-m", "bench"], cwd=ROOT, env=env, text=True,
                         capture_output=True, timeout=290, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    # then each benchmark printed a JSON line with its figures, and every run completed
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    seen = {(rec["bench"], rec["bus"]) for rec in lines}
    assert {("fan-out", "amqp"), ("fan-out", "embedded"), ("fan-out-baseline", "amqp"),
            ("http-intake", "amqp"), ("http-intake", "embedded"), ("backlog", "amqp"),
            ("attachment", "embedded")} <= seen
    for rec in lines:
        missing = REQUIRED[rec["bench"]] - rec.keys()
        assert not missing, (rec["bench"], missing)
    assert all(r.get("complete", True) and r.get("drained", True) for r in lines)
    assert all(r["delivered_intact"] for r in lines if r["bench"] == "attachment")
    fanouts = {(r["bus"], r["workers"]) for r in lines if r["bench"] == "fan-out"}
    assert fanouts == {(b, w) for b in ("amqp", "embedded") for w in ("threads", "processes")}
    assert "ratio_to_baseline" in next(r for r in lines if r["bench"] == "fan-out"
                                       and r["bus"] == "amqp")
