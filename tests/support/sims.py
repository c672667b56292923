"""Fixtures that start each department simulator on loopback and build its adapter.

Import the fixtures you need into a test module (``from tests.support.sims import soap_sim``).
Each simulator is stopped and each adapter closed when the test ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest

from adapters.registry import build_adapter
from hub.config import mapping
from hub.config.loading import HubConfig, load_config
from hub.domain.adapter import Adapter, SubmitRequest
from simulators.civil_affairs import RestSim
from simulators.medical_insurance import SftpSim
from simulators.social_security import SoapSim

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mapping"


@pytest.fixture(scope="session")
def hub_config() -> HubConfig:
    return load_config(ROOT / "config")


def sample_case(department: str, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / department / f"{name}.case.json").read_text())
    return doc


def leg_request(config: HubConfig, department: str, case_json: dict[str, Any], leg_id: str,
                kind: str = "submit", sequence: int | None = None) -> SubmitRequest:
    """What a worker hands the adapter: the minimised case, mapped for the department.
    ``sequence`` defaults to 0 for a submission and 1 (the first supplement) for a supplement."""
    dept = config.departments[department]
    payload = mapping.minimise(case_json, mapping.source_paths(dept.mapping))
    record = mapping.apply(dept.mapping, payload, config.code_tables)
    return SubmitRequest(leg_id=leg_id, case_id=case_json["case_id"],
                         item_code=case_json["item_code"], kind=kind,  # type: ignore[arg-type]
                         record=record,
                         sequence=(1 if kind == "supplement" else 0) if sequence is None
                         else sequence)


@dataclass
class Running:
    sim: Any
    adapter: Adapter


@pytest.fixture
def soap_sim(hub_config: HubConfig) -> Iterator[Running]:
    with SoapSim(credentials=("village_hub", "s3cret")) as sim:
        adapter = build_adapter(hub_config.departments["social_security"],
                                secrets={"HUB_SOCIAL_SECURITY_PASSWORD": "s3cret"},
                                overrides={"endpoint": sim.url, "operation_timeout_s": 2})
        yield Running(sim, adapter)
        adapter.close()


@pytest.fixture
def rest_sim(hub_config: HubConfig) -> Iterator[Running]:
    with RestSim(token="t0ken") as sim:
        adapter = build_adapter(hub_config.departments["civil_affairs"],
                                secrets={"HUB_CIVIL_AFFAIRS_TOKEN": "t0ken"},
                                overrides={"base_url": sim.url, "timeout_s": 2})
        yield Running(sim, adapter)
        adapter.close()


@dataclass
class SshKeys:
    client_key: paramiko.Ed25519Key
    key_file: Path


@pytest.fixture
def ssh_keys(tmp_path: Path) -> SshKeys:
    """A fresh client key pair (OpenSSH private-key file); never committed anywhere."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    key_file = tmp_path / "client_ed25519"
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    return SshKeys(paramiko.Ed25519Key.from_private_key_file(str(key_file)), key_file)


def sftp_overrides(sim: SftpSim, known_hosts: Path, key_file: Path) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": sim.port, "known_hosts": str(known_hosts),
            "key_file": str(key_file), "timeout_s": 2, "deadline_s": 10}


@pytest.fixture
def sftp_sim(hub_config: HubConfig, tmp_path: Path, ssh_keys: SshKeys) -> Iterator[Running]:
    with SftpSim(tmp_path / "yb-root", client_key=ssh_keys.client_key) as sim:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(sim.known_hosts_line())
        adapter = build_adapter(hub_config.departments["medical_insurance"],
                                overrides=sftp_overrides(sim, known_hosts, ssh_keys.key_file))
        yield Running(sim, adapter)
        adapter.close()
