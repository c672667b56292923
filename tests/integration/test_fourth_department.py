"""A fourth department by configuration alone: YAML (+ a WSDL copy for SOAP), no new Python.

Given a copy of the shipped configuration plus a new department file and a catalogue item that
names it, when the configuration is loaded and a case for that item is routed, then the
registry builds the department's adapter and the case reaches a simulator in the new format.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from adapters.registry import build_adapter
from hub.config.loading import load_config
from simulators.civil_affairs import RestSim
from simulators.social_security import WSDL, SoapSim
from tests.support.sims import ROOT, leg_request, sample_case

ITEM = """items:
  - code: FOURTH_DEPT_SUBSIDY
    name: 我要申请残疾人补贴
    title: 困难残疾人生活补贴和重度残疾人护理补贴申领
    departments: [{dept}]
    materials:
      - {{code: id_card, name: 居民身份证}}
      - {{code: disability_card, name: 残疾人证}}
    form:
      - {{key: disability_card_no, label: 残疾人证号, type: string, max_length: 20}}
    flags: {{in_village: true, door_to_door: true}}
    guide: {{conditions: 持证残疾人, deadline_days: 20, notes: 请带齐材料原件}}
"""

REST_YAML = """
name: disabled_persons
title: 残联
transport: {kind: rest, base_url: "http://127.0.0.1:1/api/v1", timeout_s: 5}
mapping:
  fields:
    - {target: CJRXM, source: applicant.name}
    - {target: CJRSFZHM, source: applicant.id_number}
    - {target: CJZH, source: form.disability_card_no}
    - {target: SQRQ, source: created_at, transforms: [{kind: date, format: "%Y-%m-%d"}]}
"""

SOAP_YAML = """
name: housing_fund
title: 住房公积金
transport: {kind: soap, wsdl: wire/service.wsdl, endpoint: "http://127.0.0.1:1/ws"}
code_tables: [rs_item_codes]
mapping:
  fields:
    - {target: SXBM, transforms: [{kind: constant, value: GJJ01}]}
    - {target: XM, source: applicant.name}
    - {target: SFZHM, source: applicant.id_number}
    - {target: XB, source: applicant.id_number, transforms: [{kind: gender_code}]}
    - {target: CSRQ, source: applicant.id_number, transforms: [{kind: date}]}
    - {target: LXDH, source: applicant.phone}
    - {target: HJXZQHDM, source: applicant.region_code}
    - {target: SLDDM, source: origin.village_code}
    - {target: SQRQ, source: created_at, transforms: [{kind: date}]}
    - {target: SQQD, transforms: [{kind: constant, value: CBMFWS}]}
"""


def _config_with(tmp_path: Path, name: str, yaml_text: str) -> Path:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "departments" / f"{name}.yaml").write_text(yaml_text, encoding="utf-8")
    (config / "catalogue" / "zz_fourth.yaml").write_text(ITEM.format(dept=name), encoding="utf-8")
    return config


def _case() -> dict[str, object]:
    case = sample_case("civil_affairs", "dibao")
    return {**case, "item_code": "FOURTH_DEPT_SUBSIDY", "situation": None,
            "form": {"disability_card_no": "51340119560308124643"}}


def test_fourth_department_over_rest(tmp_path: Path) -> None:
    config = load_config(_config_with(tmp_path, "disabled_persons", REST_YAML))
    item = next(i for i in config.catalogue.items if i.code == "FOURTH_DEPT_SUBSIDY")
    assert list(item.departments) == ["disabled_persons"]  # the case routes to it
    with RestSim(prefix="CL") as sim:
        adapter = build_adapter(config.departments["disabled_persons"],
                                overrides={"base_url": sim.url})
        receipt = adapter.submit(leg_request(config, "disabled_persons", _case(), "leg-cl-1"))
        assert receipt.department_ref.startswith("CL")
        assert sim.core.records["leg-cl-1"] == {
            "CJRXM": "张秀英", "CJRSFZHM": "513401195603081246", "CJZH": "51340119560308124643",
            "SQRQ": "2026-05-12"}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if any(r.outcome == "approved" for r in adapter.poll_results()):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no approval from the fourth department")
        adapter.close()


def test_fourth_department_over_soap_with_its_own_wsdl_copy(tmp_path: Path) -> None:
    config_dir = _config_with(tmp_path, "housing_fund", SOAP_YAML)
    wire = config_dir / "departments" / "wire"
    wire.mkdir()
    shutil.copy(WSDL, wire / "service.wsdl")
    shutil.copy(WSDL.with_name("service.xsd"), wire / "service.xsd")
    config = load_config(config_dir)
    with SoapSim(wsdl=wire / "service.wsdl", prefix="GJJ") as sim:
        adapter = build_adapter(config.departments["housing_fund"], overrides={"endpoint": sim.url})
        receipt = adapter.submit(leg_request(config, "housing_fund", _case(), "leg-gjj-1"))
        adapter.close()
    assert receipt.department_ref.startswith("GJJ")
    assert sim.core.records["leg-gjj-1"]["SXBM"] == "GJJ01"
    assert sim.received == {"leg-gjj-1": 1}
