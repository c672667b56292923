"""Serving ``/metrics``: a small HTTP server for workers, an ASGI app and middleware for the API.

* ``start_metrics_server("127.0.0.1:9101")`` serves ``hub.observability.metrics.REGISTRY`` on its own thread
  (what ``hub worker --metrics-addr`` uses). The host defaults to 127.0.0.1 when only a port is
  given, never to 0.0.0.0: exposing metrics beyond the host is an explicit choice (and logged).
  Port 0 picks a free port; read it back with ``bound_port(server)``.
* ``metrics_route()`` / ``metrics_asgi_app()``: the same exposition for the API process:
  ``app.router.routes.append(metrics_route())`` serves exactly ``/metrics`` (a
  ``app.mount("/metrics", metrics_asgi_app())`` would redirect ``/metrics`` to ``/metrics/``).
* ``HttpMetricsMiddleware`` records ``hub_http_requests_total`` and
  ``hub_http_request_duration_seconds`` labelled by the matched route's TEMPLATE
  (``/v1/cases/{case_id}``), or ``unmatched``; never by the raw path.

A port already in use raises ``hub.domain.errors.ConfigError`` naming the address.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server

from hub.domain.errors import ConfigError, Problem
from hub.observability.metrics import REGISTRY, UNMATCHED, http_request

log = logging.getLogger(__name__)

ASGIApp = Any  # Starlette/FastAPI-compatible ASGI callable; kept loose to avoid a hard import.


def parse_addr(addr: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT`` / ``:PORT`` / ``PORT`` / ``[::1]:PORT`` -> (host, port)."""
    text = addr.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or default_host
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError([Problem(
            "metrics_addr", "metrics_addr.invalid",
            f"{addr!r} is not HOST:PORT (for example 127.0.0.1:9101)")])
    return host, port


def start_metrics_server(addr: str = "127.0.0.1:9101") -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` of ``REGISTRY`` on ``addr`` in a daemon thread; returns (server, thread).

    Stop it with ``server.shutdown(); server.server_close(); thread.join()``.
    """
    host, port = parse_addr(addr)
    if host in ("0.0.0.0", "::"):
        log.warning("metrics server listens on all interfaces (%s:%d)", host, port)
    try:
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as exc:
        raise ConfigError([Problem(
            "metrics_addr", "metrics_addr.unavailable",
            f"cannot listen on {host}:{port}: {exc.strerror or exc}")]) from exc
    log.info("metrics server listening", extra={"event": "metrics.listen",
                                                 "addr": f"{host}:{bound_port(server)}"})
    return server, thread


def bound_port(server: WSGIServer) -> int:
    return int(server.server_address[1])


def stop_metrics_server(server: WSGIServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class _MetricsApp:
    """The text exposition as a raw ASGI app (an object, so Starlette's ``Route`` keeps it raw).

    The exposition is generated on a worker thread: scrape-time gauge sources may query the
    store or the broker, and must not block the API's event loop while they do.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            return
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body",
                    "body": b"" if scope.get("method") == "HEAD" else body})


def metrics_asgi_app() -> ASGIApp:
    """The exposition of ``REGISTRY`` as an ASGI app (mount it, or route it: ``metrics_route``)."""
    return _MetricsApp()


def metrics_route(path: str = "/metrics") -> Any:
    """A Starlette ``Route`` serving ``/metrics`` exactly (no redirect to ``/metrics/``).

    ``app.router.routes.append(metrics_route())`` in the API factory.
    """
    from starlette.routing import Route

    return Route(path, metrics_asgi_app(), methods=["GET", "HEAD"])


class HttpMetricsMiddleware:
    """Pure ASGI middleware: count and time each HTTP request by route template.

    Starlette's router stores the matched route in ``scope["route"]``; its ``path`` is the
    template. Requests that match nothing are labelled ``unmatched``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception before the response started is a server error

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or getattr(route, "path_format", None)
            http_request(str(template) if template else UNMATCHED, str(scope.get("method", "")),
                         status, time.perf_counter() - start)
