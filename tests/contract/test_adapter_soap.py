"""SOAP transport specifics: hardened parsing of WSDLs and responses, faults, WS-Security."""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapters.registry import build_adapter
from hub.config.loading import HubConfig
from hub.domain.errors import ConfigError, PermanentError, TransientError
from simulators.social_security import WSDL, SoapSim
from tests.support.sims import (  # noqa: F401 - fixtures
    Running,
    hub_config,
    leg_request,
    sample_case,
    soap_sim,
)


def _request(config: HubConfig, leg_id: str = "leg-soap-1"):  # type: ignore[no-untyped-def]
    return leg_request(config, "social_security", sample_case("social_security", "pension_enroll"),
                       leg_id)


@pytest.mark.parametrize("hostile", ["dtd", "entity", "bomb", "external", "deep"])
def test_hostile_response_is_refused(soap_sim: Running, hub_config: HubConfig,
                                     hostile: str) -> None:
    # given a department answering with a DTD, an entity, a billion-laughs bomb, an external
    # entity or a document deeper than lxml's safe limit
    soap_sim.sim.faults.hostile = hostile
    # when the hub submits, then the answer is refused with a reason, not parsed
    with pytest.raises(PermanentError) as err:
        soap_sim.adapter.submit(_request(hub_config))
    assert err.value.reason == "hostile_response"


def _wsdl_copy(tmp_path: Path, transform: str) -> Path:
    folder = tmp_path / "wire"
    folder.mkdir()
    shutil.copy(WSDL.with_name("service.xsd"), folder / "service.xsd")
    text = WSDL.read_text(encoding="utf-8")
    if transform == "dtd":
        text = text.replace("<wsdl:definitions",
                            '<!DOCTYPE d [<!ELEMENT d ANY>]>\n<wsdl:definitions', 1)
    elif transform == "entity":
        text = text.replace("<wsdl:definitions",
                            '<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
                            "<wsdl:definitions", 1)
    elif transform == "external":
        text = text.replace('schemaLocation="service.xsd"',
                            'schemaLocation="http://127.0.0.1:9/evil.xsd"')
    path = folder / "service.wsdl"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("hostile", ["dtd", "entity", "external"])
def test_hostile_wsdl_is_refused_at_start(hub_config: HubConfig, tmp_path: Path,
                                          hostile: str) -> None:
    # given a department WSDL carrying a DTD, an external entity or a remote schema import
    wsdl = _wsdl_copy(tmp_path, hostile)
    dept = hub_config.departments["social_security"]
    # when the adapter is built, then it refuses the file and names it
    with pytest.raises(ConfigError) as err:
        build_adapter(dept, overrides={"wsdl": str(wsdl)})
    assert str(wsdl) in err.value.problems[0].path
    assert err.value.problems[0].code == "wsdl.hostile"


def test_wrong_password_is_refused_by_the_department(hub_config: HubConfig) -> None:
    with SoapSim(credentials=("village_hub", "right")) as sim:
        adapter = build_adapter(hub_config.departments["social_security"],
                                secrets={"HUB_SOCIAL_SECURITY_PASSWORD": "wrong"},
                                overrides={"endpoint": sim.url})
        try:
            with pytest.raises(TransientError, match="Authentication"):
                adapter.submit(_request(hub_config))
            assert sim.received == {}
        finally:
            adapter.close()


def test_slow_department_hits_the_operation_timeout(hub_config: HubConfig) -> None:
    with SoapSim() as sim:
        sim.faults.slow_s = 1.5
        adapter = build_adapter(hub_config.departments["social_security"],
                                overrides={"endpoint": sim.url, "operation_timeout_s": 0.3})
        try:
            with pytest.raises(TransientError):
                adapter.submit(_request(hub_config))
        finally:
            adapter.close()


def test_record_the_wsdl_does_not_define_is_permanent(soap_sim: Running,
                                                      hub_config: HubConfig) -> None:
    request = _request(hub_config)
    bad = type(request)(**{**request.__dict__, "record": {**request.record, "NOSUCH": "x"}})
    with pytest.raises(PermanentError) as err:
        soap_sim.adapter.submit(bad)
    assert err.value.reason == "unmappable"
    assert soap_sim.sim.received == {}


def test_simulator_serves_the_same_wsdl(soap_sim: Running) -> None:
    import httpx

    served = httpx.get(soap_sim.sim.url + "?wsdl", timeout=5).text
    assert "SubmitApplication" in served and soap_sim.sim.url in served
