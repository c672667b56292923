"""``GET /v1/catalogue`` and ``GET /v1/catalogue/{code}``: the service catalogue for terminals.

Public (no token): it is the guide a resident may read before coming. Each item: plain name,
official title, the departments that decide (Chinese titles), materials (required or not), form
fields with Chinese labels and widgets, choices as ``{value, label}`` with Chinese labels, the
guide (conditions, time limit, fees, notes), synonyms and the life-event group, who decides,
the situations (情形) with what each adds, and the marks 上门办 (``flags.door_to_door``) and
村里当场办结 (``flags.on_the_spot``: decided in the village on the spot).
``GET /v1/cases/by-code/{tracking_code}`` answers a case by the code on its receipt (same view
and the same village rule as ``GET /v1/cases/{case_id}``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from hub.config.catalogue import TOWN, CatalogueItem, FormField, Material
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


TOWN_TITLE = "乡镇便民服务中心"
DECIDED_ZH = {"village": "村里当场办结", "town": "乡镇窗口审批", "departments": "部门审批"}


def _form(fields: tuple[FormField, ...]) -> list[dict[str, Any]]:
    return [{"key": f.key, "label": f.label, "type": f.type, "widget": _WIDGETS[f.type],
             "required": f.required, "min": f.min, "max": f.max,
             "max_length": f.max_length, "pattern": f.pattern,
             "choices": [{"value": v, "label": lab} for v, lab in labels.choices(f)]}
            for f in fields]


def _materials(materials: tuple[Material, ...]) -> list[dict[str, Any]]:
    return [{"code": m.code, "name": m.name, "required": m.required} for m in materials]


def item_view(item: CatalogueItem, cfg: HubConfig) -> dict[str, Any]:
    def titles(names: tuple[str, ...]) -> list[dict[str, str]]:
        return [{"code": d, "title": cfg.departments[d].title if d in cfg.departments
                 else TOWN_TITLE if d == TOWN else d} for d in names]

    return {
        "code": item.code, "name": item.name, "title": item.title,
        "group": labels.group(item), "synonyms": list(labels.synonyms(item)),
        "departments": titles(item.deciders),
        "decided_by": item.decided_by, "decided_by_label": DECIDED_ZH[item.decided_by],
        "materials": _materials(item.materials),
        "related": [{"relation": r.value, "label": labels.RELATION_ZH.get(r.value, r.value)}
                    for r in item.related],
        "form": _form(item.form),
        "situations": [{"code": s.code, "name": s.name, "materials": _materials(s.materials),
                        "form": _form(s.form),
                        "departments": titles(item.for_situation(s.code).departments)}
                       for s in item.situations],
        "household_members": item.household_members,
        "guide": {**asdict(labels.guide(item)), "deadline_days": item.guide.deadline_days},
        "flags": {**item.flags.model_dump(), "on_the_spot": item.decided_by == "village"},
        "marks": labels.marks(item),
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
