"""Dispatch pages: the town sends 通知/任务 to its villages and sees who read and did them
(``/town/messages``); a village reads its messages and marks them (``/messages``)."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from hub.accounts.clerks import Session
from hub.domain.errors import PermanentError
from hub.intake.api.limits import read_body
from hub.town import towns
from hub.town.desk import DeskRefused
from hub.town.dispatch import KIND_ZH, Dispatch, Message, MessageFile
from hub.web import views
from hub.web.render import render
from hub.web.session import Refused, check_csrf, clerk_page, context
from hub.web.town import _page, _staff

routes = APIRouter(include_in_schema=False)
PageSession = Annotated[Session, Depends(clerk_page)]
MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
_MEDIA = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def dispatch(request: Request) -> Dispatch:
    ctx = context(request)
    return Dispatch(ctx.store, ctx.config)


@routes.get("/town/messages")
def town_messages(request: Request, session: PageSession) -> Response:
    return _messages_page(request, session)


def _messages_page(request: Request, session: Session, error: str = "",
                   status: int = 200) -> Response:
    staff = _staff(request, session)
    tables = context(request).config.code_tables
    villages = [(v, towns.village_name(v, tables)) for v in towns.villages_of(staff.town, tables)]
    messages = dispatch(request).of_town(staff.town)
    return _page(request, session, staff, "town_messages.html", status=status,
                 villages=villages, messages=messages, kinds=KIND_ZH, error=error,
                 when=views.local_time)


@routes.post("/town/messages")
async def send(request: Request, session: PageSession) -> Response:
    """The send form (multipart: optional files). The body is read with a bound first, so
    nothing unbounded reaches the multipart parser or the disk."""
    request._body = await read_body(request, MAX_FILES * MAX_FILE_BYTES + 64 * 1024)
    form = await request.form(max_files=MAX_FILES, max_fields=300, max_part_size=16 * 1024)
    check_csrf(session.csrf, str(form.get("csrf") or ""))
    staff = _staff(request, session)

    def text(name: str, limit: int) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    chosen = (towns.villages_of(staff.town, context(request).config.code_tables)
              if text("everyone", 3) else
              [v[:12] for v in form.getlist("villages") if isinstance(v, str)][:200])
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    files = [await _store_file(request, f) for f in uploads]
    try:
        await run_in_threadpool(dispatch(request).send, staff, text("kind", 16),
                                text("title", 100), text("body", 4000), chosen,
                                text("due_date", 10).strip(), files)
    except DeskRefused as exc:
        for f in files:
            context(request).blobs.delete(f.blob_id)
        return _messages_page(request, session, exc.message, exc.status)
    return RedirectResponse("/town/messages", status_code=303)


async def _store_file(request: Request, upload: UploadFile) -> MessageFile:
    data = await upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise Refused(413, "附件太大（每个不超过10 MB）")
    media = (upload.content_type or "application/octet-stream").split(";")[0].strip().lower()
    if not _MEDIA.match(media):
        media = "application/octet-stream"
    digest = hashlib.sha256(data).hexdigest()
    writer = context(request).blobs.writer("town_message_file", MAX_FILE_BYTES)
    try:
        writer.write(data)
        info = await run_in_threadpool(writer.commit, digest)
    except BaseException:
        writer.abort()
        raise
    name = "".join(c for c in (upload.filename or "附件") if c.isprintable())[-80:] or "附件"
    return MessageFile(info.id, name, media, info.size, digest)


def _file_response(request: Request, message: Message | None, n: int) -> Response:
    if message is None or not 0 <= n < len(message.files):
        raise Refused(404, "找不到这个附件")
    f = message.files[n]
    try:
        data = b"".join(context(request).blobs.open(f.blob_id, f.sha256))
    except (PermanentError, OSError):
        raise Refused(404, "附件已不在系统中") from None
    inline = f.media_type.startswith("image/") or f.media_type == "application/pdf"
    return Response(data, media_type=f.media_type if inline else "application/octet-stream",
                    headers={"Content-Disposition": ("inline" if inline else "attachment")
                             + f"; filename*=UTF-8''{quote(f.name)}",
                             "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


@routes.get("/town/messages/{message_id}/files/{n}")
def town_file(request: Request, message_id: str, n: int, session: PageSession) -> Response:
    staff = _staff(request, session)
    message = dispatch(request).get(message_id)
    return _file_response(request, message if message and message.town == staff.town
                          else None, n)


@routes.get("/messages/{message_id}/files/{n}")
def village_file(request: Request, message_id: str, n: int, session: PageSession) -> Response:
    message = dispatch(request).get(message_id)
    mine = message is not None and message.of(session.clerk.village) is not None
    return _file_response(request, message if mine else None, n)


@routes.get("/messages")
def village_messages(request: Request, session: PageSession) -> Response:
    village = session.clerk.village
    messages = dispatch(request).of_village(village)
    return render(request, "messages.html", session=session, messages=messages,
                  kinds=KIND_ZH, mine=village, when=views.local_time)


@routes.post("/messages/{message_id}/{what}")
def mark(request: Request, message_id: str, what: str, session: PageSession,
         csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
    check_csrf(session.csrf, csrf)
    try:
        dispatch(request).mark(session.clerk.village, session.clerk.name, session.clerk.id,
                               message_id[:36], what)
    except DeskRefused as exc:
        raise Refused(exc.status, exc.message) from None
    return RedirectResponse("/messages", status_code=303)
