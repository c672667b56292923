"""``hub run`` / ``hub serve`` refuse to start without their API address, and say why."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

HUB = str(Path(sys.executable).parent / "hub")


def test_an_address_in_use_stops_hub_serve_with_a_clear_error(tmp_path: Path) -> None:
    # given another program already listening on the operator's chosen address
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env["HUB_DATA_DIR"] = str(tmp_path / "data")
        # when the hub is started on it
        done = subprocess.run([HUB, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                              capture_output=True, text=True, timeout=120)
    # then it exits non-zero at once, naming the address, instead of running without an API
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "hub listening" not in done.stdout
    assert "Traceback" not in done.stderr


def test_hub_serve_with_several_processes_on_an_address_in_use_fails_clearly(
        tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env["HUB_DATA_DIR"] = str(tmp_path / "data")
        done = subprocess.run([HUB, "serve", "--processes", "2", "--listen",
                               f"127.0.0.1:{port}"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "API processes on" not in done.stdout and "Traceback" not in done.stderr
