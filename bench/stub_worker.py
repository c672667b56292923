"""One department worker in a process of its own, as ``hub worker`` runs in a deployment, with the
benchmark's zero-latency stub department in place of the real transport.

    python -m bench.stub_worker --department NAME --arrivals FILE

Settings come from ``HUB_*`` variables (``bench.common.settings_env``) and the configuration
from ``bench.common.bench_config``. Each leg's first arrival at the stub is appended to FILE as
``leg_id<TAB>unix time``; the file is complete once the process exited on SIGTERM. Prints
``READY`` once consuming.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import TextIO

from bench.common import StubAdapter, bench_config
from hub.bus.factory import open_bus, tiers_of
from hub.cli.serve import wait_for_signal
from hub.config.settings import get_settings
from hub.delivery.ledger import Ledger
from hub.delivery.worker import DepartmentWorker
from hub.domain.adapter import Receipt, SubmitRequest


class ArrivalStub(StubAdapter):
    """The stub department, writing each leg's first arrival (wall clock) to ``out``."""

    def __init__(self, department: str, out: TextIO) -> None:
        super().__init__(department, record=True)
        self.out = out

    def submit(self, request: SubmitRequest) -> Receipt:
        now = time.time()
        receipt = super().submit(request)
        if not receipt.duplicate:
            with self._lock:
                self.out.write(f"{request.leg_id}\t{now:.6f}\n")
        return receipt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--department", required=True)
    ap.add_argument("--arrivals", required=True)
    args = ap.parse_args()
    settings = get_settings(fresh=True)
    cfg = bench_config()
    bus = open_bus(settings)
    bus.declare(tiers_of(cfg.departments))
    ledger = Ledger(settings.data_dir / f"worker-{args.department}.db")
    with open(args.arrivals, "w", encoding="utf-8", buffering=1) as out:  # line-buffered
        worker = DepartmentWorker(args.department, cfg, bus, ArrivalStub(args.department, out),
                                  ledger)
        thread = threading.Thread(target=worker.run, kwargs={"poll_interval_s": 5.0},
                                  daemon=True)
        thread.start()
        print("READY", flush=True)
        try:
            wait_for_signal(worker.stop)
        finally:
            worker.stop.set()
            thread.join(timeout=30)
            ledger.close()
            bus.close()


if __name__ == "__main__":
    main()
