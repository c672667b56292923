"""Wiring: the parts of one hub process, started and stopped together.

``Runtime`` opens what the settings name — the store, the bus, the blob store, the validated
configuration — and starts any of: the outbox relay, the status tracker, department workers and
the HTTP API, each on its own thread with its own bus connection. ``hub serve``, ``hub worker``,
``hub run`` and ``hub demo`` are thin layers over it. ``close`` stops threads in dependency order
(API first, so no new intake; then workers; then relay and tracker) and closes connections.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.bus.base import Bus, status_queue
from hub.bus.doorbell import Doorbell
from hub.bus.factory import open_bus, tiers_of
from hub.config.loading import HubConfig, load_config
from hub.config.settings import Settings
from hub.delivery.ledger import Ledger
from hub.delivery.worker import DepartmentWorker, WorkerHook
from hub.domain.adapter import Adapter
from hub.domain.errors import HubError
from hub.domain.models import AttachmentRef, LegEvent
from hub.evidence.blobs import BlobStore, open_blob_store
from hub.observability import metrics
from hub.observability.hooks import (
    CountingBus,
    InstrumentedAdapter,
    prime_metrics,
    register_gauges,
    tracker_hook,
    worker_hook,
)
from hub.outbox.relay import Relay
from hub.store import open_store
from hub.store.base import ApplyResult, Store
from hub.tracking.outbox import TrackedOutbox
from hub.tracking.tracker import StatusTracker, TrackerHook

log = logging.getLogger("hub.runtime")


@dataclass
class Runtime:
    settings: Settings
    cfg: HubConfig
    store: Store
    blobs: BlobStore
    bus_factory: Callable[[], Bus]
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    workers: dict[str, DepartmentWorker] = field(default_factory=dict)
    buses: list[Bus] = field(default_factory=list)
    servers: list[Any] = field(default_factory=list)
    outbox_bell: Doorbell = field(default_factory=Doorbell)  # intake -> relay in this process
    api_port: int | None = None  # the port the API listens on (also when asked for port 0)
    unregister: list[Callable[[], None]] = field(default_factory=list)
    # Hooks told every leg change after the metrics hook (benchmarks and tests add theirs).
    tracker_hooks: list[TrackerHook] = field(default_factory=list)
    _tracker: StatusTracker | None = field(default=None, init=False, repr=False)

    @classmethod
    def open(cls, settings: Settings, cfg: HubConfig | None = None) -> Runtime:
        cfg = cfg or load_config(settings.config_dir)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.effective_store_dsn())
        rt = cls(settings=settings, cfg=cfg, store=store, blobs=open_blob_store(settings),
                 bus_factory=lambda: open_bus(settings))
        bus = rt.new_bus()  # declares the topology once, up front
        metrics.configure_labels(departments=cfg.departments,
                                 items=[i.code for i in cfg.catalogue.items])
        prime_metrics(list(cfg.departments))
        rt.unregister += register_gauges(bus, store, list(cfg.departments))
        rt.unregister.append(register_town_gauges(store, cfg))
        return rt

    def new_bus(self) -> Bus:
        """A bus handle of its own (one connection per thread), topology declared."""
        bus = self.bus_factory()
        bus.declare(tiers_of(self.cfg.departments))
        self.buses.append(bus)
        return bus

    def _thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                target()
            except Exception:
                log.exception("%s stopped with an error", name)
                raise

        t = threading.Thread(target=guarded, name=name, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    # -- core: relay and status tracker ------------------------------------------------------
    @property
    def tracker(self) -> StatusTracker:
        """The one writer of leg state in this process: the relay's marks, the tracker's
        events, the API's callbacks and supplements all go through it (one set of hooks)."""
        if self._tracker is None:
            metrics_hook = tracker_hook(self.store)

            def hook(event: LegEvent, result: ApplyResult) -> None:
                metrics_hook(event, result)
                for extra in list(self.tracker_hooks):
                    extra(event, result)

            self._tracker = StatusTracker(self.store, hook)
        return self._tracker

    def start_relay(self) -> Relay:
        relay = Relay(TrackedOutbox(self.store, self.tracker), CountingBus(self.new_bus()),
                      bell=self.outbox_bell)
        self._thread("relay", lambda: relay.run(self.stop))
        return relay

    def start_tracker(self, extra_hook: TrackerHook | None = None) -> StatusTracker:
        """The status tracker on its own bus handle, in batches: one store transaction per
        batch of leg events (in queue order), one fate per event. ``extra_hook`` runs after
        the metrics hook for each decided leg change (benchmarks use it)."""
        if extra_hook is not None:
            self.tracker_hooks.append(extra_hook)
        tracker = self.tracker
        bus = self.new_bus()
        self._thread("tracker", lambda: bus.consume_batch(
            status_queue(bus.namespace), tracker.handle_batch, stop=self.stop,
            max_batch=256, max_wait_s=0.005))
        return tracker

    def start_core(self) -> None:
        self.start_relay()
        self.start_tracker()

    # -- workers -----------------------------------------------------------------------------
    def open_attachment(self, ref: AttachmentRef) -> Any:
        return self.blobs.open(ref.id, ref.sha256)

    def start_worker(self, department: str, adapter: Adapter,
                     hook: WorkerHook | None = worker_hook,
                     poll_interval_s: float = 0.3) -> DepartmentWorker:
        ledger = Ledger(self.settings.data_dir / f"worker-{department}.db")
        worker = DepartmentWorker(department, self.cfg, self.new_bus(),
                                  InstrumentedAdapter(adapter), ledger,
                                  open_attachment=self.open_attachment, hook=hook)
        self.workers[department] = worker
        self.unregister += register_gauges(worker.bus, None, [],
                                           {department: worker.breaker})
        self._thread(f"worker-{department}",
                     lambda: worker.run(poll_interval_s=poll_interval_s))
        return worker

    def build_adapter(self, department: str, secrets: Mapping[str, str] | None = None,
                      **overrides: Any) -> Adapter:
        from hub.runtime.adapters import build_adapter

        return build_adapter(self.cfg.departments[department], secrets=secrets, overrides=overrides or None)

    # -- API ---------------------------------------------------------------------------------
    def start_api(self, host: str, port: int, *, reuse_port: bool = False) -> Any:
        import uvicorn

        from hub.intake.api.app import create_app
        from hub.intake.api.context import ApiContext
        from hub.intake.group_commit import GroupCommitter
        from hub.observability.metrics_http import HttpMetricsMiddleware, metrics_route

        # Intake group commit; closed (drained) only after the server answered its last
        # request, so no request in flight is refused on shutdown.
        committer = GroupCommitter(self.store, on_commit=self.outbox_bell.ring)
        ctx = ApiContext(settings=self.settings, config=self.cfg, store=self.store,
                         blobs=self.blobs, readiness=self.bus_ready, committer=committer,
                         tracker=self.tracker)
        app = create_app(ctx)
        app.router.routes.append(metrics_route())
        app.add_middleware(HttpMetricsMiddleware)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                               access_log=False, lifespan="off",
                                               log_config=None))
        # Bind here, on the caller's thread: an address in use is an error the operator sees
        # at once (uvicorn would only log it on the server thread and the process would go on
        # without an API).
        try:
            sock = bind_listener(host, port, reuse_port=reuse_port)
        except OSError as exc:
            committer.close()
            raise HubError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self.api_port = int(sock.getsockname()[1])
        self.servers.append(server)

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            finally:
                committer.close()
                sock.close()

        self._thread("api", serve)
        return server

    def bus_ready(self) -> bool:
        try:
            return bool(self.buses) and self.buses[0].ping()
        except Exception:
            return False

    def close(self) -> None:
        for unregister in self.unregister:
            unregister()
        for server in self.servers:
            server.should_exit = True
        for worker in self.workers.values():
            worker.stop.set()
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)
        for worker in self.workers.values():
            worker.adapter.close()
            worker.ledger.close()
        for bus in self.buses:
            try:
                bus.close()
            except Exception:
                log.warning("closing a bus handle failed", exc_info=True)
        self.store.close()


def register_town_gauges(store: Store, cfg: HubConfig) -> Callable[[], None]:
    """Open and overdue town cases per town and item, counted at scrape time (hub.town)."""
    from hub.town.desk import Desk

    towns = cfg.code_tables.get("towns")
    metrics.TOWN_CASES.configure(towns.entries if towns else (),
                                 [i.code for i in cfg.catalogue.items if i.decided_by == "town"])
    desk = Desk(store, cfg)
    return metrics.TOWN_CASES.add(desk.counts)


def bind_listener(host: str, port: int, *, reuse_port: bool = False,
                  listen: bool = True) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` is an IPv6 address).

    ``reuse_port``: ``SO_REUSEPORT``, so the API processes of ``hub serve --processes N`` each
    listen on the one port and the kernel spreads connections across them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if not listen:
            return sock
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock
