"""The clerk's workbench served by the terminal on the village PC, working with or without link.

The pages and their JavaScript are the hub's own (``hub/web``: home, guide, form, the same
``app.js``): this app answers the same ``/web/api`` calls the form makes, but locally. A scan is
kept on this PC; a case is validated here with the hub's own rules (``hub.intake.validation``:
the clerk sees a wrong ID number at once, link or not), queued in the terminal's store and
answered with a local receipt; ``hub.terminal.forwarder`` takes it from there. Only the case
list and the receipt are the terminal's own pages (they show the forwarding state).

The service listens on 127.0.0.1 by default; a CSRF token (rendered into each page, required as
``X-CSRF-Token`` on every change) keeps other web pages in the clerk's browser from posting.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from hub.config.loading import HubConfig
from hub.domain.errors import CaseRejected
from hub.domain.models import utcnow
from hub.intake.validation import validate_case
from hub.terminal import views
from hub.terminal.follower import Follower
from hub.terminal.forwarder import Forwarder
from hub.terminal.scanner import ScanFailed, Scanner
from hub.terminal.scans import ScanSettings, prepare
from hub.terminal.store import TerminalStore
from hub.web import labels
from hub.web.actions import size_label
from hub.web.qr import qr_svg
from hub.web.render import PAGE_GLOBALS
from hub.web.search import search
from hub.web.views import dept_title

HERE = Path(__file__).resolve().parent
WEB = HERE.parent / "web"
_ENV = Environment(loader=ChoiceLoader([FileSystemLoader(HERE / "templates"),
                                        FileSystemLoader(WEB / "templates")]),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
_ENV.globals.update(PAGE_GLOBALS)
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MEDIA = re.compile(r"^[\w.+-]+/[\w.+-]+$")


@dataclass
class Terminal:
    store: TerminalStore
    config: HubConfig
    forwarder: Forwarder
    follower: Follower
    terminal_id: str
    village: str
    hub_url: str
    scans: ScanSettings
    scanner: Scanner | None = None
    max_file_bytes: int = 512 * 1024 * 1024
    csrf: str = ""


def _t(request: Request) -> Terminal:
    t: Terminal = request.app.state.terminal
    return t


def _link(t: Terminal) -> dict[str, Any]:
    return views.link_state(t.follower.online, t.store.get_sync("last_sync"))


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    t = _t(request)
    table = t.config.code_tables.get("villages")
    base = {"csrf": t.csrf, "session": None, "link": _link(t),
            "village": table.entries.get(t.village, "本村") if table else "本村"}
    html = _ENV.get_template(name).render(**{**base, **values})
    return HTMLResponse(html, status_code=status, headers={
        "Cache-Control": "no-store", "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                                   "style-src 'self'; script-src 'self'; connect-src 'self'"})


def _refuse(status: int, message: str, path: str = "(request)") -> JSONResponse:
    return JSONResponse({"errors": [{"path": path, "code": "terminal.refused",
                                     "message": message}]}, status_code=status)


def _csrf_ok(request: Request) -> bool:
    return secrets.compare_digest(request.headers.get("x-csrf-token", ""), _t(request).csrf)


def create_app(t: Terminal) -> FastAPI:
    t.csrf = t.csrf or secrets.token_urlsafe(24)
    app = FastAPI(title="村便民服务室终端", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.terminal = t
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="web-static")
    app.mount("/terminal-static", StaticFiles(directory=HERE / "static"), name="terminal-static")

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, q: str = "", partial: bool = False) -> Response:
        items = t.config.catalogue.items
        found = search(items, q[:40]) if q.strip() else []
        if partial:
            return render(request, "_results.html", q=q[:40], found=found)
        groups: dict[str, list[Any]] = {}
        for item in items:
            groups.setdefault(labels.group(item), []).append(item)
        return render(request, "home.html", q=q[:40], found=found, groups=list(groups.items()))

    def item_or_404(code: str) -> Any:
        return t.config.catalogue.get(code) if len(code) <= 32 else None

    @app.get("/guide/{code}", response_class=HTMLResponse)
    def guide(request: Request, code: str) -> Response:
        item = item_or_404(code)
        if item is None:
            return render(request, "error.html", 404, message="找不到这个事项")
        url = f"{t.hub_url}/guide/{item.code}"  # a resident's phone reaches the hub, not this PC
        return render(request, "guide.html", item=item, guide=labels.guide(item),
                      departments=_departments(t, item), qr=qr_svg(url, "办事指南二维码"),
                      qr_url=url)

    @app.get("/items/{code}/apply", response_class=HTMLResponse)
    def apply(request: Request, code: str) -> Response:
        item = item_or_404(code)
        if item is None:
            return render(request, "error.html", 404, message="找不到这个事项")
        fields = [{"key": f.key, "label": f.label, "type": f.type, "required": f.required,
                   "choices": labels.choices(f) if f.type == "enum" else [],
                   "min": f.min, "max": f.max, "max_length": f.max_length} for f in item.form]
        related = [{"relation": r.value, "label": labels.RELATION_ZH.get(r.value, "相关人员")}
                   for r in item.related]
        return render(request, "apply.html", item=item, fields=fields, related=related,
                      guide=labels.guide(item), case_key=str(uuid.uuid4()),
                      departments=_departments(t, item))

    @app.post("/web/api/attachments")
    async def attach(request: Request) -> Response:
        if not _csrf_ok(request):
            return _refuse(403, "页面已过期，请刷新后重试")
        kind = request.query_params.get("kind", "")
        materials = {m.code for i in t.config.catalogue.items for m in i.materials}
        if not _KIND.match(kind) or kind not in materials:
            return _refuse(422, "这份材料不在事项清单中，请刷新页面后重试")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        media = media if _MEDIA.match(media) and len(media) <= 128 else "application/octet-stream"
        fd, tmp = tempfile.mkstemp(dir=t.store.files_dir, suffix=".tmp")
        size = 0
        with os.fdopen(fd, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > t.max_file_bytes:
                    fh.close()
                    os.unlink(tmp)
                    return _refuse(413, "文件过大，请分页扫描或降低分辨率")
                await run_in_threadpool(fh.write, chunk)
        prepared = await run_in_threadpool(prepare, Path(tmp), media, t.scans)
        file_id = t.store.add_file(kind=kind, media_type=prepared.media_type,
                                   name=request.headers.get("x-file-name", "扫描件")[:100],
                                   data_path=prepared.path, size=prepared.size,
                                   sha256=prepared.sha256, original_size=size)
        return JSONResponse({"ref": file_id, "size": prepared.size,
                             "size_label": _sizes(size, prepared.size)}, status_code=201)

    @app.post("/web/api/scan")
    async def scan(request: Request, kind: str = "", pages: int = 1) -> Response:
        if not _csrf_ok(request):
            return _refuse(403, "页面已过期，请刷新后重试")
        materials = {m.code: m.name for i in t.config.catalogue.items for m in i.materials}
        if kind not in materials:
            return _refuse(422, "这份材料不在事项清单中，请刷新页面后重试")
        if t.scanner is None:
            return _refuse(409, "本机没有设置扫描仪，请用“选择文件”上传扫描件")
        fd, tmp = tempfile.mkstemp(dir=t.store.files_dir, suffix=".pdf.tmp")
        os.close(fd)
        s = t.scans
        try:
            count = await run_in_threadpool(t.scanner.scan_pdf, Path(tmp), pages=pages,
                                            dpi=s.max_dpi, grey=s.grey, quality=s.jpeg_quality)
        except ScanFailed as exc:
            os.unlink(tmp)
            return _refuse(503, exc.message)
        size = Path(tmp).stat().st_size
        prepared = await run_in_threadpool(prepare, Path(tmp), "application/pdf", s)
        name = f"{materials[kind]}（扫描{count}页）"
        file_id = t.store.add_file(kind=kind, media_type="application/pdf", name=name,
                                   data_path=prepared.path, size=prepared.size,
                                   sha256=prepared.sha256, original_size=size)
        return JSONResponse({"ref": file_id, "size": prepared.size, "pages": count,
                             "name": name, "size_label": size_label(prepared.size)},
                            status_code=201)

    @app.post("/web/api/items/{code}/cases")
    async def submit(code: str, request: Request) -> Response:
        if not _csrf_ok(request):
            return _refuse(403, "页面已过期，请刷新后重试")
        if item_or_404(code) is None:
            return _refuse(404, "没有这个事项")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > 1024 * 1024:
                return _refuse(413, "提交内容过大", "(body)")
        return await run_in_threadpool(_accept, t, code, bytes(body))

    @app.get("/local/{case_id}", response_class=HTMLResponse)
    def receipt(request: Request, case_id: str, partial: bool = False) -> Response:
        out = t.store.get(case_id[:64])
        if out is None:
            return render(request, "error.html", 404, message="找不到这个案件")
        files = t.store.case_files(out.case_id)
        scans = [f"{f.name}（{_sizes(f.original_size, f.size)}）" for f in files]
        row = views.local_row(out, t.config, t.store.cached().get(out.case_id), scans)
        return render(request, "_receipt.html" if partial else "receipt.html", row=row,
                      case_id=out.case_id)

    @app.get("/cases", response_class=HTMLResponse)
    def cases(request: Request, partial: bool = False) -> Response:
        rows = views.village_rows(t.store, t.config)
        return render(request, "_rows.html" if partial else "cases.html", rows=rows)

    @app.get("/local/api/link")
    def link() -> dict[str, Any]:
        return {**_link(t), "unsent": t.store.unsent_count()}

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    def case_page(request: Request, case_id: str, partial: bool = False) -> Response:
        found = views.case_detail(t.store, t.config, case_id[:64])
        if found is None:
            return render(request, "error.html", 404, message="找不到这个案件")
        row, legs = found
        return render(request, "_terminal_case.html" if partial else "terminal_case.html",
                      row=row, legs=legs)

    return app


def _departments(t: Terminal, item: Any) -> list[str]:
    return [dept_title(t.config, d) for d in item.deciders]


def _sizes(original: int, sent: int) -> str:
    if original == sent:
        return size_label(sent)
    return f"原 {size_label(original)}，发送 {size_label(sent)}"


def _accept(t: Terminal, code: str, body: bytes) -> Response:
    try:
        draft = json.loads(body) if body else None
        case_id = str(uuid.UUID(str(draft.get("key", "")))) if isinstance(draft, dict) else ""
    except ValueError:
        case_id = ""
    if not case_id or not isinstance(draft, dict):
        return _refuse(422, "页面已过期，请刷新后重新填写", "(body)")
    if t.store.get(case_id) is not None:  # the same form sent twice: the same receipt
        return JSONResponse({"receipt": f"/local/{case_id}"}, status_code=202)
    wanted = [a for a in draft.get("attachments") or [] if isinstance(a, dict)][:50]
    ids = [str(a.get("ref", ""))[:64] for a in wanted]
    files = t.store.get_files(ids)
    if len(files) != len(set(ids)) or any(f.case_id for f in files.values()):
        return _refuse(422, "有材料文件已失效，请删除后重新上传", "attachments")
    applicant = draft.get("applicant") if isinstance(draft.get("applicant"), dict) else {}
    raw = {"case_id": case_id, "item_code": code,
           "applicant": {**(applicant or {}), "region_code": t.village},
           "related": draft.get("related") or [], "form": draft.get("form") or {},
           "attachments": [{"id": f.id, "kind": f.kind, "media_type": f.media_type,
                            "size": f.size, "sha256": f.sha256} for f in
                           (files[i] for i in ids)],
           "origin": {"terminal_id": t.terminal_id, "clerk_id": "terminal",
                      "village_code": t.village},
           "created_at": utcnow().isoformat()}
    try:
        case = validate_case(raw, t.config)
    except CaseRejected as exc:
        return JSONResponse({"errors": [p.as_dict() for p in exc.problems]}, status_code=422)
    doc = json.loads(case.model_dump_json())
    doc.pop("attachments")  # the hub's attachment ids replace the local ones when forwarding
    t.store.accept(case_id, code, doc, ids)
    t.forwarder.wake()
    return JSONResponse({"receipt": f"/local/{case_id}"}, status_code=202)


