"""tus 1.0 on the hub's attachment API, over a real socket: resume from the confirmed byte.

Given a terminal with a token, when it uploads through ``/v1/uploads`` and the request breaks
mid-way (or the hub restarts), then ``HEAD`` reports what the hub holds and the upload continues
from there; the sealed attachment is then usable in a case like a one-shot upload.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.intake.api import ApiContext, create_app
from tests.support.api import Api, LiveServer, config

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Api, LiveServer]]:
    api = Api(tmp_path, None, upload_idle_s=2.0)
    srv = LiveServer(api.app)
    srv.start()
    yield api, srv
    srv.stop()
    api.close()


def _meta(sha: str, kind: str = "birth_certificate", media: str = "image/jpeg") -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                    for k, v in (("kind", kind), ("filetype", media), ("sha256", sha)))


def _create(c: httpx.Client, token: str, data: bytes, sha: str | None = None) -> str:
    r = c.post("/v1/uploads", headers={**TUS, **Api.auth(token), "Upload-Length": str(len(data)),
                                       "Upload-Metadata": _meta(sha or
                                                                hashlib.sha256(data).hexdigest())})
    assert r.status_code == 201, r.text
    return str(r.headers["location"])


def _patch(c: httpx.Client, token: str, url: str, offset: int, chunk: bytes,
           **extra: str) -> httpx.Response:
    return c.patch(url, content=chunk, headers={
        **TUS, **Api.auth(token), "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream", **extra})


def _offset(c: httpx.Client, token: str, url: str) -> int:
    r = c.head(url, headers={**TUS, **Api.auth(token)})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    return int(r.headers["upload-offset"])


def _broken_patch(port: int, token: str, url: str, offset: int, sent: bytes, claimed: int) -> None:
    """A PATCH announcing ``claimed`` bytes whose connection dies after ``sent``."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall((f"PATCH {url} HTTP/1.1\r\nHost: hub\r\nTus-Resumable: 1.0.0\r\n"
                   f"Authorization: Bearer {token}\r\nUpload-Offset: {offset}\r\n"
                   "Content-Type: application/offset+octet-stream\r\n"
                   f"Content-Length: {claimed}\r\n\r\n").encode() + sent)
        time.sleep(0.3)


def _wait_offset(c: httpx.Client, token: str, url: str, want: int) -> None:
    deadline = time.monotonic() + 10
    while _offset(c, token, url) != want:
        assert time.monotonic() < deadline, "the hub never confirmed the bytes it received"
        time.sleep(0.05)


def test_a_broken_upload_resumes_from_the_confirmed_byte_and_the_scan_joins_a_case(
        hub: tuple[Api, LiveServer]) -> None:
    api, srv = hub
    data = os.urandom(3 * 1024 * 1024 + 17)
    with httpx.Client(base_url=srv.url) as c:
        opts = c.options("/v1/uploads")
        assert opts.status_code == 204 and "checksum" in opts.headers["tus-extension"]
        assert "sha1" in opts.headers["tus-checksum-algorithm"]
        url = _create(c, api.token_a, data)
        assert _offset(c, api.token_a, url) == 0
        # When the link dies after 1 MiB of a request that announced the whole file ...
        _broken_patch(srv.port, api.token_a, url, 0, data[: 1024 * 1024], len(data))
        # ... then the hub confirms exactly that MiB, and the rest goes from there.
        _wait_offset(c, api.token_a, url, 1024 * 1024)
        part = api.blobs.root / "uploads" / f"{url.rsplit('/', 1)[1]}.part"
        assert data[4096:8192] not in part.read_bytes(), "a partial upload sits in plaintext"
        rest = data[1024 * 1024:]
        sha1 = base64.b64encode(hashlib.sha1(rest).digest()).decode()
        r = _patch(c, api.token_a, url, 1024 * 1024, rest, **{"Upload-Checksum": f"sha1 {sha1}"})
        assert r.status_code == 204, r.text
        assert int(r.headers["upload-offset"]) == len(data)
        attachment = r.headers["hub-attachment-id"]
        assert c.head(url, headers={**TUS, **Api.auth(api.token_a)}).headers[
            "hub-attachment-id"] == attachment
    assert b"".join(api.blobs.open(attachment, hashlib.sha256(data).hexdigest())) == data
    body = api.new_case(api.token_a, "BIRTH")  # the upload is its 出生医学证明
    at = next(n for n, a in enumerate(body["attachments"]) if a["kind"] == "birth_certificate")
    body["attachments"][at] = {**body["attachments"][at], "id": attachment, "size": len(data),
                               "sha256": hashlib.sha256(data).hexdigest()}
    assert api.submit(body).status_code == 202


def test_a_restarted_hub_resumes_from_the_offset_it_persisted(
        hub: tuple[Api, LiveServer]) -> None:
    api, srv = hub
    data = os.urandom(600_000)
    with httpx.Client(base_url=srv.url) as c:
        url = _create(c, api.token_a, data)
        assert _patch(c, api.token_a, url, 0, data[:250_000]).status_code == 204
    srv.stop()
    # A new process: a new app over the same data directory and store.
    ctx = ApiContext(settings=api.settings, config=config(), store=api.store, blobs=api.blobs)
    again = LiveServer(create_app(ctx))
    again.start()
    try:
        with httpx.Client(base_url=again.url) as c:
            assert _offset(c, api.token_a, url) == 250_000
            r = _patch(c, api.token_a, url, 250_000, data[250_000:])
            assert r.status_code == 204 and r.headers["hub-attachment-id"]
    finally:
        again.stop()
    srv.thread = again.thread  # the fixture's stop() joins a finished thread


def test_refusals_keep_the_confirmed_offset_and_never_seal_a_wrong_file(
        hub: tuple[Api, LiveServer]) -> None:
    api, srv = hub
    data = os.urandom(100_000)
    with httpx.Client(base_url=srv.url) as c:
        assert c.post("/v1/uploads", headers={**Api.auth(api.token_a),
                                              "Upload-Length": "5"}).status_code == 412
        url = _create(c, api.token_a, data)
        assert c.head(url, headers={**TUS, **Api.auth(api.token_b)}).status_code == 404
        bad = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
        r = _patch(c, api.token_a, url, 0, data[:1000], **{"Upload-Checksum": f"sha1 {bad}"})
        assert r.status_code == 460 and _offset(c, api.token_a, url) == 0
        r = _patch(c, api.token_a, url, 0, data[:1000], **{"Upload-Checksum": "crc99 AAAA"})
        assert r.status_code == 400
        assert _patch(c, api.token_a, url, 5, data[:1000]).status_code == 409
        r = _patch(c, api.token_a, url, 0, data + b"extra")
        assert r.status_code == 413
        assert _patch(c, api.token_a, url, 0, data[:10], **{"Content-Type": "text/plain"}
                      ).status_code == 415
        # A file whose whole SHA-256 differs from the declared one is refused and forgotten.
        liar = _create(c, api.token_a, data, sha="0" * 64)
        r = _patch(c, api.token_a, liar, 0, data)
        assert r.status_code == 422
        assert r.json()["errors"][0]["code"] == "attachment.hash_mismatch"
        assert c.head(liar, headers={**TUS, **Api.auth(api.token_a)}).status_code == 404
        big: dict[str, Any] = {**TUS, **Api.auth(api.token_a),
                               "Upload-Length": str(api.settings.max_attachment_bytes + 1),
                               "Upload-Metadata": _meta("a" * 64)}
        assert c.post("/v1/uploads", headers=big).status_code == 413
    assert api.store.list_attachments() == []
