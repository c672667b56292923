"""Jinja2 rendering of the workbench's pages (autoescaped), with what every page shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.domain.leg_states import CaseStatus
from hub.web.labels import marks
from hub.web.session import accounts, context

_ENV = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True,
                   lstrip_blocks=True)
# What the shared templates call, for every environment that renders them (the village
# terminal's too: hub.terminal.web)
PAGE_GLOBALS: dict[str, Any] = {"marks": marks}  # 上门办 / 村里当场办结 / 乡镇审批 beside an item
_ENV.globals.update(PAGE_GLOBALS)


def village_name(request: Request, code: str) -> str:
    table = context(request).config.code_tables.get("villages")
    return table.entries.get(code, "本村") if table else "本村"


def waiting_count(request: Request, village: str) -> int:
    store = context(request).store
    total, cursor = 0, None
    while True:
        page = store.list_cases(village, status=CaseStatus.WAITING_MATERIALS, cursor=cursor,
                                limit=500)
        total += len(page.items)
        cursor = page.next_cursor
        if not cursor:
            return total


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    session = values.pop("session", None)
    if session is False:  # the sign-in page: nobody is signed in there
        session = None
    elif session is None and request.cookies.get("hub_session"):
        session = accounts(request).session(request.cookies.get("hub_session"))
    base: dict[str, Any] = {"session": session, "csrf": session.csrf if session else ""}
    if session is not None:
        base["village"] = village_name(request, session.clerk.village)
        base["waiting"] = waiting_count(request, session.clerk.village)
    base.update(values)
    html = _ENV.get_template(name).render(**base)
    return HTMLResponse(html, status_code=status, headers={
        "Cache-Control": "no-store", "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                                   "style-src 'self'; script-src 'self'; connect-src 'self'"})
