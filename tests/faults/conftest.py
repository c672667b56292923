"""Fixtures of the fault suite: simulators, a hub whose roles run as child processes, figures.

Every scenario records its figures (cases submitted, accepted, settled, duplicated, lost...) as
one JSON line: printed at once, appended to ``<pytest basetemp>/fault-figures.jsonl`` and
repeated in a "fault-injection figures" section at the end of the session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.departments import DepartmentSims
from tests.faults.checks import Figures
from tests.support.faults import FaultHub

_FIGURES: list[str] = []

HubFactory = Callable[..., FaultHub]


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[DepartmentSims]:
    with DepartmentSims(tmp_path / "sims") as running:
        yield running


@pytest.fixture
def make_hub(request: pytest.FixtureRequest, tmp_path: Path, sims: DepartmentSims,
             namespace: str) -> Iterator[HubFactory]:
    """``make_hub("amqp" | "embedded", **options)``: RabbitMQ + PostgreSQL, or the embedded bus
    + SQLite. Child processes are stopped when the test ends."""
    made: list[FaultHub] = []

    def make(bus: str, **options: Any) -> FaultHub:
        if bus == "amqp":
            options.setdefault("bus_url", request.getfixturevalue("amqp_url"))
            options.setdefault("store_dsn", request.getfixturevalue("pg_dsn"))
        hub = FaultHub(root=tmp_path / "hub", sims=sims, namespace=namespace, **options)
        made.append(hub)
        return hub

    yield make
    for hub in made:
        hub.close()


@pytest.fixture
def record(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Figures], None]:
    path = tmp_path_factory.getbasetemp() / "fault-figures.jsonl"

    def write(figures: Figures) -> None:
        line = figures.line()
        _FIGURES.append(line)
        with path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        print(f"\nFAULT FIGURES {line}")

    return write


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("fault-injection figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
