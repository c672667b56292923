"""``hub serve`` (API + relay + tracker) and ``hub run`` (everything in one process).

Both honour ``HUB_DATA_DIR``, ``HUB_BUS_URL`` and ``HUB_STORE_DSN``; both stop cleanly on SIGINT
or SIGTERM (no new intake first, then workers, then relay and tracker).
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from hub.config.settings import get_settings
from hub.domain.errors import HubError


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def wait_for_signal(stop: threading.Event) -> None:
    def _handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    while not stop.wait(0.5):
        pass


def register(sub: Any) -> None:
    for name, help_text, func in (
        ("serve", "run the API, the outbox relay and the status tracker", run_serve),
        ("run", "run everything (API, relay, tracker, all department workers) in one process",
         run_all),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 8080),
                       metavar="HOST:PORT", help="API address (default 127.0.0.1:8080)")
        p.set_defaults(func=func)
        if name == "serve":
            p.add_argument("--processes", type=int, default=1, metavar="N",
                           help="N API processes (each with relay and tracker) on one port")
            p.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)


def _start(args: argparse.Namespace, with_workers: bool) -> int:
    from hub.observability.logs import configure_logging
    from hub.runtime.wiring import Runtime

    configure_logging("INFO")
    settings = get_settings()
    rt = Runtime.open(settings)
    try:
        rt.start_core()
        if with_workers:
            for name in rt.cfg.departments:
                rt.start_worker(name, rt.build_adapter(name))
        host, port = args.listen
        rt.start_api(host, port, reuse_port=getattr(args, "reuse_port", False))
        print(f"hub listening on http://{host}:{port} (data in {settings.data_dir}, "
              f"bus {'amqp' if settings.bus_url else 'embedded'})", flush=True)
        wait_for_signal(rt.stop)
    finally:
        rt.close()
    return 0


def run_serve(args: argparse.Namespace) -> int:
    if args.processes > 1:
        from hub.cli.processes import run_processes

        return run_processes(args.listen, args.processes)
    if args.processes < 1:
        raise HubError("--processes must be at least 1")
    return _start(args, with_workers=False)


def run_all(args: argparse.Namespace) -> int:
    return _start(args, with_workers=True)
