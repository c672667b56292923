"""The SFTP folders a department gives the hub, and the answer when they are not as agreed.

Departments provision the hub's account the usual way: chrooted, ``internal-sftp``, key only,
the chroot root owned by root, the hub allowed to write only in ``inbox/`` and ``outbox/``. So
the hub requires nothing at the root: ``archive_dir`` and ``quarantine_dir`` default to folders
inside the outbox (configurable) and are created on first use, never on connect and never for
an upload (a submission needs the inbox only).

A folder that is missing or that the hub may not write is a provisioning problem, not a
property of the resident's application: ``ProvisioningError`` is a ``TransientError``, so the
department's legs wait as a backlog (retry tiers, circuit breaker, ``DepartmentFailing``
alert) while ``health()`` names the folder, instead of every leg being dead-lettered. The
adapter logs each new problem once at error level (``department provisioning problem``).
Writability is probed with an empty ``.hub-probe-<random>.part`` file, removed at once
(department processors ignore ``*.part``, FILE_SPEC.md).
"""

from __future__ import annotations

import contextlib
import secrets

import paramiko

from hub.domain.errors import TransientError

__all__ = ["ProvisioningError", "check_writable", "ensure_folder", "list_folder"]


class ProvisioningError(TransientError):
    """A folder the department should have provisioned is missing or not writable."""


def check_writable(sftp: paramiko.SFTPClient, department: str, folder: str) -> None:
    """Raise ``ProvisioningError`` unless the hub can create a file in ``folder``."""
    probe = f"{folder}/.hub-probe-{secrets.token_hex(6)}.part"
    try:
        with sftp.open(probe, "wb"):
            pass
    except FileNotFoundError as exc:
        raise ProvisioningError(f"{department}: SFTP folder {folder}/ does not exist "
                                "(provisioning)") from exc
    except PermissionError as exc:
        raise ProvisioningError(f"{department}: SFTP folder {folder}/ is not writable for the "
                                "hub (provisioning)") from exc
    with contextlib.suppress(OSError):
        sftp.remove(probe)


def ensure_folder(sftp: paramiko.SFTPClient, department: str, folder: str) -> None:
    """Create ``folder`` when it is missing; ``ProvisioningError`` when the hub may not."""
    try:
        sftp.stat(folder)
        return
    except FileNotFoundError:
        pass
    try:
        sftp.mkdir(folder)
    except PermissionError as exc:
        raise ProvisioningError(f"{department}: SFTP folder {folder}/ is missing and the hub may "
                                "not create it (provisioning)") from exc
    except FileNotFoundError as exc:
        raise ProvisioningError(f"{department}: the parent of SFTP folder {folder}/ does not "
                                "exist (provisioning)") from exc


def list_folder(sftp: paramiko.SFTPClient, department: str,
                folder: str) -> list[paramiko.SFTPAttributes]:
    try:
        return sftp.listdir_attr(folder)
    except FileNotFoundError as exc:
        raise ProvisioningError(f"{department}: SFTP folder {folder}/ does not exist "
                                "(provisioning)") from exc
    except PermissionError as exc:
        raise ProvisioningError(f"{department}: SFTP folder {folder}/ is not readable for the "
                                "hub (provisioning)") from exc
