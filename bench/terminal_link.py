"""The village terminal over a shaped, lossy link: ``terminal-link``.

    python -m bench.terminal_link [--mb 50] [--mbit 20] [--loss 2]

Builds the lossy-link tests' two network namespaces (``tests.support.netns``: ``tc tbf`` rate,
nftables random loss), runs the hub in one and ``hub terminal`` in the other (real processes),
and measures in one run:

- ``terminal_goodput_mbit``: file bits / time from the clerk's submit on the terminal to the
  case shown 已提交 (tus upload of the file and the case itself, over the link);
- ``curl_goodput_mbit``: the same file posted once by ``curl`` from the village namespace to
  ``POST /v1/attachments`` over the same link; ``goodput_ratio`` = terminal / curl;
- ``wire_bytes_per_file_byte``: bytes the village side put on the link during the terminal's
  upload / file size;
- ``link_back_to_first_forward_s``: cases saved while the link is down; time from the link
  coming back to the first of them shown 已提交.

Needs root (network namespaces), iproute2, nftables and curl; otherwise it says why on stderr
and prints nothing. Scale: ``BENCH_LINK_MB`` (50), ``BENCH_LINK_MBIT`` (20),
``BENCH_LINK_LOSS`` (2).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, env_int
from tests.support.api import VILLAGE_A
from tests.support.netns import LossyLink, unavailable
from tests.support.terminal import Clerk
from tests.terminal.lossy import HubProcess, TerminalProcess, wait


def _curl_upload(link: LossyLink, hub: HubProcess, path: Path) -> float:
    token = json.loads(hub.cred.read_text())["token"]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    out = subprocess.run(link.in_ns(
        link.village_ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
        "-X", "POST", "--data-binary", f"@{path}", "-H", f"Authorization: Bearer {token}",
        "-H", f"X-Content-SHA256: {sha}", "-H", "Content-Type: video/mp4",
        f"{hub.url}/v1/attachments?kind=birth_certificate"), capture_output=True, text=True,
        timeout=900, check=True)
    code, seconds = out.stdout.split()
    if code != "201":
        raise RuntimeError(f"curl upload answered {code}")
    return float(seconds)


def run(mb: int, mbit: float, loss: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-terminal-") as tmp:
        base = Path(tmp)
        link = LossyLink()
        hub: HubProcess | None = None
        term: TerminalProcess | None = None
        clerk: Clerk | None = None
        try:
            link.shape(mbit, loss_pct=loss)
            hub = HubProcess(link, base)
            term = TerminalProcess(link, hub, base, "--no-scan-downscale")
            clerk = Clerk(term.url)
            data = os.urandom(mb * 1024 * 1024)
            path = base / "recording.bin"
            path.write_bytes(data)
            # 1. the terminal: submit on the village PC, wait for 已提交
            before = link.tx_bytes()
            t0 = time.monotonic()
            case_id, answer = clerk.submit_sample(
                "BIRTH", VILLAGE_A, seed=1,
                content=lambda f: data if f.kind == "birth_certificate" else f.content,
                media=lambda f: "video/mp4" if f.kind == "birth_certificate" else f.media_type)
            assert answer.status_code == 202, answer.text
            ok = clerk  # mypy: narrowed for the lambda
            wait(lambda: "已提交" in ok.forward_text(case_id), 1800, "upload never done", 0.1)
            terminal_s = time.monotonic() - t0
            wire = (link.tx_bytes() - before) / len(data)
            # 2. curl, the same file, the same link
            curl_s = _curl_upload(link, hub, path)
            # 3. cases saved while the link is down; the link comes back
            link.down()
            ids = [clerk.submit_sample("BIRTH", VILLAGE_A, seed=10 + i)[0] for i in range(3)]
            time.sleep(1.5)
            link.up()
            back = time.monotonic()
            wait(lambda: "已提交" in ok.forward_text(ids[0]), 120, "no case forwarded", 0.05)
            first_s = time.monotonic() - back
        finally:
            if clerk is not None:
                clerk.close()
            if term is not None:
                term.stop()
            if hub is not None:
                hub.stop()
            link.close()
    bits = len(data) * 8 / 1e6
    return {"bench": "terminal-link", "bus": "embedded", "link_mbit": mbit, "loss_pct": loss,
            "file_mb": mb, "terminal_goodput_mbit": round(bits / terminal_s, 2),
            "curl_goodput_mbit": round(bits / curl_s, 2),
            "goodput_ratio": round(curl_s / terminal_s, 3),
            "wire_bytes_per_file_byte": round(wire, 3),
            "link_back_to_first_forward_s": round(first_s, 2), "complete": True}


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.terminal_link")
    p.add_argument("--mb", type=int, default=env_int("BENCH_LINK_MB", 50))
    p.add_argument("--mbit", type=float, default=float(env_int("BENCH_LINK_MBIT", 20)))
    p.add_argument("--loss", type=int, default=env_int("BENCH_LINK_LOSS", 2))
    args = p.parse_args(argv)
    why = unavailable() or (None if shutil.which("curl") else "curl not installed")
    if why is not None:
        print(f"terminal-link skipped: {why}", file=sys.stderr)
        return
    emit(run(args.mb, args.mbit, args.loss))


if __name__ == "__main__":
    main(sys.argv[1:])
