"""Shared pieces of the benchmarks: isolated service set-up, the stub adapter, figures.

Guarantees: every run works in a throwaway data directory, a fresh RabbitMQ vhost and (for
the AMQP runs) a fresh PostgreSQL database, all removed afterwards even on failure. Nothing
here asserts timings; the benchmarks only measure and print.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.config.loading import HubConfig, load_config
from hub.config.settings import Settings, default_config_dir
from hub.domain.adapter import Health, Receipt, Result, SubmitRequest
from simulators.samples import sample_case

VILLAGE = "513401101201"
FANOUT_ITEM = "DEATH"  # the widest fan-out: 公安, 人社, 医保 and 民政 (身后一件事)
# The bench lifts the departments' protective rate limits (5-20/s in config) so the hub, not
# the token bucket, is what gets measured; backlog reports the configured rate alongside.
BENCH_RATE_PER_S = 1_000_000.0


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def env_list(name: str, default: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values`` (must not be empty)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def proc_kib(pid: int | str = "self", field: str = "VmHWM") -> int:
    """A memory figure from /proc/<pid>/status in KiB (VmHWM = peak RSS, VmRSS = current)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int | str = "self") -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so a later peak is this phase's own."""
    # Not permitted: the figure then includes earlier peaks.
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def bench_config(rate_per_s: float = BENCH_RATE_PER_S) -> HubConfig:
    cfg = load_config(default_config_dir())
    depts = {name: d.model_copy(update={"rate_limit_per_s": rate_per_s})
             for name, d in cfg.departments.items()}
    return dataclasses.replace(cfg, departments=depts)


def sample_cases(cfg: HubConfig, n: int, *, item_code: str = FANOUT_ITEM,
                 seed: int = 8) -> list[dict[str, Any]]:
    item = cfg.catalogue.get(item_code)
    assert item is not None, item_code
    rng = random.Random(seed)
    # form_bytes asks for ~2 KiB of padding; the item has no free-text field, so validation
    # allows none and the case stays its natural size (reported as case_bytes).
    return [sample_case(cfg, item, village_code=VILLAGE, rng=rng, terminal_id="bench",
                        form_bytes=2048)[0] for _ in range(n)]


def case_bytes(raw: dict[str, Any]) -> int:
    return len(json.dumps(raw, ensure_ascii=False).encode())


class StubAdapter:
    """A zero-latency in-process department: records when each leg arrived, answers nothing."""

    def __init__(self, department: str, *, record: bool = True) -> None:
        self.department = department
        self.record = record  # False: count only, so the stub's own memory stays flat
        self.arrived: dict[str, float] = {}  # leg_id -> perf_counter at first submit
        self.count = 0
        self._lock = threading.Lock()
        self.reached = threading.Event()
        self.target = 0

    def submit(self, request: SubmitRequest) -> Receipt:
        now = time.perf_counter()
        with self._lock:
            dup = request.leg_id in self.arrived
            if not dup and self.record:
                self.arrived[request.leg_id] = now
            self.count += 1
            if self.target and self.count >= self.target:
                self.reached.set()
        return Receipt(department_ref=f"STUB-{request.leg_id[-12:]}", duplicate=dup)

    def poll_results(self) -> list[Result]:
        return []

    def ack_results(self, results: Sequence[Result]) -> None:
        pass

    def health(self) -> Health:
        return Health(ok=True)

    def close(self) -> None:
        pass


@dataclasses.dataclass
class Env:
    bus: str
    settings: Settings
    tmp: Path


@contextmanager
def hub_env(bus: str, *, namespace: str = "bench", postgres: bool | None = None,
            **extra: Any) -> Iterator[Env]:
    """Settings for one isolated run: ``embedded`` (SQLite bus + store in a temp dir) or
    ``amqp`` (fresh vhost; store on a fresh PostgreSQL database unless BENCH_AMQP_STORE=sqlite).
    """
    from tests.support import services

    vhost = db = None
    with tempfile.TemporaryDirectory(prefix=f"hub-bench-{bus}-") as tmp:
        try:
            bus_url = store_dsn = None
            if bus == "amqp":
                vhost, bus_url = services.create_vhost()
                if postgres is None:
                    postgres = os.environ.get("BENCH_AMQP_STORE", "postgresql") != "sqlite"
            if postgres:
                db, store_dsn = services.create_database()
            settings = Settings(data_dir=Path(tmp) / "data", bus_url=bus_url,
                                store_dsn=store_dsn, namespace=namespace,
                                requests_per_terminal_per_minute=10**9, **extra)
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            yield Env(bus, settings, Path(tmp))
        finally:
            if vhost:
                services.delete_vhost(vhost)
            if db:
                services.drop_database(db)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child ``hub`` process needs to see the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_DATA_DIR": str(settings.data_dir), "HUB_NAMESPACE": settings.namespace,
                "HUB_REQUESTS_PER_TERMINAL_PER_MINUTE": str(
                    settings.requests_per_terminal_per_minute),
                "HUB_MAX_ATTACHMENT_BYTES": str(settings.max_attachment_bytes),
                # BENCH_HUB_PATH: another tree's ``hub`` first (bench/before_after.py)
                "PYTHONPATH": os.pathsep.join(filter(None, (
                    os.environ.get("BENCH_HUB_PATH"),
                    str(Path(__file__).resolve().parent.parent))))})
    if settings.bus_url:
        env["HUB_BUS_URL"] = settings.bus_url
    if settings.store_dsn:
        env["HUB_STORE_DSN"] = settings.store_dsn
    return env


def free_port() -> int:
    """A loopback port for a child API, below the ephemeral range (see tests/support/services)."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def spawn(args: list[str], settings: Settings, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], env=settings_env(settings), text=True,
                            **kw)
