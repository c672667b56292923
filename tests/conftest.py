"""Shared fixtures: isolated real services and a temporary HUB_DATA_DIR for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config.settings import get_settings
from tests.support import services


@pytest.fixture(autouse=True)
def hub_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HUB_DATA_DIR; nothing leaks between tests or runs."""
    data = tmp_path / "hub-data"
    data.mkdir()
    monkeypatch.setenv("HUB_DATA_DIR", str(data))
    for var in ("HUB_BUS_URL", "HUB_STORE_DSN"):
        monkeypatch.delenv(var, raising=False)
    get_settings(fresh=True)  # commands read settings afresh in each test
    return data


@pytest.fixture(scope="session")
def amqp_vhost() -> Iterator[str]:
    """A fresh RabbitMQ vhost for this run; yields its amqp:// URL."""
    vhost, url = services.create_vhost()
    yield url
    services.delete_vhost(vhost)


@pytest.fixture
def namespace() -> str:
    """A fresh bus namespace (exchange and queue prefix) per test."""
    return services.unique_name().replace("hubtest_", "t")


@pytest.fixture
def amqp_url(amqp_vhost: str, namespace: str) -> Iterator[str]:
    """The run's vhost; the test's namespace (queues, exchanges) is deleted afterwards, so the
    shared broker never accumulates quorum queues across a run."""
    yield amqp_vhost
    from hub.bus.admin import delete_namespace

    delete_namespace(amqp_vhost, namespace)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the scenario that stops the whole broker (``rabbitmqctl stop_app``) last, so a slow
    broker recovery cannot disturb any other test of the run."""
    last = [i for i in items if "stop_app" in i.nodeid]
    items[:] = [i for i in items if "stop_app" not in i.nodeid] + last


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh PostgreSQL database per test; yields its DSN."""
    name, dsn = services.create_database()
    yield dsn
    services.drop_database(name)
