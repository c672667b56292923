"""Fan-out baseline: the same hops written by hand with plain pika, for comparison.

    python -m bench.baseline [--cases N]

Intake publishes each case (same JSON bodies as the hub bench) to a quorum ``cases`` queue with
publisher confirms (BlockingConnection: one confirm per publish, as plain pika does); a router
consumes it, publishes one leg per department to a direct exchange with confirms (persistent,
mandatory), then acks the case; three department consumers ack their legs. Every hop has its
own connection and thread. No store, no ledger, no validation: pure messaging.

``cases_per_s``: cases divided by the time from the first publish to the last leg acked.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from bench.common import bench_config, emit, env_int, sample_cases

DEPARTMENTS = ("social_security", "medical_insurance", "civil_affairs")
QUORUM = {"x-queue-type": "quorum"}
PERSISTENT = pika.BasicProperties(delivery_mode=2, content_type="application/json")


def _channel(url: str) -> tuple[pika.BlockingConnection, BlockingChannel]:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    return conn, ch


def declare(url: str) -> None:
    conn, ch = _channel(url)
    ch.exchange_declare("bl.dispatch", "direct", durable=True)
    ch.queue_declare("bl.cases", durable=True, arguments=QUORUM)
    for d in DEPARTMENTS:
        ch.queue_declare(f"bl.dept.{d}", durable=True, arguments=QUORUM)
        ch.queue_bind(f"bl.dept.{d}", "bl.dispatch", routing_key=d)
    conn.close()


def intake(url: str, bodies: list[bytes]) -> None:
    conn, ch = _channel(url)
    ch.confirm_delivery()
    for body in bodies:
        ch.basic_publish("", "bl.cases", body, PERSISTENT, mandatory=True)
    conn.close()


def router(url: str, n: int, done: threading.Event) -> None:
    conn, ch = _channel(url)
    ch.confirm_delivery()
    ch.basic_qos(prefetch_count=64)
    seen = 0
    for method, _props, body in ch.consume("bl.cases", inactivity_timeout=0.5):
        if method is None:
            if done.is_set():
                break
            continue
        case = json.loads(body)
        for d in DEPARTMENTS:  # one leg per department, each confirmed before the case's ack
            leg = json.dumps({"leg_id": f"{case['case_id']}:{d}", "department": d,
                              "payload": case}).encode()
            ch.basic_publish("bl.dispatch", d, leg, PERSISTENT, mandatory=True)
        ch.basic_ack(method.delivery_tag)
        seen += 1
        if seen >= n:
            break
    ch.cancel()
    conn.close()


def department(url: str, name: str, n: int, finished: dict[str, float]) -> None:
    conn, ch = _channel(url)
    ch.basic_qos(prefetch_count=64)
    stream = ch.consume(f"bl.dept.{name}", inactivity_timeout=30)
    for seen, (method, _props, _body) in enumerate(stream, start=1):
        if method is None:
            break
        ch.basic_ack(method.delivery_tag)
        if seen >= n:
            finished[name] = time.perf_counter()
            break
    ch.cancel()
    conn.close()


def run(n: int) -> dict[str, Any]:
    from tests.support import services

    cfg = bench_config()
    bodies = [json.dumps(c, ensure_ascii=False).encode() for c in sample_cases(cfg, n, seed=2)]
    vhost, url = services.create_vhost()
    try:
        declare(url)
        finished: dict[str, float] = {}
        done = threading.Event()
        consumers = [threading.Thread(target=department, args=(url, d, n, finished))
                     for d in DEPARTMENTS]
        route = threading.Thread(target=router, args=(url, n, done))
        for t in (*consumers, route):
            t.start()
        t0 = time.perf_counter()
        intake(url, bodies)
        route.join(600)
        done.set()
        for t in consumers:
            t.join(600)
        complete = len(finished) == len(DEPARTMENTS)
        elapsed = (max(finished.values()) if finished else time.perf_counter()) - t0
    finally:
        services.delete_vhost(vhost)
    return {"bench": "fan-out-baseline", "bus": "amqp", "client": f"pika {pika.__version__}",
            "cases": n, "complete": complete, "cases_per_s": round(n / elapsed, 1),
            "legs_per_s": round(3 * n / elapsed, 1), "seconds": round(elapsed, 2)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=env_int("BENCH_CASES", 2000))
    rec = run(ap.parse_args(argv).cases)
    emit(rec)
    return rec


if __name__ == "__main__":
    main()
