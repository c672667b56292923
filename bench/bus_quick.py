"""Quick bus throughput: persistent, confirmed messages/s through publish -> consume -> ack.

    python -m bench.bus_quick [--messages 20000] [--size 2048] [--bus embedded,amqp,memory]

Prints one JSON object per bus. A publisher thread publishes batches (pipelined confirms) while
one batch consumer (``consume_batch``, up to 256 at once) acks; the clock stops when the last
message is acked. The AMQP run uses a throwaway vhost on 127.0.0.1:5672 (removed afterwards)
unless --amqp-url is given.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from hub.bus.base import Ack, Bus, Delivery, Message, Outcome
from hub.domain.retry import RetryTiers


def run(bus: Bus, kind: str, n: int, size: int, batch: int) -> dict[str, object]:
    bus.declare({"bench": RetryTiers()})
    body = os.urandom(size // 2).hex().encode()
    done = threading.Event()
    count = [0]

    def handler(batch: Sequence[Delivery]) -> list[Outcome]:
        count[0] += len(batch)
        if count[0] >= n:
            done.set()
        return [Ack()] * len(batch)

    stop = threading.Event()
    consumer = threading.Thread(
        target=bus.consume_batch, args=(f"{bus.namespace}.dept.bench", handler),
        kwargs={"stop": stop, "max_batch": 256}, daemon=True)
    t0 = time.perf_counter()
    consumer.start()
    for start in range(0, n, batch):
        bus.publish("dispatch", [Message(f"b{i}", "bench", body)
                                 for i in range(start, min(n, start + batch))])
    t_pub = time.perf_counter() - t0
    done.wait(600)
    total = time.perf_counter() - t0
    stop.set()
    consumer.join(30)
    return {"bench": "bus_quick", "bus": kind, "messages": n, "size_bytes": size,
            "batch": batch, "publish_msgs_per_s": round(n / t_pub),
            "end_to_end_msgs_per_s": round(count[0] / total), "seconds": round(total, 2),
            "delivered": count[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--bus", default="embedded,amqp")
    ap.add_argument("--amqp-url", default=None)
    args = ap.parse_args()
    for kind in args.bus.split(","):
        if kind == "embedded":
            from hub.bus.embedded import EmbeddedBus

            with tempfile.TemporaryDirectory() as tmp:
                bus: Bus = EmbeddedBus(Path(tmp) / "bus.db", "bench")
                print(json.dumps(run(bus, kind, args.messages, args.size, args.batch)),
                      flush=True)
                bus.close()
        elif kind == "memory":
            from hub.bus.memory import MemoryBus

            print(json.dumps(run(MemoryBus("bench"), kind, args.messages, args.size, args.batch)),
                  flush=True)
        elif kind == "amqp":
            from hub.bus.amqp import AmqpBus
            from tests.support import services

            vhost = None
            url = args.amqp_url
            if url is None:
                vhost, url = services.create_vhost()
            try:
                bus = AmqpBus(url, "bench")
                print(json.dumps(run(bus, kind, args.messages, args.size, args.batch)),
                      flush=True)
                bus.close()
            finally:
                if vhost:
                    services.delete_vhost(vhost)


if __name__ == "__main__":
    main()
