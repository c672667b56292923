"""Wires the workbench into the API's FastAPI app: routes, static files, HTML error pages.

Why server-rendered pages with a little plain JavaScript rather than a built front end: the
hub already validates and renders everything in Chinese on the server, village rooms run old
browsers on slow links, and a page that works without a build step (nothing from npm or the
internet) is one a county IT person can read and patch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.web import actions, pages, town, town_messages
from hub.web.render import render
from hub.web.session import Refused, SignInNeeded

STATIC = Path(__file__).resolve().parent / "static"


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/v1/", "/web/api/", "/openapi", "/metrics", "/healthz",
                            "/readyz"))


def install(app: FastAPI) -> None:
    app.include_router(pages.routes)
    app.include_router(actions.routes)
    app.include_router(town.routes)  # the town window and /verify (hub.town)
    app.include_router(town_messages.routes)  # dispatch 1对1 / 1对N (hub.town.dispatch)
    app.mount("/static", StaticFiles(directory=STATIC), name="web-static")
    api_http = app.exception_handlers.get(StarletteHTTPException)

    async def on_sign_in(request: Request, _exc: Exception) -> Response:
        return RedirectResponse("/signin", status_code=303)

    async def on_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        if _wants_json(request):
            return JSONResponse({"errors": [{"path": "(request)", "code": "web.refused",
                                             "message": exc.message}]}, status_code=exc.status)
        return render(request, "error.html", status=exc.status, message=exc.message)

    async def on_http(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        if _wants_json(request) and api_http is not None:
            answer = api_http(request, exc)
            return await answer if not isinstance(answer, Response) else answer
        message = "找不到这个页面或案件" if exc.status_code == 404 else "请求无法处理"
        return render(request, "error.html", status=exc.status_code, message=message)

    app.add_exception_handler(SignInNeeded, on_sign_in)
    app.add_exception_handler(Refused, on_refused)
    app.add_exception_handler(StarletteHTTPException, on_http)


def not_found_page(request: Request) -> HTMLResponse:
    return render(request, "error.html", status=404, message="找不到这个页面或案件")
