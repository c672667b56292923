"""The SFTP transport against Debian's OpenSSH ``sshd`` on loopback: a real peer, not our sim.

A fixture runs ``/usr/sbin/sshd -D`` on a free port with a generated host key and a generated
client key in a temporary ``authorized_keys`` (``internal-sftp``, no PAM, no pid file).
"""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from adapters.registry import build_adapter
from adapters.transports.sftp import SftpAdapter, file_name
from hub.config.loading import HubConfig
from hub.domain.errors import TransientError
from tests.support import services
from tests.support.sims import SshKeys, hub_config, leg_request, sample_case, ssh_keys  # noqa: F401

pytestmark = pytest.mark.sshd


@dataclass
class Sshd:
    port: int
    host_key: paramiko.PKey
    root: Path


@pytest.fixture
def sshd(tmp_path: Path, ssh_keys: SshKeys) -> Iterator[Sshd]:
    exe = services.require_sshd()
    if os.geteuid() != 0:
        pytest.skip("the sshd fixture logs in as the current user and needs root")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_key_file = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key_file)],
                   check=True)
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(f"{ssh_keys.client_key.get_name()} {ssh_keys.client_key.get_base64()}\n")
    authorized.chmod(0o600)
    port = services.free_port()
    root = tmp_path / "yb"
    for d in ("inbox", "outbox", "archive", "quarantine"):
        (root / d).mkdir(parents=True)
    proc = subprocess.Popen([
        exe, "-D", "-e", "-f", "/dev/null", "-p", str(port), "-h", str(host_key_file),
        "-o", "ListenAddress=127.0.0.1", "-o", f"AuthorizedKeysFile={authorized}",
        "-o", "StrictModes=no", "-o", "Subsystem=sftp internal-sftp", "-o", "PidFile=none",
        "-o", "UsePAM=no", "-o", "PermitRootLogin=prohibit-password",
        "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not services.port_open("127.0.0.1", port, timeout=0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"sshd did not start: {err}")
            time.sleep(0.05)
        host_key = paramiko.Ed25519Key.from_private_key_file(str(host_key_file))
        yield Sshd(port, host_key, root)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _adapter(config: HubConfig, sshd: Sshd, keys: SshKeys, known: Path) -> SftpAdapter:
    overrides = {"host": "127.0.0.1", "port": sshd.port, "username": "root",
                 "key_file": str(keys.key_file), "known_hosts": str(known),
                 "inbox_dir": str(sshd.root / "inbox"), "outbox_dir": str(sshd.root / "outbox"),
                 "archive_dir": str(sshd.root / "archive"),
                 "quarantine_dir": str(sshd.root / "quarantine"), "timeout_s": 5}
    adapter = build_adapter(config.departments["medical_insurance"], overrides=overrides)
    assert isinstance(adapter, SftpAdapter)
    return adapter


def test_upload_resend_and_replies_against_openssh(sshd: Sshd, ssh_keys: SshKeys,
                                                   hub_config: HubConfig, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key.get_name()} "
                     f"{sshd.host_key.get_base64()}\n")
    adapter = _adapter(hub_config, sshd, ssh_keys, known)
    request = leg_request(hub_config, "medical_insurance",
                          sample_case("medical_insurance", "birth"), "leg-openssh-1")
    try:
        # when the hub uploads a leg twice (a resend after a lost reply)
        adapter.submit(request)
        adapter.submit(request)
        # then OpenSSH holds exactly one file for it (posix_rename replaced the first)
        inbox = sorted(p.name for p in (sshd.root / "inbox").iterdir())
        assert inbox == [file_name("medical_insurance", "leg-openssh-1", "submit")]
        assert (sshd.root / "inbox" / inbox[0]).read_bytes().decode("gb18030").startswith("H|")
        # and a department reply plus a hostile one are read, archived and quarantined
        (sshd.root / "outbox" / "R_1.txt").write_bytes(
            "H|1.0|RESULT|1\r\nD|YB9-1|leg-openssh-1|03|YB9|审核通过|\r\n".encode("gb18030"))
        (sshd.root / "outbox" / "R_2.txt").write_bytes(b"H|1.0|RESULT|1\r\nD|\xff\xfe|\r\n")
        results = adapter.poll_results()
        assert [(r.leg_id, r.outcome) for r in results] == [("leg-openssh-1", "approved")]
        adapter.ack_results(results)
        assert (sshd.root / "archive" / "R_1.txt").exists()
        assert (sshd.root / "quarantine" / "R_2.txt").exists()
        assert [q.reason for q in adapter.take_quarantined()] == ["content.encoding"]
        assert adapter.health().ok
    finally:
        adapter.close()


def test_openssh_with_unpinned_key_is_refused(sshd: Sshd, ssh_keys: SshKeys,
                                              hub_config: HubConfig, tmp_path: Path) -> None:
    impostor = paramiko.ECDSAKey.generate()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {impostor.get_name()} {impostor.get_base64()}\n")
    adapter = _adapter(hub_config, sshd, ssh_keys, known)
    request = leg_request(hub_config, "medical_insurance",
                          sample_case("medical_insurance", "birth"), "leg-openssh-2")
    try:
        with pytest.raises(TransientError, match="host key"):
            adapter.submit(request)
        assert list((sshd.root / "inbox").iterdir()) == []
    finally:
        adapter.close()
