"""Server-sent events of the caller's village: ``GET /v1/events``.

Each feed row becomes ``id: <seq>`` / ``event: <type>`` / ``data: <json>``. A client resumes
with ``Last-Event-ID`` (or ``?after=``) and gets every later event of its village, in order,
none skipped (feed rows commit in sequence order, see ``hub.store.tx``). ``?once=1`` sends what
is there and ends; ``?timeout=S`` ends after S seconds (tests, simple pollers). A keep-alive
comment goes out every ``sse_heartbeat_s``; the terminal's token is re-checked then, so a revoked
terminal's stream ends. A position that is not an event sequence number (up to 2^63-1) is a 422
before the stream starts; a terminal holds at most ``max_event_streams_per_terminal`` streams at
once (429 beyond, ``hub.intake.api.quotas``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from hub.intake.api.auth import bearer_token, context
from hub.intake.api.errors import ApiError
from hub.intake.api.quotas import StreamSlots
from hub.intake.api.routes_cases import TerminalDep
from hub.store.base import FeedEvent, Terminal

routes = APIRouter(prefix="/v1")


def format_event(ev: FeedEvent) -> bytes:
    data = json.dumps(dict(ev.event), ensure_ascii=False, separators=(",", ":"))
    kind = str(ev.event.get("type", "message"))
    return f"id: {ev.seq}\nevent: {kind}\ndata: {data}\n\n".encode()


# Feed sequence numbers are BIGINT: a larger position cannot exist and would overflow the query.
MAX_SEQ = 2**63 - 1


def _start_after(request: Request, after: int | None) -> int:
    raw = (request.headers.get("last-event-id") or "").strip()
    if not raw:
        return after or 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_SEQ):
        raise ApiError.one(422, "last_event_id.invalid", "Last-Event-ID 无效（应为事件序号）",
                           "Last-Event-ID")
    return int(raw)


async def _stream(request: Request, terminal: Terminal, after: int, once: bool,
                  timeout: float | None) -> AsyncIterator[bytes]:
    ctx = context(request)
    token = bearer_token(request) or ""
    deadline = time.monotonic() + timeout if timeout else None
    next_beat = time.monotonic() + ctx.sse_heartbeat_s
    yield b": connected\n\n"
    while True:
        events = await run_in_threadpool(ctx.store.feed_since, terminal.village, after, 100)
        for ev in events:
            yield format_event(ev)
            after = ev.seq
        if len(events) == 100:
            continue
        if once or (deadline is not None and time.monotonic() >= deadline):
            return
        if await request.is_disconnected():
            return
        if time.monotonic() >= next_beat:
            if await run_in_threadpool(ctx.store.authenticate, token) is None:
                return
            yield b": keep-alive\n\n"
            next_beat = time.monotonic() + ctx.sse_heartbeat_s
        await asyncio.sleep(ctx.sse_poll_s)


@routes.get("/events", response_class=StreamingResponse)
def events(request: Request, terminal: TerminalDep,
           after: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None, once: bool = False,
           timeout: Annotated[float | None, Query(gt=0, le=3600)] = None) -> StreamingResponse:
    start = _start_after(request, after)
    slots: StreamSlots = request.app.state.streams
    slots.acquire(terminal.id)  # 429 when the terminal already holds its share of streams
    return _SlotStream(lambda: slots.release(terminal.id),
                       _stream(request, terminal, start, once, timeout),
                       media_type="text/event-stream",
                       headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class _SlotStream(StreamingResponse):
    """A stream that gives its terminal's slot back however it ends (done, disconnect, error)."""

    def __init__(self, release: Callable[[], None], content: AsyncIterator[bytes],
                 **kw: Any) -> None:
        super().__init__(content, **kw)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
