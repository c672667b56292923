"""A department that answers with a huge body does not grow the worker (issue 18, item 15).

A real HTTP server on loopback really streams 200 MB (no Content-Length, so nothing can be
refused from the headers); the adapter polls it in a child process, which reports its own peak
memory growth. Every answer is read through ``adapters.transports.bounded`` with the
department's cap (10 MiB by default): refused as ``hostile_response``, memory bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 200 * 1024 * 1024
CHUNK = 1024 * 1024
MAX_GROWTH = 50 * 1024 * 1024

SOAP_HEAD = (b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
             b'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
             b'xmlns:tns="urn:cn:gov:hrss:village-hub:v1"><soap:Body><tns:QueryStatusResponse>'
             b"<tns:result><tns:seq>1</tns:seq><tns:resultId>")
REST_HEAD = b'{"results": [{"seq": 1, "result_id": "'


class _Streamer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: no length
    sent: list[int]

    def _stream(self, head: bytes, content_type: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.end_headers()
        block = b"x" * CHUNK
        sent = 0
        try:
            self.wfile.write(head)
            while sent < TOTAL:
                self.wfile.write(block)
                sent += len(block)
        except OSError:
            pass  # the hub stopped reading (broken pipe, reset, timeout)
        finally:
            self.sent.append(sent)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self._stream(SOAP_HEAD, "text/xml; charset=utf-8")

    def do_GET(self) -> None:  # noqa: N802
        self._stream(REST_HEAD, "application/json")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def streamer() -> Iterator[tuple[str, list[int]]]:
    sent: list[int] = []
    handler = type("Handler", (_Streamer,), {"sent": sent})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", sent
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("kind", "path"), [("soap", "/ws"), ("rest", "/api/v1")])
def test_a_200_mb_answer_is_refused_with_bounded_memory(
        streamer: tuple[str, list[int]], kind: str, path: str) -> None:
    url, sent = streamer
    # when the hub polls a department whose server streams 200 MB
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tests.support.bounded_child", kind, url + path],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(kind, report, "server sent", sent)  # the figures, with pytest -s
    # then the answer is refused as hostile, the worker's memory grew by far less than the body
    assert report["reason"] == "hostile_response", report
    assert report["growth_bytes"] < MAX_GROWTH, report
    # and the hub stopped reading long before the end of the stream (the server's write fails
    # once the child has gone; under load that may take a moment to be noticed)
    deadline = time.monotonic() + 60
    while not sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sent and sent[0] < TOTAL // 2, sent


def test_a_callback_over_the_departments_cap_is_refused(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Callbacks are read with the same per-department cap (``max_response_bytes``)."""
    import dataclasses

    from fastapi.testclient import TestClient

    from hub.domain.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
    from hub.intake.api import create_app
    from tests.support.api import Api

    monkeypatch.setenv("HUB_CIVIL_AFFAIRS_CALLBACK_SECRET", "cb-secret")
    api = Api(tmp_path, None)
    cfg = api.ctx.config
    dept = cfg.departments["civil_affairs"]
    small = dept.model_copy(update={
        "transport": dept.transport.model_copy(update={"max_response_bytes": 4096})})
    ctx = dataclasses.replace(api.ctx, config=dataclasses.replace(
        cfg, departments={**cfg.departments, "civil_affairs": small}))
    client = TestClient(create_app(ctx), raise_server_exceptions=False)
    # given a department allowed 4 KiB per message, when it calls back with 8 KiB (signed)
    body = json.dumps({"result_id": "r-1", "leg_id": "x:civil_affairs", "outcome": "approved",
                       "detail": "x" * 8192}).encode()
    ts = str(int(time.time()))
    r = client.post("/v1/callbacks/civil_affairs", content=body, headers={
        TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(b"cb-secret", ts, body)})
    # then it is refused as too large before anything is parsed
    assert r.status_code == 413, r.text
    assert r.json()["errors"][0]["code"] == "body.too_large"
    client.close()
    api.close()
