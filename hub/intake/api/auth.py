"""Terminal authentication: ``Authorization: Bearer <token>``, checked against stored hashes.

A missing, unknown or revoked token answers 401 before any body is read; an authenticated
terminal over its request budget answers 429 with ``Retry-After``. Every case route then checks
the case's village against the terminal's: another village's case answers 404, exactly as a case
that does not exist, so a terminal cannot even learn that it exists.
"""

from __future__ import annotations

import math

from fastapi import Request

from hub.intake.api.context import ApiContext
from hub.intake.api.errors import ApiError
from hub.intake.api.limits import RateLimiter
from hub.store.base import Terminal


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        return None
    return token


def current_terminal(request: Request) -> Terminal:
    """FastAPI dependency (sync: runs in the thread pool, the store call blocks)."""
    ctx = context(request)
    token = bearer_token(request)
    if token is None:
        raise ApiError.one(401, "auth.missing", "缺少终端凭证（Authorization: Bearer …）",
                           headers={"WWW-Authenticate": "Bearer"})
    terminal = ctx.store.authenticate(token)
    if terminal is None:
        raise ApiError.one(401, "auth.invalid", "终端凭证无效或已被吊销",
                           headers={"WWW-Authenticate": "Bearer"})
    limiter: RateLimiter = request.app.state.limiter
    wait = limiter.check(terminal.id)
    if wait:
        raise ApiError.one(429, "rate.limited", "请求过于频繁，请稍后再试",
                           headers={"Retry-After": str(math.ceil(wait))})
    return terminal
