"""Backlog drain: legs queued for a department that was down, then its worker comes back.

    python -m bench.backlog [--bus amqp] [--legs 100000] [--small 10000] [--department NAME]

For each backlog size (``--small``, then ``--legs``), in a fresh namespace: publish that many
leg messages to the department's queue while no worker runs, then start one worker in a child
process (stub adapter, the bench's rate limit) and time until it has submitted every leg. The
child reports its own peak RSS (``VmHWM``), so ``rss_growth_mib`` compares the worker with 10k
queued to the worker with 100k queued: it must stay flat (prefetch bounds what it holds).
The configured rate limit is reported with ``drain_at_configured_rate_s`` (legs / rate):
the time an outage backlog takes to drain in production if the worker keeps up with the limit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

from bench.common import (
    BENCH_RATE_PER_S,
    StubAdapter,
    bench_config,
    emit,
    env_int,
    env_list,
    hub_env,
    proc_kib,
    sample_cases,
    spawn,
)
from hub.bus.base import Message
from hub.bus.factory import open_bus, tiers_of
from hub.config.loading import load_config
from hub.config.settings import Settings, default_config_dir
from hub.intake import split_legs as router
from hub.intake.validation import validate_case


def fill(settings: Settings, department: str, n: int) -> None:
    """Queue ``n`` distinct legs for ``department`` (no worker is running)."""
    cfg = bench_config()
    bus = open_bus(settings)
    try:
        bus.declare(tiers_of(cfg.departments))
        case = validate_case(sample_cases(cfg, 1, seed=21)[0], cfg)
        leg = next(g for g in router.route(case, cfg) if g.department == department)
        batch: list[Message] = []
        for i in range(n):
            cid = uuid.UUID(int=i + 1, version=4)
            msg = leg.model_copy(update={"message_id": uuid.uuid4().hex, "case_id": cid,
                                         "leg_id": f"{cid}:{department}"})
            batch.append(Message(msg.message_id, department, msg.model_dump_json().encode()))
            if len(batch) == 1000 or i == n - 1:
                bus.publish("dispatch", batch)
                batch = []
    finally:
        bus.close()


def worker_child(department: str, expect: int, rate: float) -> None:
    """Child process: run one worker until ``expect`` legs were submitted; print figures."""
    from hub.runtime.wiring import Runtime

    settings = Settings()
    cfg = bench_config(rate)
    rt = Runtime.open(settings, cfg)
    stub = StubAdapter(department, record=False)
    stub.target = expect
    rss0 = proc_kib("self", "VmRSS")
    t0 = time.perf_counter()
    rt.start_worker(department, stub, poll_interval_s=5.0)
    reached = stub.reached.wait(3600)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"drained": reached, "submitted": stub.count, "seconds": elapsed,
                      "rss_start_kib": rss0, "vmhwm_kib": proc_kib("self", "VmHWM")}),
          flush=True)
    rt.close()


def drain(bus: str, department: str, n: int, rate: float) -> dict[str, Any]:
    with hub_env(bus, postgres=False) as env:
        t0 = time.perf_counter()
        fill(env.settings, department, n)
        fill_s = time.perf_counter() - t0
        child = spawn(["-m", "bench.backlog", "--child", department, str(n), str(rate)],
                      env.settings, stdout=-1)
        out, _ = child.communicate(timeout=3600)
    lines = [x for x in out.splitlines() if x.startswith("{")]
    fig = json.loads(lines[-1]) if lines else {"drained": False}
    fig["fill_s"] = fill_s
    return fig


def run(bus: str, department: str, small: int, large: int, rate: float) -> dict[str, Any]:
    configured = load_config(default_config_dir()).departments[department].rate_limit_per_s
    a = drain(bus, department, small, rate)
    b = drain(bus, department, large, rate)
    secs = float(b.get("seconds", 0.0)) or 1e-9
    return {"bench": "backlog", "bus": bus, "department": department, "legs": large,
            "drained": bool(a.get("drained")) and bool(b.get("drained")),
            "drain_s": round(secs, 2), "legs_per_s": round(large / secs, 1),
            "rate_limit_per_s": rate, "configured_rate_limit_per_s": configured,
            "drain_at_configured_rate_s": round(large / configured, 1),
            "fill_s": round(float(b["fill_s"]), 2),
            "small_legs": small, "small_drain_s": round(float(a.get("seconds", 0.0)), 2),
            "peak_rss_small_mib": round(a.get("vmhwm_kib", 0) / 1024, 1),
            "peak_rss_large_mib": round(b.get("vmhwm_kib", 0) / 1024, 1),
            "rss_growth_mib": round((b.get("vmhwm_kib", 0) - a.get("vmhwm_kib", 0)) / 1024, 1)}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        worker_child(argv[1], int(argv[2]), float(argv[3]))
        return []
    ap = argparse.ArgumentParser()
    ap.add_argument("--bus", default=",".join(env_list("BENCH_BACKLOG_BUSES", "amqp")))
    ap.add_argument("--department", default="civil_affairs")
    ap.add_argument("--legs", type=int, default=env_int("BENCH_BACKLOG", 100_000))
    ap.add_argument("--small", type=int, default=env_int("BENCH_BACKLOG_SMALL", 10_000))
    ap.add_argument("--rate", type=float, default=BENCH_RATE_PER_S)
    args = ap.parse_args(argv)
    out = []
    for bus in args.bus.split(","):
        rec = run(bus, args.department, args.small, args.legs, args.rate)
        emit(rec)
        out.append(rec)
    return out


if __name__ == "__main__":
    main()
