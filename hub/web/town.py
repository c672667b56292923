"""The town workbench (``/town``) and the public verify page of decision notices (``/verify``).

Same sign-in, session, CSRF and look as the clerk's workbench; an account is town staff when it
holds a ``hub.town.staff`` role. Plain HTML forms act (``POST /town/cases/{code}/{action}``,
CSRF field); the same actions answer JSON at ``/web/api/town/cases/{code}/{action}`` (CSRF
header), e.g. 403 with the Chinese reason when a reviewer tries to approve their own case.
Another town's case answers 404 like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from hub.accounts.clerks import Session
from hub.domain import strictjson
from hub.domain.errors import PermanentError
from hub.intake.api.limits import read_body
from hub.town import issue, towns
from hub.town.desk import STAGE_ZH, Desk, DeskRefused, Staff, TownCase
from hub.town.staff import TownStaff
from hub.web import lookup, views
from hub.web.render import render
from hub.web.session import Refused, check_csrf, clerk_action, clerk_page, context

routes = APIRouter(include_in_schema=False)

# How often an open queue page redraws its rows (app.js): a case a village submits, or one a
# colleague moves on, shows up without the staff reloading the page.
QUEUE_REFRESH_S = 10
PageSession = Annotated[Session, Depends(clerk_page)]
ActionSession = Annotated[Session, Depends(clerk_action)]
MAX_SCAN_BYTES = 50 * 1024 * 1024
URGENCY_ZH = {"overdue": "已超期", "due_soon": "即将到期", "ok": "", "closed": ""}


def desk(request: Request) -> Desk:
    found: Desk | None = getattr(request.app.state, "town_desk", None)
    if found is None:
        ctx = context(request)
        found = Desk(ctx.store, ctx.config)
        request.app.state.town_desk = found
    return found


def staff_of(request: Request, session: Session) -> Staff | None:
    roles = TownStaff(context(request).store).roles(session.clerk.id)
    if roles is None:
        return None
    return Staff(session.clerk.id, session.clerk.login, session.clerk.name, roles)


def _staff(request: Request, session: Session) -> Staff:
    found = staff_of(request, session)
    if found is None:
        raise Refused(403, "这是乡镇便民服务中心的工作台，本账号不能使用")
    return found


def _case(request: Request, staff: Staff, code: str) -> TownCase:
    found = desk(request).open(staff.town, lookup.case_by_code(context(request).store, code))
    if found is None:
        raise Refused(404, "找不到这个页面或案件")
    return found


def _page(request: Request, session: Session, staff: Staff, name: str, status: int = 200,
          **values: Any) -> Response:
    tables = context(request).config.code_tables
    return render(request, name, status=status, session=session, staff=staff,
                  village=f"{towns.town_name(staff.town, tables)}便民服务中心", **values)


def _queue_row(d: Desk, c: TownCase, now: dt.datetime) -> dict[str, object]:
    facts = d.facts_of(c)
    left = c.days_left(now)
    return {"code": c.row.tracking_code, "item": facts["item_name"], "item_code": c.row.item_code,
            "village": facts["village"], "village_code": c.row.village,
            "applicant": facts["applicant"], "stage": STAGE_ZH[c.stage],
            "age": max(0, (now - c.row.created_at).days),
            "deadline": views.local_time(c.deadline)[:11] if c.deadline else "",
            "left": "" if left is None else f"{left:.0f}", "urgency": c.urgency(now),
            "urgency_label": URGENCY_ZH[c.urgency(now)]}


@routes.get("/town")
def queue_page(request: Request, session: PageSession, item: str = "", village: str = "",
               show: str = "open", partial: bool = False) -> Response:
    staff = _staff(request, session)
    d = desk(request)
    now = dt.datetime.now(dt.UTC)
    cases = d.cases(staff.town, open_only=show != "all")
    rows = [_queue_row(d, c, now) for c in cases]
    items = sorted({(str(r["item_code"]), str(r["item"])) for r in rows})
    villages = sorted({(str(r["village_code"]), str(r["village"])) for r in rows})
    rows = [r for r in rows if (not item or r["item_code"] == item)
            and (not village or r["village_code"] == village)]
    order = {"overdue": 0, "due_soon": 1, "ok": 2, "closed": 3}
    rows.sort(key=lambda r: (order[str(r["urgency"])], -int(str(r["age"]))))
    return _page(request, session, staff, "_town_queue_rows.html" if partial else
                 "town_queue.html", rows=rows, items=items, villages=villages, item=item[:32],
                 village_code=village[:12], show=show, refresh_s=QUEUE_REFRESH_S)


def _scans(request: Request, c: TownCase) -> list[dict[str, object]]:
    names = views.material_names(context(request).config, c.row.item_code)
    out = []
    for a in c.row.case.attachments:
        out.append({"id": a.id, "name": names.get(a.kind, "其他材料"),
                    "image": a.media_type.startswith("image/"),
                    "pdf": a.media_type == "application/pdf"})
    return out


def _supplements(request: Request, c: TownCase) -> list[dict[str, object]]:
    """Scans the village sent later (answers to 需补充材料), from the case's history."""
    names = views.material_names(context(request).config, c.row.item_code)
    ids = [str(a.get("id")) for r in context(request).store.case_history(c.row.case_id)
           if r.kind == "supplement" for a in r.entry.get("attachments") or []]
    rows = context(request).store.get_attachments(ids)
    return [{"id": i, "name": names.get(rows[i].kind, "其他材料"),
             "image": rows[i].media_type.startswith("image/"),
             "pdf": rows[i].media_type == "application/pdf"} for i in ids if i in rows]


@routes.get("/town/cases/{code}")
def case_page(request: Request, code: str, session: PageSession) -> Response:
    return _case_page(request, session, code)


def _case_page(request: Request, session: Session, code: str, error: str = "",
               status: int = 200) -> Response:
    staff = _staff(request, session)
    c = _case(request, staff, code)
    d = desk(request)
    cfg = context(request).config
    item = cfg.catalogue.get(c.row.item_code)
    form = [{"label": f.label, "value": c.row.case.form.get(f.key, "")}
            for f in (item.form if item else ())]
    now = dt.datetime.now(dt.UTC)
    can_approve = ("approver" in staff.roles.roles and c.stage == "approve"
                   and not c.reviewed_by(staff.clerk_id))
    return _page(request, session, staff, "town_case.html", status=status, c=c, row=c.row,
                 facts=d.facts_of(c), form=form, stage=STAGE_ZH[c.stage],
                 scans=_scans(request, c) + _supplements(request, c),
                 materials=item.materials if item else (),
                 can_review="reviewer" in staff.roles.roles and c.stage == "review",
                 can_approve=can_approve,
                 self_reviewed="approver" in staff.roles.roles and c.stage == "approve"
                 and c.reviewed_by(staff.clerk_id),
                 actions=[{"at": views.local_time(a.at), "who": a.clerk_name,
                           "what": _ACTION_ZH.get(a.action, a.action), "note": a.note}
                          for a in c.actions],
                 deadline=views.local_time(c.deadline) if c.deadline else "",
                 urgency=URGENCY_ZH[c.urgency(now)], error=error,
                 notice=issue.find(context(request).store, case_id=str(c.row.case_id)),
                 full_name=c.row.case.applicant.name)


_ACTION_ZH = {"reviewed": "审查通过", "asked_materials": "需补充材料", "refused": "不予受理",
              "approved": "核准", "returned": "退回审查"}


@routes.get("/town/cases/{code}/scans/{scan_id}")
def scan(request: Request, code: str, scan_id: str, session: PageSession) -> Response:
    staff = _staff(request, session)
    c = _case(request, staff, code)
    store = context(request).store
    row = store.get_attachments([scan_id[:64]]).get(scan_id[:64])
    if row is None or (row.case_id is not None and row.case_id != c.row.case_id) \
            or row.village != c.row.village or row.size > MAX_SCAN_BYTES:
        raise Refused(404, "找不到这份材料")
    try:
        data = b"".join(context(request).blobs.open(row.id, row.sha256))
    except (PermanentError, OSError):  # removed by retention, or damaged: say so, no 500
        raise Refused(404, "这份材料已不在系统中") from None
    return Response(data, media_type=row.media_type if row.media_type.startswith(
        ("image/", "application/pdf")) else "application/octet-stream",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _act(request: Request, staff: Staff, code: str, action: str, note: str,
         materials: list[str]) -> None:
    d = desk(request)
    c = _case(request, staff, code)
    ctx = context(request)
    try:
        if action == "review":
            d.review_pass(staff, c, note)
        elif action == "materials":
            d.ask_materials(staff, c, materials, note)
        elif action == "refuse":
            d.refuse(staff, c, note)
        elif action == "return":
            d.return_to_reviewer(staff, c, note)
        elif action == "approve":
            from hub.web.pages import public_url

            issue.approve_and_issue(d, ctx.blobs, ctx.settings.data_dir, staff, c,
                                    public_url(request, "verify_home"))
        else:
            raise Refused(404, "没有这一步")
    except DeskRefused as exc:
        raise Refused(exc.status, exc.message) from None


@routes.post("/town/cases/{code}/{action}")
def act_form(request: Request, code: str, action: str, session: PageSession,
             csrf: Annotated[str, Form(max_length=128)] = "",
             note: Annotated[str, Form(max_length=500)] = "",
             materials: Annotated[list[str] | None, Form()] = None) -> Response:
    check_csrf(session.csrf, csrf)
    staff = _staff(request, session)
    try:
        _act(request, staff, code, action, note, (materials or [])[:50])
    except Refused as exc:
        if exc.status == 404:
            raise
        return _case_page(request, session, code, exc.message, exc.status)
    return RedirectResponse(f"/town/cases/{code}", status_code=303)


@routes.post("/web/api/town/cases/{code}/{action}")
async def act_api(request: Request, code: str, action: str,
                  session: ActionSession) -> JSONResponse:
    staff = _staff(request, session)
    raw_body = await read_body(request, 64 * 1024)
    try:
        body = strictjson.loads(raw_body.decode("utf-8")) if raw_body.strip() else {}
    except (strictjson.StrictJsonError, ValueError, RecursionError):
        raise Refused(400, "请求内容无效，请刷新页面后重试") from None
    body = body if isinstance(body, dict) else {}
    raw = body.get("materials")
    materials = [str(m)[:64] for m in raw][:50] if isinstance(raw, list) else []
    note = str(body.get("note", ""))[:500]
    await run_in_threadpool(_act, request, staff, code, action, note, materials)
    return JSONResponse({"case": f"/town/cases/{code}"})


def _notice_response(request: Request, notice: issue.Notice | None) -> Response:
    if notice is None:
        raise Refused(404, "这个案件还没有办结通知书")
    try:
        data = issue.pdf_bytes(context(request).blobs, notice)
    except (PermanentError, OSError):
        raise Refused(404, "通知书文件已不在系统中，请联系乡镇重新出具") from None
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="notice-{notice.serial}.pdf"',
        "Cache-Control": "no-store"})


@routes.get("/town/cases/{code}/notice.pdf")
def town_notice(request: Request, code: str, session: PageSession) -> Response:
    c = _case(request, _staff(request, session), code)
    return _notice_response(request, issue.find(context(request).store,
                                                case_id=str(c.row.case_id)))


@routes.get("/cases/{code}/notice.pdf")
def village_notice(request: Request, code: str, session: PageSession) -> Response:
    row = lookup.case_by_code(context(request).store, code)
    if row is None or row.village != session.clerk.village:
        raise Refused(404, "找不到这个页面或案件")
    return _notice_response(request, issue.find(context(request).store,
                                                case_id=str(row.case_id)))


@routes.get("/verify", name="verify_home")
def verify_home(request: Request) -> Response:
    return render(request, "verify.html", session=False, verdict=None, serial="", s="")


@routes.get("/verify/{serial}")
def verify_page(request: Request, serial: str, s: str = "") -> Response:
    ctx = context(request)
    verdict = issue.verify(ctx.blobs, ctx.store, serial[:32], s[:128])
    return render(request, "verify.html", session=False, verdict=verdict, serial=serial[:32],
                  s=s[:128])


@routes.post("/verify/{serial}")
async def verify_file(request: Request, serial: str) -> Response:
    """A PDF checked against the issued original. The body is read with a bound first (a
    public page: nothing unbounded reaches the multipart parser or the disk)."""
    ctx = context(request)
    request._body = await read_body(request, issue.MAX_NOTICE_BYTES + 64 * 1024)
    form = await request.form(max_files=1, max_fields=2, max_part_size=1024)
    upload, s = form.get("file"), str(form.get("s") or "")[:128]
    data = await upload.read() if isinstance(upload, StarletteUpload) else b""
    if not data:
        return render(request, "verify.html", status=422, session=False, serial=serial[:32], s=s,
                      verdict=issue.Verdict(False, None, "请选择要核对的通知书文件"))
    verdict = await run_in_threadpool(issue.verify, ctx.blobs, ctx.store, serial[:32], s, data)
    return render(request, "verify.html", session=False, verdict=verdict, serial=serial[:32],
                  s=s, checked_file=True)
