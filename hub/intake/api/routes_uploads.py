"""Resumable attachment uploads: tus 1.0.0 (core, ``creation``, ``checksum``) at ``/v1/uploads``.

Why our own and not a library: the maintained FastAPI tus servers on PyPI (tuspyserver,
tusfastapiserver, fastapi-tusd) keep plaintext files and metadata in their own directories and
none implements the checksum extension; this hub must seal every upload into its encrypted blob
store, check the final size and SHA-256 as ``POST /v1/attachments`` does, authenticate the
terminal on each request and bound every read. The protocol surface is small (five requests).

- ``OPTIONS /v1/uploads``: ``Tus-Version``, ``Tus-Extension: creation,checksum``, ``Tus-Max-Size``,
  ``Tus-Checksum-Algorithm``.
- ``POST /v1/uploads`` with ``Upload-Length`` and ``Upload-Metadata`` (``kind``, ``filetype``,
  ``sha256`` of the whole file, each base64) -> 201 and ``Location``.
- ``HEAD /v1/uploads/{id}`` -> ``Upload-Offset`` (what the hub holds on disk, fsynced),
  ``Upload-Length``; once complete also ``Hub-Attachment-Id``.
- ``PATCH /v1/uploads/{id}`` (``application/offset+octet-stream``, ``Upload-Offset`` = the current
  offset else 409, optional ``Upload-Checksum: <alg> <base64>`` of this request's bytes, else 460
  and the bytes are dropped). A broken request keeps every byte that arrived (unless a checksum
  was declared), so the client resumes from there. A read that stalls ``HUB_UPLOAD_IDLE_S`` (20 s) ends
  the request; a second PATCH while one runs waits for it, then 423. The PATCH that brings the
  offset to the length seals the blob: size and SHA-256 checked (422 and the upload is gone on
  a mismatch), the attachment recorded, ``Hub-Attachment-Id`` returned. Its id is then used in a
  case's ``attachments`` exactly like one from ``POST /v1/attachments``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import re
import weakref
from collections.abc import Callable
from typing import BinaryIO

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from hub.domain.errors import PermanentError, Problem
from hub.domain.models import utcnow
from hub.evidence.staging import SYNC_EVERY, StagedUpload, UploadStaging
from hub.intake.api.auth import context
from hub.intake.api.errors import ApiError
from hub.intake.api.limits import too_large
from hub.intake.api.quotas import UploadVolume
from hub.intake.api.routes_cases import TerminalDep
from hub.store.base import AttachmentRow, Terminal

routes = APIRouter(prefix="/v1")
TUS = {"Tus-Resumable": "1.0.0"}
_SHA = re.compile(r"^[0-9a-f]{64}$")
_MEDIA = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ALGS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
# One PATCH at a time per upload; a lock lives as long as a request holds or awaits it.
_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
NOT_FOUND = ApiError.one(404, "upload.not_found", "上传不存在或已过期", "upload", headers=TUS)


def _staging(request: Request) -> UploadStaging:
    staging: UploadStaging | None = getattr(request.app.state, "staging", None)
    if staging is None:
        staging = request.app.state.staging = UploadStaging(context(request).blobs)
        staging.sweep()  # uploads abandoned for a week: their parts go
    return staging


def _need_tus(request: Request) -> None:
    if request.headers.get("tus-resumable") != "1.0.0":
        raise ApiError.one(412, "tus.version", "仅支持 tus 1.0.0 断点续传协议", "Tus-Resumable",
                           headers={**TUS, "Tus-Version": "1.0.0"})


def _metadata(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in raw.split(",")[:16]:
        key, _, value = pair.strip().partition(" ")
        try:
            out[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError.one(400, "tus.metadata", "Upload-Metadata 无效", "Upload-Metadata",
                               headers=TUS) from None
    return out


@routes.options("/uploads", include_in_schema=False)
def options(request: Request) -> Response:
    limit = context(request).settings.max_attachment_bytes
    return Response(status_code=204, headers={
        **TUS, "Tus-Version": "1.0.0", "Tus-Extension": "creation,checksum",
        "Tus-Max-Size": str(limit), "Tus-Checksum-Algorithm": ",".join(_ALGS)})


@routes.post("/uploads", status_code=201)
def create(request: Request, terminal: TerminalDep) -> Response:
    _need_tus(request)
    ctx = context(request)
    limit = ctx.settings.max_attachment_bytes
    raw_len = request.headers.get("upload-length", "")
    if not (raw_len.isascii() and raw_len.isdigit() and len(raw_len) <= 18):
        raise ApiError.one(400, "tus.length", "请提供 Upload-Length（文件总字节数）",
                           "Upload-Length", headers=TUS)
    length = int(raw_len)
    if length > limit:
        raise ApiError(413, too_large(limit).problems, TUS)
    volume: UploadVolume = request.app.state.uploads
    volume.check(terminal.id, length)
    meta = _metadata(request.headers.get("upload-metadata", "")[:4096])
    sha, kind = meta.get("sha256", "").strip().lower(), meta.get("kind", "")
    media = meta.get("filetype", "application/octet-stream").split(";")[0].strip().lower()
    materials = {m.code for item in ctx.config.catalogue.items for m in item.materials}
    problems: list[Problem] = []
    if not _SHA.match(sha):
        problems.append(Problem("Upload-Metadata.sha256", "attachment.sha256",
                                "请在 Upload-Metadata 的 sha256 中提供文件的SHA-256"))
    if not _KIND.match(kind) or kind not in materials:
        problems.append(Problem("Upload-Metadata.kind", "attachment.kind", "未知的材料类型"))
    if not _MEDIA.match(media) or len(media) > 128:
        problems.append(Problem("Upload-Metadata.filetype", "attachment.media_type",
                                "文件类型无效"))
    if problems:
        raise ApiError(422, problems, TUS)
    up = _staging(request).create(terminal_id=terminal.id, village=terminal.village, kind=kind,
                                  media_type=media, length=length, sha256=sha)
    return Response(status_code=201, headers={**TUS, "Location": f"/v1/uploads/{up.id}",
                                              "Upload-Offset": "0"})


def _own(request: Request, terminal: Terminal, upload_id: str) -> StagedUpload:
    up = _staging(request).get(upload_id)
    if up is None or up.terminal_id != terminal.id:
        raise NOT_FOUND
    return up


def _state_headers(staging: UploadStaging, up: StagedUpload) -> dict[str, str]:
    headers = {**TUS, "Upload-Offset": str(staging.offset(up)),
               "Upload-Length": str(up.length), "Cache-Control": "no-store"}
    if up.attachment_id:
        headers["Hub-Attachment-Id"] = up.attachment_id
    return headers


@routes.head("/uploads/{upload_id}")
def head(upload_id: str, request: Request, terminal: TerminalDep) -> Response:
    _need_tus(request)
    up = _own(request, terminal, upload_id)
    return Response(status_code=200, headers=_state_headers(_staging(request), up))


def _checksum(request: Request) -> tuple[str, bytes] | None:
    raw = request.headers.get("upload-checksum")
    if raw is None:
        return None
    alg, _, value = raw.strip().partition(" ")
    if alg not in _ALGS:
        raise ApiError.one(400, "tus.checksum_algorithm", "不支持的校验算法", "Upload-Checksum",
                           headers=TUS)
    try:
        return alg, base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ApiError.one(400, "tus.checksum", "Upload-Checksum 无效", "Upload-Checksum",
                           headers=TUS) from None


async def _receive(request: Request, fh: BinaryIO, room: int, idle_s: float,
                   terminal_id: str, digest: hashlib._Hash | None,
                   seal: Callable[[bytes], bytes]) -> tuple[int, bool]:
    """Append the body to ``fh`` (through ``seal``: the part's cipher); returns (bytes written,
    whether the body ended cleanly)."""
    volume: UploadVolume = request.app.state.uploads
    written, unsynced = 0, 0
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), idle_s)
        except StopAsyncIteration:
            return written, True
        except (TimeoutError, ClientDisconnect):
            return written, False
        if not chunk:
            continue
        if written + len(chunk) > room:
            raise ApiError(413, [Problem("(body)", "tus.beyond_length",
                                         "上传内容超过了声明的文件大小")], TUS)
        volume.take(terminal_id, len(chunk))
        if digest is not None:
            digest.update(chunk)
        await run_in_threadpool(fh.write, seal(chunk))
        written += len(chunk)
        unsynced += len(chunk)
        if unsynced >= SYNC_EVERY:
            await run_in_threadpool(_sync, fh)
            unsynced = 0


def _sync(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())


@routes.patch("/uploads/{upload_id}")
async def patch(upload_id: str, request: Request, terminal: TerminalDep) -> Response:
    _need_tus(request)
    if request.headers.get("content-type", "").split(";")[0].strip() != \
            "application/offset+octet-stream":
        raise ApiError.one(415, "tus.content_type",
                           "请求类型应为 application/offset+octet-stream", "Content-Type",
                           headers=TUS)
    ctx, staging = context(request), _staging(request)
    up = _own(request, terminal, upload_id)
    checksum = _checksum(request)
    lock = _locks.get(up.id)
    if lock is None:
        lock = _locks[up.id] = asyncio.Lock()
    try:
        await asyncio.wait_for(lock.acquire(), ctx.settings.upload_idle_s + 1.0)
    except TimeoutError:
        raise ApiError.one(423, "tus.locked", "该文件正在上传中，请稍后再试", "upload",
                           headers=TUS) from None
    try:
        up = _own(request, terminal, upload_id)  # re-read: the previous holder may have sealed it
        offset = staging.offset(up)
        claimed = request.headers.get("upload-offset", "")
        if not (claimed.isascii() and claimed.isdigit()) or int(claimed) != offset:
            raise ApiError.one(409, "tus.offset", "上传位置与服务器不一致，请先查询已上传的位置",
                               "Upload-Offset", headers=_state_headers(staging, up))
        if up.attachment_id:
            return Response(status_code=204, headers=_state_headers(staging, up))
        digest = _ALGS[checksum[0]]() if checksum else None
        with open(staging.part(up.id), "ab") as fh:
            try:
                written, clean = await _receive(request, fh, up.length - offset,
                                                ctx.settings.upload_idle_s, terminal.id, digest,
                                                staging.cipher(up, offset))
            finally:
                await run_in_threadpool(_sync, fh)
        if checksum and digest is not None and (
                not clean or not hmac.compare_digest(digest.digest(), checksum[1])):
            await run_in_threadpool(staging.truncate, up, offset)
            if clean:
                raise ApiError.one(460, "tus.checksum_mismatch", "本段数据校验失败，请重新发送",
                                   "Upload-Checksum", headers=_state_headers(staging, up))
        if offset + written == up.length and clean:
            up = await _seal(request, staging, up, terminal)
        return Response(status_code=204, headers=_state_headers(staging, up))
    finally:
        lock.release()


async def _seal(request: Request, staging: UploadStaging, up: StagedUpload,
                terminal: Terminal) -> StagedUpload:
    ctx = context(request)
    try:
        info = await run_in_threadpool(staging.seal, up, ctx.settings.max_attachment_bytes)
    except PermanentError as exc:
        staging.discard(up)
        if exc.reason == "hash_mismatch":
            raise ApiError.one(422, "attachment.hash_mismatch",
                               "文件内容与声明的SHA-256不一致，请重新上传", "Upload-Metadata.sha256",
                               headers=TUS) from None
        raise
    row = AttachmentRow(id=info.id, village=terminal.village, terminal_id=terminal.id,
                        kind=up.kind, media_type=up.media_type, size=info.size,
                        sha256=info.sha256, key_id=info.key_id, created_at=utcnow())
    try:
        await run_in_threadpool(ctx.store.record_attachment, row)
    except BaseException:
        ctx.blobs.delete(info.id)
        raise
    return staging.mark_sealed(up, info.id)
