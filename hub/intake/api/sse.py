"""Server-sent events of the caller's village: ``GET /v1/events``.

Each feed row becomes ``id: <seq>`` / ``event: <type>`` / ``data: <json>``. A client resumes
with ``Last-Event-ID`` (or ``?after=``) and gets every later event of its village, in order,
none skipped (feed rows commit in sequence order, see ``hub.store.tx``). ``?once=1`` sends what
is there and ends; ``?timeout=S`` ends after S seconds (tests, simple pollers). A keep-alive
comment goes out every ``sse_heartbeat_s``; the terminal's token is re-checked then, so a revoked
terminal's stream ends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hub.intake.api.auth import bearer_token, context
from hub.intake.api.errors import ApiError
from hub.intake.api.routes_cases import TerminalDep
from hub.store.base import FeedEvent, Terminal

routes = APIRouter(prefix="/v1")


def format_event(ev: FeedEvent) -> bytes:
    data = json.dumps(dict(ev.event), ensure_ascii=False, separators=(",", ":"))
    kind = str(ev.event.get("type", "message"))
    return f"id: {ev.seq}\nevent: {kind}\ndata: {data}\n\n".encode()


def _start_after(request: Request, after: int | None) -> int:
    raw = request.headers.get("last-event-id")
    if raw is None or not raw.strip():
        return after or 0
    if not raw.strip().isdigit():
        raise ApiError.one(422, "last_event_id.invalid", "Last-Event-ID 无效", "Last-Event-ID")
    return int(raw.strip())


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
           after: Annotated[int | None, Query(ge=0)] = None, once: bool = False,
           timeout: Annotated[float | None, Query(gt=0, le=3600)] = None) -> StreamingResponse:
    start = _start_after(request, after)
    return StreamingResponse(_stream(request, terminal, start, once, timeout),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
