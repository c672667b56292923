"""The service catalogue: ``config/catalogue.yaml`` (a top-level ``items:`` list).

Each item is one high-frequency matter a village service room handles, named in plain language
(我要生孩子), with the departments it involves, the materials it requires, the schema of its
form fields and flags. ``check_form`` validates a case's form against the item's field schema
and returns every problem at once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.config.files import did_you_mean
from hub.domain.errors import Problem
from hub.domain.models import Relation


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Material(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    required: bool = True
    departments: tuple[str, ...] = Field(
        default=(), description="departments that receive this material (empty: all of the item's)")


class FormField(_Model):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: Literal["string", "int", "number", "bool", "date", "enum"]
    required: bool = True
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(default=None, ge=1)
    pattern: str | None = None

    @model_validator(mode="after")
    def _enum_has_choices(self) -> FormField:
        if self.type == "enum" and not self.choices:
            raise ValueError(f"enum field {self.key!r} needs choices")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self


class Flags(_Model):
    in_village: bool = Field(default=True, description="can be completed in the village")
    door_to_door: bool = Field(default=False, description="door-to-door service offered")


class Guide(_Model):
    """The guide a clerk and a resident read (the pages fall back to ``hub.web.labels``)."""

    conditions: str = ""
    time_limit: str = ""
    fees: str = ""
    notes: str = ""


# Who decides an item: the departments' systems (legs go out through adapters), the town's
# window (one leg waits for the town's reviewer and approver inside the hub: ``hub.town``), or
# the village itself.
DecidedBy = Literal["village", "town", "departments"]
TOWN = "town"  # the leg (department) name of a town-decided item: hub.domain.ids.leg_id(case, TOWN)


class CatalogueItem(_Model):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    name: str = Field(description="plain-language name, e.g. 我要生孩子")
    title: str = Field(description="the official name of the matter")
    decided_by: DecidedBy = "departments"
    departments: tuple[str, ...] = ()
    materials: tuple[Material, ...] = ()
    form: tuple[FormField, ...] = ()
    related: tuple[Relation, ...] = Field(default=(), description="related persons required")
    flags: Flags = Flags()
    deadline_days: int | None = Field(default=None, ge=1, le=365,
                                      description="承诺时限 in calendar days from submission")
    guide: Guide | None = None

    @model_validator(mode="after")
    def _deciders(self) -> CatalogueItem:
        if self.decided_by == "departments" and not self.departments:
            raise ValueError(f"item {self.code!r} is decided by departments but names none")
        if self.decided_by == "town" and self.departments:
            raise ValueError(f"item {self.code!r} is decided by the town: it names no departments")
        return self

    @property
    def deciders(self) -> tuple[str, ...]:
        """The legs a case of this item gets: its departments, or the town's window."""
        return (TOWN,) if self.decided_by == "town" else self.departments


class Catalogue(_Model):
    items: tuple[CatalogueItem, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> Catalogue:
        seen: set[str] = set()
        for item in self.items:
            if item.code in seen:
                raise ValueError(f"item code {item.code!r} appears twice")
            seen.add(item.code)
        return self

    def material_departments(self, item_code: str, kind: str) -> tuple[str, ...]:
        """Which of the item's departments receive a material (data minimisation)."""
        item = self.get(item_code)
        if item is None:
            return ()
        for m in item.materials:
            if m.code == kind:
                return m.departments or item.deciders
        return item.deciders

    def get(self, code: str) -> CatalogueItem | None:
        for item in self.items:
            if item.code == code:
                return item
        return None

    @property
    def by_code(self) -> dict[str, CatalogueItem]:
        return {i.code: i for i in self.items}

    def form_keys(self) -> set[str]:
        return {f.key for i in self.items for f in i.form}


def _check_value(f: FormField, value: Any, path: str) -> Problem | None:
    label = f.label
    if f.type == "string":
        if not isinstance(value, str):
            return Problem(path, "form.type", f"“{label}”应为文字")
        if f.max_length is not None and len(value) > f.max_length:
            return Problem(path, "form.too_long", f"“{label}”不能超过{f.max_length}个字")
        if f.pattern is not None and not re.fullmatch(f.pattern, value):
            return Problem(path, "form.format", f"“{label}”格式不正确")
        if not value.strip():
            return Problem(path, "form.missing", f"请填写“{label}”")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            return Problem(path, "form.control_char", f"“{label}”含有不可见的控制字符")
        return None
    if f.type in ("int", "number"):
        ok = isinstance(value, int) if f.type == "int" else isinstance(value, int | float)
        if not ok or isinstance(value, bool):
            return Problem(path, "form.type", f"“{label}”应为数字")
        if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
            return Problem(path, "form.range", f"“{label}”超出允许范围（{f.min}～{f.max}）")
        return None
    if f.type == "bool":
        if not isinstance(value, bool):
            return Problem(path, "form.type", f"“{label}”应选择是或否")
        return None
    if f.type == "date":
        if not isinstance(value, str):
            return Problem(path, "form.type", f"“{label}”应为日期（如 2024-05-01）")
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return Problem(path, "form.date", f"“{label}”不是有效日期（如 2024-05-01）")
        return None
    if value not in f.choices:
        return Problem(path, "form.choice", f"“{label}”只能是：{'、'.join(f.choices)}")
    return None


def check_form(item: CatalogueItem, form: Mapping[str, Any]) -> list[Problem]:
    """Every problem of ``form`` against the item's field schema."""
    problems: list[Problem] = []
    known = {f.key: f for f in item.form}
    for key in form:
        if key not in known:
            problems.append(Problem(f"form.{key}", "form.unknown",
                                    f"事项“{item.name}”没有表单项“{key}”"
                                    f"{did_you_mean(key, known)}"))
    for f in item.form:
        value = form.get(f.key)
        if value is None:
            if f.required:
                problems.append(Problem(f"form.{f.key}", "form.missing", f"请填写“{f.label}”"))
            continue
        found = _check_value(f, value, f"form.{f.key}")
        if found:
            problems.append(found)
    return problems


def check_supplement_form(item: CatalogueItem, form: Mapping[str, Any],
                          asked: Collection[str]) -> list[Problem]:
    """Every problem of a supplement's ``form``: only fields of the item that the department
    asked for (``asked``: the codes of its request), each value checked as in a case."""
    problems: list[Problem] = []
    known = {f.key: f for f in item.form}
    for key, value in form.items():
        path = f"form.{key[:64]}"
        f = known.get(key)
        if f is None or key not in asked:
            what = f"“{f.label}”" if f else "这一项"
            problems.append(Problem(path, "form.not_requested", f"部门没有要求补充{what}"))
        elif value is None:
            problems.append(Problem(path, "form.missing", f"请填写“{f.label}”"))
        elif (found := _check_value(f, value, path)) is not None:
            problems.append(found)
    return problems
