"""The shipped catalogue as a village service room works from it: breadth, routing, labels,
guides, situations, and a mapping fixture for every department an item reaches."""

from __future__ import annotations

import json
from collections import defaultdict

from hub.config import mapping
from hub.config.loading import HubConfig
from hub.domain.models import Case
from tests.support.config import shipped_config
from tests.support.sims import FIXTURES


def _cfg() -> HubConfig:
    return shipped_config()


def test_breadth_items_situations_and_departments() -> None:
    cfg = _cfg()
    items = cfg.catalogue.items
    assert len(items) >= 80
    assert sum(1 for i in items if i.situations) >= 15
    assert len(cfg.departments) >= 6
    assert {"public_security", "tax", "disabled_persons_federation"} <= set(cfg.departments)
    groups = {i.group for i in items}
    assert {"出生", "上学", "就业", "参保", "缴费", "就医报销", "救助", "养老", "残疾", "住房",
            "身后事"} <= groups
    assert all(i.synonyms for i in items)


def test_every_choice_has_a_chinese_label_and_every_item_a_guide() -> None:
    for item in _cfg().catalogue.items:
        g = item.guide
        assert g.conditions and g.notes and g.fee and g.deadline_days >= 0, item.code
        for f in item.all_forms():
            for code in f.choices:
                label = f.choice_labels.get(code, "")
                assert label and not label.isascii(), (item.code, f.key, code)


def test_routing_follows_who_decides() -> None:
    cat = _cfg().catalogue
    birth, pay, pension_pay = cat.get("BIRTH"), cat.get("MED_PAY"), cat.get("PENSION_PAY")
    assert birth and pay and pension_pay
    assert set(birth.departments) == {"public_security", "medical_insurance", "social_security"}
    assert pay.departments == ("tax",) and pension_pay.departments == ("tax",)
    dibao = cat.get("DIBAO")
    assert dibao is not None and dibao.household_members
    assert {s.code for s in dibao.situations} == {"new", "annual_review", "change", "exit"}
    assert "economic_check_authorisation" in {
        m.code for m in dibao.for_situation("new").materials}
    for code in ("CHRONIC_DISEASE", "OFFSITE_FILING", "MED_TRANSFER", "PENSION_TRANSFER",
                 "MED_INFO_CHANGE", "PENSION_PAY", "SSCARD_FIRST", "SSCARD_LOSS",
                 "DISABILITY_SUBSIDY", "ORPHAN", "HOUSE_REPAIR"):
        assert cat.get(code) is not None, code
    assert {s.code for s in cat.get("ORPHAN").situations} == {"orphan", "de_facto"}  # type: ignore[union-attr]


def test_the_civil_affairs_mapping_reads_the_household() -> None:
    cfg = _cfg()
    case = Case.model_validate_json((FIXTURES / "civil_affairs" / "dibao.case.json")
                                    .read_bytes()).model_dump(mode="json")
    dept = cfg.departments["civil_affairs"]
    record = mapping.apply(dept.mapping, mapping.minimise(case, mapping.source_paths(dept.mapping)),
                           cfg.code_tables)
    assert record["JTCY"] == "10:王建国:513401195410021239;20:王小红:51340120010506122X"
    assert record["BLQX"] == cfg.code_tables["mz_situations"].entries["new"]


def test_every_department_an_item_reaches_has_a_mapping_fixture_for_it() -> None:
    cfg = _cfg()
    have: dict[str, set[str]] = defaultdict(set)
    for case in FIXTURES.glob("*/*.case.json"):
        have[case.parent.name].add(json.loads(case.read_text())["item_code"])
    missing = [f"{i.code} -> {d}" for i in cfg.catalogue.items for d in i.all_departments()
               if i.code not in have[d]]
    assert missing == []
