"""Transport security: HTTPS with a configured CA bundle, and secrets that never leak."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from adapters.registry import build_adapter
from hub.cli.main import main
from hub.config.loading import HubConfig
from hub.domain.errors import TransientError
from simulators.civil_affairs import RestSim
from simulators.social_security import SoapSim
from tests.support.config import config_copy, shipped_config
from tests.support.sims import leg_request, sample_case
from tests.support.tls import make_pki

SECRET = "S3cr3t-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def cfg() -> HubConfig:
    return shipped_config()


def test_rest_over_https_trusts_only_the_configured_ca(tmp_path: Path, cfg: HubConfig,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    pki = make_pki(tmp_path / "pki")
    case = sample_case("civil_affairs", sorted(p.name.split(".")[0] for p in
                       (Path(__file__).parents[1] / "fixtures/mapping/civil_affairs").glob("*.case.json"))[0])
    with RestSim(token=SECRET, tls=pki.server_context()) as sim:
        assert sim.url.startswith("https://")
        dept = cfg.departments["civil_affairs"]
        secrets = {"HUB_CIVIL_AFFAIRS_TOKEN": SECRET}
        # Given the department's CA bundle in config, the hub delivers over HTTPS
        trusting = build_adapter(dept, secrets=secrets,
                                 overrides={"base_url": sim.url, "ca_bundle": str(pki.ca_file)})
        receipt = trusting.submit(leg_request(cfg, "civil_affairs", case, f"{uuid.uuid4()}:civil_affairs"))
        assert receipt.department_ref
        trusting.close()
        # Without it the server's certificate is refused, transiently, and nothing is sent
        before = dict(sim.received)
        untrusting = build_adapter(dept, secrets=secrets,
                                   overrides={"base_url": sim.url})
        with caplog.at_level(logging.DEBUG), pytest.raises(TransientError) as err:
            untrusting.submit(leg_request(cfg, "civil_affairs", case, f"{uuid.uuid4()}:civil_affairs"))
        untrusting.close()
        assert dict(sim.received) == before
        # And the bearer token appears neither in the error nor in any log line
        assert SECRET not in str(err.value) and SECRET not in repr(err.value)
        assert SECRET not in caplog.text


def test_soap_over_https_with_a_ca_bundle(tmp_path: Path, cfg: HubConfig) -> None:
    pki = make_pki(tmp_path / "pki")
    name = sorted(p.name.split(".")[0] for p in
                  (Path(__file__).parents[1] / "fixtures/mapping/social_security").glob("*.case.json"))[0]
    case = sample_case("social_security", name)
    with SoapSim(credentials=("village_hub", SECRET), tls=pki.server_context()) as sim:
        dept = cfg.departments["social_security"]
        adapter = build_adapter(dept, secrets={"HUB_SOCIAL_SECURITY_PASSWORD": SECRET},
                                overrides={"endpoint": sim.url, "ca_bundle": str(pki.ca_file),
                                           "operation_timeout_s": 5})
        assert adapter.submit(leg_request(cfg, "social_security", case,
                                          f"{uuid.uuid4()}:social_security")).department_ref
        adapter.close()
        wrong = build_adapter(dept, secrets={"HUB_SOCIAL_SECURITY_PASSWORD": SECRET + "x"},
                              overrides={"endpoint": sim.url, "ca_bundle": str(pki.ca_file),
                                         "operation_timeout_s": 5})
        with pytest.raises(TransientError) as err:
            wrong.submit(leg_request(cfg, "social_security", case, f"{uuid.uuid4()}:social_security"))
        wrong.close()
        assert SECRET not in str(err.value)


def test_config_check_never_prints_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HUB_SOCIAL_SECURITY_PASSWORD", SECRET)
    monkeypatch.setenv("HUB_CIVIL_AFFAIRS_TOKEN", SECRET)
    config = config_copy(tmp_path)
    assert main(["config", "check", "--config", str(config)]) == 0
    (config / "departments" / "civil_affairs.yaml").write_text(
        (config / "departments" / "civil_affairs.yaml").read_text().replace("base_url:", "base_ur:"))
    assert main(["config", "check", "--config", str(config)]) == 1
    out = capsys.readouterr()
    assert SECRET not in out.out and SECRET not in out.err
