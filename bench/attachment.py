"""Large scan: a 200 MB file uploaded over HTTP, then delivered over SFTP to the simulator.

    python -m bench.attachment [--mb 200]

Processes: ``hub serve`` (API) in one child; the delivery in a second child that does what a
medical-insurance worker does: it maps the case for the department and hands the product's SFTP
adapter (``adapters.transports.sftp``) a ``SubmitRequest`` whose ``open_attachment`` streams the
blob from the encrypted blob store; the adapter uploads the scan next to the batch file, then
the batch, to the medical-insurance simulator, which runs in this process, checks the file's
size and SHA-256 and files the case. The upload is streamed from a file in 1 MiB chunks.
Figures: ``upload_mb_per_s``, ``sftp_mb_per_s`` (the whole ``submit``: scan + batch file), and
each child's peak RSS before and during its transfer (``VmHWM``, reset before the transfer),
whose difference must stay far below the file size: bytes stream, they never sit whole in
memory. ``delivered_intact``: the department filed the case and the landed file hashes right.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.transports.sftp import attachment_name
from bench.common import (
    VILLAGE,
    bench_config,
    emit,
    env_int,
    free_port,
    hub_env,
    proc_kib,
    reset_peak,
    sample_cases,
    spawn,
)
from bench.http_intake import wait_ready
from hub.store import open_store
from simulators.medical_insurance import SftpSim

MIB = 1024 * 1024
LEG_ID = "bench-scan-leg"


def make_scan(path: Path, mb: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for _ in range(mb):
            chunk = os.urandom(MIB)
            digest.update(chunk)
            fh.write(chunk)
    return digest.hexdigest()


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(MIB):
            yield chunk


def deliver_child(case_file: str, port: int, key_file: str, known_hosts: str) -> None:
    """Child process: deliver one case with its scan through the product's SFTP adapter."""
    from adapters.registry import build_adapter
    from hub.config import mapping
    from hub.config.settings import Settings
    from hub.domain.adapter import SubmitRequest
    from hub.domain.models import AttachmentRef
    from hub.evidence.blobs import open_blob_store

    cfg = bench_config()
    dept = cfg.departments["medical_insurance"]
    case = json.loads(Path(case_file).read_text())
    payload = mapping.minimise(case, mapping.source_paths(dept.mapping))
    blobs = open_blob_store(Settings())
    request = SubmitRequest(
        leg_id=LEG_ID, case_id=case["case_id"], item_code=case["item_code"], kind="submit",
        record=mapping.apply(dept.mapping, payload, cfg.code_tables),
        attachments=[AttachmentRef.model_validate(a) for a in case["attachments"]],
        open_attachment=lambda ref: blobs.open(ref.id, ref.sha256))
    adapter = build_adapter(dept, overrides={
        "host": "127.0.0.1", "port": port, "key_file": key_file, "known_hosts": known_hosts})
    try:
        rss0 = proc_kib("self", "VmRSS")
        reset_peak()
        t0 = time.perf_counter()
        adapter.submit(request)
        elapsed = time.perf_counter() - t0
    finally:
        adapter.close()
    size = sum(a.size for a in request.attachments)
    print(json.dumps({"bytes": size, "seconds": elapsed, "rss_before_kib": rss0,
                      "vmhwm_kib": proc_kib("self", "VmHWM")}), flush=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


async def upload(url: str, token: str, path: Path, sha: str) -> dict[str, Any]:
    async def body() -> Any:
        for chunk in chunks(path):
            yield chunk

    async with httpx.AsyncClient(base_url=url, timeout=600,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.post("/v1/attachments", content=body(), params={"kind": "id_card"},
                            headers={"X-Content-SHA256": sha, "Content-Type": "image/jpeg",
                                     "Content-Length": str(path.stat().st_size)})
        r.raise_for_status()
        return dict(r.json())


def run(mb: int) -> dict[str, Any]:
    cfg = bench_config()
    with hub_env("embedded", postgres=False) as env:
        scan = env.tmp / "scan.bin"
        sha = make_scan(scan, mb)
        store = open_store(env.settings.effective_store_dsn())
        terminal_id, token = store.add_terminal(VILLAGE, "bench terminal")
        store.close()
        key_file, known_hosts = env.tmp / "client_key", env.tmp / "known_hosts"
        private = Ed25519PrivateKey.generate()
        key_file.write_bytes(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption()))
        key_file.chmod(0o600)
        sim = SftpSim(env.tmp / "yb-root",
                      client_key=paramiko.Ed25519Key.from_private_key_file(str(key_file))).start()
        known_hosts.write_text(sim.known_hosts_line())
        port = free_port()
        api = spawn(["-m", "hub.cli.main", "serve", "--listen", f"127.0.0.1:{port}"],
                    env.settings, stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            asyncio.run(wait_ready(url))
            api_rss0 = proc_kib(api.pid, "VmRSS")
            reset_peak(api.pid)
            t0 = time.perf_counter()
            info = asyncio.run(upload(url, token, scan, sha))
            up_s = time.perf_counter() - t0
            api_hwm = proc_kib(api.pid, "VmHWM")
            # The case that refers to the scan (claim check accepted by the API).
            case = sample_cases(cfg, 1, item_code="MED_ENROLL", seed=31)[0]  # a 医保 case
            case["attachments"] = [{"id": info["id"], "kind": "id_card",
                                    "media_type": "image/jpeg", "size": info["size"],
                                    "sha256": sha}]
            case["origin"]["terminal_id"] = terminal_id  # the hub refuses any other origin
            r = httpx.post(f"{url}/v1/cases", json=case, timeout=60,
                           headers={"Authorization": f"Bearer {token}"})
            case_ok = r.status_code == 202
            case_file = env.tmp / "case.json"
            case_file.write_text(json.dumps(case))
            child = spawn(["-m", "bench.attachment", "--child", str(case_file), str(sim.port),
                           str(key_file), str(known_hosts)], env.settings, stdout=-1)
            out, _ = child.communicate(timeout=1800)
            fig = json.loads([x for x in out.splitlines() if x.startswith("{")][-1])
            deadline = time.monotonic() + 120  # the department hashes the scan before filing
            while not sim.core.filed[LEG_ID] and not sim.core.refusals \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            landed = sim.root / "processed" / attachment_name("medical_insurance", LEG_ID,
                                                               "submit", 1, sha)
            delivered_ok = sim.core.filed[LEG_ID] == 1 and landed.exists() and \
                landed.stat().st_size == mb * MIB and sha256_of(landed) == sha
        finally:
            api.terminate()
            api.wait(30)
            sim.stop()
    size_mb = mb * MIB / 1e6
    return {"bench": "attachment", "bus": "embedded", "size_mb": round(size_mb, 1),
            "case_accepted": case_ok, "delivered_intact": delivered_ok,
            "upload_mb_per_s": round(size_mb / up_s, 1),
            "sftp_mb_per_s": round(size_mb / fig["seconds"], 1),
            "api_rss_before_mib": round(api_rss0 / 1024, 1),
            "api_peak_rss_mib": round(api_hwm / 1024, 1),
            "api_rss_growth_mib": round((api_hwm - api_rss0) / 1024, 1),
            "delivery_rss_before_mib": round(fig["rss_before_kib"] / 1024, 1),
            "delivery_peak_rss_mib": round(fig["vmhwm_kib"] / 1024, 1),
            "delivery_rss_growth_mib": round((fig["vmhwm_kib"] - fig["rss_before_kib"]) / 1024,
                                             1)}


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        deliver_child(argv[1], int(argv[2]), argv[3], argv[4])
        return None
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=env_int("BENCH_SCAN_MB", 200))
    rec = run(ap.parse_args(argv).mb)
    emit(rec)
    return rec


if __name__ == "__main__":
    main()
