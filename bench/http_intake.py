"""HTTP intake benchmark: accepted cases/s from ``hub serve`` with 1 or more API processes.

    python -m bench.http_intake [--bus embedded] [--cases N] [--concurrency 32] [--processes 1,2,4]

``hub serve`` runs in a child process (API + outbox relay + status tracker, as deployed); with
``--processes N`` above 1, ``hub serve --processes N`` (N such processes on one port). The
bench registers a terminal and records each case's attachments beforehand (not timed), then an
asyncio httpx client keeps ``concurrency`` ``POST /v1/cases`` requests in flight. Only answers
``202`` with ``created: true`` count. ``cases_per_s`` = accepted / wall time of the burst;
``p50_ms`` / ``p99_ms`` are per-request latencies under that load. The client runs in this
process, on the same two cores as the server (it is reported as ``client_cpu_s``).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import time
from typing import Any

import httpx

from bench.common import (
    VILLAGE,
    bench_config,
    case_bytes,
    emit,
    env_int,
    env_list,
    free_port,
    hub_env,
    percentile,
    sample_cases,
    spawn,
)
from hub.domain.models import utcnow
from hub.store import open_store
from hub.store.base import AttachmentRow


def prepare(dsn: str, cases: list[dict[str, Any]]) -> str:
    """A terminal token, and an upload record for every attachment the cases refer to."""
    store = open_store(dsn)
    try:
        terminal_id, token = store.add_terminal(VILLAGE, "bench terminal")
        for case in cases:
            case["origin"]["terminal_id"] = terminal_id  # the hub refuses any other origin
            for a in case["attachments"]:
                store.record_attachment(AttachmentRow(
                    id=a["id"], village=VILLAGE, terminal_id=terminal_id, kind=a["kind"],
                    media_type=a["media_type"], size=a["size"], sha256=a["sha256"],
                    key_id="bench", created_at=utcnow()))
    finally:
        store.close()
    return token


async def wait_ready(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get("/healthz")).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("hub serve did not start")


async def burst(url: str, token: str, cases: list[dict[str, Any]],
                concurrency: int) -> tuple[int, list[float], float, dict[int, int]]:
    queue = list(reversed(cases))
    latencies: list[float] = []
    codes: dict[int, int] = {}
    accepted = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        async def one() -> None:
            nonlocal accepted
            while queue:
                case = queue.pop()
                t0 = time.perf_counter()
                r = await http.post("/v1/cases", json=case)
                latencies.append((time.perf_counter() - t0) * 1000)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code == 202 and r.json().get("created"):
                    accepted += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return accepted, latencies, elapsed, codes


def run(bus: str, n: int, concurrency: int, processes: int = 1) -> dict[str, Any]:
    cfg = bench_config()
    warm, cases = sample_cases(cfg, 50, seed=11), sample_cases(cfg, n, seed=12)
    with hub_env(bus) as env:
        token = prepare(env.settings.effective_store_dsn(), warm + cases)
        port = free_port()
        many = ["--processes", str(processes)] if processes > 1 else []
        server = spawn(["-m", "hub.cli.main", "serve", "--listen", f"127.0.0.1:{port}", *many],
                       env.settings, stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            asyncio.run(wait_ready(url))
            asyncio.run(burst(url, token, warm, 8))
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            accepted, lat, elapsed, codes = asyncio.run(burst(url, token, cases, concurrency))
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            server.terminate()
            server.wait(30)
    client_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {"bench": "http-intake", "bus": bus,
            "store": "postgresql" if env.settings.store_dsn else "sqlite",
            "processes": processes, "cases": n, "accepted": accepted,
            "concurrency": concurrency,
            "case_bytes": case_bytes(cases[0]) if cases else 0,
            "cases_per_s": round(accepted / elapsed, 1),
            "p50_ms": round(percentile(lat, 50), 2) if lat else None,
            "p99_ms": round(percentile(lat, 99), 2) if lat else None,
            "status_codes": {str(k): v for k, v in sorted(codes.items())},
            "seconds": round(elapsed, 2), "client_cpu_s": round(client_cpu, 2)}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bus", default=",".join(env_list("BENCH_BUSES", "amqp,embedded")))
    ap.add_argument("--cases", type=int, default=env_int("BENCH_HTTP_CASES", 2000))
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--processes", default="1", help="API processes, e.g. 1,2,4")
    args = ap.parse_args(argv)
    out = []
    for bus in args.bus.split(","):
        for processes in (int(p) for p in args.processes.split(",")):
            rec = run(bus, args.cases, args.concurrency, processes)
            emit(rec)
            out.append(rec)
    return out


if __name__ == "__main__":
    main()
