"""What the pages show of a case, in plain Chinese: status groups, masked identity, timeline."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from hub.config.catalogue import TOWN
from hub.config.loading import HubConfig
from hub.domain.leg_states import LEG_LABELS, CaseStatus
from hub.domain.models import LegState
from hub.observability.masking import mask_id_number, mask_name
from hub.store.base import AuditRecord, CaseRow

CHINA = dt.timezone(dt.timedelta(hours=8))

# The filters of the case list: a clerk's words over the hub's case statuses.
FILTERS: dict[str, tuple[str, tuple[CaseStatus, ...]]] = {
    "doing": ("办理中", (CaseStatus.RECEIVED, CaseStatus.IN_PROGRESS)),
    "materials": ("需补充材料", (CaseStatus.WAITING_MATERIALS,)),
    "done": ("已办结", (CaseStatus.APPROVED, CaseStatus.PARTLY_APPROVED)),
    "refused": ("不予受理", (CaseStatus.REJECTED,)),
    "failed": ("失败", (CaseStatus.FAILED,)),
}
STATUS_TONE = {CaseStatus.RECEIVED: "doing", CaseStatus.IN_PROGRESS: "doing",
               CaseStatus.WAITING_MATERIALS: "materials", CaseStatus.APPROVED: "done",
               CaseStatus.PARTLY_APPROVED: "done", CaseStatus.REJECTED: "refused",
               CaseStatus.FAILED: "failed"}


def local_time(value: dt.datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return ""
    return value.astimezone(CHINA).strftime("%Y年%m月%d日 %H:%M")


def dept_title(cfg: HubConfig, name: str) -> str:
    if name == TOWN:
        return "乡镇便民服务中心"
    d = cfg.departments.get(name)
    return d.title if d else "其他部门"


def material_names(cfg: HubConfig, item_code: str) -> dict[str, str]:
    item = cfg.catalogue.get(item_code)
    return {m.code: m.name for m in item.materials} if item else {}


@dataclass(frozen=True)
class CaseSummary:
    tracking_code: str
    item_name: str
    applicant: str
    id_masked: str
    status_label: str
    tone: str
    created: str
    waiting: bool


def summary(row: CaseRow, cfg: HubConfig) -> CaseSummary:
    item = cfg.catalogue.get(row.item_code)
    return CaseSummary(
        tracking_code=row.tracking_code, item_name=item.name if item else "其他事项",
        applicant=mask_name(row.case.applicant.name),
        id_masked=mask_id_number(row.case.applicant.id_number),
        status_label=row.status.label, tone=STATUS_TONE[row.status],
        created=local_time(row.created_at), waiting=row.status == CaseStatus.WAITING_MATERIALS)


def matches(row: CaseRow, q: str) -> bool:
    """Search by tracking code (with or without dashes), resident name or ID number."""
    q = q.strip().upper()
    if not q:
        return True
    code = row.tracking_code.replace("-", "")
    a = row.case.applicant
    return (q.replace("-", "").replace(" ", "") in code or q in a.name.upper()
            or (len(q) >= 4 and q in a.id_number))


def leg_rows(row: CaseRow, cfg: HubConfig) -> list[dict[str, Any]]:
    names = material_names(cfg, row.item_code)
    return [{"department": g.department, "title": dept_title(cfg, g.department),
             "state": LEG_LABELS[g.state], "tone": _leg_tone(g.state),
             "words": g.detail or "", "receipt": _reference(g.receipt),
             "updated": local_time(g.updated_at),
             "waiting": g.state == LegState.NEEDS_MATERIALS,
             "missing": [{"code": m, "name": names.get(m, "其他材料")}
                         for m in g.missing_materials]} for g in row.legs]


_REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,23}$")


def _reference(receipt: str | None) -> str:
    """A department's reference as a clerk can read it out; a transport's internal receipt
    (a file name, a message id) is not shown."""
    return receipt if receipt and _REFERENCE.match(receipt) else ""


def _leg_tone(state: LegState) -> str:
    if state == LegState.APPROVED:
        return "done"
    if state == LegState.NEEDS_MATERIALS:
        return "materials"
    if state == LegState.REJECTED:
        return "refused"
    if state == LegState.FAILED:
        return "failed"
    return "doing"


def timeline(records: list[AuditRecord], cfg: HubConfig, item_code: str) -> list[dict[str, str]]:
    """The case's history from the audit log, in words a clerk reads."""
    names = material_names(cfg, item_code)
    out: list[dict[str, str]] = []
    for r in records:
        e = r.entry
        dept = dept_title(cfg, str(e.get("department", ""))) if e.get("department") else ""
        text = _describe(r.kind, e, dept, names)
        if text:
            out.append({"at": local_time(str(e.get("at", ""))), "text": text})
    return out


def _describe(kind: str, e: Any, dept: str, names: dict[str, str]) -> str | None:
    if kind == "case_created":
        return f"受理登记，分送{len(e.get('legs', []))}个部门办理"
    if kind == "clerk_submitted":
        return f"经办人{e.get('clerk_name', '')}提交申请"
    if kind == "clerk_supplemented":
        return f"经办人{e.get('clerk_name', '')}为{dept}补充材料"
    if kind == "town_notice_issued":
        return "乡镇已签发办结通知书"
    if kind == "leg_dispatched":
        return f"已发往{dept}"
    if kind == "supplement":
        return f"补充材料已送{dept}"
    if kind == "leg_event":
        event = str(e.get("event", ""))
        if event == "retrying":
            return f"{dept}暂时联系不上，系统自动重试"
        try:
            label = LEG_LABELS[LegState(str(e.get("to", "")))]
        except ValueError:
            return None
        text = f"{dept}：{label}"
        missing = [names.get(str(m), "其他材料") for m in e.get("missing_materials") or []]
        if missing:
            text += f"（缺：{'、'.join(missing)}）"
        return text
    return None
