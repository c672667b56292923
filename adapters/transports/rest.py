"""REST transport (httpx, JSON) for departments with an HTTP API.

Features: ``POST {base_url}/applications`` with ``Idempotency-Key: <leg id>:<message sequence>``
(``hub.domain.adapter.idempotency_key``: 0 for the submission, n for the leg's n-th supplement; a
resend repeats the key and returns the first receipt, marked duplicate; every supplement has a
key of its own, so it is filed, never dropped as a resend) and ``request_id: <leg id>`` in the
body naming the application the message belongs to; bearer token from the secret named by ``token_env``;
one ``timeout_s`` for connect/read/write/pool; TLS verification against ``ca_bundle``.
Results arrive by signed callback into the hub (``hub.domain.callbacks``) and, as a fallback, by
polling ``GET {base_url}/results?since=<seq>`` after the last acknowledged sequence number.

Attachments (scans, audio/video), before the application: each is streamed with
``PUT {base_url}/applications/{key}/attachments/{n}`` (``n`` from 1; body = the file's bytes,
``Content-Type`` = its media type, ``Content-Length`` = its declared size, ``X-Content-SHA256``
and the message's ``Idempotency-Key``), read chunk by chunk from ``SubmitRequest.open_attachment``
and checked on the way (``adapters.transports.attachments``: a stream that differs from its
declaration is cut off before its last chunk -> PermanentError(reason=Reason.TAMPERED), and the
application is not posted). The department answers each PUT with the SHA-256 and size it
received; the hub checks them. Then ``POST applications`` lists the files (``attachments``:
index, kind, media_type, size, sha256); the department files it only if every listed file
arrived intact (else 422). A resend PUTs the same paths again, which replaces the files.

Errors (``_STATUSES``, the transport's one table of statuses): 429 -> RateLimited and 503 ->
TransientError, both with ``retry_after_s`` from ``Retry-After``; other 5xx, 408, 401/403
(credentials are fixed by operations; the backlog waits) and network errors -> TransientError;
any other 4xx -> PermanentError (422 = the department rejected the application); a 2xx that is
not the expected JSON -> PermanentError; an answer over ``max_response_bytes`` (default 10 MiB)
-> PermanentError(reason="hostile_response"), read no further (``adapters.transports.bounded``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from adapters.transports.attachments import has_attachments, verified
from adapters.transports.bounded import CHUNK_BYTES, check_declared, read_capped
from adapters.transports.cursor import ResultCursor
from hub.config.departments import DepartmentConfig
from hub.config.secrets import lookup_secret
from hub.config.transports.rest import RestTransport
from hub.domain.adapter import Health, QuarantinedAnswer, Receipt, Result, SubmitRequest
from hub.domain.callbacks import parse_result
from hub.domain.errors import (
    HubError,
    MalformedMessage,
    PermanentError,
    RateLimited,
    TransientError,
)
from hub.domain.reasons import Reason

__all__ = ["RestAdapter"]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None  # an HTTP date: leave the wait to the retry tiers


# The one table of this transport's HTTP statuses (first match wins; a status no row matches is
# the answer): the error it becomes and, for a permanent one, the dead letter's reason.
_STATUSES: tuple[tuple[Callable[[int], bool], type[HubError], Reason | None], ...] = (
    (lambda status: status == 429, RateLimited, None),
    (lambda status: status >= 500 or status in (401, 403, 408), TransientError, None),
    (lambda status: status == 422, PermanentError, Reason.REJECTED),
    (lambda status: status >= 400, PermanentError, Reason.HTTP),
)


def _status_error(department: str, response: httpx.Response, body: bytes) -> HubError | None:
    status = response.status_code
    for matches, error, reason in _STATUSES:
        if not matches(status):
            continue
        if issubclass(error, TransientError):
            return error(f"{department}: HTTP {status}", retry_after_s=_retry_after(response))
        text = body[:200].decode("utf-8", "replace")
        return PermanentError(f"{department}: HTTP {status}: {text}",
                              reason=reason or Reason.REJECTED)
    return None


class RestAdapter:
    def __init__(self, dept: DepartmentConfig, *,
                 secrets: Mapping[str, str] | None = None) -> None:
        if not isinstance(dept.transport, RestTransport):
            raise TypeError("RestAdapter needs a rest transport")
        cfg = dept.transport
        self.department = dept.name
        headers = {"Accept": "application/json"}
        token = lookup_secret(cfg.token_env, secrets)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        verify: str | bool = str(dept.resolve(cfg.ca_bundle)) if cfg.ca_bundle else True
        self._http = httpx.Client(base_url=cfg.base_url.rstrip("/") + "/", headers=headers,
                                  timeout=httpx.Timeout(cfg.timeout_s), verify=verify)
        self._max_bytes = cfg.max_response_bytes
        self._cursor = ResultCursor()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with self._http.stream(method, path, **kwargs) as response:
                # Every byte of the answer is read with the department's cap (item 15).
                check_declared(self.department, response.headers, self._max_bytes)
                body = read_capped(self.department, response.iter_bytes(CHUNK_BYTES),
                                   self._max_bytes)
        except httpx.HTTPError as exc:  # connect/read timeouts, refused, reset, protocol errors
            raise TransientError(f"{self.department}: {type(exc).__name__}") from exc
        error = _status_error(self.department, response, body)
        if error is not None:
            raise error
        try:
            return json.loads(body)
        except ValueError as exc:
            raise PermanentError(f"{self.department}: reply is not JSON",
                                 reason=Reason.MALFORMED_RESPONSE) from exc

    def _put_attachments(self, request: SubmitRequest) -> list[dict[str, Any]]:
        assert request.open_attachment is not None
        listed: list[dict[str, Any]] = []
        for n, ref in enumerate(request.attachments, start=1):
            sha = ref.sha256.lower()
            headers = {"Content-Type": ref.media_type, "Content-Length": str(ref.size),
                       "X-Content-SHA256": sha, "Idempotency-Key": request.idempotency_key}
            doc = self._request(
                "PUT", f"applications/{quote(request.leg_id, safe='')}/attachments/{n}",
                content=verified(self.department, n, ref, request.open_attachment(ref)),
                headers=headers)
            if not isinstance(doc, dict) or doc.get("sha256") != sha or doc.get("size") != ref.size:
                raise TransientError(f"{self.department}: attachment {n} was not confirmed "
                                     "intact by the department")
            listed.append({"index": n, "kind": ref.kind, "media_type": ref.media_type,
                           "size": ref.size, "sha256": sha})
        return listed

    def submit(self, request: SubmitRequest) -> Receipt:
        body: dict[str, Any] = {"request_id": request.leg_id, "kind": request.kind,
                                "case_id": request.case_id, "item_code": request.item_code,
                                "record": dict(request.record)}
        if has_attachments(request):  # every file first: the department never lacks one
            body["attachments"] = self._put_attachments(request)
        doc = self._request("POST", "applications", json=body,
                            headers={"Idempotency-Key": request.idempotency_key})
        if not isinstance(doc, dict) or not isinstance(doc.get("receipt_no"), str):
            raise PermanentError(f"{self.department}: reply has no receipt_no",
                                 reason=Reason.MALFORMED_RESPONSE)
        return Receipt(department_ref=doc["receipt_no"], duplicate=bool(doc.get("duplicate")))

    def poll_results(self) -> list[Result]:
        doc = self._request("GET", "results", params={"since": self._cursor.since})
        items = doc.get("results") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise PermanentError(f"{self.department}: results reply malformed",
                                 reason=Reason.MALFORMED_RESPONSE)
        out: list[Result] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("seq"), int):
                # No position to move past; the others' positions move the cursor.
                self._cursor.skip("(no seq)", "malformed_result")
                continue
            seq = item.pop("seq")
            self._cursor.seen(seq)
            try:
                result = parse_result(item)
            except (MalformedMessage, RecursionError):  # skipped: the cursor moves past it
                self._cursor.skip(f"seq {seq}", "malformed_result")
                continue
            self._cursor.hold(result.result_id, seq)
            out.append(result)
        return out

    def take_quarantined(self) -> list[QuarantinedAnswer]:
        """Answers skipped as unreadable since the last call."""
        return self._cursor.take_quarantined()

    def ack_results(self, results: Sequence[Result]) -> None:
        self._cursor.ack(results)

    def health(self) -> Health:
        try:
            self._request("GET", "health")
        except (TransientError, PermanentError) as exc:
            return Health(ok=False, detail=str(exc))
        return Health(ok=True)

    def close(self) -> None:
        self._http.close()
