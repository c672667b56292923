"""Case routes: submit, read one, list the village's cases, answer a request for materials.

``POST /v1/cases`` is idempotent on the terminal-chosen case id: the same body answers the same
result again (202), a different body 409. Nothing is stored unless every check passed; case,
legs and outbox rows are then written in one store transaction, shared with the other cases
arriving at the same moment (group commit, ``hub.intake.group_commit``): the answer is sent only once
that transaction committed. The case must name the authenticated terminal in
``origin.terminal_id`` (the audit log records it). An attachment claimed by another case
meanwhile is decided inside that transaction (``hub.store.claims``): 422 ``attachment.in_use``.

A supplement answers a leg waiting for materials: its form may carry only the fields the
department asked for, each checked like a case's (``catalogue.check_supplement_form``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hub.config.catalogue import check_supplement_form
from hub.domain.errors import CaseRejected, Problem
from hub.domain.leg_states import CaseStatus
from hub.domain.models import AttachmentRef, Case, LegState
from hub.intake import split_legs as case_router
from hub.intake.api.auth import context, current_terminal
from hub.intake.api.checks import attachment_problems
from hub.intake.api.context import ApiContext
from hub.intake.api.errors import ApiError
from hub.intake.api.limits import read_json
from hub.intake.api.views import case_view
from hub.intake.api.wire import Supplement as SupplementIn
from hub.intake.validation import schema_problems, validate_case
from hub.observability import metrics
from hub.store.base import CaseRow, Terminal

routes = APIRouter(prefix="/v1")
TerminalDep = Annotated[Terminal, Depends(current_terminal)]

NOT_FOUND = ApiError.one(404, "case.not_found", "案件不存在", "case_id")
NOT_WAITING = ApiError.one(409, "leg.not_waiting", "该部门当前没有要求补充材料", "department")


def in_use(refs: Sequence[AttachmentRef], ids: Sequence[str]) -> ApiError:
    return ApiError(422, [Problem(f"attachments.{i}.id", "attachment.in_use", "该附件已用于其他案件")
                          for i, ref in enumerate(refs) if ref.id in ids])


def body_hash(case: Case) -> str:
    return hashlib.sha256(case.model_dump_json().encode("utf-8")).hexdigest()


def _accept(ctx: ApiContext, terminal: Terminal, raw: object) -> JSONResponse:
    try:
        case = validate_case(raw, ctx.config)
    except CaseRejected as exc:
        item = raw.get("item_code") if isinstance(raw, dict) else None
        metrics.case_received(item if isinstance(item, str) else "other", "rejected")
        raise ApiError(422, exc.problems) from None
    problems: list[Problem] = []
    if case.origin.terminal_id != terminal.id:  # the audit log names who really sent it
        problems.append(Problem("origin.terminal_id", "origin.terminal",
                                "案件中的终端编号与本终端的凭证不一致"))
    if case.origin.village_code != terminal.village:
        problems.append(Problem("origin.village_code", "origin.village",
                                "案件所属村与本终端所属村不一致"))
    if len(case.attachments) > ctx.settings.max_attachments_per_case:
        problems.append(Problem("attachments", "attachments.too_many",
                                f"附件数量超过上限（{ctx.settings.max_attachments_per_case}）"))
    else:
        problems += attachment_problems(ctx.store, case.attachments, village=terminal.village,
                                        case_id=case.case_id)
    if problems:
        raise ApiError(422, problems)
    legs = case_router.route(case, ctx.config)
    # Group commit: blocks this request thread until the batch holding the case committed.
    result = ctx.intake().submit(case, legs, body_hash(case))
    metrics.case_received(case.item_code, "rejected" if result.conflict else
                          "accepted" if result.created else "duplicate")
    if result.conflict:
        raise ApiError.one(409, "case.conflict", "该案件编号已提交过不同的内容", "case_id")
    if result.in_use:  # another case claimed an attachment after our check: it owns it
        raise in_use(case.attachments, result.in_use)
    assert result.status is not None
    return JSONResponse({"case_id": str(case.case_id), "tracking_code": result.tracking_code,
                         "status": result.status.value, "status_label": result.status.label,
                         "created": result.created}, status_code=202)


@routes.post("/cases", status_code=202)  # bodies documented by hub.intake.api.openapi
async def submit_case(request: Request, terminal: TerminalDep) -> JSONResponse:
    ctx = context(request)
    raw = await read_json(request, ctx.settings.max_body_bytes)
    return await run_in_threadpool(_accept, ctx, terminal, raw)


def _own_case(ctx: ApiContext, terminal: Terminal, case_id: uuid.UUID) -> CaseRow:
    row = ctx.store.get_case(case_id)
    if row is None or row.village != terminal.village:
        raise NOT_FOUND
    return row


@routes.get("/cases/{case_id}")
def get_case(case_id: uuid.UUID, request: Request, terminal: TerminalDep) -> dict[str, Any]:
    ctx = context(request)
    return case_view(_own_case(ctx, terminal, case_id), ctx.config)


@routes.get("/cases")
def list_cases(request: Request, terminal: TerminalDep,
               status: CaseStatus | None = None, since: dt.datetime | None = None,
               cursor: Annotated[str | None, Query(max_length=256)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    ctx = context(request)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    try:
        page = ctx.store.list_cases(terminal.village, status=status, since=since, cursor=cursor,
                                    limit=limit)
    except ValueError:
        raise ApiError.one(422, "cursor.invalid", "分页游标无效", "cursor") from None
    return {"items": [case_view(r, ctx.config) for r in page.items],
            "next_cursor": page.next_cursor}


def _supplement(ctx: ApiContext, terminal: Terminal, case_id: uuid.UUID,
                raw: object) -> JSONResponse:
    row = _own_case(ctx, terminal, case_id)
    try:
        body = SupplementIn.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(422, schema_problems(exc)) from None
    if not body.attachments and not body.form:
        raise ApiError.one(422, "supplement.empty", "请至少补充一份材料或一项信息", "(body)")
    leg = next((g for g in row.legs if g.department == body.department), None)
    if leg is None:
        raise ApiError.one(422, "department.unknown", "该案件不涉及此部门", "department")
    if leg.state is not LegState.NEEDS_MATERIALS:
        raise NOT_WAITING
    item = ctx.config.catalogue.get(row.item_code)
    if item is not None:  # an item removed from the catalogue since: nothing left to check
        item = item.for_situation(row.case.situation)
        materials = {m.code for m in item.materials}
        problems = check_supplement_form(item, body.form, leg.missing_materials)
        problems += [Problem(f"attachments.{i}.kind", "materials.unknown",
                             f"事项“{item.name}”不需要这种材料")
                     for i, a in enumerate(body.attachments) if a.kind not in materials]
        if problems:
            raise ApiError(422, problems)
    total = len(row.case.attachments) + len(body.attachments)
    if total > ctx.settings.max_attachments_per_case:
        raise ApiError.one(422, "attachments.too_many",
                           f"附件数量超过上限（{ctx.settings.max_attachments_per_case}）",
                           "attachments")
    problems = attachment_problems(ctx.store, body.attachments, village=terminal.village,
                                   case_id=case_id)
    if problems:
        raise ApiError(422, problems)
    message = case_router.supplement(row.case, body.department, body.attachments, body.form,
                                     ctx.config)
    result = ctx.legs().supplement(case_id, body.department, message)
    if result.in_use:
        raise in_use(body.attachments, result.in_use)
    if not result.applied:
        raise NOT_WAITING
    fresh = _own_case(ctx, terminal, case_id)
    return JSONResponse({"case_id": str(case_id), "department": body.department,
                         "state": result.leg_state.value if result.leg_state else None,
                         "status": fresh.status.value, "status_label": fresh.status.label},
                        status_code=202)


@routes.post("/cases/{case_id}/supplements", status_code=202)
async def add_supplement(case_id: uuid.UUID, request: Request,
                         terminal: TerminalDep) -> JSONResponse:
    ctx = context(request)
    raw = await read_json(request, ctx.settings.max_body_bytes)
    return await run_in_threadpool(_supplement, ctx, terminal, case_id, raw)
