"""The service catalogue and form-field validation against each item's schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config.catalogue import CatalogueItem, FormField, Guide, check_form
from tests.support.config import shipped_config


def test_catalogue_has_realistic_breadth() -> None:
    cfg = shipped_config()
    items = cfg.catalogue.items
    assert len(items) >= 12
    assert sum(1 for i in items if len(i.departments) >= 2) >= 4
    assert {d for i in items for d in i.all_departments()} == set(cfg.departments)
    assert all(i.name.startswith("我") for i in items)  # plain-language names: 我要…


def _item(*fields: FormField) -> CatalogueItem:
    return CatalogueItem(code="T", name="我要测试", title="测试", departments=("x",), form=fields,
                         guide=Guide(conditions="本村居民", deadline_days=1, notes="无"))


AGE = FormField(key="age", label="年龄", type="int", min=0, max=150)
DAY = FormField(key="day", label="日期", type="date")
KIND = FormField(key="kind", label="类型", type="enum", choices=("a", "b"),
                 choice_labels={"a": "甲", "b": "乙"})
NOTE = FormField(key="note", label="备注", type="string", max_length=5, required=False)
ITEM = _item(AGE, DAY, KIND, NOTE)


@settings(max_examples=200, deadline=None)
@given(st.integers(-1000, 1000))
def test_int_fields_accept_exactly_their_range(age: int) -> None:
    problems = check_form(ITEM, {"age": age, "day": "2024-01-01", "kind": "a"})
    assert (problems == []) == (0 <= age <= 150)
    if problems:
        assert problems[0].code == "form.range"


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1900, 1, 1)) | st.text(max_size=12))
def test_date_fields_accept_only_iso_dates(value: Any) -> None:
    text = value.isoformat() if isinstance(value, dt.date) else value
    problems = check_form(ITEM, {"age": 1, "day": text, "kind": "b"})
    try:
        dt.date.fromisoformat(text)
        valid = True
    except ValueError:
        valid = False
    assert (problems == []) == valid


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["age", "day", "kind", "note", "other"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=8), st.booleans())))
def test_every_problem_is_reported_and_never_an_exception(form: dict[str, Any]) -> None:
    problems = check_form(ITEM, form)
    paths = [p.path for p in problems]
    assert len(paths) == len(set(paths))  # one problem per field
    for key in ("age", "day", "kind"):
        if form.get(key) is None:
            assert f"form.{key}" in paths
    if "other" in form:
        assert any(p.code == "form.unknown" for p in problems)
    assert all(p.message for p in problems)


def test_bool_is_not_a_number_and_choices_are_enforced() -> None:
    problems = check_form(ITEM, {"age": True, "day": "2024-01-01", "kind": "z", "note": "太长了的备注"})
    assert {(p.path, p.code) for p in problems} == {
        ("form.age", "form.type"), ("form.kind", "form.choice"), ("form.note", "form.too_long")}
