"""``POST /v1/callbacks/{department}``: signed results pushed by a REST department.

Authenticated with the department's own credential, not a terminal token: an HMAC over
timestamp and body (``adapters.callbacks.verify``) with the secret read from the environment
variable named by the department's ``transport.callback_secret_env``. A department without one
configured cannot call back (404, as for an unknown department). The result becomes a
``LegEvent`` with ``event_id = cb:<department>:<result_id>``: a replayed callback is acknowledged
(200) but applied once; an event the state machine refuses is recorded and acknowledged, since
retrying it cannot help.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from adapters.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, parse_result, verify
from hub.api.auth import context
from hub.api.errors import ApiError
from hub.api.limits import read_body
from hub.errors import MalformedMessage, PermanentError
from hub.models import LegEvent, LegEventKind, utcnow

routes = APIRouter(prefix="/v1")


def _secret(request: Request, department: str) -> bytes:
    dept = context(request).config.departments.get(department)
    env = getattr(dept.transport, "callback_secret_env", None) if dept else None
    value = os.environ.get(env) if env else None
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
    case_part, _, leg_dept = result.leg_id.rpartition(":")
    try:
        case_id = uuid.UUID(case_part)
    except ValueError:
        raise ApiError.one(422, "callback.leg_id", "leg_id 无效", "leg_id") from None
    if leg_dept != department:
        raise ApiError.one(422, "callback.leg_id", "leg_id 不属于该部门", "leg_id")
    event = LegEvent(event_id=f"cb:{department}:{result.result_id}", case_id=case_id,
                     leg_id=result.leg_id, department=department,
                     kind=LegEventKind(result.outcome), receipt=result.department_ref,
                     detail=result.detail, missing_materials=list(result.missing_materials),
                     at=utcnow())
    applied = await run_in_threadpool(ctx.store.apply_leg_event, event)
    return {"result_id": result.result_id, "applied": applied.applied,
            "duplicate": applied.duplicate, "refused_reason": applied.refused_reason}
