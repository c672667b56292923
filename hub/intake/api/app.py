"""The hub's HTTP API: ``create_app(ctx, mounts=())`` returns the FastAPI application.

Routes live in small modules (``routes_*``, ``sse``); this module wires them, the error handlers
(``hub.intake.api.errors``: every refusal is ``{"errors": [{path, code, message}]}``, no input gives a
500), the per-terminal rate limiter, and extra ASGI apps such as ``/metrics`` (``mounts``).
OpenAPI is served at ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.types import ASGIApp

from hub.intake.api import (
    errors,
    openapi,
    routes_attachments,
    routes_callbacks,
    routes_cases,
    routes_catalogue,
    routes_health,
    routes_uploads,
    sse,
)
from hub.intake.api.context import ApiContext
from hub.intake.api.limits import RateLimiter
from hub.intake.api.quotas import StreamSlots, UploadVolume
from hub.web import app as web


def create_app(ctx: ApiContext, mounts: Sequence[tuple[str, ASGIApp]] = ()) -> FastAPI:
    app = FastAPI(title="Village integration hub", version="1.0",
                  description="村便民服务室一次提交、多部门办理的集成枢纽接口")
    app.state.ctx = ctx
    app.state.limiter = RateLimiter(ctx.settings.requests_per_terminal_per_minute)
    app.state.streams = StreamSlots(ctx.settings.max_event_streams_per_terminal)
    app.state.uploads = UploadVolume(ctx.settings.upload_bytes_per_terminal_per_hour)
    errors.install(app)
    openapi.install(app)
    for module in (routes_health, routes_catalogue, routes_cases, routes_attachments, sse,
                   routes_callbacks, routes_uploads):
        app.include_router(module.routes)
    web.install(app)  # the clerk's workbench at / (hub.web)
    for path, asgi in mounts:
        app.mount(path, asgi)
    return app
