"""``POST /v1/callbacks/{department}``: signed results pushed by a REST department.

Authenticated with the department's own credential, not a terminal token: an HMAC over
timestamp and body (``hub.domain.callbacks.verify``) with the secret named by the department's
``transport.callback_secret_env``, read as every secret is (``hub.config.secrets.lookup_secret``).
A department without one configured cannot call back (404, as for an unknown department).

The result becomes the same ``LegEvent`` polling would make of it
(``hub.domain.answers.result_event``: one answer, one event id, whichever path it came by) and
goes through the status tracker: a replayed callback, or the polled copy of a called-back
answer, is acknowledged (200) but applied once; an event the state machine refuses is recorded
and acknowledged, since retrying it cannot help. A result the hub cannot apply (a leg id it did
not send to this department, an over-long detail) is refused with 422 and its reason.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from hub.config.secrets import lookup_secret
from hub.domain.answers import RefusedResult, result_event
from hub.domain.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, parse_result, verify
from hub.domain.errors import MalformedMessage, PermanentError
from hub.domain.reasons import Reason
from hub.intake.api.auth import context
from hub.intake.api.errors import ApiError
from hub.intake.api.limits import read_body

routes = APIRouter(prefix="/v1")


def _secret(request: Request, department: str) -> bytes:
    dept = context(request).config.departments.get(department)
    env = getattr(dept.transport, "callback_secret_env", None) if dept else None
    value = lookup_secret(env, context(request).secrets)
    if not value:
        raise ApiError.one(404, "department.unknown", "该部门未开通回调", "department")
    return value.encode("utf-8")


def _body_cap(request: Request, department: str) -> int:
    """The department's cap on what it sends (``transport.max_response_bytes``, as for its
    answers to the adapter), never above the API's own ``max_body_bytes``."""
    ctx = context(request)
    dept = ctx.config.departments.get(department)
    cap = getattr(dept.transport, "max_response_bytes", None) if dept else None
    limit = ctx.settings.max_body_bytes
    return min(limit, cap) if isinstance(cap, int) else limit


@routes.post("/callbacks/{department}")
async def callback(department: str, request: Request) -> dict[str, Any]:
    ctx = context(request)
    secret = _secret(request, department)
    body = await read_body(request, _body_cap(request, department))
    try:
        verify(secret, request.headers.get(TIMESTAMP_HEADER, ""), body,
               request.headers.get(SIGNATURE_HEADER, ""), now=time.time())
    except PermanentError as exc:
        raise ApiError.one(401, f"callback.{exc.reason}", "回调签名无效或已过期",
                           "X-Hub-Signature") from None
    try:
        result = parse_result(body)
    except (MalformedMessage, RecursionError) as exc:
        raise ApiError.one(422, "callback.malformed", f"回调内容格式错误：{exc}",
                           "(body)") from None
    try:
        event = result_event(result, department)
    except RefusedResult as exc:
        field = "leg_id" if exc.reason == Reason.UNKNOWN_LEG else "(body)"
        raise ApiError.one(422, f"callback.{exc.reason}", "回调结果无法登记", field) from None
    # Through the status tracker, as every answer: the same hooks and metrics see it.
    applied = await run_in_threadpool(ctx.legs().apply, event)
    return {"result_id": result.result_id, "applied": applied.applied,
            "duplicate": applied.duplicate, "refused_reason": applied.refused_reason}
