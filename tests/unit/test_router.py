"""The router: one leg per department, each carrying only what that department needs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hub.cli.main import main
from hub.intake.split_legs import route
from hub.intake.validation import validate_case
from simulators.samples import sample_case
from tests.support.config import catalogue_file_with, config_copy, edit, shipped_config

VILLAGE = "513401101201"


@pytest.mark.parametrize("item_code", ["BIRTH", "DEATH", "TEKUN", "MED_ASSIST", "INSURE_BOTH"])
def test_one_leg_per_department_with_deterministic_ids(item_code: str) -> None:
    cfg = shipped_config()
    item = cfg.catalogue.get(item_code)
    assert item is not None
    case = validate_case(sample_case(cfg, item, village_code=VILLAGE, rng=random.Random(3))[0], cfg)
    legs = route(case, cfg)
    departments = item.for_situation(case.situation).departments
    assert [g.department for g in legs] == list(departments)
    assert [g.leg_id for g in legs] == [f"{case.case_id}:{d}" for d in departments]
    assert len({g.message_id for g in legs}) == len(legs)
    again = route(case, cfg)
    assert [g.leg_id for g in again] == [g.leg_id for g in legs]  # same leg, new message


def test_a_material_goes_only_to_the_departments_that_need_it() -> None:
    cfg = shipped_config()
    item = cfg.catalogue.get("TEKUN")
    assert item is not None
    new = item.for_situation("new")  # a first application goes to 民政 and 医保
    raw = {**sample_case(cfg, new, village_code=VILLAGE)[0], "situation": "new"}
    case = validate_case(raw, cfg)
    legs = {g.department: g for g in route(case, cfg)}
    civil = {a.kind for a in legs["civil_affairs"].attachments}
    medical = {a.kind for a in legs["medical_insurance"].attachments}
    assert "disability_or_age_proof" in civil
    assert "disability_or_age_proof" not in medical  # 医保 has no need of the disability proof
    assert {"id_card", "household_register"} <= medical


def test_config_check_refuses_a_material_sent_to_a_department_the_item_does_not_involve(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(catalogue_file_with(config, "departments: [civil_affairs]}"),
         "departments: [civil_affairs]}", "departments: [social_security]}")
    assert main(["config", "check", "--config", str(config)]) == 1
    assert "materials" in capsys.readouterr().out
