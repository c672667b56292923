"""Every configured department's simulator started together on loopback, adapters wired to them.

Used by ``hub demo``, the fault suites and the benchmarks: real sockets, real protocols (SOAP
over HTTP, SFTP over SSH, REST over HTTP), each simulator counting what it received per
idempotency key so "exactly once" can be checked from the department's side. Which simulators
run comes from configuration (``config/departments/*.yaml``, one generic simulator per
transport: ``simulators.generic``); a department added by YAML gets its simulator here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.config.loading import load_config
from hub.config.settings import REPO_CONFIG
from simulators.base import Behaviour
from simulators.civil_affairs import RestSim
from simulators.generic import RunningSim, Sim, start_simulator
from simulators.medical_insurance import SftpSim
from simulators.social_security import SoapSim


@dataclass
class DepartmentSims:
    """Running simulators and the transport overrides and secrets that reach them."""

    workdir: Path
    behaviour: Behaviour = field(default_factory=lambda: Behaviour(mix=True))
    result_delay_s: float = 0.05
    config_dir: Path = REPO_CONFIG
    running: dict[str, RunningSim] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def start(self) -> DepartmentSims:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name, dept in load_config(self.config_dir).departments.items():
            run = start_simulator(dept, self.workdir, behaviour=self.behaviour,
                                  result_delay_s=self.result_delay_s)
            self.running[name] = run
            self.secrets.update(run.secrets)
            self.overrides[name] = run.overrides
        return self

    def sim(self, name: str) -> Sim | None:
        run = self.running.get(name)
        return run.sim if run else None

    # The three original departments, by the transport tests steer them through.
    @property
    def soap(self) -> SoapSim | None:
        sim = self.sim("social_security")
        return sim if isinstance(sim, SoapSim) else None

    @property
    def sftp(self) -> SftpSim | None:
        sim = self.sim("medical_insurance")
        return sim if isinstance(sim, SftpSim) else None

    @property
    def rest(self) -> RestSim | None:
        sim = self.sim("civil_affairs")
        return sim if isinstance(sim, RestSim) else None

    def received(self) -> dict[str, dict[str, int]]:
        """Submissions received per idempotency key, per department (the departments' view)."""
        return {name: dict(run.sim.received) for name, run in self.running.items()}

    def stop(self) -> None:
        for run in self.running.values():
            if isinstance(run.sim, RestSim):
                run.sim.close()
            else:
                run.sim.stop()

    def __enter__(self) -> DepartmentSims:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
