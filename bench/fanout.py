"""Fan-out benchmark: cases through the hub's intake to four departments, all state persisted.

    python -m bench.fanout [--bus amqp,embedded] [--cases N] [--rate 100] [--rate-cases M]

Each case goes through what ``POST /v1/cases`` does after authentication (validation, routing,
the intake group committer: case + legs + outbox in one transaction shared with the other cases
submitted at the same moment), then the outbox relay, the bus, one worker per department of
the case (ledger, mapping, zero-latency stub adapter, event publish, ack) and the status
tracker, which persists every leg's ``dispatched`` and ``submitted`` change.

Figures:
* ``cases_per_s``: N cases submitted by 4 intake threads as fast as they go, divided by the
  time from the first intake to the tracker having persisted the last leg's ``submitted``.
* ``p50_ms`` / ``p99_ms``: at a fixed offered rate (default 100 cases/s), intake start to the
  last of the case's legs arriving at its (stub) department. ``persisted_p99_ms`` is the
  same to the tracker having stored that leg's ``submitted`` state.
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import (
    FANOUT_ITEM,
    Env,
    StubAdapter,
    bench_config,
    case_bytes,
    emit,
    env_int,
    env_list,
    hub_env,
    percentile,
    sample_cases,
    spawn,
)
from hub.config.loading import HubConfig
from hub.domain.models import LegEvent, LegEventKind
from hub.intake import split_legs as router
from hub.intake.api.routes_cases import body_hash
from hub.intake.group_commit import GroupCommitter
from hub.intake.validation import validate_case
from hub.runtime.wiring import Runtime
from hub.store.base import ApplyResult


class Persisted:
    """Tracker hook: when each case had all its legs' ``submitted`` state stored."""

    def __init__(self, legs_per_case: int) -> None:
        self.legs_per_case = legs_per_case
        self._seen: dict[str, int] = {}
        self.done_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    def hook(self, event: LegEvent, result: ApplyResult) -> None:
        if not result.applied or event.kind is not LegEventKind.SUBMITTED:
            return
        now = time.perf_counter()
        cid = str(event.case_id)
        with self._cond:
            n = self._seen[cid] = self._seen.get(cid, 0) + 1
            if n == self.legs_per_case:
                self.done_at[cid] = now
                self._cond.notify_all()

    def wait(self, ids: list[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not all(i in self.done_at for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True


class Hub:
    """The hub's core started for a benchmark: relay, tracker, a worker with a stub per department.

    ``workers="threads"`` runs the workers in this process (as ``hub run`` does);
    ``workers="processes"`` runs each in a process of its own (``bench.stub_worker``, as a
    deployment runs ``hub serve`` and one ``hub worker`` per department)."""

    def __init__(self, env: Env, cfg: HubConfig, workers: str = "threads") -> None:
        self.cfg = cfg
        self.workers = workers
        self.rt = Runtime.open(env.settings, cfg)
        self.committer = GroupCommitter(self.rt.store,  # as POST /v1/cases does
                                        on_commit=self.rt.outbox_bell.ring)
        fanout = cfg.catalogue.get(FANOUT_ITEM)
        assert fanout is not None
        self.departments = list(fanout.departments)  # the legs every bench case fans out to
        self.persisted = Persisted(len(self.departments))
        self.stubs = {d: StubAdapter(d) for d in self.departments}
        self.children: list[subprocess.Popen[str]] = []
        self.arrival_files = [env.tmp / f"arrivals-{d}.tsv" for d in self.departments]
        self.rt.start_relay()
        self.rt.start_tracker(self.persisted.hook)
        if workers == "processes":
            for name, path in zip(self.departments, self.arrival_files, strict=True):
                child = spawn(["-m", "bench.stub_worker", "--department", name,
                               "--arrivals", str(path)], env.settings, stdout=subprocess.PIPE)
                self.children.append(child)
                assert child.stdout is not None and child.stdout.readline().strip() == "READY"
        else:
            for name, stub in self.stubs.items():
                self.rt.start_worker(name, stub, poll_interval_s=5.0)
        self.started: dict[str, float] = {}
        self.started_wall: dict[str, float] = {}

    def intake(self, raw: dict[str, Any]) -> str:
        t0, wall = time.perf_counter(), time.time()
        case = validate_case(raw, self.cfg)
        legs = router.route(case, self.cfg)
        result = self.committer.submit(case, legs, body_hash(case))
        assert result.created, "bench case ids are unique"
        cid = str(case.case_id)
        self.started[cid] = t0
        self.started_wall[cid] = wall
        return cid

    def delivery_ms(self, ids: list[str]) -> list[float]:
        """Intake start to the case's last leg arriving at its stub department."""
        if self.workers != "processes":
            return [(max(s.arrived[f"{cid}:{d}"] for d, s in self.stubs.items())
                     - self.started[cid]) * 1000 for cid in ids]
        arrived: dict[str, float] = {}
        for path in self.arrival_files:
            for line in path.read_text(encoding="utf-8").splitlines():
                leg, _, at = line.partition("\t")
                arrived[leg] = float(at)
        return [(max(arrived[f"{cid}:{d}"] for d in self.departments)
                 - self.started_wall[cid]) * 1000 for cid in ids]

    def close(self) -> None:
        self.committer.close()
        for child in self.children:
            child.terminate()
        for child in self.children:
            child.wait(timeout=60)
        self.rt.close()


def saturation(hub: Hub, cases: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    commits0 = hub.committer.batches
    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(hub.intake, cases))
    t_intake = time.perf_counter() - t0
    commits = hub.committer.batches - commits0
    ok = hub.persisted.wait(ids, timeout_s)
    done = [hub.persisted.done_at[i] for i in ids if i in hub.persisted.done_at]
    elapsed = (max(done) if done else time.perf_counter()) - t0
    return {"cases": len(ids), "completed": len(done), "complete": ok,
            "cases_per_s": round(len(done) / elapsed, 1),
            "intake_cases_per_s": round(len(ids) / t_intake, 1),
            "intake_cases_per_commit": round(len(ids) / max(commits, 1), 2),
            "seconds": round(elapsed, 2)}


def fixed_rate(hub: Hub, cases: list[dict[str, Any]], rate: float,
               timeout_s: float) -> dict[str, Any]:
    """Open loop: case n is submitted at start + n/rate by one of many client threads (as
    independent terminals would), whether or not earlier cases were answered yet."""
    accepted_ms: list[float] = []

    def submit(raw: dict[str, Any]) -> str:
        t0 = time.perf_counter()
        cid = hub.intake(raw)
        accepted_ms.append((time.perf_counter() - t0) * 1000)
        return cid

    futures = []
    start = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        for n, raw in enumerate(cases):
            pause = start + n / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            futures.append(pool.submit(submit, raw))
        ids = [f.result() for f in futures]
    achieved = len(ids) / (time.perf_counter() - start)
    ok = hub.persisted.wait(ids, timeout_s)
    ids = [i for i in ids if i in hub.persisted.done_at]
    delivered = hub.delivery_ms(ids)
    stored = [(hub.persisted.done_at[i] - hub.started[i]) * 1000 for i in ids]
    if not delivered:
        return {"offered_rate": rate, "complete": False}
    return {"offered_rate": rate, "achieved_rate": round(achieved, 1),
            "rate_cases": len(cases), "complete": ok,
            "intake_p50_ms": round(percentile(accepted_ms, 50), 2),
            "intake_p99_ms": round(percentile(accepted_ms, 99), 2),
            "p50_ms": round(percentile(delivered, 50), 2),
            "p99_ms": round(percentile(delivered, 99), 2),
            "max_ms": round(max(delivered), 2),
            "persisted_p50_ms": round(percentile(stored, 50), 2),
            "persisted_p99_ms": round(percentile(stored, 99), 2)}


def run(bus: str, n: int, rate: float, rate_cases: int,
        workers: str = "threads") -> dict[str, Any]:
    cfg = bench_config()
    warm = sample_cases(cfg, 20, seed=1)
    sat = sample_cases(cfg, n, seed=2)
    paced = sample_cases(cfg, rate_cases, seed=3)
    timeout = 60.0 + n / 20.0
    with hub_env(bus) as env:
        hub = Hub(env, cfg, workers)
        try:
            hub.persisted.wait([hub.intake(c) for c in warm], 60)  # connections, caches, JIT-free
            s = saturation(hub, sat, timeout)
            p = fixed_rate(hub, paced, rate, timeout)
        finally:
            hub.close()
    store = "postgresql" if env.settings.store_dsn else "sqlite"
    return {"bench": "fan-out", "bus": bus, "store": store, "workers": workers,
            "departments": len(cfg.catalogue.get(FANOUT_ITEM).departments),  # type: ignore[union-attr]
            "case_bytes": case_bytes(sat[0]) if sat else 0, **s, **p}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bus", default=",".join(env_list("BENCH_BUSES", "amqp,embedded")))
    ap.add_argument("--cases", type=int, default=env_int("BENCH_CASES", 2000))
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--rate-cases", type=int, default=env_int("BENCH_RATE_CASES", 1000))
    ap.add_argument("--workers", default=",".join(env_list("BENCH_WORKERS",
                                                           "threads,processes")),
                    help="threads (one process, as hub run), processes (as hub serve + "
                         "hub worker per department), or both")
    args = ap.parse_args(argv)
    out = []
    for bus in args.bus.split(","):
        for workers in args.workers.split(","):
            rec = run(bus, args.cases, args.rate, args.rate_cases, workers)
            emit(rec)
            out.append(rec)
    return out


if __name__ == "__main__":
    main()
