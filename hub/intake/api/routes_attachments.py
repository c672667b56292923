"""``POST /v1/attachments``: a streamed upload into the encrypted blob store (claim check).

The body is the file itself. Headers: ``X-Content-SHA256`` (required, hex) and ``Content-Type``;
the material kind comes from ``?kind=`` or ``X-Attachment-Kind`` and must be a material code of
the catalogue. Bytes go chunk by chunk into a ``BlobWriter``; the upload never sits whole in
memory. Over ``max_attachment_bytes`` -> 413; a hash that differs from the declared one -> 422;
in both cases nothing is kept.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hub.domain.errors import PermanentError, Problem
from hub.domain.models import utcnow
from hub.domain.reasons import Reason
from hub.intake.api.auth import context
from hub.intake.api.errors import ApiError
from hub.intake.api.limits import declared_length, too_large
from hub.intake.api.quotas import UploadVolume
from hub.intake.api.routes_cases import TerminalDep
from hub.store.base import AttachmentRow

routes = APIRouter(prefix="/v1")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_MEDIA = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _materials(request: Request) -> set[str]:
    cfg = context(request).config
    return {m.code for item in cfg.catalogue.items
            for m in (*item.materials, *(m for s in item.situations for m in s.materials))}


@routes.post("/attachments", status_code=201, openapi_extra={"requestBody": {
    "required": True, "content": {"application/octet-stream": {"schema": {
        "type": "string", "format": "binary"}}}}})
async def upload(request: Request, terminal: TerminalDep) -> JSONResponse:
    ctx = context(request)
    limit = ctx.settings.max_attachment_bytes
    declared = declared_length(request, limit)
    volume: UploadVolume = request.app.state.uploads
    volume.check(terminal.id, declared or 0)
    problems: list[Problem] = []
    sha = request.headers.get("x-content-sha256", "").strip().lower()
    if not _SHA.match(sha):
        problems.append(Problem("X-Content-SHA256", "attachment.sha256",
                                "请在 X-Content-SHA256 中提供文件的SHA-256（64位十六进制）"))
    kind = request.query_params.get("kind") or request.headers.get("x-attachment-kind", "")
    if not _KIND.match(kind) or kind not in _materials(request):
        problems.append(Problem("kind", "attachment.kind", "未知的材料类型"))
    media = request.headers.get("content-type", "application/octet-stream").split(";")[0]
    media = media.strip().lower()
    if not _MEDIA.match(media) or len(media) > 128:
        problems.append(Problem("Content-Type", "attachment.media_type", "文件类型无效"))
    if problems:
        raise ApiError(422, problems)
    writer = ctx.blobs.writer(kind, limit)
    try:
        async for chunk in request.stream():
            if chunk:
                volume.take(terminal.id, len(chunk))
                await run_in_threadpool(writer.write, chunk)
        info = await run_in_threadpool(writer.commit, sha)
    except PermanentError as exc:
        writer.abort()
        if exc.reason == Reason.TOO_LARGE:
            raise too_large(limit) from None
        if exc.reason == Reason.HASH_MISMATCH:
            raise ApiError.one(422, "attachment.hash_mismatch",
                               "文件内容与声明的SHA-256不一致，请重新上传",
                               "X-Content-SHA256") from None
        raise
    except BaseException:
        writer.abort()
        raise
    row = AttachmentRow(id=info.id, village=terminal.village, terminal_id=terminal.id,
                        kind=kind, media_type=media, size=info.size, sha256=info.sha256,
                        key_id=info.key_id, created_at=utcnow())
    try:
        await run_in_threadpool(ctx.store.record_attachment, row)
    except BaseException:
        ctx.blobs.delete(info.id)  # an unrecorded blob would be an orphan nobody can retire
        raise
    return JSONResponse({"id": info.id, "size": info.size, "sha256": info.sha256,
                         "kind": kind, "media_type": media}, status_code=201)
