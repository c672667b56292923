"""The service catalogue: ``config/catalogue.yaml`` and ``config/catalogue/*.yaml`` (each a
top-level ``items:`` list; ``hub.config.catalogue_files`` merges them).

Each item is one high-frequency matter a village service room handles, named in plain language
(我要生孩子), with its life-event group and synonyms, who decides it (``decided_by``), the
departments it involves, the materials it requires, the schema of its form fields (choices are
stable codes with Chinese labels from ``config/codes``), its guide (conditions, time limit in
working days, fee, notes), flags, and optionally its situations (情形): each situation adds its
own materials and fields and may name its own departments (``CatalogueItem.for_situation``).
``check_form`` validates a case's form against the item's field schema and returns every problem
at once.
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
    choices: tuple[str, ...] = Field(default=(), description="stable codes (default: every "
                                     "code of the ``codes`` table)")
    codes: str | None = Field(default=None, description="code table under config/codes/ whose "
                              "``labels`` name each choice in Chinese")
    choice_labels: dict[str, str] = Field(default_factory=dict, description=(
        "Chinese label per choice; filled from the ``codes`` table when the catalogue is loaded"))
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(default=None, ge=1)
    pattern: str | None = None

    @model_validator(mode="after")
    def _enum_has_choices(self) -> FormField:
        if self.type == "enum" and not self.choices and not self.codes:
            raise ValueError(f"enum field {self.key!r} needs choices or a code table (codes)")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self

    def label_of(self, code: object) -> str:
        return self.choice_labels.get(str(code), str(code))


class Flags(_Model):
    in_village: bool = Field(default=True, description="can be applied for in the village")
    door_to_door: bool = Field(default=False, description="door-to-door service offered (上门办)")


class Guide(_Model):
    """What a resident reads before coming: who may apply, how long it takes, what it costs."""

    conditions: str = Field(min_length=1)
    deadline_days: int = Field(ge=0, le=365, description="time limit in working days (0: on the spot)")
    fee: str = Field(default="不收费", min_length=1)
    notes: str = Field(min_length=1)

    @property
    def time_limit(self) -> str:
        return "当场办结" if self.deadline_days == 0 else f"{self.deadline_days}个工作日"

    @property
    def fees(self) -> str:
        return self.fee


class Situation(_Model):
    """One situation (情形) of an item: what it adds, and the departments when they differ."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1, description="the plain answer a clerk picks, e.g. 遗失补领")
    materials: tuple[Material, ...] = ()
    form: tuple[FormField, ...] = ()
    departments: tuple[str, ...] = Field(default=(), description="empty: the item's departments")


# Who decides an item: the departments' systems (legs go out through adapters), the town's
# window (one leg waits for the town's reviewer and approver inside the hub: ``hub.town``), or
# the village itself.
DecidedBy = Literal["village", "town", "departments"]
TOWN = "town"  # the leg (department) name of a town-decided item: hub.domain.ids.leg_id(case, TOWN)


class CatalogueItem(_Model):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    name: str = Field(description="plain-language name, e.g. 我要生孩子")
    title: str = Field(description="the official name of the matter")
    group: str = Field(default="其他", description="life-event group, e.g. 出生, 救助, 身后事")
    synonyms: tuple[str, ...] = Field(default=(), description="what residents say, for search")
    decided_by: DecidedBy = Field(
        default="departments", description="village: finished on the spot in the village; "
        "town: decided at the town window (hub.town); departments: decided by the departments")
    departments: tuple[str, ...] = Field(default=(), description=(
        "the departments a case reaches; none for an item the town decides"))
    materials: tuple[Material, ...] = ()
    form: tuple[FormField, ...] = ()
    related: tuple[Relation, ...] = Field(default=(), description="related persons required")
    household_members: bool = Field(default=False, description=(
        "the case lists the applicant's household members (related spouse/child/parent/other)"))
    flags: Flags = Flags()
    guide: Guide
    situations: tuple[Situation, ...] = ()

    @model_validator(mode="after")
    def _deciders_and_situations(self) -> CatalogueItem:
        if self.decided_by == "town":
            if self.departments or any(s.departments for s in self.situations):
                raise ValueError(f"item {self.code!r} is decided by the town: it names no "
                                 "departments")
        elif not self.departments:
            raise ValueError(f"item {self.code!r} is decided by {self.decided_by} but names no "
                             "departments")
        codes = [s.code for s in self.situations]
        if len(codes) != len(set(codes)):
            raise ValueError(f"item {self.code}: a situation code appears twice")
        for s in self.situations:
            keys = [f.key for f in (*self.form, *s.form)]
            if len(keys) != len(set(keys)):
                raise ValueError(f"item {self.code}, situation {s.code}: a form key appears twice")
        return self

    def situation(self, code: str | None) -> Situation | None:
        return next((s for s in self.situations if s.code == code), None)

    def for_situation(self, code: str | None) -> CatalogueItem:
        """The item as a case in situation ``code`` sees it: its materials and fields added,
        its departments when it names them. Unknown or no situation: the item itself."""
        s = self.situation(code)
        if s is None:
            return self
        return self.model_copy(update={
            "materials": (*self.materials, *s.materials), "form": (*self.form, *s.form),
            "departments": s.departments or self.departments, "situations": ()})

    def all_departments(self) -> tuple[str, ...]:
        """Every department any situation of the item can reach, in order."""
        out = list(self.departments)
        for s in self.situations:
            out.extend(d for d in s.departments if d not in out)
        return tuple(out)

    @property
    def deciders(self) -> tuple[str, ...]:
        """The legs a case of this item gets: its departments, or the town's window (after
        ``for_situation``, the situation's departments)."""
        return (TOWN,) if self.decided_by == "town" else self.departments

    @property
    def deadline_days(self) -> int:
        """承诺时限 in working days from submission (0: on the spot)."""
        return self.guide.deadline_days

    def all_forms(self) -> tuple[FormField, ...]:
        return (*self.form, *(f for s in self.situations for f in s.form))


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

    def material_departments(self, item_code: str, kind: str,
                             situation: str | None = None) -> tuple[str, ...]:
        """Which of the item's departments receive a material (data minimisation)."""
        item = self.get(item_code)
        if item is None:
            return ()
        item = item.for_situation(situation)
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
        return {f.key for i in self.items for f in i.all_forms()}


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
        allowed = "、".join(f.label_of(c) for c in f.choices)
        return Problem(path, "form.choice", f"“{label}”只能是：{allowed}")
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
