"""``hub serve --processes N``: N API processes behind one port, each with relay and tracker.

The parent prepares what must happen once (store migrations, the blob key ring), checks the
address, then starts N ``hub serve --reuse-port`` children: each listens on the same port with
``SO_REUSEPORT`` and the kernel spreads incoming connections across them. Each child is a whole
``hub serve``: its relay claims outbox rows the others skip (``hub.store.outbox_claims``), its
tracker competes for leg events on the bus and applies them under row locks
(``hub.store.locks``), and its sequencer stands by unless it holds the lease
(``hub.store.sequencer``). The same holds for separate ``hub serve`` instances on several
machines sharing PostgreSQL and RabbitMQ.

SIGINT/SIGTERM stop every child (each drains its intake first). A child that exits on its own
stops the rest and the parent exits with its code, for systemd or Kubernetes to restart.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time

from hub.config.settings import get_settings
from hub.domain.errors import HubError


def _prepare(host: str, port: int) -> int:
    from hub.evidence.blobs import open_blob_store
    from hub.runtime.wiring import bind_listener
    from hub.store import open_store

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    open_store(settings.effective_store_dsn()).close()  # migrations, once
    open_blob_store(settings)  # a demo key, if one is generated, once for all children
    try:
        probe = bind_listener(host, port, reuse_port=True, listen=False)
    except OSError as exc:
        raise HubError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    chosen = int(probe.getsockname()[1])
    probe.close()
    return chosen


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the parent dies (even by SIGKILL)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_processes(listen: tuple[str, int], n: int) -> int:
    host, port = listen
    port = _prepare(host, port)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    argv = [sys.executable, "-m", "hub.cli.main", "serve", "--listen", address, "--reuse-port"]
    children = [subprocess.Popen(argv, preexec_fn=_die_with_parent) for _ in range(n)]
    stop = threading.Event()

    def _handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    print(f"hub: {n} API processes on http://{address}", flush=True)
    code = 0
    while not stop.wait(0.5):
        ended = [c for c in children if c.poll() is not None]
        if ended:
            code = ended[0].returncode or 1
            print(f"hub: an API process ended (exit {ended[0].returncode}); stopping the rest",
                  file=sys.stderr, flush=True)
            break
    for c in children:
        if c.poll() is None:
            c.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for c in children:
        try:
            c.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.kill()
            c.wait()
    return code
