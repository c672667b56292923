"""The SFTP transport against Debian's OpenSSH set up as departments really provision the hub
(issue 18, item 16): ``ChrootDirectory`` owned by root, ``ForceCommand internal-sftp``, key
only, an unprivileged account (``nobody``) that may write only in ``inbox/`` and ``outbox/``.

The chroot lives under ``/run`` (every path component must be root-owned and not writable by
others, which ``/tmp`` is not); the authorized_keys file beside it is readable by the account.
"""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from adapters.registry import build_adapter
from adapters.transports.sftp import SftpAdapter, file_name
from hub.config.loading import HubConfig
from hub.domain.errors import PermanentError, TransientError
from tests.support import services
from tests.support.sims import SshKeys, hub_config, leg_request, sample_case, ssh_keys  # noqa: F401

pytestmark = pytest.mark.sshd

USER = "nobody"


@dataclass
class LockedSshd:
    port: int
    host_key: paramiko.PKey
    root: Path  # the chroot: root-owned, the hub may write only in inbox/ and outbox/
    known_hosts: Path


@pytest.fixture
def locked_sshd(tmp_path: Path, ssh_keys: SshKeys) -> Iterator[LockedSshd]:
    exe = services.require_sshd()
    if os.geteuid() != 0:
        pytest.skip("a chrooted sshd account needs root to set up")
    account = pwd.getpwnam(USER)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="hub-sftp-", dir="/run"))
    base.chmod(0o755)
    root = base / "chroot"
    root.mkdir(mode=0o755)
    for name in ("inbox", "outbox"):
        (root / name).mkdir(mode=0o755)
        os.chown(root / name, account.pw_uid, account.pw_gid)
    authorized = base / "authorized_keys"
    authorized.write_text(f"{ssh_keys.client_key.get_name()} {ssh_keys.client_key.get_base64()}\n")
    authorized.chmod(0o644)
    host_key_file = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key_file)],
                   check=True)
    port = services.free_port()
    proc = subprocess.Popen([
        exe, "-D", "-e", "-f", "/dev/null", "-p", str(port), "-h", str(host_key_file),
        "-o", "ListenAddress=127.0.0.1", "-o", f"AuthorizedKeysFile={authorized}",
        "-o", f"AllowUsers={USER}", "-o", f"ChrootDirectory={root}",
        "-o", "ForceCommand=internal-sftp", "-o", "Subsystem=sftp internal-sftp",
        "-o", "PidFile=none", "-o", "UsePAM=no", "-o", "PermitRootLogin=no",
        "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
        "-o", "AllowTcpForwarding=no", "-o", "X11Forwarding=no",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not services.port_open("127.0.0.1", port, timeout=0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"sshd did not start: {err}")
            time.sleep(0.05)
        host_key = paramiko.Ed25519Key.from_private_key_file(str(host_key_file))
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
        yield LockedSshd(port, host_key, root, known)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


def _adapter(config: HubConfig, sshd: LockedSshd, keys: SshKeys) -> SftpAdapter:
    """The department's YAML as committed (relative folders, default archive/quarantine)."""
    overrides = {"host": "127.0.0.1", "port": sshd.port, "username": USER,
                 "key_file": str(keys.key_file), "known_hosts": str(sshd.known_hosts),
                 "timeout_s": 5, "deadline_s": 20}
    adapter = build_adapter(config.departments["medical_insurance"], overrides=overrides)
    assert isinstance(adapter, SftpAdapter)
    return adapter


def _request(config: HubConfig, leg_id: str):  # type: ignore[no-untyped-def]
    return leg_request(config, "medical_insurance", sample_case("medical_insurance", "birth"),
                       leg_id)


def test_hub_works_where_it_may_write_only_inbox_and_outbox(
        locked_sshd: LockedSshd, ssh_keys: SshKeys, hub_config: HubConfig) -> None:
    root = locked_sshd.root
    adapter = _adapter(hub_config, locked_sshd, ssh_keys)
    try:
        # given the usual locked-down account, when the hub submits a leg
        receipt = adapter.submit(_request(hub_config, "leg-locked-1"))
        # then the batch file arrives and nothing is created at the chroot root
        assert (root / "inbox" / receipt.department_ref).exists()
        assert sorted(p.name for p in root.iterdir()) == ["inbox", "outbox"]
        # and replies are read, archived and quarantined inside the outbox
        (root / "outbox" / "R_1.txt").write_bytes(
            "H|1.0|RESULT|1\r\nD|YB9-1|leg-locked-1|03|YB9|审核通过|\r\n".encode("gb18030"))
        (root / "outbox" / "R_2.txt").write_bytes(b"H|1.0|RESULT|1\r\nD|\xff\xfe|\r\n")
        results = adapter.poll_results()
        assert [(r.leg_id, r.outcome) for r in results] == [("leg-locked-1", "approved")]
        adapter.ack_results(results)
        assert (root / "outbox" / "archive" / "R_1.txt").exists()
        assert (root / "outbox" / "quarantine" / "R_2.txt").exists()
        assert [q.reason for q in adapter.take_quarantined()] == ["content.encoding"]
        assert adapter.poll_results() == []  # the folders in the outbox are not replies
        assert adapter.health().ok, adapter.health().detail
    finally:
        adapter.close()


def test_each_supplement_is_its_own_file_on_openssh(
        locked_sshd: LockedSshd, ssh_keys: SshKeys, hub_config: HubConfig) -> None:
    # issue 18 item 12 on a real server with no processor picking files up
    adapter = _adapter(hub_config, locked_sshd, ssh_keys)
    base = _request(hub_config, "leg-locked-2")
    try:
        first = dataclasses.replace(base, kind="supplement", sequence=1)
        second = dataclasses.replace(base, kind="supplement", sequence=2)
        adapter.submit(first)
        adapter.submit(second)
        adapter.submit(second)  # a resend replaces its own file only
        inbox = sorted(p.name for p in (locked_sshd.root / "inbox").iterdir())
        assert inbox == sorted(file_name("medical_insurance", "leg-locked-2", "supplement", n)
                               for n in (1, 2))
    finally:
        adapter.close()


def test_unprovisioned_folders_hold_legs_as_backlog_and_fail_health(
        locked_sshd: LockedSshd, ssh_keys: SshKeys, hub_config: HubConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    root = locked_sshd.root
    # given a department that forgot to let the hub write its inbox and its outbox
    for name in ("inbox", "outbox"):
        os.chown(root / name, 0, 0)
    adapter = _adapter(hub_config, locked_sshd, ssh_keys)
    try:
        # when a leg is submitted, then it fails transiently (kept as backlog, retried),
        # never permanently, and the problem names the folder
        with pytest.raises(TransientError, match=r"inbox/ is not writable") as err:
            adapter.submit(_request(hub_config, "leg-locked-3"))
        assert not isinstance(err.value, PermanentError)
        # and polling cannot archive: also a provisioning problem, not a crash of the poller
        with pytest.raises(TransientError, match="provisioning"):
            adapter.poll_results()
        # and the department's health check fails with a clear reason, logged as an alert
        health = adapter.health()
        assert not health.ok and "provisioning" in health.detail
        assert any(r.getMessage() == "department provisioning problem" for r in caplog.records)
        # when the department fixes the account, then the same leg goes through
        account = pwd.getpwnam(USER)
        for name in ("inbox", "outbox"):
            os.chown(root / name, account.pw_uid, account.pw_gid)
        adapter.submit(_request(hub_config, "leg-locked-3"))
        assert (root / "inbox" / file_name("medical_insurance", "leg-locked-3", "submit")).exists()
        assert adapter.health().ok
    finally:
        adapter.close()


def test_the_worker_keeps_legs_as_backlog_while_the_account_is_unprovisioned(
        locked_sshd: LockedSshd, ssh_keys: SshKeys, tmp_path: Path) -> None:
    """The worker's answer to a provisioning problem: retry (backlog), never a dead letter."""
    from hub.bus.base import Ack, Delivery, Message, Retry
    from hub.bus.embedded import EmbeddedBus
    from hub.delivery.ledger import Ledger
    from hub.delivery.worker import DepartmentWorker
    from hub.intake import split_legs as router
    from hub.intake.validation import validate_case
    from simulators.samples import sample_case as random_case
    from tests.support.hub import fast_config

    cfg = fast_config()
    item = cfg.catalogue.get("BIRTH")
    assert item is not None
    raw, _ = random_case(cfg, item, village_code="513401101201")
    [leg] = [m for m in router.route(validate_case(raw, cfg), cfg)
             if m.department == "medical_insurance"]
    bus = EmbeddedBus(tmp_path / "bus.db")
    bus.declare({n: d.retry.tiers() for n, d in cfg.departments.items()})
    ledger = Ledger(tmp_path / "worker.db")
    adapter = _adapter(cfg, locked_sshd, ssh_keys)
    worker = DepartmentWorker("medical_insurance", cfg, bus, adapter, ledger)
    root = locked_sshd.root
    os.chown(root / "inbox", 0, 0)  # given the hub may not write the inbox
    try:
        def deliver(attempt: int) -> object:
            [outcome] = worker.handle_batch([Delivery(
                Message(leg.message_id, "medical_insurance", leg.model_dump_json().encode()),
                "hub.dept.medical_insurance", attempt)])
            return outcome

        # when the leg is delivered, then it comes back later: a backlog, not a failure
        assert isinstance(deliver(1), Retry)
        assert bus.dead_letters("medical_insurance") == []
        # and once the department fixes the account the same leg is filed
        account = pwd.getpwnam(USER)
        os.chown(root / "inbox", account.pw_uid, account.pw_gid)
        assert deliver(2) == Ack()
        assert (root / "inbox" / file_name("medical_insurance", leg.leg_id, "submit")).exists()
    finally:
        adapter.close()
        ledger.close()
        bus.close()
