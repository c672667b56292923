"""Process harness for the fault suite: hub roles in child processes, simulators in the test.

Scenarios ``kill -9`` processes, so every hub role runs in a child process of its own
(``tests.support.fault_proc`` for ``core`` = API + relay + tracker and for one department's
worker; the real ``hub run`` for the all-in-one scenario). The department simulators stay in the
test process so their counters (``core.filed``, ``received``) can be read at any time.

``FaultHub`` holds one hub installation: a data dir, a copy of ``config/`` whose department YAMLs
point at the simulators and carry short retry tiers, the bus (RabbitMQ URL or embedded), the
store DSN (PostgreSQL or SQLite in the data dir), the namespace and the API port (kept across
restarts so the terminal's address stays valid). Children get it all through ``HUB_*`` variables,
exactly as the shipped commands would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from hub.bus.base import Bus
from hub.config.loading import HubConfig, load_config
from hub.store import open_store
from hub.store.base import Store
from simulators.departments import DepartmentSims
from tests.support.config import config_copy
from tests.support.services import free_port

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
HUB = str(Path(sys.executable).parent / "hub")

# Short tiers so a scenario's retries play out in seconds, not the shipped minutes.
FAST_RETRY: dict[str, Any] = {"quick_attempts": 2, "quick_wait_s": 0.05,
                              "tiers_s": [0.5, 1.0, 2.0], "delivery_limit": 20}
FAST_CIRCUIT: dict[str, Any] = {"failures": 5, "probe_after_s": 1.0}
REST_TIMEOUT_S = 1.0  # scenario 4 makes the REST department slower than this


def write_config(root: Path, sims: DepartmentSims, *,
                 rate_limits: dict[str, float] | None = None,
                 retry: dict[str, Any] | None = None,
                 circuit: dict[str, Any] | None = None) -> Path:
    """A config copy wired to ``sims`` (addresses, key and known_hosts files) with fast retries."""
    dest = config_copy(root)
    assert sims.soap and sims.rest and sims.sftp
    transports: dict[str, dict[str, Any]] = {name: dict(ov) for name, ov in sims.overrides.items()}
    transports["social_security"].update({"endpoint": sims.soap.url, "operation_timeout_s": 5})
    transports["civil_affairs"].update({"base_url": sims.rest.url, "timeout_s": REST_TIMEOUT_S})
    for name, update in transports.items():
        path = dest / "departments" / f"{name}.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["transport"].update(update)
        doc["retry"] = {**FAST_RETRY, **(retry or {})}
        doc["circuit"] = {**FAST_CIRCUIT, **(circuit or {})}
        if rate_limits and name in rate_limits:
            doc["rate_limit_per_s"] = rate_limits[name]
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    return dest


@dataclass
class Proc:
    """One child process; its output goes to ``log`` (read it when a scenario fails)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, ready: str, timeout_s: float = 40.0) -> Proc:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=out,
                                          stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready.encode() in self.log.read_bytes()[offset:]:
                return self
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log.read_bytes()[offset:][-3000:].decode(errors="replace")
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready:\n{tail}")

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no clean-up of any kind, as a power cut or the OOM killer would."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=25)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)


@dataclass
class FaultHub:
    """One hub installation whose roles run as child processes."""

    root: Path
    sims: DepartmentSims
    namespace: str
    bus_url: str | None = None
    store_dsn: str | None = None
    rate_limits: dict[str, float] | None = None
    retry: dict[str, Any] | None = None
    circuit: dict[str, Any] | None = None
    lease_s: float = 2.0  # embedded bus lease in fault_proc children
    port: int = field(default_factory=free_port)
    procs: dict[str, Proc] = field(default_factory=dict)
    _store: Store | None = None
    _bus: Bus | None = None
    _cfg: HubConfig | None = None

    def __post_init__(self) -> None:
        self.data_dir = self.root / "hub-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir = write_config(self.root, self.sims, rate_limits=self.rate_limits,
                                       retry=self.retry, circuit=self.circuit)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kind(self) -> str:
        return "amqp" if self.bus_url else "embedded"

    @property
    def cfg(self) -> HubConfig:
        if self._cfg is None:
            self._cfg = load_config(self.config_dir)
        return self._cfg

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(self.sims.secrets)
        env.update({"HUB_DATA_DIR": str(self.data_dir), "HUB_CONFIG_DIR": str(self.config_dir),
                    "HUB_NAMESPACE": self.namespace, "PYTHONUNBUFFERED": "1",
                    "HUB_REQUESTS_PER_TERMINAL_PER_MINUTE": "1000000"})
        if self.bus_url:
            env["HUB_BUS_URL"] = self.bus_url
        if self.store_dsn:
            env["HUB_STORE_DSN"] = self.store_dsn
        return env

    def _spawn(self, name: str, argv: list[str], ready: str) -> Proc:
        old = self.procs.get(name)
        if old is not None:
            old.stop()
        proc = Proc(name, argv, self.env(), self.root / f"{name}.log").start(ready)
        self.procs[name] = proc
        return proc

    def _lease(self) -> list[str]:
        return [] if self.bus_url else ["--lease-s", str(self.lease_s)]

    def start_core(self, *, relay_delay_s: float = 0.0) -> Proc:
        proc = self._spawn("core", [PYTHON, "-m", "tests.support.fault_proc", "core",
                                    "--port", str(self.port),
                                    "--relay-delay-s", str(relay_delay_s), *self._lease()],
                           "READY")
        self.wait_ready()
        return proc

    def start_worker(self, department: str, *, metrics_port: int = 0) -> Proc:
        return self._spawn(f"worker-{department}",
                           [PYTHON, "-m", "tests.support.fault_proc", "worker",
                            "--department", department, "--metrics-port", str(metrics_port),
                            *self._lease()], "READY")

    def start_workers(self) -> None:
        for name in sorted(self.cfg.departments):
            self.start_worker(name)

    def start_hub_run(self) -> Proc:
        """The shipped all-in-one command, ``hub run``, exactly as an operator starts it."""
        proc = self._spawn("hub-run", [HUB, "run", "--listen", f"127.0.0.1:{self.port}"],
                           "hub listening on")
        self.wait_ready()
        return proc

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the API did not answer /healthz")

    def store(self) -> Store:
        if self._store is None:
            dsn = self.store_dsn or f"sqlite:///{self.data_dir / 'store.db'}"
            self._store = open_store(dsn)
        return self._store

    def bus(self) -> Bus:
        """A bus handle of the test's own (dead letters, replay, queue depths)."""
        if self._bus is None:
            from hub.bus.factory import open_bus_url, tiers_of

            self._bus = open_bus_url(self.bus_url, self.data_dir, self.namespace)
            self._bus.declare(tiers_of(self.cfg.departments))
        return self._bus

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        if self._bus is not None:
            self._bus.close()
        if self._store is not None:
            self._store.close()
