"""SFTP sessions of one department: connect, the overall deadline, and paramiko's errors.

Pinned host keys only (``RejectPolicy`` + the configured ``known_hosts``), key authentication,
every paramiko timeout; one operation at a time, under ``deadline_s`` (stretched by the bytes
to send, see ``_FLOOR_BYTES_PER_S``) after which the session is torn down. Every vendor error
leaves through ``open`` and the one table ``SSH_ERRORS``; a provisioning problem (a folder
missing or not writable) is logged once until it changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko

from adapters.transports.sftp_folders import ProvisioningError
from hub.config.transports.sftp import SftpTransport
from hub.domain.errors import PermanentError, TransientError
from hub.domain.reasons import Reason

__all__ = ["SSH_ERRORS", "SftpSessions", "ssh_error"]

log = logging.getLogger("adapters.transports.sftp")

# The slowest link we still wait for (512 kbit/s): sets how far the deadline stretches per byte.
_FLOOR_BYTES_PER_S = 64 * 1024


# The one table of this transport's vendor errors (paramiko, sockets), first matching row wins:
# each is transient (nothing was sent, or a resend replaces) and drops the session. A refused
# permission is decided in ``SftpSessions.open`` (an upload's is the leg's; any other is provisioning).
SSH_ERRORS: tuple[tuple[tuple[type[Exception], ...], str], ...] = (
    ((paramiko.BadHostKeyException,), "host key CHANGED, refused"),
    ((paramiko.AuthenticationException,), "authentication failed"),
    ((paramiko.SSHException, EOFError, OSError), ""),  # "": what failed, and how
)
_SSH_CAUGHT = tuple(kind for kinds, _ in SSH_ERRORS for kind in kinds)


def ssh_error(department: str, what: str, exc: Exception) -> str:
    for kinds, meaning in SSH_ERRORS:
        if isinstance(exc, kinds) and meaning:
            return f"{department}: {meaning}"
    return f"{department}: {what}: {type(exc).__name__}: {exc}"




class SftpSessions:
    def __init__(self, department: str, cfg: SftpTransport, known_hosts: Path,
                 key: paramiko.PKey, *, on_drop: Callable[[], None]) -> None:
        self.department = department
        self._cfg = cfg
        self._known_hosts = known_hosts
        self._key = key
        self._on_drop = on_drop
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()
        self._problem: str | None = None  # the provisioning problem last logged

    def _connect(self) -> paramiko.SFTPClient:
        if self._sftp is not None:
            return self._sftp
        cfg = self._cfg
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(self._known_hosts))
        except OSError as exc:
            raise TransientError(f"{self.department}: known_hosts unreadable") from exc
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        t = cfg.timeout_s
        try:
            client.connect(cfg.host, cfg.port, username=cfg.username, pkey=self._key, timeout=t,
                           banner_timeout=t, auth_timeout=t, channel_timeout=t,
                           allow_agent=False, look_for_keys=False)
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(t)  # type: ignore[union-attr]
        except BaseException:
            client.close()
            raise
        self._client, self._sftp = client, sftp
        return sftp

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = self._sftp = None
        self._on_drop()

    @contextmanager
    def open(self, what: str, extra_bytes: int = 0) -> Iterator[paramiko.SFTPClient]:
        """One operation under the overall deadline; every paramiko error translated here."""
        with self._lock:
            timer = threading.Timer(self._cfg.deadline_s + extra_bytes / _FLOOR_BYTES_PER_S,
                                    self._drop)
            timer.daemon = True
            timer.start()
            try:
                yield self._connect()
                self._problem = None
            except ProvisioningError as exc:
                self._alert(exc)
                raise
            except PermissionError as exc:  # SFTP_PERMISSION_DENIED arrives as EACCES
                if what != "upload":  # polling, archiving, quarantining: the account's rights
                    problem = ProvisioningError(f"{self.department}: {what}: permission denied "
                                                "(provisioning)")
                    self._alert(problem)
                    raise problem from exc
                raise PermanentError(f"{self.department}: {what}: permission denied",
                                     reason=Reason.REFUSED) from exc
            except _SSH_CAUGHT as exc:
                self._drop()  # the session may be half-dead: start clean next time
                raise TransientError(ssh_error(self.department, what, exc)) from exc
            finally:
                timer.cancel()

    def _alert(self, problem: ProvisioningError) -> None:
        """A clear alert, once per provisioning problem (logged again when it changes)."""
        if str(problem) != self._problem:
            self._problem = str(problem)
            log.error("department provisioning problem",
                      extra={"department": self.department, "detail": str(problem)})

    def close(self) -> None:
        with self._lock:
            self._drop()
