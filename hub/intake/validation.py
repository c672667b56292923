"""Validation of a submitted case: every problem at once, each with a stable code.

``validate_case(raw, cfg)`` checks, in one pass, the schema (pydantic), the GB 11643 check
character of every ID number, phone formats, the item's catalogue rules (form fields, required
materials, related persons) and region codes (post-merger village codes; a pre-merger code is
mapped to its post-merger village). It returns the normalised ``Case`` or raises
``CaseRejected`` with a list of ``Problem(path, code, message)``; messages are for clerks (zh-CN).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from hub.config.catalogue import CatalogueItem, check_form
from hub.config.codetables import current_village
from hub.config.files import nearest
from hub.config.loading import HubConfig
from hub.domain.errors import CaseRejected, Problem
from hub.domain.models import Case

_GENERIC: dict[str, tuple[str, str]] = {
    "missing": ("field.missing", "缺少必填项"),
    "extra_forbidden": ("field.unknown", "不认识的字段，请检查拼写"),
    "string_too_short": ("field.empty", "不能为空"),
    "string_too_long": ("field.too_long", "内容过长"),
    "too_long": ("field.too_many", "数量超过上限"),
    "string_pattern_mismatch": ("field.format", "格式不正确"),
    "uuid_parsing": ("field.format", "编号格式不正确（应为UUID）"),
    "uuid_type": ("field.format", "编号格式不正确（应为UUID）"),
    "literal_error": ("field.choice", "取值不在允许范围内"),
    "enum": ("field.choice", "取值不在允许范围内"),
    "greater_than_equal": ("field.range", "数值超出允许范围"),
    "model_type": ("field.type", "应为对象"),
    "dict_type": ("field.type", "应为对象"),
    "list_type": ("field.type", "应为列表"),
    "datetime_from_date_parsing": ("timestamp.format", "时间格式不正确"),
    "datetime_parsing": ("timestamp.format", "时间格式不正确（如 2024-05-01T09:30:00+08:00）"),
    "datetime_type": ("timestamp.format", "时间格式不正确"),
    "date_from_datetime_parsing": ("date.format", "日期格式不正确（如 2024-05-01）"),
    "date_parsing": ("date.format", "日期格式不正确（如 2024-05-01）"),
}


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(body)"


def schema_problems(exc: ValidationError) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors():
        kind = str(err["type"])
        path = _path(tuple(err["loc"]))
        if "." in kind:  # our own PydanticCustomError codes: already stable and in Chinese
            out.append(Problem(path, kind, str(err["msg"])))
        elif path == "schema_version" and kind == "literal_error":
            out.append(Problem(path, "schema_version.unsupported", "不支持的数据格式版本"))
        elif kind in _GENERIC:
            code, msg = _GENERIC[kind]
            out.append(Problem(path, code, msg))
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            out.append(Problem(path, "field.type", "类型不正确"))
        else:
            out.append(Problem(path, "field.invalid", "内容无效"))
    return out


def _item_problems(item: CatalogueItem, raw: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    form = raw.get("form", {})
    if isinstance(form, Mapping):
        problems.extend(check_form(item, form))
    attachments = raw.get("attachments", [])
    kinds: set[str] = set()
    if isinstance(attachments, list):
        for i, a in enumerate(attachments):
            if isinstance(a, Mapping) and isinstance(a.get("kind"), str):
                kind = a["kind"]
                kinds.add(kind)
                if kind not in {m.code for m in item.materials}:
                    problems.append(Problem(f"attachments.{i}.kind", "materials.unknown",
                                            f"事项“{item.name}”不需要材料“{kind}”"))
    missing = [m for m in item.materials if m.required and m.code not in kinds]
    if missing:
        names = "、".join(m.name for m in missing)
        problems.append(Problem("attachments", "materials.missing", f"缺少材料：{names}"))
    related = raw.get("related", [])
    relations = {r.get("relation") for r in related if isinstance(r, Mapping)} if isinstance(
        related, list) else set()
    if item.household_members and not relations & {"spouse", "child", "parent", "other"}:
        problems.append(Problem("related", "related.household_missing",
                                f"事项“{item.name}”需要逐一填写家庭成员（配偶、子女、父母等）"))
    for rel in item.related:
        if rel.value not in relations:
            problems.append(Problem("related", "related.missing",
                                    f"事项“{item.name}”需要填写相关人员：{_RELATION_ZH[rel.value]}"))
    return problems


def _situation(item: CatalogueItem, chosen: object, problems: list[Problem]) -> CatalogueItem:
    """The item as the chosen situation (情形) shapes it; a missing or unknown one is a problem."""
    if not item.situations:
        if chosen is not None:
            problems.append(Problem("situation", "situation.unknown",
                                    f"事项“{item.name}”不分情形，请不要填写情形"))
        return item
    names = "、".join(s.name for s in item.situations)
    if chosen is None:
        problems.append(Problem("situation", "situation.missing",
                                f"请选择办理情形：{names}"))
        return item
    found = item.situation(chosen) if isinstance(chosen, str) else None
    if found is None:
        problems.append(Problem("situation", "situation.unknown",
                                f"事项“{item.name}”没有这个情形，只能是：{names}"))
        return item
    return item.for_situation(found.code)


_RELATION_ZH = {"newborn": "新生儿", "spouse": "配偶", "deceased": "逝者", "child": "子女",
                "parent": "父母", "other": "其他"}


def _region(raw: Mapping[str, Any], cfg: HubConfig, problems: list[Problem]) -> dict[str, str]:
    """Map region codes to post-merger codes; record unknown ones. Returns path -> new code."""
    updates: dict[str, str] = {}
    for section, key in (("applicant", "region_code"), ("origin", "village_code")):
        part = raw.get(section)
        code = part.get(key) if isinstance(part, Mapping) else None
        if not isinstance(code, str) or len(code) != 12 or not code.isdigit():
            continue  # the schema check reports format problems
        current = current_village(code, cfg.code_tables)
        if current is None:
            villages = cfg.code_tables.get("villages")
            near = nearest(code, villages.entries) if villages else None
            hint = f"（是否为 {near}？）" if near else ""
            problems.append(Problem(f"{section}.{key}", "region.unknown",
                                    f"行政区划代码 {code} 不在本系统服务范围内{hint}"))
        elif current != code:
            updates[f"{section}.{key}"] = current
    return updates


def validate_case(raw: object, cfg: HubConfig) -> Case:
    if not isinstance(raw, Mapping):
        raise CaseRejected([Problem("(body)", "body.type", "提交内容应为JSON对象")])
    problems: list[Problem] = []
    case: Case | None = None
    try:
        case = Case.model_validate(raw)
    except ValidationError as exc:
        problems.extend(schema_problems(exc))
    item_code = raw.get("item_code")
    if isinstance(item_code, str):
        item = cfg.catalogue.get(item_code)
        if item is None:
            near = nearest(item_code, cfg.catalogue.by_code)
            hint = f"（是否为 {near}？）" if near else ""
            problems.append(Problem("item_code", "item.unknown", f"未知的事项编码 {item_code}{hint}"))
        else:
            scoped = _situation(item, raw.get("situation"), problems)
            problems.extend(_item_problems(scoped, raw))
    updates = _region(raw, cfg, problems)
    if problems or case is None:
        raise CaseRejected(_dedupe(problems))
    if updates:
        applicant = case.applicant
        origin = case.origin
        if "applicant.region_code" in updates:
            applicant = applicant.model_copy(update={"region_code": updates["applicant.region_code"]})
        if "origin.village_code" in updates:
            origin = origin.model_copy(update={"village_code": updates["origin.village_code"]})
        case = case.model_copy(update={"applicant": applicant, "origin": origin})
    return case


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out: list[Problem] = []
    for p in problems:
        if (p.path, p.code) not in seen:
            seen.add((p.path, p.code))
            out.append(p)
    return out
