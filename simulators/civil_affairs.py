"""Reference simulator of the civil-affairs (民政) system: a JSON HTTP service on loopback.

    POST /api/v1/applications   Idempotency-Key required (one per message: a repeated key is a
                                no-op, 200 {receipt_no, duplicate:true}; a new key files the
                                message, 201 {receipt_no, duplicate:false}); the body's
                                request_id names the application (the leg id)
    GET  /api/v1/results?since=N  {"results": [{seq, result_id, leg_id, outcome, ...}]}
    GET  /api/v1/health
    PUT  /api/v1/applications/{key}/attachments/{n}   one file, streamed; X-Content-SHA256 and
                                Content-Length required; hashed in chunks, only the digest and
                                size are kept; 201 {sha256, size} (200 when the same bytes had
                                already arrived), 422 DIGEST_MISMATCH, 400 on a short body

An application whose ``attachments`` lists files (index, sha256, size) is filed only when every
one arrived with those bytes; otherwise 422 ATTACHMENTS_INCOMPLETE and nothing is filed.

With ``callback_url`` and ``callback_secret`` it also pushes every result, signed
(``hub.domain.callbacks``), to the hub; a failed push is retried until it is answered 2xx.

Injectable (see ``simulators.base``): ``faults.slow_s`` (the client times out);
``faults.down`` and ``faults.transient_next`` -> 503 with ``Retry-After: 1``;
``faults.throttle_next`` -> 429 with ``Retry-After: 2``; ``faults.lose_reply_next`` -> filed,
then 503; ``faults.reject_all``/``reject_keys`` -> 422; ``stop()``/``start()`` -> connection
refused on the same port; ``token`` -> a bearer token is required (else 401).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import httpx

from hub.domain.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from simulators.base import (
    Behaviour,
    Faults,
    HttpSim,
    Listed,
    SimCore,
    SimRefused,
    SimResult,
    SimUnavailable,
    hash_stream,
)

__all__ = ["RestSim"]

_MAX_BODY = 1_000_000
_MAX_ATTACHMENT = 4 * 1024**3
_ATTACHMENT_PATH = re.compile(r"^/api/v1/applications/(.+)/attachments/([1-9][0-9]{0,2})$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


class RestSim:
    def __init__(self, *, behaviour: Behaviour | None = None, faults: Faults | None = None,
                 result_delay_s: float = 0.05, token: str | None = None,
                 callback_url: str | None = None, callback_secret: bytes | None = None,
                 prefix: str = "MZ", port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.core = SimCore(prefix, behaviour, faults, result_delay_s)
        self.token = token
        self.callback_url = callback_url
        self.callback_secret = callback_secret
        self.callbacks_delivered: list[str] = []  # result ids the hub answered 2xx
        self._http = HttpSim(self._app, port, tls)
        self._stop = threading.Event()
        self._pusher: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{self._http.base_url}/api/v1"

    @property
    def received(self) -> dict[str, int]:
        return dict(self.core.received)

    @property
    def faults(self) -> Faults:
        return self.core.faults

    def start(self) -> RestSim:
        self._http.start()
        if self.callback_url and self._pusher is None:
            self._stop.clear()
            self._pusher = threading.Thread(target=self._push_loop, name="sim-rest-callbacks",
                                            daemon=True)
            self._pusher.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def close(self) -> None:
        self._stop.set()
        if self._pusher is not None:
            self._pusher.join(timeout=5)
            self._pusher = None
        self.stop()

    def __enter__(self) -> RestSim:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- callbacks ------------------------------------------------------------------------------
    def signed(self, result: SimResult, *, timestamp: float | None = None) -> tuple[bytes,
                                                                                   dict[str, str]]:
        """The body and headers of a callback for ``result`` (tests replay or forge these)."""
        body = json.dumps(result.as_json(), ensure_ascii=False, sort_keys=True).encode()
        ts = str(int(timestamp if timestamp is not None else time.time()))
        sig = sign(self.callback_secret or b"", ts, body)
        return body, {"Content-Type": "application/json", TIMESTAMP_HEADER: ts,
                      SIGNATURE_HEADER: sig}

    def _push_loop(self) -> None:
        backlog: list[SimResult] = []
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(0.02):
                backlog.extend(self.core.take_ready())
                while backlog and not self._stop.is_set():
                    body, headers = self.signed(backlog[0])
                    try:
                        ok = client.post(str(self.callback_url), content=body,
                                         headers=headers).is_success
                    except httpx.HTTPError:
                        ok = False
                    if not ok:
                        break  # the hub is away: keep the order, try again shortly
                    self.callbacks_delivered.append(backlog.pop(0).result_id)

    # -- HTTP -----------------------------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        def reply(status: str, doc: Any, headers: tuple[tuple[str, str], ...] = ()) -> list[bytes]:
            data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
            start(status, [("Content-Type", "application/json; charset=utf-8"),
                           ("Content-Length", str(len(data))), *headers])
            return [data]

        unavailable = ("503 Service Unavailable", {"code": "BUSY", "message": "系统繁忙"},
                       (("Retry-After", "1"),))
        try:
            self.core.gate()
        except SimUnavailable:
            return reply(*unavailable)
        if self.core.take("throttle_next"):
            return reply("429 Too Many Requests", {"code": "THROTTLED"}, (("Retry-After", "2"),))
        if self.token and environ.get("HTTP_AUTHORIZATION") != f"Bearer {self.token}":
            return reply("401 Unauthorized", {"code": "UNAUTHORIZED"})
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if method == "GET" and path == "/api/v1/health":
            return reply("200 OK", {"status": "ok"})
        if method == "GET" and path == "/api/v1/results":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            try:
                since = int(query.get("since", ["0"])[0])
            except ValueError:
                return reply("400 Bad Request", {"code": "BAD_SINCE"})
            results = [{"seq": r.seq, **r.as_json()} for r in self.core.results_since(since)]
            return reply("200 OK", {"results": results})
        attachment = _ATTACHMENT_PATH.match(path)
        if method == "PUT" and attachment:
            return reply(*self._attachment(environ, attachment[1], int(attachment[2])))
        if method != "POST" or path != "/api/v1/applications":
            return reply("404 Not Found", {"code": "NOT_FOUND"})
        message_key = environ.get("HTTP_IDEMPOTENCY_KEY", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if not message_key or length > _MAX_BODY:
            return reply("400 Bad Request", {"code": "BAD_REQUEST"})
        try:
            doc = json.loads(environ["wsgi.input"].read(length))
            key = str(doc.get("request_id") or message_key)  # the application
            record = doc["record"]
            kind = doc.get("kind", "submit")
            if not isinstance(record, dict) or kind not in ("submit", "supplement"):
                raise ValueError("bad record")
            listed: list[Listed] = [(int(a["index"]), str(a["sha256"]), int(a["size"]))
                                    for a in doc.get("attachments", [])]
        except (ValueError, KeyError, TypeError):
            return reply("400 Bad Request", {"code": "MALFORMED"})
        unmatched = self.core.unmatched_attachments(key, listed)
        if unmatched:
            self.core.refusals[key] = f"attachments {unmatched} missing or different"
            return reply("422 Unprocessable Entity", {
                "code": "ATTACHMENTS_INCOMPLETE", "missing": unmatched,
                "message": "附件未收到或校验不符"})
        try:
            ref, dup = self.core.submit(key, kind, record, message_key=message_key)
        except SimRefused as exc:
            return reply("422 Unprocessable Entity", {"code": "REJECTED", "message": str(exc)})
        except SimUnavailable:
            return reply(*unavailable)
        return reply("200 OK" if dup else "201 Created", {"receipt_no": ref, "duplicate": dup})

    def _attachment(self, environ: dict[str, Any], key: str,
                    index: int) -> tuple[str, dict[str, Any]]:
        declared = environ.get("HTTP_X_CONTENT_SHA256", "").lower()
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return "411 Length Required", {"code": "LENGTH_REQUIRED"}
        if not environ.get("HTTP_IDEMPOTENCY_KEY") or not _SHA.match(declared) \
                or not 0 <= length <= _MAX_ATTACHMENT:
            return "400 Bad Request", {"code": "BAD_REQUEST"}
        sha, size = hash_stream(environ["wsgi.input"].read, length)
        if size != length:
            return "400 Bad Request", {"code": "SHORT_BODY"}
        if sha != declared:
            return "422 Unprocessable Entity", {"code": "DIGEST_MISMATCH",
                                                "message": "附件校验不符"}
        again = self.core.attachments.get(key, {}).get(index) == (sha, size)
        self.core.receive_attachment(key, index, sha, size)
        return ("200 OK" if again else "201 Created"), {"sha256": sha, "size": size}
