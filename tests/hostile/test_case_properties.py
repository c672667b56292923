"""Property-based tests over the case model and the department mappings (hypothesis).

Properties:

* ``validate_case`` on any JSON-shaped input (arbitrary values, and valid cases with one part
  replaced by arbitrary JSON) returns a ``Case`` or raises ``CaseRejected`` with problems:
  never another exception, which the API would turn into a 500.
* A case that passed validation, routed and mapped for each department it involves, either maps
  or raises ``PermanentError(reason="unmappable")`` (so the worker dead-letters it with a
  reason); the mapped record has exactly the mapping's targets, nothing else.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hub.config import mapping
from hub.config.catalogue import TOWN
from hub.config.loading import HubConfig
from hub.domain.errors import CaseRejected, PermanentError
from hub.domain.models import Case
from hub.intake.split_legs import route
from hub.intake.validation import validate_case
from simulators.samples import sample_case
from tests.support.api import VILLAGE_A, config

CFG: HubConfig = config()
ITEMS = [i.code for i in CFG.catalogue.items]
KEYS = ["schema_version", "case_id", "item_code", "applicant", "related", "form", "attachments",
        "origin", "created_at", "name", "id_number", "phone", "region_code", "relation",
        "birth_date", "gender", "village_code", "terminal_id", "clerk_id", "kind", "id",
        "sha256", "size", "media_type"]
FORM_KEYS = sorted({f.key for i in CFG.catalogue.items for f in i.form})
PROPS = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

scalars = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(max_size=40) | st.sampled_from(["", "BIRTH", "513401101201", "1.0",
                                                      "2024-02-30", "51340119900101001X"]))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5),
    max_leaves=25)


def _sample(item_code: str, seed: int) -> dict[str, Any]:
    item = CFG.catalogue.get(item_code)
    assert item is not None
    body, _ = sample_case(CFG, item, village_code=VILLAGE_A, rng=random.Random(seed))
    return body


def _validate(raw: object) -> Case | None:
    try:
        return validate_case(raw, CFG)
    except CaseRejected as exc:
        assert exc.problems and all(p.code and p.message for p in exc.problems)
        return None


@PROPS
@given(raw=json_values)
def test_any_json_is_validated_or_rejected_with_problems(raw: object) -> None:
    _validate(raw)


@PROPS
@given(item=st.sampled_from(ITEMS), seed=st.integers(0, 2**32), data=st.data())
def test_a_valid_case_with_one_part_replaced_is_validated_or_rejected(
        item: str, seed: int, data: st.DataObject) -> None:
    # given a valid case with one value somewhere replaced by arbitrary JSON
    body = _sample(item, seed)
    section = data.draw(st.sampled_from(["top", "applicant", "origin", "form", "related",
                                         "attachments"]))
    value = data.draw(json_values)
    if section == "top":
        body[data.draw(st.sampled_from(KEYS[:9]))] = value
    elif section in ("applicant", "origin"):
        body[section][data.draw(st.sampled_from([*body[section], "extra"]))] = value
    elif section == "form":
        body["form"][data.draw(st.sampled_from([*FORM_KEYS, "x"]))] = value
    elif body[section]:
        body[section][0] = value
    else:
        body[section] = [value]
    # when it is validated, then it is accepted or refused with problems, never a crash
    _validate(body)


form_values = (st.none() | st.booleans() | st.integers(-(10**30), 10**30)
               | st.floats(allow_nan=False) | st.text(max_size=80)
               | st.sampled_from(["2024-02-29", "2023-02-29", "0001-01-01", "9999-12-31",
                                  "x" * 61, " 县人民医院 ", "1" * 16]))


def _map_every_leg(case: Case) -> None:
    for leg in route(case, CFG):
        if leg.department == TOWN:  # decided at the town's window: nothing mapped, nothing sent
            assert leg.payload == {}
            continue
        dept = CFG.departments[leg.department]
        # the leg carries nothing outside the mapping's source paths
        assert set(mapping.source_paths(dept.mapping)) >= _paths(leg.payload)
        try:
            record = mapping.apply(dept.mapping, leg.payload, CFG.code_tables)
        except PermanentError as exc:
            assert exc.reason == "unmappable", exc
            continue
        assert set(record) == {f.target for f in dept.mapping.fields}
        assert all(v is None or isinstance(v, str) for v in record.values())


def _paths(payload: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for key, value in payload.items():
        if key == "related":
            out |= {f"related.{p['relation']}.{k}" for p in value for k in p if k != "relation"}
        elif isinstance(value, dict):
            out |= {f"{key}.{k}" for k in value}
        else:
            out.add(key)
    return out


@pytest.mark.parametrize("item", ITEMS)
def test_sample_cases_of_every_item_map_for_every_department(item: str) -> None:
    for seed in range(25):
        case = validate_case(_sample(item, seed), CFG)
        _map_every_leg(case)


@PROPS
@given(item=st.sampled_from(ITEMS), seed=st.integers(0, 2**32),
       form=st.dictionaries(st.sampled_from(FORM_KEYS), form_values, max_size=6),
       name=st.text(min_size=1, max_size=64))
def test_validated_cases_map_or_are_unmappable(item: str, seed: int, form: dict[str, Any],
                                                name: str) -> None:
    # given a valid case whose form values and applicant name were varied
    body = _sample(item, seed)
    body["form"].update(form)
    body["applicant"]["name"] = name
    case = _validate(body)
    assume(case is not None)
    assert case is not None
    # when it is routed and mapped, then each leg maps or is refused as unmappable
    _map_every_leg(case)
