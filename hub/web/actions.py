"""What the workbench's JavaScript calls: upload a scan, submit a case, resend, live events.

Every call that changes something needs the session cookie and its CSRF token (header). The
clerk's draft is turned into the unified case here: the case id comes from the form page (so a
submit repeated after a lost answer is the same case, not a second one), the attachments'
size, type and SHA-256 come from what the hub itself stored while receiving the scan. Intake and
resend then go through exactly the checks terminals get (``hub.intake.api.routes_cases``), and the
clerk's action is audited with their identity.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from hub.accounts.clerks import Session
from hub.domain.errors import PermanentError
from hub.domain.models import utcnow
from hub.domain.reasons import Reason
from hub.intake.api import routes_cases
from hub.intake.api.errors import ApiError
from hub.intake.api.limits import declared_length, read_json, too_large
from hub.intake.api.sse import format_event
from hub.store.base import AttachmentRow, Terminal
from hub.web import lookup
from hub.web.session import Refused, accounts, clerk_action, clerk_read, context

routes = APIRouter(prefix="/web/api", include_in_schema=False)
ActionSession = Annotated[Session, Depends(clerk_action)]
ReadSession = Annotated[Session, Depends(clerk_read)]
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MEDIA = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def size_label(size: int) -> str:
    if size < 1024:
        return f"{size} 字节"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _terminal(session: Session) -> Terminal:
    """The workbench acts as a terminal of the clerk's village."""
    return Terminal(id=f"web-{session.clerk.id}", village=session.clerk.village,
                    name="工作台", created_at=session.clerk.created_at)


@routes.post("/attachments")
async def upload(request: Request, session: ActionSession) -> JSONResponse:
    ctx = context(request)
    limit = ctx.settings.max_attachment_bytes
    declared_length(request, limit)
    kind = request.query_params.get("kind", "")
    materials = {m.code for i in ctx.config.catalogue.items for m in i.materials}
    if not _KIND.match(kind) or kind not in materials:
        raise Refused(422, "这份材料不在事项清单中，请刷新页面后重试")
    media = request.headers.get("content-type", "application/octet-stream").split(";")[0]
    media = media.strip().lower()
    if not _MEDIA.match(media) or len(media) > 128:
        media = "application/octet-stream"
    writer = ctx.blobs.writer(kind, limit)
    digest = hashlib.sha256()
    try:
        async for chunk in request.stream():
            if chunk:
                digest.update(chunk)
                await run_in_threadpool(writer.write, chunk)
        info = await run_in_threadpool(writer.commit, digest.hexdigest())
    except PermanentError as exc:
        writer.abort()
        if exc.reason == Reason.TOO_LARGE:
            raise too_large(limit) from None
        raise
    except BaseException:
        writer.abort()
        raise
    row = AttachmentRow(id=info.id, village=session.clerk.village,
                        terminal_id=f"web-{session.clerk.id}", kind=kind, media_type=media,
                        size=info.size, sha256=info.sha256, key_id=info.key_id,
                        created_at=utcnow())
    try:
        await run_in_threadpool(ctx.store.record_attachment, row)
    except BaseException:
        ctx.blobs.delete(info.id)
        raise
    await run_in_threadpool(accounts(request).audit, "clerk_uploaded", None, session.clerk,
                            {"attachment": info.id, "material": kind, "size": info.size,
                             "sha256": info.sha256})
    return JSONResponse({"ref": info.id, "size": info.size, "size_label": size_label(info.size)},
                        status_code=201)


def _refs(request: Request, session: Session, raw: Any) -> list[dict[str, Any]]:
    """Full attachment references for the draft's ``[{ref, kind}]``, from the store's rows."""
    wanted = [a for a in raw if isinstance(a, dict)] if isinstance(raw, list) else []
    ids = [str(a.get("ref", ""))[:64] for a in wanted][:50]
    rows = context(request).store.get_attachments(ids)
    out: list[dict[str, Any]] = []
    for i in ids:
        row = rows.get(i)
        if row is None or row.village != session.clerk.village or row.deleted_at is not None:
            raise ApiError.one(422, "attachment.gone", "有材料文件已失效，请删除后重新上传",
                               "attachments")
        out.append({"id": row.id, "kind": row.kind, "media_type": row.media_type,
                    "size": row.size, "sha256": row.sha256})
    return out


def _case(request: Request, session: Session, code: str, draft: Any) -> dict[str, Any]:
    if not isinstance(draft, dict):
        raise ApiError.one(422, "body.type", "提交内容无效，请刷新页面后重试", "(body)")
    try:
        case_id = str(uuid.UUID(str(draft.get("key", ""))))
    except ValueError:
        raise ApiError.one(422, "key.invalid", "页面已过期，请刷新后重新填写", "(body)") from None
    applicant = draft.get("applicant") if isinstance(draft.get("applicant"), dict) else {}
    assert isinstance(applicant, dict)
    situation = draft.get("situation")
    return {"case_id": case_id, "item_code": code,
            **({"situation": situation} if situation else {}),
            "applicant": {**applicant, "region_code": session.clerk.village},
            "related": draft.get("related") or [], "form": draft.get("form") or {},
            "attachments": _refs(request, session, draft.get("attachments")),
            "origin": {"terminal_id": f"web-{session.clerk.id}", "clerk_id": session.clerk.id,
                       "village_code": session.clerk.village,
                       "at_home": draft.get("at_home") is True},
            "created_at": utcnow().isoformat()}


def _submit(request: Request, session: Session, code: str, draft: Any) -> JSONResponse:
    ctx = context(request)
    raw = _case(request, session, code, draft)
    # The same form page submitted again (its answer was lost, a double click): the case
    # exists already; answer its receipt instead of a conflict over the new timestamp.
    existing = ctx.store.get_case(uuid.UUID(raw["case_id"]))
    if existing is not None and existing.village == session.clerk.village:
        return JSONResponse({"receipt": f"/cases/{existing.tracking_code}/receipt"},
                            status_code=202)
    answer = routes_cases._accept(ctx, _terminal(session), raw)
    doc = json.loads(bytes(answer.body))
    if doc.get("created"):
        accounts(request).audit("clerk_submitted", doc["case_id"], session.clerk,
                                {"item_code": code,
                                 "attachments": [a["id"] for a in raw["attachments"]],
                                 "materials": sorted({str(a["kind"]) for a in raw["attachments"]})})
    return JSONResponse({"receipt": f"/cases/{doc['tracking_code']}/receipt"}, status_code=202)


@routes.post("/items/{code}/cases")
async def submit(code: str, request: Request, session: ActionSession) -> JSONResponse:
    ctx = context(request)
    if ctx.config.catalogue.get(code) is None:
        raise Refused(404, "没有这个事项")
    draft = await read_json(request, ctx.settings.max_body_bytes)
    return await run_in_threadpool(_submit, request, session, code, draft)


def _resend(request: Request, session: Session, code: str, draft: Any) -> JSONResponse:
    ctx = context(request)
    row = lookup.case_by_code(ctx.store, code)
    if row is None or row.village != session.clerk.village:
        raise Refused(404, "找不到这个案件")
    body = draft if isinstance(draft, dict) else {}
    department = str(body.get("department", ""))[:64]
    refs = _refs(request, session, body.get("attachments"))
    routes_cases._supplement(ctx, _terminal(session), row.case_id,
                             {"department": department, "attachments": refs})
    accounts(request).audit("clerk_supplemented", str(row.case_id), session.clerk,
                            {"department": department,
                             "materials": sorted({str(a["kind"]) for a in refs})})
    return JSONResponse({"case": f"/cases/{row.tracking_code}"}, status_code=202)


@routes.post("/cases/{code}/supplements")
async def resend(code: str, request: Request, session: ActionSession) -> JSONResponse:
    ctx = context(request)
    draft = await read_json(request, ctx.settings.max_body_bytes)
    return await run_in_threadpool(_resend, request, session, code, draft)


async def _stream(request: Request, token: str, village: str, after: int
                  ) -> AsyncIterator[bytes]:
    ctx = context(request)
    next_check = time.monotonic() + ctx.sse_heartbeat_s
    yield b"retry: 3000\n\n"
    while True:
        events = await run_in_threadpool(ctx.store.feed_since, village, after, 100)
        for ev in events:
            yield format_event(ev)
            after = ev.seq
        if len(events) == 100:
            continue
        if await request.is_disconnected():
            return
        if time.monotonic() >= next_check:
            if await run_in_threadpool(accounts(request).session, token) is None:
                return  # signed out, disabled or idle: the stream ends with the session
            yield b": keep-alive\n\n"
            next_check = time.monotonic() + ctx.sse_heartbeat_s
        await asyncio.sleep(ctx.sse_poll_s)


@routes.get("/events")
def events(request: Request, session: ReadSession, after: str = "") -> StreamingResponse:
    """The village's live events (``EventSource``): after ``Last-Event-ID`` when reconnecting,
    else after ``?after=`` (the feed position the page was drawn at), else from now on."""
    ctx = context(request)
    village = session.clerk.village
    raw = request.headers.get("last-event-id", "").strip()[:20]
    if not raw.isdigit():
        raw = after.strip()[:20]
    after_seq = int(raw) if raw.isdigit() else lookup.latest_feed_seq(ctx.store, village)
    token = request.cookies.get("hub_session", "")
    return StreamingResponse(_stream(request, token, session.clerk.village, after_seq),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
