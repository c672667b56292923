"""The declarative mapping: path grammar, minimisation, transforms, start-up checks, CLI."""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.cli.main import main as hub_main
from hub.config import mapping
from hub.config.departments import FieldMap, Mapping, Transform
from hub.config.loading import HubConfig
from hub.domain.errors import PermanentError
from tests.support.sims import FIXTURES, ROOT, hub_config, sample_case  # noqa: F401


def test_minimise_keeps_only_what_the_mapping_reads(hub_config: HubConfig) -> None:
    case = sample_case("social_security", "death")
    paths = mapping.source_paths(hub_config.departments["social_security"].mapping)
    payload = mapping.minimise(case, paths)
    assert "attachments" not in payload and "case_id" not in payload
    assert set(payload["applicant"]) == {"name", "id_number", "phone", "region_code"}
    assert set(payload["origin"]) == {"village_code"}  # not the clerk or terminal
    assert payload["related"] == [{"relation": "deceased", "name": "李大山",
                                   "id_number": case["related"][0]["id_number"]}]
    assert "relationship" not in payload["form"]  # 人社 does not read it
    # and the minimised payload maps exactly like the full case
    m = hub_config.departments["social_security"].mapping
    assert mapping.apply(m, payload, hub_config.code_tables) == \
        mapping.apply(m, case, hub_config.code_tables)


def _m(*fields: FieldMap) -> Mapping:
    return Mapping(fields=fields)


def test_transforms() -> None:
    case: dict[str, Any] = {"applicant": {"name": "  张三 ", "id_number": "11010519491231002x"},
                            "created_at": "2026-05-12T09:30:00+08:00",
                            "form": {"flag": True, "n": 3},
                            "related": [{"relation": "newborn", "gender": "female"}]}
    m = _m(FieldMap(target="XM", source="applicant.name", transforms=(Transform(kind="strip"),)),
           FieldMap(target="SFZ", source="applicant.id_number",
                    transforms=(Transform(kind="upper"),)),
           FieldMap(target="XB", source="applicant.id_number",
                    transforms=(Transform(kind="gender_code"),)),
           FieldMap(target="CSRQ", source="applicant.id_number",
                    transforms=(Transform(kind="date", format="%Y-%m-%d"),)),
           FieldMap(target="SQRQ", source="created_at", transforms=(Transform(kind="date"),)),
           FieldMap(target="QD", transforms=(Transform(kind="constant", value="CBM"),)),
           FieldMap(target="XSEXB", source="related.newborn.gender",
                    transforms=(Transform(kind="gender_code"),)),
           FieldMap(target="FLAG", source="form.flag"),
           FieldMap(target="N", source="form.n"),
           FieldMap(target="OPT", source="form.missing", required=False))
    assert mapping.apply(m, case, {}) == {
        "XM": "张三", "SFZ": "11010519491231002X", "XB": "2", "CSRQ": "1949-12-31",
        "SQRQ": "20260512", "QD": "CBM", "XSEXB": "2", "FLAG": "1", "N": "3", "OPT": None}


@pytest.mark.parametrize(("field", "case"), [
    (FieldMap(target="XM", source="applicant.name"), {"applicant": {}}),
    (FieldMap(target="XM", source="applicant.name", max_length=2),
     {"applicant": {"name": "欧阳娜娜"}}),
    (FieldMap(target="SX", source="item_code",
              transforms=(Transform(kind="code_table", table="rs_item_codes"),)),
     {"item_code": "NO_SUCH_ITEM"}),
])
def test_unmappable_is_permanent(hub_config: HubConfig, field: FieldMap,
                                 case: dict[str, Any]) -> None:
    with pytest.raises(PermanentError) as err:
        mapping.apply(_m(field), case, hub_config.code_tables)
    assert err.value.reason == "unmappable"


def test_check_mapping_names_file_path_and_nearest(hub_config: HubConfig) -> None:
    base = hub_config.departments["civil_affairs"]
    fields = (FieldMap(target="A", source="applicant.nmae"),
              FieldMap(target="B", source="related.newbron.name"),
              FieldMap(target="C", source="form.houshold_size"),
              FieldMap(target="D", source="item_code",
                       transforms=(Transform(kind="code_table", table="mz_item_code"),)))
    dept = base.model_copy(update={"mapping": Mapping(fields=fields)})
    form_keys = hub_config.catalogue.form_keys()
    problems = mapping.check_mapping(dept, hub_config.code_tables, form_keys)
    text = [(p.path.split(": ")[1], p.message) for p in problems]
    assert all(p.path.startswith(str(base.source_file)) for p in problems)
    assert ("mapping.fields.0.source", "applicant has no field 'nmae' (did you mean 'name'?)") \
        in text
    assert any(path == "mapping.fields.1.source" and "'newborn'" in msg for path, msg in text)
    assert any(path == "mapping.fields.2.source" and "'household_size'" in msg
               for path, msg in text)
    assert any(path == "mapping.fields.3.transforms.0.table" and "'mz_item_codes'" in msg
               for path, msg in text)


def test_shipped_mappings_are_clean(hub_config: HubConfig) -> None:
    for dept in hub_config.departments.values():
        assert mapping.check_mapping(dept, hub_config.code_tables,
                                     hub_config.catalogue.form_keys()) == []


@pytest.mark.parametrize("department", sorted(p.name for p in FIXTURES.iterdir()))
def test_cli_mapping_test_passes_shipped_fixtures(department: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = hub_main(["mapping", "test", department, str(FIXTURES / department),
                     "--config", str(ROOT / "config")])
    assert code == 0, capsys.readouterr().out


def test_cli_mapping_test_shows_a_diff_and_fails(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "fx"
    shutil.copytree(FIXTURES / "civil_affairs", folder)
    expected = folder / "dibao.expected.json"
    doc = json.loads(expected.read_text())
    doc["JTRKS"] = "4"
    expected.write_text(json.dumps(doc, ensure_ascii=False))
    code = hub_main(["mapping", "test", "civil_affairs", str(folder),
                     "--config", str(ROOT / "config")])
    out = capsys.readouterr().out
    assert code == 1
    assert '-  "JTRKS": "4"' in out and '+  "JTRKS": "3"' in out


# -- hostile input: any valid case maps or is refused as unmappable, nothing else ------------------
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=30)
_value = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _text)


@settings(max_examples=150, deadline=None)
@given(item=st.sampled_from(["DIBAO", "DEATH", "BIRTH", "PENSION_CERT", "NOPE"]),
       form=st.dictionaries(st.sampled_from(["household_size", "death_date", "hardship_kind",
                                             "relationship", "care_mode", "amount_yuan"]), _value),
       name=_text, born=_text)
def test_any_case_maps_or_is_unmappable(hub_config: HubConfig, item: str, form: dict[str, Any],
                                        name: str, born: str) -> None:
    case = {**sample_case("civil_affairs", "death"), "item_code": item, "form": form}
    case["applicant"] = {**case["applicant"], "name": name}
    case["related"] = [{"relation": "newborn", "name": "x", "birth_date": born}]
    for dept in hub_config.departments.values():
        try:
            record = mapping.apply(dept.mapping, case, hub_config.code_tables)
        except PermanentError as exc:
            assert exc.reason == "unmappable"
        else:
            assert list(record) == [f.target for f in dept.mapping.fields]
            assert all(v is None or isinstance(v, str) for v in record.values())
