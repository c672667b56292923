"""Cluster benchmark: the hub's fan-out on a three-node RabbitMQ cluster, and its recovery.

    python -m bench.cluster [--cases N] [--rate R] [--phase-s S]

Starts three local RabbitMQ nodes (``tests.support.rabbit_cluster``: Debian's rabbitmq-server,
own node names, ports and data dirs), then prints one JSON object per line:

* ``cluster-fan-out``: ``bench.fanout``'s saturation figure (N cases, all state persisted in
  PostgreSQL, workers as threads) on the cluster (``HUB_BUS_URL`` = the three nodes, every queue
  a quorum queue with three members) and, in the same run, on the machine's single broker:
  ``cases_per_s``, ``single_node_cases_per_s``, ``ratio_to_single_node``.
* ``cluster-recovery``: cases offered at a steady R/s to the hub on the cluster while, in turn,
  the node leading the department queues is killed (``kill -9``), restarted, and the node then
  leading most department queues is stopped (``rabbitmqctl stop``). Per fault: the longest time
  no case completed (``stall_s``), the time until the completion rate over one second is back
  at half the rate of the five seconds before the fault (``recovered_s``), for the restart how
  long the node took to be back (``restart_s``); at the end ``lost`` (offered cases never
  persisted in 120 s). Offer less than the hub manages here, or recovery cannot show.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from bench.common import Env, bench_config, emit, env_int, hub_env, sample_cases
from bench.fanout import Hub, saturation
from hub.bus.base import dept_queue
from hub.config.loading import HubConfig
from hub.config.settings import Settings
from tests.support.rabbit_cluster import Node, RabbitCluster


def cluster_env(cluster: RabbitCluster, env: Env) -> Env:
    """``env`` (fresh PostgreSQL database, temp dir) with the bus on the cluster's nodes."""
    fields = env.settings.model_dump()
    fields["bus_url"] = cluster.urls()
    return Env("amqp", Settings(**fields), env.tmp)


def fan_out(cluster: RabbitCluster, cfg: HubConfig, n: int) -> dict[str, Any]:
    cases = sample_cases(cfg, n, seed=2)
    warm = sample_cases(cfg, 20, seed=1)
    out: dict[str, float] = {}
    for where in ("single", "cluster"):
        with hub_env("amqp", namespace=f"bc{where}") as env:
            run_env = cluster_env(cluster, env) if where == "cluster" else env
            hub = Hub(run_env, cfg, "threads")
            try:
                hub.persisted.wait([hub.intake(c) for c in warm], 60)
                out[where] = float(saturation(hub, cases, 60.0 + n / 10.0)["cases_per_s"])
            finally:
                hub.close()
    return {"bench": "cluster-fan-out", "bus": "amqp", "nodes": len(cluster.nodes),
            "cases": n, "cases_per_s": out["cluster"],
            "single_node_cases_per_s": out["single"],
            "ratio_to_single_node": round(out["cluster"] / out["single"], 3)
            if out["single"] else None}


class Offered:
    """Intake at a steady rate on a thread; completions come from the tracker hook."""

    def __init__(self, hub: Hub, cfg: HubConfig, rate: float) -> None:
        self.hub, self.cfg, self.rate = hub, cfg, rate
        self.ids: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="offered", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        seed, start, sent = 100, time.perf_counter(), 0
        while not self.stop.is_set():
            for case in sample_cases(self.cfg, 20, seed=seed):
                due = start + sent / self.rate
                time.sleep(max(0.0, due - time.perf_counter()))
                self.ids.append(self.hub.intake(case))
                sent += 1
                if self.stop.is_set():
                    return
            seed += 1

    def completions(self) -> list[float]:
        return sorted(self.hub.persisted.done_at.values())


def recovery_after(done: list[float], at: float, until: float,
                   before_s: float = 5.0) -> dict[str, float]:
    """Completions from ``at`` (a fault) to ``until`` (the next one) against the rate over the
    ``before_s`` before the fault: the longest gap with no completion (``stall_s``) and when a
    one-second window first reached half the rate before (``recovered_s``, -1 if never)."""
    base = sum(1 for t in done if at - before_s <= t < at) / before_s
    after = [t for t in done if at <= t < until]
    stall, prev = 0.0, at
    for t in after:
        stall, prev = max(stall, t - prev), t
    stall = max(stall, (until - prev) if after else until - at)
    recovered = -1.0
    for i, t in enumerate(after):
        if sum(1 for u in after[i:] if u < t + 1.0) >= max(1.0, base / 2):
            recovered = round(t - at, 2)
            break
    return {"rate_before_per_s": round(base, 1), "stall_s": round(stall, 2),
            "recovered_s": recovered}


def leader_of_most(cluster: RabbitCluster, cfg: HubConfig, namespace: str) -> Node:
    leaders = [cluster.leader_of(dept_queue(namespace, d)) for d in cfg.departments]
    return max(leaders, key=leaders.count)


def recovery(cluster: RabbitCluster, cfg: HubConfig, rate: float, phase_s: float) -> dict[str, Any]:
    faults: dict[str, Any] = {}
    with hub_env("amqp", namespace="bcrecovery") as env:
        hub = Hub(cluster_env(cluster, env), cfg, "threads")
        ns = env.settings.namespace
        load = Offered(hub, cfg, rate)
        try:
            time.sleep(phase_s)
            victim = leader_of_most(cluster, cfg, ns)
            at_kill = time.perf_counter()
            cluster.kill9(victim)
            time.sleep(phase_s)
            t0 = time.monotonic()
            cluster.start(victim)
            restart_s = round(time.monotonic() - t0, 1)
            at_restart = time.perf_counter()
            time.sleep(phase_s)
            leader = leader_of_most(cluster, cfg, ns)
            at_stop = time.perf_counter()
            cluster.stop(leader)
            time.sleep(phase_s)
            at_end = time.perf_counter()
        finally:
            load.stop.set()
            load.thread.join(30)
        complete = hub.persisted.wait(load.ids, 120)
        done = load.completions()
        faults = {"kill9": {"node": victim.index, **recovery_after(done, at_kill, at_restart)},
                  "restart": {"node": victim.index, "restart_s": restart_s,
                              **recovery_after(done, at_restart, at_stop)},
                  "stop_leader": {"node": leader.index,
                                  **recovery_after(done, at_stop, at_end)}}
        lost = sum(1 for i in load.ids if i not in hub.persisted.done_at)
        hub.close()
        cluster.start(leader)
    return {"bench": "cluster-recovery", "bus": "amqp", "nodes": len(cluster.nodes),
            "offered_per_s": rate, "offered": len(load.ids), "lost": lost,
            "all_persisted": complete, **faults}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=env_int("BENCH_CLUSTER_CASES", 1000))
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--phase-s", type=float, default=10.0)
    args = ap.parse_args(argv)
    cfg = bench_config()
    cluster = RabbitCluster()
    out: list[dict[str, Any]] = []
    try:
        started = time.monotonic()
        cluster.form()
        emit({"bench": "cluster-start", "nodes": len(cluster.nodes),
              "formed_s": round(time.monotonic() - started, 1)})
        for rec in (fan_out(cluster, cfg, args.cases),
                    recovery(cluster, cfg, args.rate, args.phase_s)):
            emit(rec)
            out.append(rec)
    finally:
        cluster.close()
    return out


if __name__ == "__main__":
    main()
