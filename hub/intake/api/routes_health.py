"""Liveness and readiness: ``/healthz`` (process answers), ``/readyz`` (store, bus, config)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hub.intake.api.auth import context

routes = APIRouter()


@routes.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _safe(probe: object) -> bool:
    try:
        return bool(probe() if callable(probe) else probe)
    except Exception:  # a failing probe means "not ready", never a 500
        return False


@routes.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    checks = {"store": _safe(ctx.store.ping), "bus": _safe(ctx.readiness),
              "config": bool(ctx.config.catalogue.items and ctx.config.departments)}
    ready = all(checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
