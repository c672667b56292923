"""Every refusal the API gives has one shape: ``{"errors": [{"path", "code", "message"}]}``.

Exception handlers installed by ``install`` make sure no input yields a 500: request-validation
errors become 422, unknown routes 404, a store that is down 503 with ``Retry-After``; only a
genuine bug reaches the catch-all (logged by exception type and route, never with request data).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.domain.errors import PermanentError, Problem, TransientError

log = logging.getLogger("hub.api")


class ApiError(Exception):
    def __init__(self, status: int, problems: Sequence[Problem],
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {', '.join(p.code for p in problems)}")
        self.status = status
        self.problems = list(problems)
        self.headers = dict(headers or {})

    @classmethod
    def one(cls, status: int, code: str, message: str, path: str = "(request)",
            headers: Mapping[str, str] | None = None) -> ApiError:
        return cls(status, [Problem(path, code, message)], headers)


def problem_response(status: int, problems: Sequence[Problem],
                     headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [p.as_dict() for p in problems]}, status_code=status,
                        headers=dict(headers or {}))


_HTTP_MESSAGES = {404: "请求的地址不存在", 405: "不支持该请求方法", 413: "请求内容过大"}


def install(app: FastAPI) -> None:
    async def on_api_error(_r: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return problem_response(exc.status, exc.problems, exc.headers)

    async def on_validation(_r: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [Problem(".".join(str(p) for p in err.get("loc", ())) or "(request)",
                            "field.invalid", "参数无效或缺失") for err in exc.errors()]
        return problem_response(422, problems)

    async def on_http(_r: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = _HTTP_MESSAGES.get(exc.status_code, "请求无法处理")
        return problem_response(exc.status_code,
                                [Problem("(request)", f"http.{exc.status_code}", message)],
                                exc.headers)

    async def on_transient(request: Request, exc: Exception) -> JSONResponse:
        log.warning("store or dependency unavailable on %s: %s", request.url.path,
                    type(exc).__name__)
        return problem_response(503, [Problem("(server)", "server.unavailable",
                                              "服务暂时不可用，请稍后重试")],
                                {"Retry-After": "5"})

    async def on_permanent(request: Request, exc: Exception) -> JSONResponse:
        # The store refused a value it cannot hold (hub.store.engine.guard): the same request
        # would fail again, so it is the request's problem, not the server's.
        reason = exc.reason if isinstance(exc, PermanentError) else "refused"
        log.warning("store refused a value on %s: %s", request.url.path, reason)
        return problem_response(422, [Problem("(body)", f"store.{reason}",
                                              "提交的内容无法保存，请检查后重试")])

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method,
                  request.url.path)
        return problem_response(500, [Problem("(server)", "server.error",
                                              "服务器内部错误，请联系运维")])

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(TransientError, on_transient)
    app.add_exception_handler(PermanentError, on_permanent)
    app.add_exception_handler(Exception, on_bug)
