"""Situations (情形): the case names one; validation, routing and mapping follow it."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hub.config import mapping
from hub.domain.errors import CaseRejected
from hub.intake.split_legs import route
from hub.intake.validation import validate_case
from simulators.samples import sample_case
from tests.support.config import shipped_config

VILLAGE = "513401101201"
CFG = shipped_config()


def _case(code: str, situation: str | None) -> dict[str, Any]:
    item = CFG.catalogue.get(code)
    assert item is not None
    body = sample_case(CFG, item.for_situation(situation), village_code=VILLAGE,
                       rng=random.Random(5))[0]
    body.pop("situation", None)
    return {**body, **({"situation": situation} if situation else {})}


def _codes(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(CaseRejected) as exc:
        validate_case(raw, CFG)
    return {p.path: p.code for p in exc.value.problems}


def test_an_item_with_situations_needs_one_of_them() -> None:
    raw = _case("SSCARD_REPLACE", "lost")
    assert validate_case(raw, CFG).situation == "lost"
    assert _codes({**raw, "situation": "stolen"}) == {"situation": "situation.unknown"}
    missing = dict(raw)
    del missing["situation"]
    codes = _codes(missing)
    assert codes["situation"] == "situation.missing"
    assert _codes({**_case("MED_ENROLL", None), "situation": "lost"}) == {
        "situation": "situation.unknown"}  # an item without situations takes none


def test_materials_and_fields_follow_the_situation() -> None:
    # a damaged card must be handed in; a lost one cannot be
    damaged = _case("SSCARD_REPLACE", "lost") | {"situation": "damaged"}
    assert _codes(damaged) == {"attachments": "materials.missing"}
    change = _case("DIBAO", "annual_review") | {"situation": "exit"}
    codes = _codes(change)  # 退出 asks for the reason and no household income
    assert codes.get("form.change_detail") == "form.missing"
    assert codes.get("form.household_size") == "form.unknown"


def test_routing_and_mapping_follow_the_situation() -> None:
    new = validate_case(_case("TEKUN", "new"), CFG)
    review = validate_case(_case("TEKUN", "annual_review"), CFG)
    assert [g.department for g in route(new, CFG)] == ["civil_affairs", "medical_insurance"]
    assert [g.department for g in route(review, CFG)] == ["civil_affairs"]
    care = validate_case(_case("DISABILITY_SUBSIDY", "care"), CFG)
    assert [g.department for g in route(care, CFG)] == ["disabled_persons_federation"]
    leg = route(review, CFG)[0]
    dept = CFG.departments["civil_affairs"]
    record = mapping.apply(dept.mapping, leg.payload, CFG.code_tables)
    assert record["BLQX"] == CFG.code_tables["mz_situations"].entries["annual_review"]
