"""Abuse limits: request bodies read with a hard size cap, and requests per terminal per minute.

``read_body`` streams the body and stops at the limit, so an oversize request never sits whole in
memory; a declared ``Content-Length`` over the limit is refused before reading anything.
``read_json`` decodes with ``hub.domain.strictjson`` (no NaN/Infinity, no duplicate keys).
``RateLimiter`` is a sliding one-minute window per terminal, kept in this process: with several
API instances behind a load balancer each enforces the limit on its own share.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import Request

from hub.domain import strictjson
from hub.intake.api.errors import ApiError


def too_large(limit: int) -> ApiError:
    return ApiError.one(413, "body.too_large", f"请求内容超过上限（{limit} 字节）", "(body)")


def declared_length(request: Request, limit: int) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is True, int("²") raises
        raise ApiError.one(400, "body.length", "Content-Length 无效", "(body)")
    if len(raw) > 18 or int(raw) > limit:  # int() of thousands of digits raises, too
        raise too_large(limit)
    return int(raw)


async def read_body(request: Request, limit: int) -> bytes:
    declared_length(request, limit)
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise too_large(limit)
    return bytes(buf)


async def read_json(request: Request, limit: int) -> object:
    """The body as JSON, decoded by ``hub.domain.strictjson`` (no NaN/Infinity, no duplicate keys)."""
    body = await read_body(request, limit)
    try:
        return strictjson.loads(body.decode("utf-8"))
    except strictjson.StrictJsonError as exc:
        raise ApiError.one(400, exc.code, exc.message, "(body)") from None
    except (UnicodeDecodeError, ValueError):
        raise ApiError.one(400, "body.json", "请求内容不是有效的JSON（UTF-8）",
                           "(body)") from None
    except RecursionError:  # absurdly deep nesting: refuse it rather than crash
        raise ApiError.one(400, "body.json", "请求内容嵌套层级过深", "(body)") from None


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        """Record one request; returns 0 when allowed, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - 60.0:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(0.001, hits[0] + 60.0 - now)
            hits.append(now)
            return 0.0
