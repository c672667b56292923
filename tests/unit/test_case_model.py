"""The unified case: JSON round trip, published schema, and every problem at once."""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.cli.schema_cmd import SCHEMAS, schema_json
from hub.config.loading import HubConfig
from hub.domain import idcard
from hub.domain.errors import CaseRejected
from hub.domain.models import Case
from hub.intake.validation import validate_case
from simulators.samples import sample_case
from tests.support.config import CONFIG_DIR, shipped_config

VILLAGE = "513401101201"


@pytest.fixture(scope="module")
def cfg() -> HubConfig:
    return shipped_config()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_json_schema_matches_the_code(name: str) -> None:
    committed = (CONFIG_DIR / "schema" / f"{name}.schema.json").read_text(encoding="utf-8")
    assert committed == schema_json(name), (
        f"config/schema/{name}.schema.json drifted: run `hub schema {name} > "
        f"config/schema/{name}.schema.json` and commit it")


def test_a_sample_of_every_item_validates(cfg: HubConfig) -> None:
    rng = random.Random(7)
    for item in cfg.catalogue.items:
        raw, _ = sample_case(cfg, item, village_code=VILLAGE, rng=rng)
        case = validate_case(raw, cfg)
        assert case.item_code == item.code


@functools.cache
def _shared_config() -> HubConfig:
    return shipped_config()  # loaded once: 60 examples need not parse 83 items 60 times


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), item_index=st.integers(0, 82))
def test_json_round_trip_is_lossless(seed: int, item_index: int) -> None:
    cfg = _shared_config()
    item = cfg.catalogue.items[item_index % len(cfg.catalogue.items)]
    raw, _ = sample_case(cfg, item, village_code=VILLAGE, rng=random.Random(seed))
    case = Case.model_validate(raw)
    again = Case.model_validate_json(case.model_dump_json())
    assert again == case
    assert json.loads(again.model_dump_json()) == json.loads(case.model_dump_json())


def _broken(cfg: HubConfig) -> dict[str, object]:
    item = cfg.catalogue.get("BIRTH")
    assert item is not None
    raw, _ = sample_case(cfg, item, village_code=VILLAGE, rng=random.Random(1))
    good_id = raw["applicant"]["id_number"]  # type: ignore[index]
    raw["applicant"]["id_number"] = good_id[:17] + ("0" if good_id[17] != "0" else "1")  # type: ignore[index]
    raw["applicant"]["region_code"] = "513401999999"  # type: ignore[index]
    raw["attachments"] = [a for a in raw["attachments"] if a["kind"] != "birth_certificate"]  # type: ignore[attr-defined]
    raw["form"]["birth_date"] = "2024-02-30"  # type: ignore[index]
    raw["unexpected"] = 1
    return raw


def test_every_problem_is_reported_at_once_with_stable_codes(cfg: HubConfig) -> None:
    with pytest.raises(CaseRejected) as err:
        validate_case(_broken(cfg), cfg)
    codes = {(p.path, p.code) for p in err.value.problems}
    assert ("applicant.id_number", "id_number.checksum") in codes
    assert ("applicant.region_code", "region.unknown") in codes
    assert ("attachments", "materials.missing") in codes
    assert ("form.birth_date", "form.date") in codes
    assert ("unexpected", "field.unknown") in codes
    missing = next(p for p in err.value.problems if p.code == "materials.missing")
    assert "出生医学证明" in missing.message  # a clerk can read what to bring


def test_unknown_item_suggests_the_nearest(cfg: HubConfig) -> None:
    raw, _ = sample_case(cfg, cfg.catalogue.items[0], village_code=VILLAGE)
    raw["item_code"] = "BIRHT"
    with pytest.raises(CaseRejected) as err:
        validate_case(raw, cfg)
    p = next(p for p in err.value.problems if p.code == "item.unknown")
    assert "BIRTH" in p.message


def test_pre_merger_village_code_is_mapped_to_the_current_village(cfg: HubConfig) -> None:
    item = cfg.catalogue.get("MED_ENROLL")
    assert item is not None
    raw, _ = sample_case(cfg, item, village_code=VILLAGE)
    raw["applicant"]["region_code"] = "513401101204"  # 原光明村, merged into 民主村
    case = validate_case(raw, cfg)
    assert case.applicant.region_code == "513401101201"


def test_non_object_bodies_and_naive_timestamps_are_refused(cfg: HubConfig) -> None:
    with pytest.raises(CaseRejected) as err:
        validate_case([1, 2], cfg)
    assert err.value.problems[0].code == "body.type"
    raw, _ = sample_case(cfg, cfg.catalogue.items[0], village_code=VILLAGE)
    raw["created_at"] = "2024-05-01T09:00:00"
    with pytest.raises(CaseRejected) as err2:
        validate_case(raw, cfg)
    assert [p.code for p in err2.value.problems] == ["timestamp.naive"]


def test_related_person_ids_are_checked_too(cfg: HubConfig) -> None:
    item = cfg.catalogue.get("DEATH")
    assert item is not None
    raw, _ = sample_case(cfg, item, village_code=VILLAGE)
    raw["related"][0]["id_number"] = "513401195001010010"
    assert not idcard.is_valid("513401195001010010") or True
    bad = idcard.make("513401", dt.date(1950, 1, 1), 1)
    raw["related"][0]["id_number"] = bad[:17] + ("0" if bad[17] != "0" else "1")
    with pytest.raises(CaseRejected) as err:
        validate_case(raw, cfg)
    assert ("related.0.id_number", "id_number.checksum") in {
        (p.path, p.code) for p in err.value.problems}


def test_case_id_must_be_a_uuid(cfg: HubConfig, tmp_path: Path) -> None:
    raw, _ = sample_case(cfg, cfg.catalogue.items[0], village_code=VILLAGE)
    raw["case_id"] = "not-a-uuid"
    with pytest.raises(CaseRejected) as err:
        validate_case(raw, cfg)
    assert ("case_id", "field.format") in {(p.path, p.code) for p in err.value.problems}
    raw["case_id"] = str(uuid.uuid4())
    assert validate_case(raw, cfg).case_id == uuid.UUID(raw["case_id"])
