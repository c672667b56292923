"""The town's window: its queue of cases, and the reviewer's and approver's actions.

一审一核: the reviewer (审查员) accepts and examines in one step — 审查通过 (to the approver),
需补充材料 (ticked materials + a note: the village sees a request for more materials, the clerk's
resend brings the leg back), 不予受理 (reason required); the approver (负责人) 核准 (the decision
notice is issued: ``hub.town.notice``) or 退回 (back to the reviewer, reason required).

Guarantees:

* Leg state changes only through ``hub.tracking`` (``StatusTracker.apply``): the same state
  machine, audit entries and village feed as a department's answer.
* Every action is also a ``town_actions`` row and an audit entry naming the person and role
  (``hub trace`` shows them).
* Separation of duties: whoever took any reviewer action on a case is refused as its approver
  (403 with the reason), also when they hold both roles.
* A town sees only the cases of its own villages (pre-merger codes mapped); another town's case
  answers "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Engine, and_, insert, select

from hub.config.catalogue import TOWN
from hub.config.loading import HubConfig
from hub.domain import workdays
from hub.domain.ids import leg_id
from hub.domain.models import LegEvent, LegEventKind, LegState, new_id, utcnow
from hub.observability.masking import mask_id_number, mask_name
from hub.store import schema as t
from hub.store.base import CaseRow, Store
from hub.store.engine import guard
from hub.store.tx import WriteTx
from hub.town import towns
from hub.town.schema import town_actions
from hub.town.staff import ROLE_ZH, StaffRoles
from hub.tracking.tracker import StatusTracker

CHINA = dt.timezone(dt.timedelta(hours=8))
DUE_SOON_DAYS = 2

STAGE_ZH = {"review": "待审查", "approve": "待核准", "materials": "待村补充材料",
            "approved": "已核准", "refused": "不予受理"}
REVIEW_ACTIONS = ("reviewed", "asked_materials", "refused")
ACTION_ZH = {"reviewed": "审查通过", "asked_materials": "需补充材料", "refused": "不予受理",
             "approved": "核准", "returned": "退回"}


class DeskRefused(Exception):
    """An action the window refuses: HTTP status and the Chinese reason shown to the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Staff:
    clerk_id: str
    login: str
    name: str
    roles: StaffRoles

    @property
    def town(self) -> str:
        return self.roles.town


@dataclass(frozen=True)
class Action:
    clerk_id: str
    clerk_name: str
    role: str
    action: str
    note: str
    at: dt.datetime


@dataclass(frozen=True)
class TownCase:
    row: CaseRow
    stage: str
    actions: tuple[Action, ...]
    deadline: dt.datetime | None

    @property
    def leg_state(self) -> LegState:
        return next(g.state for g in self.row.legs if g.department == TOWN)

    def reviewed_by(self, clerk_id: str) -> bool:
        return any(a.clerk_id == clerk_id and a.action in REVIEW_ACTIONS for a in self.actions)

    def days_left(self, now: dt.datetime) -> float | None:
        return (self.deadline - now).total_seconds() / 86400 if self.deadline else None

    def urgency(self, now: dt.datetime) -> str:
        """``overdue`` / ``due_soon`` / ``ok`` for an open case; ``closed`` once decided."""
        if self.stage in ("approved", "refused"):
            return "closed"
        left = self.days_left(now)
        if left is None:
            return "ok"
        return "overdue" if left < 0 else "due_soon" if left <= DUE_SOON_DAYS else "ok"


def stage_of(state: LegState, actions: Sequence[Action]) -> str:
    if state is LegState.APPROVED:
        return "approved"
    if state in (LegState.REJECTED, LegState.FAILED):
        return "refused"
    if state is LegState.NEEDS_MATERIALS:
        return "materials"
    if state is LegState.ACCEPTED:
        last = actions[-1].action if actions else ""
        return "review" if last == "returned" else "approve"
    return "review"


class Desk:
    def __init__(self, store: Store, config: HubConfig,
                 tracker: StatusTracker | None = None) -> None:
        write = getattr(store, "_write", None)
        ro = getattr(store, "_ro", None)
        if write is None or not isinstance(ro, Engine):
            raise TypeError("the town window needs the SQL store")
        self._writer: Callable[[str], AbstractContextManager[WriteTx]] = write
        self._ro: Engine = ro
        self.store = store
        self.config = config
        self.tracker = tracker or StatusTracker(store)

    # ---- reading -----------------------------------------------------------------------------
    def _actions(self, case_ids: Sequence[str]) -> dict[str, list[Action]]:
        out: dict[str, list[Action]] = {c: [] for c in case_ids}
        if not case_ids:
            return out
        a = town_actions.c
        with guard("town_actions"), self._ro.connect() as conn:
            for r in conn.execute(select(town_actions).where(a.case_id.in_(list(case_ids)))
                                  .order_by(a.id)):
                out[r.case_id].append(Action(
                    r.clerk_id, r.clerk_name, r.role, r.action, r.note or "",
                    dt.datetime.fromtimestamp(r.at_us / 1e6, dt.UTC)))
        return out

    def _town_case(self, row: CaseRow, actions: list[Action]) -> TownCase:
        leg = next(g for g in row.legs if g.department == TOWN)
        item = self.config.catalogue.get(row.item_code)
        deadline = (workdays.deadline(row.created_at, item.deadline_days)
                    if item is not None else None)
        return TownCase(row, stage_of(leg.state, actions), tuple(actions), deadline)

    def cases(self, town: str, *, open_only: bool = False) -> list[TownCase]:
        """The town's cases, oldest first (its villages' cases with a town leg)."""
        codes = towns.codes_of(town, self.config.code_tables)
        if not codes:
            return []
        c, g = t.cases.c, t.legs.c
        q = (select(c.case_id).join(t.legs, and_(g.case_id == c.case_id, g.department == TOWN))
             .where(c.village.in_(codes)).order_by(c.created_us))
        if open_only:
            q = q.where(g.state.notin_([LegState.APPROVED.value, LegState.REJECTED.value]))
        with guard("town_cases"), self._ro.connect() as conn:
            ids = list(conn.execute(q).scalars())
        acts = self._actions(ids)
        out = []
        for cid in ids:
            row = self.store.get_case(uuid.UUID(cid))
            if row is not None:
                out.append(self._town_case(row, acts[cid]))
        return out

    def open(self, town: str, row: CaseRow | None) -> TownCase | None:
        """The case as the town sees it; None for another town's case (answer 404)."""
        if row is None or not any(g.department == TOWN for g in row.legs):
            return None
        if towns.town_of_village(row.village, self.config.code_tables) != town:
            return None
        return self._town_case(row, self._actions([str(row.case_id)])[str(row.case_id)])

    def counts(self, now: dt.datetime | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        """Open and overdue town cases by (town, item): the gauges' source (one query)."""
        now = now or dt.datetime.now(dt.UTC)
        c, g = t.cases.c, t.legs.c
        q = (select(c.village, c.item_code, c.created_us)
             .join(t.legs, and_(g.case_id == c.case_id, g.department == TOWN))
             .where(g.state.notin_([LegState.APPROVED.value, LegState.REJECTED.value,
                                    LegState.FAILED.value])))
        with guard("town_counts"), self._ro.connect() as conn:
            rows = conn.execute(q).all()
        out: dict[tuple[str, str], list[int]] = {}
        for village, item_code, created_us in rows:
            town = towns.town_of_village(village, self.config.code_tables) or "other"
            item = self.config.catalogue.get(item_code)
            acc = out.setdefault((town, item_code), [0, 0])
            acc[0] += 1
            created = dt.datetime.fromtimestamp(created_us / 1e6, dt.UTC)
            if item is not None and now > workdays.deadline(created, item.deadline_days):
                acc[1] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}

    # ---- acting ------------------------------------------------------------------------------
    def _need(self, staff: Staff, role: str, case: TownCase, stage: str) -> None:
        if role not in staff.roles.roles:
            raise DeskRefused(403, f"您没有{ROLE_ZH[role]}权限，不能办理这一步")
        if case.stage != stage:
            raise DeskRefused(409, f"案件当前为“{STAGE_ZH[case.stage]}”，不能办理这一步，请刷新页面")

    def _event(self, case: TownCase, kind: LegEventKind, *, detail: str | None = None,
               receipt: str | None = None, missing: Sequence[str] = ()) -> None:
        event = LegEvent(event_id=new_id(), case_id=case.row.case_id,
                         leg_id=leg_id(case.row.case_id, TOWN), department=TOWN, kind=kind,
                         receipt=receipt, detail=detail, missing_materials=list(missing),
                         at=utcnow())
        result = self.tracker.apply(event)
        if not result.applied:
            raise DeskRefused(409, "案件状态已变化，请刷新页面后再办理")

    def _record(self, staff: Staff, case: TownCase, role: str, action: str, note: str,
                extra: dict[str, object] | None = None) -> None:
        cid = str(case.row.case_id)
        with self._writer("town_action") as tx:
            tx.conn.execute(insert(town_actions).values(
                case_id=cid, town=staff.town, clerk_id=staff.clerk_id, clerk_name=staff.name,
                role=role, action=action, note=note or None, at_us=tx.now_us))
            tx.audit(f"town_{action}", cid, {
                "staff_id": staff.clerk_id, "staff_login": staff.login,
                "staff_name": staff.name, "role": role, "town": staff.town,
                "note": note, **(extra or {})})

    def review_pass(self, staff: Staff, case: TownCase, note: str = "") -> None:
        self._need(staff, "reviewer", case, "review")
        if case.leg_state is not LegState.ACCEPTED:  # after 退回 the leg is accepted already
            self._event(case, LegEventKind.ACCEPTED, detail="乡镇审查通过，待负责人核准")
        self._record(staff, case, "reviewer", "reviewed", note[:500])

    def ask_materials(self, staff: Staff, case: TownCase, materials: Sequence[str],
                      note: str) -> None:
        self._need(staff, "reviewer", case, "review")
        item = self.config.catalogue.get(case.row.item_code)
        known = {m.code for m in item.materials} if item else set()
        wanted = sorted({m for m in materials if m in known})
        if not wanted:
            raise DeskRefused(422, "请勾选需要补充的材料")
        if not note.strip():
            raise DeskRefused(422, "请写明需要补充的原因或要求")
        self._event(case, LegEventKind.NEEDS_MATERIALS, detail=note.strip()[:500],
                    missing=wanted)
        self._record(staff, case, "reviewer", "asked_materials", note.strip()[:500],
                     {"materials": wanted})

    def refuse(self, staff: Staff, case: TownCase, reason: str) -> None:
        self._need(staff, "reviewer", case, "review")
        if not reason.strip():
            raise DeskRefused(422, "请填写不予受理的理由")
        self._event(case, LegEventKind.REJECTED, detail=f"不予受理：{reason.strip()[:480]}")
        self._record(staff, case, "reviewer", "refused", reason.strip()[:500])

    def check_can_approve(self, staff: Staff, case: TownCase) -> None:
        self._need(staff, "approver", case, "approve")
        if case.reviewed_by(staff.clerk_id):
            raise DeskRefused(403, "您审查过这个案件。按照“一审一核”的规定，审查人不能核准自己"
                                   "审查的案件，请由另一位负责人核准。")

    def return_to_reviewer(self, staff: Staff, case: TownCase, reason: str) -> None:
        self._need(staff, "approver", case, "approve")
        if not reason.strip():
            raise DeskRefused(422, "请填写退回的理由")
        self._record(staff, case, "approver", "returned", reason.strip()[:500])

    def approve(self, staff: Staff, case: TownCase, serial: str, note: str = "") -> None:
        """The leg's approval (after the notice ``serial`` was issued: ``hub.town.issue``)."""
        self.check_can_approve(staff, case)
        self._event(case, LegEventKind.APPROVED, receipt=serial,
                    detail="乡镇已核准，办结通知书已签发")
        self._record(staff, case, "approver", "approved", note[:500], {"serial": serial})

    # ---- what a page shows -------------------------------------------------------------------
    def facts_of(self, case: TownCase) -> dict[str, str]:
        row = case.row
        item = self.config.catalogue.get(row.item_code)
        tables = self.config.code_tables
        return {"item_name": item.name if item else "其他事项",
                "item_title": item.title if item else "其他事项",
                "village": towns.village_name(row.village, tables),
                "applicant": mask_name(row.case.applicant.name),
                "id_masked": mask_id_number(row.case.applicant.id_number),
                "form": json.dumps(row.case.form, ensure_ascii=False)}
