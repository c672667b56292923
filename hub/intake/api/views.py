"""JSON views of store rows for terminals: status and labels in Chinese, no personal data.

The case view deliberately omits the applicant's ID number and phone: a terminal already has
them, and status polling should not move personal data around again.
"""

from __future__ import annotations

from typing import Any

from hub.config.loading import HubConfig
from hub.domain.leg_states import LEG_LABELS
from hub.store.base import CaseRow, LegRow


def _material_names(cfg: HubConfig, item_code: str) -> dict[str, str]:
    item = cfg.catalogue.get(item_code)
    return {m.code: m.name for m in item.materials} if item else {}


def leg_view(leg: LegRow, cfg: HubConfig, names: dict[str, str]) -> dict[str, Any]:
    dept = cfg.departments.get(leg.department)
    return {
        "department": leg.department,
        "department_title": dept.title if dept else leg.department,
        "state": leg.state.value,
        "state_label": LEG_LABELS[leg.state],
        "receipt": leg.receipt,
        "detail": leg.detail,
        "missing_materials": [{"code": m, "name": names.get(m, m)}
                              for m in leg.missing_materials],
        "updated_at": leg.updated_at.isoformat(),
    }


def case_view(row: CaseRow, cfg: HubConfig) -> dict[str, Any]:
    item = cfg.catalogue.get(row.item_code)
    names = _material_names(cfg, row.item_code)
    return {
        "case_id": str(row.case_id),
        "tracking_code": row.tracking_code,
        "item_code": row.item_code,
        "item_name": item.name if item else row.item_code,
        "status": row.status.value,
        "status_label": row.status.label,
        "settled": row.settled,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "legs": [leg_view(g, cfg, names) for g in row.legs],
    }
