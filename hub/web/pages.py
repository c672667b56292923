"""The workbench's pages: sign-in, find an item, guide, form, receipt, case list, case page.

``/guide/{code}`` and ``/track/{code}`` are public (a resident scans their QR codes on a phone):
they show the catalogue's guide and a case's progress, never a name or an ID number. Every other
page needs a signed-in clerk, and a case of another village answers 404 like one that does not
exist.
"""

from __future__ import annotations

import os
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub.accounts.clerks import Session
from hub.config.catalogue import CatalogueItem
from hub.store.base import CaseRow
from hub.web import labels, lookup, views
from hub.web.qr import qr_svg
from hub.web.render import render
from hub.web.search import search
from hub.web.session import (
    COOKIE,
    SIGNIN_COOKIE,
    accounts,
    check_csrf,
    clerk_page,
    context,
    set_cookie,
    signin_token,
)

routes = APIRouter(include_in_schema=False)
PageSession = Annotated[Session, Depends(clerk_page)]
PAGE_SIZE = 20
_SIGN_IN_MESSAGES = {"invalid": "账号或密码不正确",
                     "locked": "连续输错密码次数过多，账户已锁定15分钟。急用请找管理员解锁。",
                     "disabled": "该账号已停用，请联系管理员"}


def public_url(request: Request, name: str, **params: str) -> str:
    """The address a resident's phone opens from a QR code: ``HUB_WEB_PUBLIC_URL`` (the hub as
    the village network reaches it, e.g. http://192.168.1.10:8080) when set, else this request's."""
    url = request.url_for(name, **params)
    base = os.environ.get("HUB_WEB_PUBLIC_URL", "").strip().rstrip("/")
    return f"{base}{url.path}" if base.startswith(("http://", "https://")) else str(url)


def _not_found(request: Request) -> HTMLResponse:
    return render(request, "error.html", status=404, message="找不到这个页面或案件")


@routes.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request) -> Response:
    token = signin_token(request)
    response = render(request, "signin.html", session=False, signin_csrf=token, error="")
    set_cookie(response, request, SIGNIN_COOKIE, token, max_age=3600)
    return response


@routes.post("/signin", response_class=HTMLResponse)
def signin(request: Request, login: Annotated[str, Form(max_length=64)] = "",
           password: Annotated[str, Form(max_length=256)] = "",
           csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
    check_csrf(request.cookies.get(SIGNIN_COOKIE, ""), csrf)
    result = accounts(request).sign_in(login, password)
    if result.outcome != "ok" or result.token is None:
        token = signin_token(request)
        return render(request, "signin.html", status=401 if result.outcome == "invalid"
                      else 423, session=False, signin_csrf=token, login=login[:64],
                      error=_SIGN_IN_MESSAGES[result.outcome])
    done = RedirectResponse("/", status_code=303)
    set_cookie(done, request, COOKIE, result.token)
    done.delete_cookie(SIGNIN_COOKIE, path="/")
    return done


@routes.post("/signout")
def signout(request: Request, session: PageSession,
            csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
    check_csrf(session.csrf, csrf)
    accounts(request).sign_out(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _groups(items: tuple[CatalogueItem, ...]) -> list[tuple[str, list[CatalogueItem]]]:
    grouped: dict[str, list[CatalogueItem]] = {}
    for item in items:
        grouped.setdefault(labels.group(item), []).append(item)
    order = {g: n for n, g in enumerate(labels.GROUP_ORDER)}
    return sorted(grouped.items(), key=lambda kv: order.get(kv[0], 99))


@routes.get("/", response_class=HTMLResponse)
def home(request: Request, session: PageSession, q: str = "", partial: bool = False) -> Response:
    from hub.town.staff import TownStaff

    if TownStaff(context(request).store).roles(session.clerk.id) is not None:
        return RedirectResponse("/town", status_code=303)  # town staff work at their window
    items = context(request).config.catalogue.items
    found = search(items, q) if q.strip() else []
    if partial:
        return render(request, "_results.html", session=session, q=q[:40], found=found)
    return render(request, "home.html", session=session, q=q[:40], found=found,
                  groups=_groups(items))


def _item(request: Request, code: str) -> CatalogueItem | None:
    return context(request).config.catalogue.get(code) if len(code) <= 32 else None


def _departments(request: Request, item: CatalogueItem) -> list[str]:
    return [views.dept_title(context(request).config, d) for d in item.deciders]


@routes.get("/guide/{code}", response_class=HTMLResponse)
def guide_page(request: Request, code: str) -> Response:
    item = _item(request, code)
    if item is None:
        return _not_found(request)
    url = public_url(request, "guide_page", code=item.code)
    return render(request, "guide.html", item=item, guide=labels.guide(item),
                  departments=_departments(request, item), qr=qr_svg(url, "办事指南二维码"),
                  qr_url=url)


HOUSEHOLD_ROWS = 4  # household members a form offers (spouse, children, parents...)
MEMBER_RELATIONS = ("spouse", "child", "parent", "other")


@routes.get("/items/{code}/apply", response_class=HTMLResponse)
def apply_page(request: Request, code: str, session: PageSession,
               situation: str = "") -> Response:
    item = _item(request, code)
    if item is None:
        return _not_found(request)
    chosen = item.situation(situation[:32])
    if item.situations and chosen is None:  # one plain question first: which situation?
        return render(request, "situation.html", session=session, item=item,
                      guide=labels.guide(item))
    scoped = item.for_situation(chosen.code if chosen else None)
    fields = [{"key": f.key, "label": f.label, "type": f.type, "required": f.required,
               "choices": labels.choices(f) if f.type == "enum" else [],
               "min": f.min, "max": f.max, "max_length": f.max_length} for f in scoped.form]
    related = [{"relation": r.value, "label": labels.RELATION_ZH.get(r.value, "相关人员")}
               for r in scoped.related]
    members = [(r, labels.RELATION_ZH[r]) for r in MEMBER_RELATIONS]
    return render(request, "apply.html", session=session, item=scoped, fields=fields,
                  related=related, guide=labels.guide(item), case_key=str(uuid.uuid4()),
                  departments=_departments(request, scoped), situation=chosen,
                  household=range(HOUSEHOLD_ROWS) if scoped.household_members else range(0),
                  members=members, first_member=len(related))


def _own(request: Request, session: Session, code: str) -> CaseRow | None:
    row = lookup.case_by_code(context(request).store, code)
    if row is None or row.village != session.clerk.village:
        return None
    return row


@routes.get("/cases/{code}/receipt", response_class=HTMLResponse)
def receipt_page(request: Request, code: str, session: PageSession) -> Response:
    row = _own(request, session, code)
    if row is None:
        return _not_found(request)
    cfg = context(request).config
    item = cfg.catalogue.get(row.item_code)
    track = public_url(request, "track_page", code=row.tracking_code)
    return render(request, "receipt.html", session=session, row=row,
                  s=views.summary(row, cfg),
                  departments=_departments(request, item) if item else [
                      views.dept_title(cfg, g.department) for g in row.legs],
                  guide=labels.guide(item) if item else None,
                  qr=qr_svg(track, "查询进度二维码"), qr_url=track,
                  created=views.local_time(row.created_at))


@routes.get("/cases/{code}", response_class=HTMLResponse)
def case_page(request: Request, code: str, session: PageSession,
              partial: bool = False) -> Response:
    row = _own(request, session, code)
    if row is None:
        return _not_found(request)
    cfg = context(request).config
    # The feed position is read before the case: an event that lands while the page renders
    # is sent again by the live stream, which starts from here, rather than lost between them.
    seen = lookup.latest_feed_seq(context(request).store, session.clerk.village)
    history = context(request).store.case_history(row.case_id)
    return render(request, "_case_live.html" if partial else "case.html", session=session,
                  row=row, s=views.summary(row, cfg), legs=views.leg_rows(row, cfg),
                  events=views.timeline(history, cfg, row.item_code), feed_seq=seen,
                  notice=any(r.kind == "town_notice_issued" for r in history))


@routes.get("/cases", response_class=HTMLResponse)
async def cases_page(request: Request, session: PageSession, status: str = "", q: str = "",
                     page: int = 1, partial: bool = False) -> Response:
    cfg = context(request).config
    seen = await run_in_threadpool(lookup.latest_feed_seq, context(request).store,
                                   session.clerk.village)
    rows = await run_in_threadpool(lookup.village_cases, context(request).store,
                                   session.clerk.village)
    wanted = views.FILTERS.get(status, (None, None))[1]
    rows = [r for r in rows if (wanted is None or r.status in wanted)
            and views.matches(r, q[:40])]
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = [views.summary(r, cfg) for r in rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]]
    values: dict[str, Any] = {"session": session, "cases": shown, "filter_key": status if wanted else "",
              "q": q[:40], "page": page, "pages": pages, "total": len(rows),
              "filters": [(k, v[0]) for k, v in views.FILTERS.items()], "feed_seq": seen}
    return render(request, "_case_rows.html" if partial else "cases.html", **values)


@routes.get("/track/{code}", response_class=HTMLResponse)
def track_page(request: Request, code: str) -> Response:
    row = lookup.case_by_code(context(request).store, code)
    if row is None:
        return _not_found(request)
    cfg = context(request).config
    item = cfg.catalogue.get(row.item_code)
    return render(request, "track.html", row=row, item_name=item.name if item else "其他事项",
                  legs=views.leg_rows(row, cfg), created=views.local_time(row.created_at))
