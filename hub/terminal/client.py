"""The terminal's side of the hub API: tus uploads that resume, case submission, case reads.

Errors are translated at this boundary (httpx never escapes): a connection that fails, times
out or breaks, a 5xx, 408, 423 or 429 is ``TransientError`` (try again later, the same request
is safe: uploads resume from the hub's confirmed offset, a case id is its idempotency key), and
so is 401/403 (a credential to fix; the cases wait for it); any other refusal is
``PermanentError`` carrying the hub's first Chinese message, which the clerk then sees.
Every answer body is read with a bound.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hub.domain.errors import PermanentError, TransientError
from hub.domain.reasons import Reason

log = logging.getLogger("hub.terminal.client")
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = 4 * 1024 * 1024  # one PATCH; a break loses at most this much (its checksum fails)
MAX_ANSWER = 1024 * 1024
_RETRY = {408, 423, 425, 429}


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


def _message(r: Answer) -> str:
    try:
        doc = json.loads(r.content[:MAX_ANSWER])
        return str(doc["errors"][0]["message"])[:300]
    except (ValueError, KeyError, IndexError, TypeError):
        return "县级平台拒绝了这次提交"


def check(r: Answer, *ok: int) -> Answer:
    if r.status_code in ok:
        return r
    if r.status_code >= 500 or r.status_code in _RETRY:
        raise TransientError(f"hub answered {r.status_code}")
    if r.status_code in (401, 403):
        # A revoked or mistyped credential is the operator's to fix, not the case's fault: the
        # cases wait (and the log says why) instead of being marked refused.
        log.error("the hub refuses this terminal's credential (%s): check the token file",
                  r.status_code)
        raise TransientError(f"hub refused the credential ({r.status_code})")
    raise PermanentError(_message(r),
                         reason=Reason.NOT_FOUND if r.status_code == 404 else Reason.HTTP)


class HubClient:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(
            timeout_s, connect=5.0), headers={"Authorization": f"Bearer {token}"})
        self.token = token

    def _call(self, method: str, url: str, **kw: Any) -> Answer:
        try:
            with self._http.stream(method, url, **kw) as r:
                return Answer(r.status_code, r.headers, _bounded(r))
        except httpx.HTTPError as exc:  # connect, read, write, pool, protocol: all transient
            raise TransientError(f"hub unreachable: {type(exc).__name__}") from exc

    # ---- uploads (tus) -----------------------------------------------------------------------
    def create_upload(self, *, size: int, kind: str, media_type: str, sha256: str) -> str:
        meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                        (("kind", kind), ("filetype", media_type), ("sha256", sha256)))
        r = check(self._call("POST", "/v1/uploads", headers={
            **TUS, "Upload-Length": str(size), "Upload-Metadata": meta}), 201)
        location = r.headers.get("location", "")
        if not location.startswith("/v1/uploads/"):
            raise TransientError("hub gave no upload address")
        return str(location)

    def upload_state(self, url: str) -> tuple[int, str | None]:
        """(confirmed offset, attachment id once sealed); PermanentError when it is gone."""
        r = check(self._call("HEAD", url, headers=TUS), 200)
        return int(r.headers.get("upload-offset", "0")), r.headers.get("hub-attachment-id")

    def upload(self, url: str, path: Path, size: int,
               progress: Callable[[int], None] = lambda _n: None, *, fresh: bool = False) -> str:
        """Send what the hub does not hold yet; returns the attachment id. ``fresh``: the
        upload was just created, so its offset is 0 (saves one round trip on a slow link)."""
        offset, attachment = (0, None) if fresh else self.upload_state(url)
        progress(offset)
        with open(path, "rb") as fh:
            while attachment is None:
                fh.seek(offset)
                chunk = fh.read(CHUNK)
                sha1 = base64.b64encode(hashlib.sha1(chunk, usedforsecurity=False).digest()).decode()
                r = check(self._call("PATCH", url, content=_pieces(chunk, offset, progress),
                                     headers={**TUS, "Upload-Offset": str(offset),
                                              "Upload-Checksum": f"sha1 {sha1}",
                                              "Content-Type": "application/offset+octet-stream",
                                              "Content-Length": str(len(chunk))}), 204, 409, 460)
                if r.status_code != 204:  # the hub holds a different offset: ask again
                    offset, attachment = self.upload_state(url)
                    continue
                offset = int(r.headers.get("upload-offset", offset + len(chunk)))
                attachment = r.headers.get("hub-attachment-id")
                progress(offset)
                if attachment is None and offset >= size:
                    raise TransientError("hub did not seal the complete upload")
        return attachment

    # ---- cases -------------------------------------------------------------------------------
    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        r = check(self._call("POST", "/v1/cases", json=body), 202)
        doc: dict[str, Any] = r.json()
        return doc

    def case(self, case_id: str) -> dict[str, Any] | None:
        r = self._call("GET", f"/v1/cases/{case_id}")
        if r.status_code == 404:
            return None
        doc: dict[str, Any] = check(r, 200).json()
        return doc

    def cases(self) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            page = check(self._call("GET", "/v1/cases", params=params), 200).json()
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def events(self, after: int, timeout_s: float) -> httpx.Response:
        """An open event stream (caller closes); raises TransientError when it cannot open."""
        try:
            request = self._http.build_request(
                "GET", "/v1/events", params={"timeout": str(timeout_s)},
                headers={"Last-Event-ID": str(after), "Accept": "text/event-stream"})
            r = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise TransientError(f"hub unreachable: {type(exc).__name__}") from exc
        if r.status_code != 200:
            try:
                answer = Answer(r.status_code, r.headers, _bounded(r))
            except httpx.HTTPError as exc:
                raise TransientError(f"hub unreachable: {type(exc).__name__}") from exc
            finally:
                r.close()
            check(answer, 200)
        return r

    def close(self) -> None:
        self._http.close()


def _bounded(r: httpx.Response) -> bytes:
    buf = bytearray()
    for piece in r.iter_bytes():
        buf += piece
        if len(buf) > MAX_ANSWER:
            raise TransientError("hub answer too large")
    return bytes(buf)


def _pieces(chunk: bytes, base: int, progress: Callable[[int], None]) -> Iterator[bytes]:
    step = 64 * 1024
    for i in range(0, len(chunk), step):
        yield chunk[i:i + step]
        progress(base + min(len(chunk), i + step))
