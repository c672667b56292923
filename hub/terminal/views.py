"""What the terminal's pages show: the village list (local queue + the hub's cached views),
each case's forwarding state in the clerk's words, and the state of the link."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.config.loading import HubConfig
from hub.observability.masking import mask_name
from hub.terminal.store import PENDING, REFUSED, SUBMITTED, Outgoing, TerminalStore
from hub.web.views import CHINA, local_time


def forward_label(row: Outgoing) -> str:
    if row.state == SUBMITTED:
        return "已提交"
    if row.state == REFUSED:
        return f"未能提交：{row.problem or '县级平台拒绝了这次提交'}"
    if row.state == PENDING or row.sent_bytes == 0:
        return "待上传"
    pct = 100 * row.sent_bytes // row.total_bytes if row.total_bytes else 99
    return f"上传中 {min(pct, 99)}%"


def _item_name(cfg: HubConfig, code: str) -> str:
    item = cfg.catalogue.get(code)
    return item.name if item else "其他事项"


def local_row(row: Outgoing, cfg: HubConfig, view: dict[str, Any] | None,
              scans: list[str] | None = None) -> dict[str, Any]:
    applicant = row.body.get("applicant", {})
    name = applicant.get("name", "") if isinstance(applicant, dict) else ""
    return {"case_id": row.case_id, "item_name": _item_name(cfg, row.item_code),
            "applicant": mask_name(str(name)) if name else "", "created":
            local_time(row.created_at), "state": row.state, "forward": forward_label(row),
            "tracking_code": row.tracking_code or "",
            "status": str(view.get("status_label", "")) if view else "", "scans": scans or []}


def village_rows(store: TerminalStore, cfg: HubConfig) -> list[dict[str, Any]]:
    """This terminal's cases first-hand, then the village's others as the hub last told."""
    cached = store.cached()
    rows, seen = [], set()
    for out in store.outgoing():
        seen.add(out.case_id)
        rows.append(local_row(out, cfg, cached.get(out.case_id)))
    others = sorted((v for k, v in cached.items() if k not in seen),
                    key=lambda v: str(v.get("created_at", "")), reverse=True)
    for v in others:
        rows.append({"case_id": str(v["case_id"]), "item_name": str(v.get("item_name", "")),
                     "applicant": "", "created": local_time(str(v.get("created_at", ""))),
                     "state": SUBMITTED, "forward": "已提交", "tracking_code":
                     str(v.get("tracking_code", "")), "status": str(v.get("status_label", ""))})
    return rows


def case_detail(store: TerminalStore, cfg: HubConfig, case_id: str
                ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """One case: this terminal's row (or the hub's cached view) and each department's leg."""
    view = store.cached().get(case_id)
    out = store.get(case_id)
    if out is not None:
        row = local_row(out, cfg, view)
    elif view is not None:
        matching = [r for r in village_rows(store, cfg) if r["case_id"] == case_id]
        if not matching:
            return None
        row = matching[0]
    else:
        return None
    legs = [{"department_title": str(g.get("department_title", "")),
             "state_label": str(g.get("state_label", "")), "detail": str(g.get("detail") or ""),
             "missing": [str(m.get("name", "")) for m in g.get("missing_materials", [])]}
            for g in (view or {}).get("legs", [])]
    return row, legs


def link_state(online: bool, last_sync: str | None) -> dict[str, Any]:
    if online:
        return {"online": True, "text": "已连接县级平台，案件会自动提交"}
    when = ""
    if last_sync:
        try:
            when = dt.datetime.fromisoformat(last_sync).astimezone(CHINA).strftime("%H:%M")
        except ValueError:
            when = ""
    tail = f"，最后同步于 {when}" if when else "，尚未与县级平台同步"
    return {"online": False,
            "text": f"网络中断：新案件先保存在本机，网络恢复后自动提交{tail}"}
