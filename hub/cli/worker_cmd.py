"""``hub worker --department NAME [--metrics-addr HOST:PORT]``: one department's worker.

Deployable on a gateway host with a leg in the department's network: it needs the bus, the
department's configuration and transport secrets, and (for file transfers) the blob store; it
never needs the case database. Its idempotency ledger lives under ``HUB_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from hub.cli.serve import parse_listen, wait_for_signal
from hub.config.files import did_you_mean
from hub.config.loading import load_config
from hub.config.settings import get_settings
from hub.domain.errors import HubError


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="run one department's worker")
    p.add_argument("--department", required=True, metavar="NAME")
    p.add_argument("--metrics-addr", type=parse_listen, default=None, metavar="HOST:PORT",
                   help="serve Prometheus metrics here (default: none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hub.bus.factory import open_bus, tiers_of
    from hub.delivery.ledger import Ledger
    from hub.delivery.worker import DepartmentWorker
    from hub.evidence.blobs import open_blob_store
    from hub.observability import metrics
    from hub.observability.hooks import InstrumentedAdapter, prime_metrics, register_gauges, worker_hook
    from hub.observability.logs import configure_logging
    from hub.runtime.adapters import build_adapter

    configure_logging("INFO")
    settings = get_settings()
    cfg = load_config(settings.config_dir)
    if args.department not in cfg.departments:
        raise HubError(f"unknown department {args.department!r}"
                       f"{did_you_mean(args.department, cfg.departments)}")
    dept = cfg.departments[args.department]
    if args.metrics_addr:
        from hub.observability.metrics_http import start_metrics_server

        start_metrics_server(f"{args.metrics_addr[0]}:{args.metrics_addr[1]}")
    bus = open_bus(settings)
    bus.declare(tiers_of(cfg.departments))
    blobs = open_blob_store(settings)
    adapter = build_adapter(dept)
    ledger = Ledger(settings.data_dir / f"worker-{dept.name}.db")
    worker = DepartmentWorker(dept.name, cfg, bus, InstrumentedAdapter(adapter), ledger,
                              open_attachment=lambda ref: blobs.open(ref.id, ref.sha256),
                              hook=worker_hook)
    metrics.configure_labels(departments=cfg.departments,
                             items=[i.code for i in cfg.catalogue.items])
    prime_metrics([dept.name])
    register_gauges(bus, None, [dept.name], {dept.name: worker.breaker})
    thread = threading.Thread(target=worker.run, name=f"worker-{dept.name}", daemon=True)
    thread.start()
    print(f"worker for {dept.name} ({dept.title}) running", flush=True)
    try:
        wait_for_signal(worker.stop)
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        adapter.close()
        ledger.close()
        bus.close()
    return 0
