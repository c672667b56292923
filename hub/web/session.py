"""Who is signed in: the session cookie, the CSRF check, and the answers when either fails.

The cookie is HttpOnly and SameSite=Strict (and Secure when the page came over TLS). Every
state-changing request must carry the session's CSRF token, as a form field ``csrf`` or the
``X-CSRF-Token`` header; without it the hub answers 403 and changes nothing. The sign-in form,
before any session exists, uses a double-submit token (a cookie and the same value in the form).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from fastapi.responses import Response

from hub.accounts.clerks import Accounts, Session
from hub.intake.api.context import ApiContext

COOKIE = "hub_session"
SIGNIN_COOKIE = "hub_signin"


class SignInNeeded(Exception):
    """A page needs a signed-in clerk; the handler redirects to the sign-in page."""


class Refused(Exception):
    """A request the workbench refuses (status, Chinese message), answered as a page or JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def accounts(request: Request) -> Accounts:
    found: Accounts | None = getattr(request.app.state, "accounts", None)
    if found is None:
        found = Accounts(context(request).store)
        request.app.state.accounts = found
    return found


def current(request: Request) -> Session | None:
    return accounts(request).session(request.cookies.get(COOKIE))


def clerk_page(request: Request) -> Session:
    """Dependency for pages: the clerk's session, else a redirect to sign-in."""
    session = current(request)
    if session is None:
        raise SignInNeeded()
    return session


def clerk_action(request: Request) -> Session:
    """Dependency for JavaScript calls that change something: session AND CSRF header."""
    session = current(request)
    if session is None:
        raise Refused(401, "登录已超时，请重新登录（填写的内容仍在本页）")
    check_csrf(session.csrf, request.headers.get("x-csrf-token"))
    return session


def clerk_read(request: Request) -> Session:
    """Dependency for JavaScript reads (no change): the session only."""
    session = current(request)
    if session is None:
        raise Refused(401, "登录已超时，请重新登录")
    return session


def check_csrf(expected: str, given: str | None) -> None:
    if not given or not hmac.compare_digest(expected.encode(), given.encode()[:128]):
        raise Refused(403, "页面已过期或请求来源不明，已拒绝。请刷新页面后重试。")


def secure(request: Request) -> bool:
    return (request.url.scheme == "https"
            or request.headers.get("x-forwarded-proto", "").lower() == "https")


def set_cookie(response: Response, request: Request, name: str, value: str,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=secure(request), path="/")


def signin_token(request: Request) -> str:
    return request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
