"""SFTP transport specifics: pinned host keys, atomic deterministic uploads in GB18030, strict
reply parsing with quarantine, archiving after acknowledgement."""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import time
from pathlib import Path

import paramiko
import pytest

from adapters.registry import build_adapter
from adapters.transports.sftp import SftpAdapter, file_name
from hub.config.loading import HubConfig
from hub.domain.errors import PermanentError, TransientError
from simulators.medical_insurance import SftpSim
from tests.support.sims import (  # noqa: F401 - fixtures
    Running,
    SshKeys,
    hub_config,
    leg_request,
    sample_case,
    sftp_overrides,
    sftp_sim,
    ssh_keys,
)


def _request(config: HubConfig, leg_id: str = "leg-yb-1"):  # type: ignore[no-untyped-def]
    return leg_request(config, "medical_insurance", sample_case("medical_insurance", "birth"),
                       leg_id)


def test_unknown_host_key_is_refused_before_sending(hub_config: HubConfig, tmp_path: Path,
                                                    ssh_keys: SshKeys) -> None:
    # given a known_hosts file pinning a different key for the department's address
    with SftpSim(tmp_path / "root", client_key=ssh_keys.client_key) as sim:
        other = paramiko.ECDSAKey.generate()
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{sim.port} {other.get_name()} {other.get_base64()}\n")
        adapter = build_adapter(hub_config.departments["medical_insurance"],
                                overrides=sftp_overrides(sim, known, ssh_keys.key_file))
        # when the hub submits, then the connection is refused and nothing reaches the inbox
        with pytest.raises(TransientError, match="host key"):
            adapter.submit(_request(hub_config))
        # and an empty known_hosts (an unknown server) is refused just the same
        known.write_text("")
        unknown = build_adapter(hub_config.departments["medical_insurance"],
                                overrides=sftp_overrides(sim, known, ssh_keys.key_file))
        with pytest.raises(TransientError, match="known_hosts"):
            unknown.submit(_request(hub_config))
        adapter.close()
        unknown.close()
        assert list((sim.root / "inbox").iterdir()) == []


def test_upload_is_gb18030_with_header_and_deterministic_name(sftp_sim: Running,
                                                              hub_config: HubConfig) -> None:
    sftp_sim.sim.core.faults.slow_s = 0  # processor moves files to processed/ once filed
    receipt = sftp_sim.adapter.submit(_request(hub_config, "leg-gb"))
    assert receipt.department_ref == file_name("medical_insurance", "leg-gb", "submit")
    deadline = time.monotonic() + 5
    path = sftp_sim.sim.root / "processed" / receipt.department_ref
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = path.read_bytes().decode("gb18030").split("\r\n")
    assert lines[0].startswith("H|1.0|leg-gb|submit|")
    assert lines[1].split("|")[:3] == ["C", "YWLX", "XM"]
    assert "赵丽" in lines[2].split("|")
    assert "赵丽".encode("gb18030") in path.read_bytes()  # not UTF-8 on the wire
    assert not list((sftp_sim.sim.root / "inbox").glob("*.part"))


def test_permission_denied_upload_is_permanent(sftp_sim: Running, hub_config: HubConfig) -> None:
    sftp_sim.sim.faults.reject_keys.add("leg-denied")
    with pytest.raises(PermanentError) as err:
        sftp_sim.adapter.submit(_request(hub_config, "leg-denied"))
    assert err.value.reason == "refused"


def _poll(adapter: SftpAdapter) -> list[object]:
    results = adapter.poll_results()
    adapter.ack_results(results)
    return list(results)


GOOD = "H|1.0|RESULT|1\r\nD|YB1-1|leg-x|03|YB1|审核通过|\r\n".encode("gb18030")


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("R_traversal.txt", "H|1.0|RESULT|1\r\nD|YB1-1|../../etc/cron.d/x|03|YB1|ok|\r\n"
     .encode("gb18030"), "content.traversal"),
    ("R_badbytes.txt", b"H|1.0|RESULT|1\r\nD|YB1-1|leg-x|03|YB1|\x81\x20\xff|\r\n",
     "content.encoding"),
    ("R_oversize.txt", b"H|1.0|RESULT|1\r\n" + b"x" * 1_100_000, "content.oversize"),
    ("R_garbage.txt", b"hello", "content.header"),
    ("..evil.txt", GOOD, "name.traversal"),
])
def test_hostile_reply_file_is_quarantined(sftp_sim: Running, name: str, data: bytes,
                                           reason: str) -> None:
    # given the department leaves a hostile reply file next to a good one
    sftp_sim.sim.inject_reply(name, data)
    sftp_sim.sim.inject_reply("R_good.txt", GOOD)
    adapter = sftp_sim.adapter
    assert isinstance(adapter, SftpAdapter)
    # when the hub polls, then the good answer comes back and the bad file is set aside
    results = _poll(adapter)
    assert [r.leg_id for r in results] == ["leg-x"]  # type: ignore[attr-defined]
    quarantined = adapter.take_quarantined()
    assert [(q.name, q.reason) for q in quarantined] == [(name, reason)]
    root = sftp_sim.sim.root
    assert not (root / "outbox" / name).exists()
    reasons = [p.read_text() for p in (root / "outbox" / "quarantine").glob("*.reason")]
    assert reasons == [f"{reason}\n{name!r}\n"]
    assert (root / "outbox" / "archive" / "R_good.txt").exists()  # acknowledged -> archived


def test_traversal_name_in_listing_is_reported_not_followed(sftp_sim: Running) -> None:
    sftp_sim.sim.faults.hostile = "traversal_name"
    adapter = sftp_sim.adapter
    assert isinstance(adapter, SftpAdapter)
    assert _poll(adapter) == []
    assert [(q.name, q.reason) for q in adapter.take_quarantined()] == [
        ("../../etc/passwd", "name.traversal")]
    assert _poll(adapter) == [] and adapter.take_quarantined() == []  # reported once


def test_reply_stays_until_acknowledged(sftp_sim: Running, hub_config: HubConfig) -> None:
    sftp_sim.sim.inject_reply("R_wait.txt", GOOD)
    adapter = sftp_sim.adapter
    first = adapter.poll_results()
    assert len(first) == 1
    assert (sftp_sim.sim.root / "outbox" / "R_wait.txt").exists()  # not archived before ack
    adapter.ack_results(first)
    assert not (sftp_sim.sim.root / "outbox" / "R_wait.txt").exists()
    assert (sftp_sim.sim.root / "outbox" / "archive" / "R_wait.txt").exists()
