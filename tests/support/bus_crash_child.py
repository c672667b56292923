"""Child process for kill tests: consume one queue, print each delivery, then hang.

    python -m tests.support.bus_crash_child '<spec json>' QUEUE

Prints ``GOT <message id> <attempt>`` (flushed) for each delivery and never settles it, so the
parent can SIGKILL this process while it holds unacked (AMQP) / leased (embedded) messages.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from hub.bus.base import Bus, Delivery, Outcome
from hub.domain.retry import RetryTiers


def main() -> None:
    spec = json.loads(sys.argv[1])
    queue = sys.argv[2]
    deps = {d: RetryTiers(tuple(t), int(n)) for d, (t, n) in spec["departments"].items()}
    bus: Bus
    if spec["kind"] == "amqp":
        from hub.bus.amqp import AmqpBus

        bus = AmqpBus(spec["target"], spec["namespace"])
    else:
        from hub.bus.embedded import EmbeddedBus

        bus = EmbeddedBus(Path(spec["target"]), spec["namespace"], lease_s=1.0, poll_s=0.02)
    bus.declare(deps)

    def handler(batch: Sequence[Delivery]) -> list[Outcome]:
        for d in batch:
            print(f"GOT {d.message.id} {d.attempt}", flush=True)
        while True:
            time.sleep(60)

    bus.consume_batch(queue, handler, stop=threading.Event(), max_batch=1)


if __name__ == "__main__":
    main()
