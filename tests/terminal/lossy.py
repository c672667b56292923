"""Processes for the lossy-link tests: the hub in its namespace, ``hub terminal`` in the village's.

Both are real processes (``python -m tests.support.netns_hub``, the ``hub terminal`` command)
started through ``ip netns exec``; the test reaches the terminal's pages over the village LAN
veth and reads what the departments filed from the hub process's ``sims.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.netns import LossyLink, need_netns

ROOT = Path(__file__).resolve().parents[2]
HUB_PORT, TERMINAL_PORT = 8080, 8088


def wait(check: Callable[[], object], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(every)


class HubProcess:
    def __init__(self, link: LossyLink, base: Path) -> None:
        self.out = base / "hub-out"
        self.out.mkdir(parents=True)
        self.data = base / "hub-data"
        self.log = open(base / "hub.log", "wb")  # noqa: SIM115 -- closed in stop()
        self.proc = subprocess.Popen(
            link.in_ns(link.hub_ns, sys.executable, "-m", "tests.support.netns_hub",
                       str(self.data), link.hub_ip, str(HUB_PORT), str(self.out)),
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        wait(lambda: (self.out / "cred.json").exists() or self.proc.poll() is not None, 60,
             "the hub did not start")
        assert self.proc.poll() is None, (base / "hub.log").read_text()[-3000:]
        self.cred = self.out / "cred.json"
        self.url = f"http://{link.hub_ip}:{HUB_PORT}"

    def sims(self) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads((self.out / "sims.json").read_text())
            return doc
        except (FileNotFoundError, ValueError):
            return {}

    def filed(self) -> dict[str, dict[str, int]]:
        return {name: d["filed"] for name, d in self.sims().items()}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


class TerminalProcess:
    def __init__(self, link: LossyLink, hub: HubProcess, base: Path, *extra: str) -> None:
        self.link, self.hub, self.base, self.extra = link, hub, base, extra
        self.data = base / "terminal-data"
        self.url = f"http://{link.lan_ip}:{TERMINAL_PORT}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = open(self.base / "terminal.log", "ab")  # noqa: SIM115 -- the child owns it
        self.proc = subprocess.Popen(
            self.link.in_ns(self.link.village_ns, str(ROOT / ".venv" / "bin" / "hub"),
                            "terminal", "--hub-url", self.hub.url, "--token-file",
                            str(self.hub.cred), "--listen",
                            f"{self.link.lan_ip}:{TERMINAL_PORT}", "--data-dir", str(self.data),
                            "--backoff-cap", "2", "--offline-after", "4", *self.extra),
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, \
                (self.base / "terminal.log").read_text()[-3000:]
            try:
                return httpx.get(self.url + "/local/api/link", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait(answers, 30, "the terminal did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def link() -> Iterator[LossyLink]:
    need_netns()
    made = LossyLink()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def hub(link: LossyLink, tmp_path: Path) -> Iterator[HubProcess]:
    proc = HubProcess(link, tmp_path)
    try:
        yield proc
    finally:
        proc.stop()
