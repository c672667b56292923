"""One simulator per transport, driven by a department's YAML: no Python per department.

``start_simulator(dept, workdir, ...)`` reads the department's configuration (transport kind,
its WSDL for SOAP, encoding and delimiter for SFTP, the env names of its secrets, the receipt
prefix under ``simulator:``) and starts the matching reference simulator on loopback: ``SoapSim``
serving the department's own WSDL, ``SftpSim`` with a fresh client key and pinned host key,
``RestSim`` with a fresh bearer token. It returns the running simulator with the transport
overrides and secrets that make the department's adapter reach it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.config.departments import DepartmentConfig, RestTransport, SftpTransport, SoapTransport
from simulators.base import Behaviour
from simulators.civil_affairs import RestSim
from simulators.medical_insurance import SftpSim
from simulators.social_security import SoapSim

__all__ = ["RunningSim", "Sim", "start_simulator"]

Sim = SoapSim | SftpSim | RestSim


@dataclass
class RunningSim:
    name: str
    sim: Sim
    overrides: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


def _prefix(dept: DepartmentConfig) -> str:
    return dept.simulator.receipt_prefix or "".join(p[0] for p in dept.name.split("_")).upper()


def _soap(dept: DepartmentConfig, t: SoapTransport, behaviour: Behaviour,
          delay: float) -> RunningSim:
    password = secrets.token_urlsafe(12)
    credentials = (t.username, password) if t.username and t.password_env else None
    sim = SoapSim(wsdl=dept.resolve(t.wsdl), behaviour=behaviour, result_delay_s=delay,
                  credentials=credentials, prefix=_prefix(dept)).start()
    return RunningSim(dept.name, sim, {"endpoint": sim.url, "operation_timeout_s": 10},
                      {t.password_env: password} if t.password_env else {})


def _rest(dept: DepartmentConfig, t: RestTransport, behaviour: Behaviour,
          delay: float) -> RunningSim:
    token = secrets.token_urlsafe(12)
    sim = RestSim(behaviour=behaviour, result_delay_s=delay,
                  token=token if t.token_env else None, prefix=_prefix(dept)).start()
    return RunningSim(dept.name, sim, {"base_url": sim.url, "timeout_s": 10},
                      {t.token_env: token} if t.token_env else {})


def _sftp(dept: DepartmentConfig, t: SftpTransport, workdir: Path, behaviour: Behaviour,
          delay: float) -> RunningSim:
    key_file = workdir / f"{dept.name}_client_ed25519"
    key_file.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()))
    key_file.chmod(0o600)
    client_key = paramiko.Ed25519Key.from_private_key_file(str(key_file))
    sim = SftpSim(workdir / f"{dept.name}-root", client_key=client_key, username=t.username,
                  behaviour=behaviour, result_delay_s=delay, encoding=t.encoding,
                  delimiter=t.delimiter, prefix=_prefix(dept)).start()
    known_hosts = workdir / f"{dept.name}_known_hosts"
    known_hosts.write_text(sim.known_hosts_line())
    return RunningSim(dept.name, sim, {
        "host": "127.0.0.1", "port": sim.port, "known_hosts": str(known_hosts),
        "key_file": str(key_file), "timeout_s": 5, "deadline_s": 30})


def start_simulator(dept: DepartmentConfig, workdir: Path, *, behaviour: Behaviour,
                    result_delay_s: float = 0.05) -> RunningSim:
    """The department's simulator, started, with what its adapter needs to reach it."""
    workdir.mkdir(parents=True, exist_ok=True)
    t = dept.transport
    if isinstance(t, SoapTransport):
        return _soap(dept, t, behaviour, result_delay_s)
    if isinstance(t, SftpTransport):
        return _sftp(dept, t, workdir, behaviour, result_delay_s)
    return _rest(dept, t, behaviour, result_delay_s)
