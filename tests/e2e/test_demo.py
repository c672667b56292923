"""`hub demo`: the whole product settles every case, on embedded defaults and on RabbitMQ +
PostgreSQL."""

from __future__ import annotations

import json

import pytest

from hub.cli.main import main
from tests.support.config import shipped_config


def _summary(out: str) -> dict[str, object]:
    last = out.strip().splitlines()[-1]
    return dict(json.loads(last))


def test_demo_on_embedded_defaults_settles_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    # Given no broker and no database server, when the demo runs 16 cases
    code = main(["demo", "--cases", "16", "--json"])
    summary = _summary(capsys.readouterr().out)
    # Then every case settled, every configured department (each with its simulator started
    # from its YAML) took part, and nothing was dead-lettered
    assert code == 0, summary
    assert summary["submitted"] == summary["settled"] == 16
    legs = summary["legs"]
    assert isinstance(legs, dict)
    assert set(legs) == set(shipped_config().departments)
    assert {"public_security", "tax", "disabled_persons_federation"} <= set(legs)
    for states in legs.values():
        assert set(states) <= {"approved", "rejected"}, legs
    assert summary["dead_letters"] == 0
    # and the town-decided case (我要修房子) was approved by a scripted reviewer and approver
    town = summary["town_case"]
    assert isinstance(town, dict) and town["status"] == "approved" and town["serial"]


def test_demo_table_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--cases", "3"]) == 0
    out = capsys.readouterr().out
    assert "受理编号" in out and "我要生孩子" in out and "settled 3" in out


@pytest.mark.slow
def test_demo_on_rabbitmq_and_postgresql_settles_every_case(
        amqp_url: str, pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--bus", "amqp", "--amqp-url", amqp_url, "--store-dsn", pg_dsn,
                 "--cases", "30", "--json"])
    summary = _summary(capsys.readouterr().out)
    assert code == 0, summary
    assert summary["submitted"] == summary["settled"] == 30
    assert summary["dead_letters"] == 0
    total = sum(sum(s.values()) for s in summary["legs"].values())  # type: ignore[union-attr]
    assert total >= 30 + 3  # multi-department items (出生一件事 and others) fan out


def test_demo_refuses_nonsense_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--cases", "0"]) == 2
