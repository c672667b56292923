"""``GET /v1/catalogue`` and ``GET /v1/catalogue/{code}``: the service catalogue for terminals.

Public (no token): it is the guide a resident may read before coming. Each item: plain name,
official title, the departments that decide (Chinese titles), materials (required or not), form
fields with Chinese labels and widgets, choices as ``{value, label}`` with Chinese labels, the
guide (conditions, time limit, fees, notes), synonyms and the life-event group.
``GET /v1/cases/by-code/{tracking_code}`` answers a case by the code on its receipt (same view
and the same village rule as ``GET /v1/cases/{case_id}``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from hub.config.catalogue import TOWN, CatalogueItem
from hub.config.loading import HubConfig
from hub.intake.api.auth import context
from hub.intake.api.errors import ApiError
from hub.intake.api.routes_cases import NOT_FOUND, TerminalDep
from hub.intake.api.views import case_view
from hub.web import labels
from hub.web.lookup import case_by_code

routes = APIRouter(prefix="/v1")
_WIDGETS = {"string": "text", "int": "number", "number": "number", "bool": "yes_no",
            "date": "date", "enum": "select"}


def item_view(item: CatalogueItem, cfg: HubConfig) -> dict[str, Any]:
    return {
        "code": item.code, "name": item.name, "title": item.title,
        "group": labels.group(item), "synonyms": list(labels.synonyms(item)),
        "departments": [{"code": d, "title": cfg.departments[d].title if d in cfg.departments
                         else "乡镇便民服务中心" if d == TOWN else d} for d in item.deciders],
        "materials": [{"code": m.code, "name": m.name, "required": m.required}
                      for m in item.materials],
        "related": [{"relation": r.value, "label": labels.RELATION_ZH.get(r.value, r.value)}
                    for r in item.related],
        "form": [{"key": f.key, "label": f.label, "type": f.type, "widget": _WIDGETS[f.type],
                  "required": f.required, "min": f.min, "max": f.max,
                  "max_length": f.max_length, "pattern": f.pattern,
                  "choices": [{"value": v, "label": lab} for v, lab in labels.choices(f)]}
                 for f in item.form],
        "guide": asdict(labels.guide(item)),
        "flags": item.flags.model_dump(),
    }


@routes.get("/catalogue")
def catalogue(request: Request) -> dict[str, Any]:
    cfg = context(request).config
    return {"items": [item_view(i, cfg) for i in cfg.catalogue.items]}


@routes.get("/catalogue/{code}")
def catalogue_item(code: str, request: Request) -> dict[str, Any]:
    cfg = context(request).config
    item = cfg.catalogue.get(code) if len(code) <= 32 else None
    if item is None:
        raise ApiError.one(404, "item.not_found", "没有这个事项", "code")
    return item_view(item, cfg)


@routes.get("/cases/by-code/{tracking_code}")
def case_by_tracking_code(tracking_code: str, request: Request,
                          terminal: TerminalDep) -> dict[str, Any]:
    ctx = context(request)
    row = case_by_code(ctx.store, tracking_code[:32])
    if row is None or row.village != terminal.village:
        raise NOT_FOUND
    return case_view(row, ctx.config)
