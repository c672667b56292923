"""`hub demo --data-dir` keeps the data for the operator commands; on a terminal the demo keeps
the hub and the clerk's workbench up, with a demo clerk, until Ctrl-C."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hub.cli.main import main
from hub.config.settings import get_settings


def test_demo_data_dir_keeps_what_trace_status_and_audit_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "kept"
    assert main(["demo", "--cases", "2", "--data-dir", str(data), "--no-keep"]) == 0
    out = capsys.readouterr().out
    code = re.findall(r"^([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}) ", out, re.M)[0]
    assert f"HUB_DATA_DIR={data}" in out
    monkeypatch.setenv("HUB_DATA_DIR", str(data))
    get_settings(fresh=True)
    # The tracking code from the table is accepted by hub status and hub trace
    assert main(["status", code.lower()]) == 0
    status = capsys.readouterr().out
    assert f"tracking {code}" in status and "已办结" in status
    assert main(["trace", code]) == 0
    assert "intake:" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    assert main(["dlq", "list"]) == 0
    assert main(["status", "no-such-code"]) == 2


def _read_until(fd: int, marker: str, timeout_s: float) -> str:
    buf = b""
    deadline = time.monotonic() + timeout_s
    while marker.encode() not in buf and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                break
    return buf.decode("utf-8", "replace")


@pytest.mark.slow
def test_demo_on_a_terminal_keeps_the_workbench_up_until_ctrl_c(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli.main", "demo", "--cases", "2"],
                            stdin=slave, stdout=slave, stderr=subprocess.DEVNULL,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.getcwd()})
    os.close(slave)
    try:
        out = _read_until(master, "Press Ctrl-C", 240)
        found = re.search(r"workbench is up: (http://\S+)/\s+sign in as (\S+) with password (\S+)",
                          out)
        assert found, out[-2000:]
        url, login, password = found.groups()
        with httpx.Client(base_url=url) as http:
            page = http.get("/signin")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            signed = http.post("/signin", data={"login": login, "password": password,
                                                "csrf": csrf.group(1)})
            assert signed.status_code == 303
            home = http.get("/")
            assert "办什么事" in home.text and "演示经办人" in home.text
            cases = http.get("/cases")
            assert "已办结" in cases.text  # the scripted cases are there to look at
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
