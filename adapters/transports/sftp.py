"""SFTP file-exchange transport (paramiko) for departments that trade batch files.

Features: pinned host keys only (``RejectPolicy`` + the ``known_hosts`` file from config; an
unknown or changed key is refused before anything is sent); key authentication (``key_file``
is a path, or ``env:NAME`` whose secret is a path or the PEM itself); every timeout
(``timeout``, ``banner_timeout``, ``auth_timeout``, ``channel_timeout``, per SFTP request) plus
an overall ``deadline_s`` after which the session is torn down (``sftp_session``); atomic
upload (``<name>.part`` with ``confirm=True``, then ``posix_rename``); the file name is the
message's idempotency key (leg id + message sequence: ``_BC<n>`` for the n-th supplement), so a
resend replaces the earlier file instead of adding one, and a second supplement never
overwrites the first.

Wire format: ``adapters.transports.sftp_format`` (``adapters/medical_insurance/FILE_SPEC.md``).

Attachments (scans, audio/video): each is uploaded as its own file next to the batch file,
streamed chunk by chunk from ``SubmitRequest.open_attachment`` (never whole in memory), checked
against its declared size and SHA-256 while it streams (``adapters.transports.attachments``),
written as ``.part`` with the size confirmed, then renamed into place; its name is derived from
the leg id, its position and its SHA-256, so a resend replaces it. All attachments go up
**before** the batch file, which then lists them (``A`` records, header version ``1.1``): the
department never sees a batch whose files are missing. A stream that does not match its
declaration -> PermanentError(reason=Reason.TAMPERED), the partial file is removed and no batch file
is written. The overall deadline grows with the bytes to send (``deadline_s`` plus
``adapters.transports.sftp_session``), so a large scan over a slow village link is not cut off; stalls are
still caught by the per-request ``timeout_s``.

Replies are polled from ``outbox_dir`` and parsed strictly. A reply whose name or content
attempts path traversal, that does not decode, is oversize or malformed is moved to
``quarantine_dir`` next to a ``.reason`` file, reported through ``take_quarantined()`` and
logged -- it never crashes polling. Folders: the hub needs to write only in the inbox and the
outbox (``adapters.transports.sftp_folders``: archive and quarantine default to folders inside
the outbox; a missing or unwritable folder is a ``ProvisioningError``, transient, reported by
``health()``). Files are archived (``archive_dir``) once every result in
them is acknowledged; a file whose results were not all acknowledged is read again by the next
poll (only what the hub has recorded counts as read). Errors: network, SSH, host key and
authentication problems -> TransientError (nothing was sent, or a resend replaces); permission
denied on upload or a value that cannot be written in the format -> PermanentError.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import paramiko

from adapters.transports.attachments import has_attachments, verified
from adapters.transports.bounded import CHUNK_BYTES, ResponseTooLarge, read_capped
from adapters.transports.sftp_folders import (
    check_writable,
    ensure_folder,
    list_folder,
)
from adapters.transports.sftp_format import (
    OUTCOME_CODES,
    Refused,
    attachment_name,
    file_name,
    parse_reply,
    render_batch,
    safe_name,
)
from adapters.transports.sftp_key import load_key
from adapters.transports.sftp_session import SftpSessions
from hub.config.departments import DepartmentConfig
from hub.config.transports.sftp import SftpTransport
from hub.domain.adapter import Health, Receipt, Result, SubmitRequest
from hub.domain.errors import PermanentError, TransientError

__all__ = ["OUTCOME_CODES", "QuarantinedFile", "SftpAdapter", "attachment_name", "file_name"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class QuarantinedFile:
    name: str
    reason: str


class SftpAdapter:
    def __init__(self, dept: DepartmentConfig, *,
                 secrets: Mapping[str, str] | None = None) -> None:
        if not isinstance(dept.transport, SftpTransport):
            raise TypeError("SftpAdapter needs an sftp transport")
        self.department = dept.name
        self._cfg = cfg = dept.transport
        self._sessions = SftpSessions(dept.name, cfg, dept.resolve(cfg.known_hosts),
                                      load_key(dept, cfg.key_file, secrets),
                                      on_drop=self._forget_folders)
        self._files: dict[str, str] = {}  # result id -> reply file name
        self._unacked: dict[str, set[str]] = {}  # reply file name -> result ids not yet acked
        self._quarantined: list[QuarantinedFile] = []
        self._reported: set[str] = set()
        self._folders_ready = False  # archive and quarantine exist (checked once per session)

    def _forget_folders(self) -> None:  # a new session checks the folders again
        self._folders_ready = False

    def _session(self, what: str, extra_bytes: int = 0
                 ) -> contextlib.AbstractContextManager[paramiko.SFTPClient]:
        return self._sessions.open(what, extra_bytes)

    # -- submit ---------------------------------------------------------------------------------
    def _render(self, request: SubmitRequest, files: Sequence[str] = ()) -> bytes:
        return render_batch(self.department, request, files, delimiter=self._cfg.delimiter,
                            encoding=self._cfg.encoding)

    def submit(self, request: SubmitRequest) -> Receipt:
        files = [attachment_name(self.department, request.leg_id, request.kind, n, ref.sha256,
                                 request.sequence)
                 for n, ref in enumerate(request.attachments, start=1)] \
            if has_attachments(request) else []
        data = self._render(request, files)  # refuses an unwritable leg before any upload
        name = file_name(self.department, request.leg_id, request.kind, request.sequence)
        final = f"{self._cfg.inbox_dir}/{name}"
        total = sum(ref.size for ref in request.attachments) if files else 0
        with self._session("upload", extra_bytes=total) as sftp:
            try:
                for n, file in enumerate(files, start=1):
                    self._put_attachment(sftp, request, n, file)
                sftp.putfo(io.BytesIO(data), final + ".part", file_size=len(data), confirm=True)
                sftp.posix_rename(final + ".part", final)
            except (PermissionError, FileNotFoundError):
                # The inbox itself missing or unwritable is provisioning (a backlog, retried);
                # only a refusal of this one file is the leg's permanent failure.
                check_writable(sftp, self.department, self._cfg.inbox_dir)
                raise
        return Receipt(department_ref=name)

    def _put_attachment(self, sftp: paramiko.SFTPClient, request: SubmitRequest, n: int,
                        name: str) -> None:
        """Stream one attachment to ``<name>.part``, confirm its size, rename it into place."""
        assert request.open_attachment is not None
        ref = request.attachments[n - 1]
        part = f"{self._cfg.inbox_dir}/{name}.part"
        try:
            with sftp.open(part, "wb") as fh:
                fh.set_pipelined(True)  # acks are collected at close: no round trip per chunk
                for chunk in verified(self.department, n, ref, request.open_attachment(ref)):
                    fh.write(chunk)
        except PermanentError:
            # Leave no partial copy of wrong bytes behind (readers ignore *.part anyway).
            with contextlib.suppress(OSError, paramiko.SSHException, EOFError):
                sftp.remove(part)
            raise
        written = sftp.stat(part).st_size
        if written != ref.size:
            raise TransientError(f"{self.department}: attachment {n}: {written} of {ref.size} "
                                 "bytes arrived")
        sftp.posix_rename(part, f"{self._cfg.inbox_dir}/{name}")

    # -- results --------------------------------------------------------------------------------
    def _parse(self, data: bytes) -> list[Result]:
        return parse_reply(data, delimiter=self._cfg.delimiter, encoding=self._cfg.encoding)

    def _quarantine(self, sftp: paramiko.SFTPClient, name: str, reason: str) -> None:
        cfg = self._cfg
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        target = name if safe_name(name) else f"unsafe-{digest}"
        if target not in self._reported:
            self._reported.add(target)
            self._quarantined.append(QuarantinedFile(name=name, reason=reason))
            log.warning("reply file quarantined", extra={"department": self.department,
                                                         "file": target, "reason": reason})
        with sftp.open(f"{cfg.quarantine_dir}/{target}.reason", "wb") as fh:
            fh.write(f"{reason}\n{name!r}\n".encode())
        if "/" not in name and name not in (".", ".."):  # a single path component: safe to move
            sftp.posix_rename(f"{cfg.outbox_dir}/{name}", f"{cfg.quarantine_dir}/{target}")

    def poll_results(self) -> list[Result]:
        cfg = self._cfg
        out: list[Result] = []
        with self._session("poll") as sftp:
            # Only what the hub has recorded (acknowledged) counts as read: a file handed out
            # by an earlier poll whose results were never acknowledged (the publish failed) is
            # read again; the hub deduplicates by result id.
            self._files.clear()
            self._unacked.clear()
            self._prepare_folders(sftp)
            listing = list_folder(sftp, self.department, cfg.outbox_dir)
            for attr in sorted(listing, key=lambda a: a.filename):
                name = attr.filename
                if name.endswith(".part") or stat.S_ISDIR(attr.st_mode or 0):
                    continue  # being written by the department / a folder (archive, quarantine)
                if not safe_name(name):
                    if name not in self._reported:
                        self._quarantine(sftp, name, "name.traversal")
                    continue
                if (attr.st_size or 0) > cfg.max_reply_bytes:
                    self._quarantine(sftp, name, "content.oversize")
                    continue
                try:
                    with sftp.open(f"{cfg.outbox_dir}/{name}", "rb") as fh:
                        # bounded even when the file grows after it was listed
                        data = read_capped(self.department, iter(partial(fh.read, CHUNK_BYTES),
                                                                 b""), cfg.max_reply_bytes)
                    results = self._parse(data)
                except ResponseTooLarge:
                    self._quarantine(sftp, name, "content.oversize")
                    continue
                except Refused as exc:
                    self._quarantine(sftp, name, str(exc.args[0]))
                    continue
                self._unacked[name] = {r.result_id for r in results}
                self._files.update({r.result_id: name for r in results})
                out.extend(results)
        return out

    def ack_results(self, results: Sequence[Result]) -> None:
        done: list[str] = []
        for r in results:
            name = self._files.pop(r.result_id, None)
            if name is not None and name in self._unacked:
                self._unacked[name].discard(r.result_id)
                if not self._unacked[name]:
                    done.append(name)
        if not done:
            return
        with self._session("archive") as sftp:
            for name in done:
                sftp.posix_rename(f"{self._cfg.outbox_dir}/{name}",
                                  f"{self._cfg.archive_dir}/{name}")
                del self._unacked[name]

    def take_quarantined(self) -> list[QuarantinedFile]:
        """Reply files refused since the last call (for alerts and the operator)."""
        out, self._quarantined = self._quarantined, []
        return out

    def _prepare_folders(self, sftp: paramiko.SFTPClient) -> None:
        if not self._folders_ready:
            for folder in (self._cfg.archive_dir, self._cfg.quarantine_dir):
                ensure_folder(sftp, self.department, folder)
            self._folders_ready = True

    def health(self) -> Health:
        """Reachable, and every folder as provisioned: inbox writable, outbox readable, archive
        and quarantine present (created when missing) and writable."""
        cfg = self._cfg
        try:
            with self._session("health") as sftp:
                check_writable(sftp, self.department, cfg.inbox_dir)
                list_folder(sftp, self.department, cfg.outbox_dir)
                self._prepare_folders(sftp)
                for folder in (cfg.archive_dir, cfg.quarantine_dir):
                    check_writable(sftp, self.department, folder)
        except (TransientError, PermanentError) as exc:
            return Health(ok=False, detail=str(exc))
        return Health(ok=True)

    def close(self) -> None:
        self._sessions.close()
