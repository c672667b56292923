"""``hub dlq``: list, show, replay and purge dead letters without leaking personal data."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from hub.bus.base import Dead, Delivery, Message, Outcome
from hub.bus.embedded import EmbeddedBus
from hub.bus.factory import department_tiers
from hub.cli.main import main
from hub.config.settings import get_settings

ID_NUMBER = "51010419900101123X"
PHONE = "13812345678"


@pytest.fixture
def parked(hub_data_dir: Path) -> list[str]:
    """Two dead letters in the embedded bus under HUB_DATA_DIR; returns their ids."""
    settings = get_settings(fresh=True)
    bus = EmbeddedBus(settings.bus_path(), settings.namespace, poll_s=0.01)
    tiers = department_tiers(settings)
    bus.declare(tiers)
    dept = sorted(tiers)[0]
    body = json.dumps({"id_number": ID_NUMBER, "phone": PHONE}).encode()
    bus.publish("dispatch", [Message(f"m{i}", dept, body) for i in range(2)])
    stop = threading.Event()

    def park(batch: Sequence[Delivery]) -> list[Outcome]:
        if any(d.message.id == "m1" for d in batch):
            stop.set()
        return [Dead("rejected", f"department refused {ID_NUMBER}") for _ in batch]

    bus.consume_batch(f"{settings.namespace}.dept.{dept}", park, stop=stop)
    ids = [d.id for d in bus.dead_letters()]
    bus.close()
    assert len(ids) == 2
    return ids


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["dlq", *argv])
    return code, capsys.readouterr().out


def test_list_shows_ids_and_reasons_but_no_personal_data(
    parked: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "list", "--json")
    rows = json.loads(out)
    assert code == 0 and {r["id"] for r in rows} == set(parked)
    assert {r["reason"] for r in rows} == {"rejected"}
    code, out = _run(capsys, "list")
    assert "2 dead letter(s)" in out
    assert ID_NUMBER not in out and PHONE not in out


def test_show_masks_id_numbers_and_phones(parked: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "show", parked[0])
    assert code == 0
    assert "id_number" in out and "510" in out
    assert ID_NUMBER not in out and PHONE not in out


def test_purge_asks_first_and_replay_sends_back(
    parked: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))
    code, out = _run(capsys, "purge", "--all")
    assert code == 1 and "aborted" in out
    assert len(json.loads(_run(capsys, "list", "--json")[1])) == 2
    assert _run(capsys, "replay", parked[0])[0] == 0
    assert _run(capsys, "purge", parked[1], "--yes")[0] == 0
    assert json.loads(_run(capsys, "list", "--json")[1]) == []
    settings = get_settings(fresh=True)
    bus = EmbeddedBus(settings.bus_path(), settings.namespace)
    dept = sorted(department_tiers(settings))[0]
    assert bus.stats(f"{settings.namespace}.dept.{dept}").depth == 1  # the replayed one
    bus.close()
