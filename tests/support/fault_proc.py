"""Child-process entry point for the fault suite: one hub role that a test can ``kill -9``.

    python -m tests.support.fault_proc core --port PORT [--relay-delay-s S] [--lease-s S]
    python -m tests.support.fault_proc worker --department NAME [--metrics-port P] [--lease-s S]

``core`` is what ``hub serve`` runs (API, outbox relay, status tracker); ``worker`` is what
``hub worker --department NAME`` runs. Both read everything else the way the real commands do:
``HUB_DATA_DIR``, ``HUB_BUS_URL``, ``HUB_STORE_DSN``, ``HUB_NAMESPACE``, ``HUB_CONFIG_DIR`` (a
copy of config/ whose department YAMLs carry the simulators' addresses) and the transport
secrets from the environment. The fault knobs the real commands do not have:

* ``--lease-s``: the embedded bus's lease (default 30 s), so messages a killed process held
  come back within a test's patience;
* ``--relay-delay-s``: the relay waits this long before each dispatch publish, so a test can
  ``kill -9`` the process while committed outbox rows are not yet on the bus;
* ``--metrics-port``: serve ``/metrics`` with ``hub_circuit_state`` of the worker's breaker.

Prints ``READY`` (flushed) once started; stops cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import cast

from hub.bus.base import Bus
from hub.cli.serve import wait_for_signal
from hub.config.settings import Settings, get_settings
from tests.support.buses import SlowDispatch


def bus_factory(settings: Settings, lease_s: float | None) -> Callable[[], Bus]:
    from hub.bus.factory import open_bus

    if settings.bus_url or lease_s is None:
        return lambda: open_bus(settings)
    from hub.bus.embedded import EmbeddedBus

    return lambda: EmbeddedBus(settings.bus_path(), settings.namespace, lease_s=lease_s)


def run_core(args: argparse.Namespace) -> None:
    from hub.outbox.relay import Relay
    from hub.runtime.wiring import Runtime
    from hub.tracking.outbox import TrackedOutbox

    settings = get_settings(fresh=True)
    rt = Runtime.open(settings)
    rt.bus_factory = bus_factory(settings, args.lease_s)
    try:
        bus = rt.new_bus()
        if args.relay_delay_s > 0:
            bus = cast(Bus, SlowDispatch(bus, args.relay_delay_s))
        relay = Relay(TrackedOutbox(rt.store, rt.tracker), bus, bell=rt.outbox_bell)
        thread = threading.Thread(target=relay.run, args=(rt.stop,), name="relay", daemon=True)
        thread.start()
        rt.threads.append(thread)
        rt.start_tracker()
        server = rt.start_api("127.0.0.1", args.port)
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            raise SystemExit(f"the API did not start on 127.0.0.1:{args.port}")
        print("READY", flush=True)
        wait_for_signal(rt.stop)
    finally:
        rt.close()


def run_worker(args: argparse.Namespace) -> None:
    from adapters.registry import build_adapter
    from hub.bus.factory import tiers_of
    from hub.config.loading import load_config
    from hub.delivery.ledger import Ledger
    from hub.delivery.worker import DepartmentWorker
    from hub.evidence.blobs import open_blob_store
    from hub.observability.hooks import register_gauges
    from hub.observability.metrics_http import start_metrics_server

    settings = get_settings(fresh=True)
    cfg = load_config(settings.config_dir)
    dept = cfg.departments[args.department]
    bus = bus_factory(settings, args.lease_s)()
    bus.declare(tiers_of(cfg.departments))
    blobs = open_blob_store(settings)
    adapter = build_adapter(dept)
    ledger = Ledger(settings.data_dir / f"worker-{dept.name}.db")
    worker = DepartmentWorker(dept.name, cfg, bus, adapter, ledger,
                              open_attachment=lambda ref: blobs.open(ref.id, ref.sha256))
    if args.metrics_port:
        register_gauges(bus, None, [dept.name], {dept.name: worker.breaker})
        start_metrics_server(f"127.0.0.1:{args.metrics_port}")
    thread = threading.Thread(target=worker.run, kwargs={"poll_interval_s": 0.3},
                              name=f"worker-{dept.name}", daemon=True)
    thread.start()
    print("READY", flush=True)
    try:
        wait_for_signal(worker.stop)
    finally:
        worker.stop.set()
        thread.join(timeout=20)
        adapter.close()
        ledger.close()
        bus.close()


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="fault_proc")
    sub = parser.add_subparsers(dest="role", required=True)
    core = sub.add_parser("core")
    core.add_argument("--port", type=int, required=True)
    core.add_argument("--relay-delay-s", type=float, default=0.0)
    worker = sub.add_parser("worker")
    worker.add_argument("--department", required=True)
    worker.add_argument("--metrics-port", type=int, default=0)
    for p in (core, worker):
        p.add_argument("--lease-s", type=float, default=None)
    args = parser.parse_args(argv)
    if args.role == "core":
        run_core(args)
    else:
        run_worker(args)


if __name__ == "__main__":
    main()
