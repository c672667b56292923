"""SFTP replies count as read only once the hub has recorded them (issue 18, item 4)."""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from hub.bus.base import ExchangeKind, Message
from hub.bus.embedded import EmbeddedBus
from hub.config.loading import HubConfig
from hub.delivery.result_poller import ResultPoller
from hub.domain.errors import TransientError
from tests.support.sims import Running, hub_config, sftp_sim, ssh_keys  # noqa: F401 - fixtures

LEG = "6f1c2a3e-0000-4000-8000-000000000004:medical_insurance"
REPLY = f"H|1.0|RESULT|1\r\nD|YB7-1|{LEG}|03|YB7|审核通过|\r\n".encode("gb18030")


class _FlakyBus(EmbeddedBus):
    """A real embedded bus whose publishing is down while ``down`` is set (a broker outage)."""

    down = False

    def publish(self, exchange: ExchangeKind, messages: Sequence[Message]) -> None:
        if self.down:
            raise TransientError("bus: connection refused")
        super().publish(exchange, messages)


def test_reply_file_is_read_again_after_a_failed_publish(sftp_sim: Running, tmp_path: Path,
                                                         hub_config: HubConfig) -> None:
    bus = _FlakyBus(tmp_path / "bus.db")
    bus.declare({name: d.retry.tiers() for name, d in hub_config.departments.items()})
    poller = ResultPoller("medical_insurance", sftp_sim.adapter, bus,
                          lambda *a, **k: None, threading.Event())
    sftp_sim.sim.inject_reply("R_reread.txt", REPLY)
    # given the department's reply is polled while the hub cannot publish it
    bus.down = True
    with pytest.raises(TransientError):
        poller.poll_once()
    assert (sftp_sim.sim.root / "outbox" / "R_reread.txt").exists()  # nothing recorded: kept
    # when the bus is back, then the next poll (same worker, no restart) delivers the answer
    bus.down = False
    assert poller.poll_once() == 1
    # and once recorded the file is archived and not read a third time
    assert (sftp_sim.sim.root / "outbox" / "archive" / "R_reread.txt").exists()
    assert poller.poll_once() == 0
    bus.close()
