"""The three department simulators started together on loopback, with adapters wired to them.

Used by ``hub demo``, the fault suites and the benchmarks: real sockets, real protocols (SOAP
over HTTP, SFTP over SSH, REST over HTTP), each simulator counting what it received per
idempotency key so "exactly once" can be checked from the department's side.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from simulators.base import Behaviour
from simulators.civil_affairs import RestSim
from simulators.medical_insurance import SftpSim
from simulators.social_security import SoapSim


@dataclass
class DepartmentSims:
    """Running simulators and the transport overrides and secrets that reach them."""

    workdir: Path
    behaviour: Behaviour = field(default_factory=lambda: Behaviour(mix=True))
    result_delay_s: float = 0.05
    soap: SoapSim | None = None
    sftp: SftpSim | None = None
    rest: RestSim | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def start(self) -> DepartmentSims:
        self.workdir.mkdir(parents=True, exist_ok=True)
        soap_password = secrets.token_urlsafe(12)
        rest_token = secrets.token_urlsafe(12)
        self.soap = SoapSim(behaviour=self.behaviour, result_delay_s=self.result_delay_s,
                            credentials=("village_hub", soap_password)).start()
        self.rest = RestSim(behaviour=self.behaviour, result_delay_s=self.result_delay_s,
                            token=rest_token).start()
        key_file = self.workdir / "sftp_client_ed25519"
        private = Ed25519PrivateKey.generate()
        key_file.write_bytes(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption()))
        key_file.chmod(0o600)
        client_key = paramiko.Ed25519Key.from_private_key_file(str(key_file))
        self.sftp = SftpSim(self.workdir / "yb-root", client_key=client_key,
                            behaviour=self.behaviour, result_delay_s=self.result_delay_s).start()
        known_hosts = self.workdir / "known_hosts"
        known_hosts.write_text(self.sftp.known_hosts_line())
        self.secrets = {"HUB_SOCIAL_SECURITY_PASSWORD": soap_password,
                        "HUB_CIVIL_AFFAIRS_TOKEN": rest_token}
        self.overrides = {
            "social_security": {"endpoint": self.soap.url, "operation_timeout_s": 10},
            "civil_affairs": {"base_url": self.rest.url, "timeout_s": 10},
            "medical_insurance": {"host": "127.0.0.1", "port": self.sftp.port,
                                  "known_hosts": str(known_hosts), "key_file": str(key_file),
                                  "timeout_s": 5, "deadline_s": 30},
        }
        return self

    def received(self) -> dict[str, dict[str, int]]:
        """Submissions received per idempotency key, per department (the departments' view)."""
        out: dict[str, dict[str, int]] = {}
        for name, sim in (("social_security", self.soap), ("civil_affairs", self.rest),
                          ("medical_insurance", self.sftp)):
            if sim is not None:
                out[name] = dict(sim.received)
        return out

    def stop(self) -> None:
        for sim in (self.soap, self.rest, self.sftp):
            if sim is not None:
                sim.stop()

    def __enter__(self) -> DepartmentSims:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
