"""SFTP file-exchange transport (paramiko) for departments that trade batch files.

Features: pinned host keys only (``RejectPolicy`` + the ``known_hosts`` file from config; an
unknown or changed key is refused before anything is sent); key authentication (``key_file``
is a path, or ``env:NAME`` whose secret is a path or the PEM itself); every timeout
(``timeout``, ``banner_timeout``, ``auth_timeout``, ``channel_timeout``, per SFTP request) plus
an overall ``deadline_s`` after which the session is torn down; atomic upload (``<name>.part``
with ``confirm=True``, then ``posix_rename``); the file name is the message's idempotency key
(leg id + message sequence: ``_BC<n>`` for the n-th supplement), so a resend replaces the
earlier file instead of adding one, and a second supplement never overwrites the first.

Wire format (``adapters/medical_insurance/FILE_SPEC.md``): ``encoding`` (GB18030), records
separated by CRLF, fields by ``delimiter``; a batch is ``H`` header, ``C`` column names, ``D``
data; a reply is ``H|1.0|RESULT|n`` then ``n`` ``D`` records.

Attachments (scans, audio/video): each is uploaded as its own file next to the batch file,
streamed chunk by chunk from ``SubmitRequest.open_attachment`` (never whole in memory), checked
against its declared size and SHA-256 while it streams (``adapters.transports.attachments``),
written as ``.part`` with the size confirmed, then renamed into place; its name is derived from
the leg id, its position and its SHA-256, so a resend replaces it. All attachments go up
**before** the batch file, which then lists them (``A`` records, header version ``1.1``): the
department never sees a batch whose files are missing. A stream that does not match its
declaration -> PermanentError(reason="tampered"), the partial file is removed and no batch file
is written. The overall deadline grows with the bytes to send (``deadline_s`` plus
``_FLOOR_BYTES_PER_S``), so a large scan over a slow village link is not cut off; stalls are
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
import re
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import paramiko

from adapters.registry import lookup_secret
from adapters.transports.attachments import has_attachments, verified
from adapters.transports.bounded import CHUNK_BYTES, ResponseTooLarge, read_capped
from adapters.transports.sftp_folders import (
    ProvisioningError,
    check_writable,
    ensure_folder,
    list_folder,
)
from hub.config.codetables import CodeTable
from hub.config.departments import DepartmentConfig, SftpTransport
from hub.domain.adapter import Health, Receipt, Result, ResultOutcome, SubmitRequest
from hub.domain.errors import ConfigError, PermanentError, Problem, TransientError

__all__ = ["OUTCOME_CODES", "QuarantinedFile", "SftpAdapter", "attachment_name", "file_name"]

log = logging.getLogger(__name__)

OUTCOME_CODES: dict[str, ResultOutcome] = {
    "01": "accepted", "02": "needs_materials", "03": "approved", "04": "rejected"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:.-]{0,127}$")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The slowest link we still wait for (512 kbit/s): sets how far the deadline stretches per byte.
_FLOOR_BYTES_PER_S = 64 * 1024


@dataclass(frozen=True)
class QuarantinedFile:
    name: str
    reason: str


class _Refused(Exception):
    """A reply file is refused; ``args[0]`` is the reason code."""


def file_name(department: str, leg_id: str, kind: str, sequence: int = 0) -> str:
    """The batch file name of one message: its idempotency key (leg id + message sequence), so a
    resend replaces the file and every supplement gets a file of its own (``_BC<n>``)."""
    key = leg_id if _SAFE_KEY.match(leg_id) else hashlib.sha256(leg_id.encode()).hexdigest()[:40]
    return f"{department}_{key}{f'_BC{sequence}' if kind == 'supplement' else ''}.txt"


def attachment_name(department: str, leg_id: str, kind: str, index: int, sha256: str,
                    sequence: int = 0) -> str:
    """The deterministic name of a message's ``index``-th attachment (1-based; a resend
    replaces)."""
    stem = file_name(department, leg_id, kind, sequence).removesuffix(".txt")
    return f"{stem}_A{index:02d}_{sha256[:16].lower()}.bin"


def _safe(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


class SftpAdapter:
    def __init__(self, dept: DepartmentConfig, *, tables: Mapping[str, CodeTable] | None = None,
                 secrets: Mapping[str, str] | None = None) -> None:
        if not isinstance(dept.transport, SftpTransport):
            raise TypeError("SftpAdapter needs an sftp transport")
        self.department = dept.name
        self._cfg = cfg = dept.transport
        self._known_hosts = dept.resolve(cfg.known_hosts)
        self._key = self._load_key(dept, secrets)
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()
        self._files: dict[str, str] = {}  # result id -> reply file name
        self._unacked: dict[str, set[str]] = {}  # reply file name -> result ids not yet acked
        self._quarantined: list[QuarantinedFile] = []
        self._reported: set[str] = set()
        self._folders_ready = False  # archive and quarantine exist (checked once per session)
        self._problem: str | None = None  # the provisioning problem last logged

    # -- connection -----------------------------------------------------------------------------
    def _load_key(self, dept: DepartmentConfig, secrets: Mapping[str, str] | None) -> paramiko.PKey:
        spec = self._cfg.key_file
        where = f"{dept.source_file or dept.name}: transport.key_file"
        if spec.startswith("env:"):
            value = lookup_secret(spec[4:], secrets)
            if not value:
                raise ConfigError([Problem(where, "secret.missing", f"secret {spec[4:]} not set")])
            if value.lstrip().startswith("-----BEGIN"):
                for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
                    try:
                        return cls.from_private_key(io.StringIO(value))
                    except paramiko.SSHException:
                        continue
                raise ConfigError([Problem(where, "key.invalid", "not a private key")])
            path = Path(value)
        else:
            path = dept.resolve(spec)
        try:
            return paramiko.PKey.from_path(path)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise ConfigError([Problem(where, "key.invalid", f"cannot load key: {exc}")]) from exc

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
        self._folders_ready = False

    @contextmanager
    def _session(self, what: str, extra_bytes: int = 0) -> Iterator[paramiko.SFTPClient]:
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
            except paramiko.BadHostKeyException as exc:
                self._drop()
                raise TransientError(f"{self.department}: host key CHANGED, refused") from exc
            except paramiko.AuthenticationException as exc:
                self._drop()
                raise TransientError(f"{self.department}: authentication failed") from exc
            except PermissionError as exc:  # SFTP_PERMISSION_DENIED arrives as EACCES
                if what != "upload":  # polling, archiving, quarantining: the account's rights
                    problem = ProvisioningError(f"{self.department}: {what}: permission denied "
                                                "(provisioning)")
                    self._alert(problem)
                    raise problem from exc
                raise PermanentError(f"{self.department}: {what}: permission denied",
                                     reason="refused") from exc
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self._drop()  # the session may be half-dead: start clean next time
                raise TransientError(f"{self.department}: {what}: {type(exc).__name__}: "
                                     f"{exc}") from exc
            finally:
                timer.cancel()

    def _alert(self, problem: ProvisioningError) -> None:
        """A clear alert, once per provisioning problem (logged again when it changes)."""
        if str(problem) != self._problem:
            self._problem = str(problem)
            log.error("department provisioning problem",
                      extra={"department": self.department, "detail": str(problem)})

    # -- submit ---------------------------------------------------------------------------------
    def _render(self, request: SubmitRequest, files: Sequence[str] = ()) -> bytes:
        d = self._cfg.delimiter
        columns = list(request.record)
        values = ["" if v is None else str(v) for v in request.record.values()]
        head = ["H", "1.1" if files else "1.0", request.leg_id, request.kind, request.case_id,
                request.item_code, str(len(columns)), *([str(len(files))] if files else [])]
        listed = [["A", str(n), name, ref.kind, ref.media_type, str(ref.size), ref.sha256.lower()]
                  for n, (name, ref) in enumerate(
                      zip(files, request.attachments[:len(files)], strict=True), start=1)]
        for value in (*head, *columns, *values, *(v for rec in listed for v in rec)):
            if d in value or "\r" in value or "\n" in value:
                raise PermanentError(f"{self.department}: a value contains the delimiter or a "
                                     "line break", reason="unmappable")
        lines = [d.join(head), d.join(["C", *columns]), d.join(["D", *values]),
                 *(d.join(rec) for rec in listed)]
        try:
            return ("\r\n".join(lines) + "\r\n").encode(self._cfg.encoding)
        except UnicodeEncodeError as exc:
            raise PermanentError(f"{self.department}: not encodable in {self._cfg.encoding}",
                                 reason="unmappable") from exc

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
        try:
            text = data.decode(self._cfg.encoding, errors="strict")
        except UnicodeDecodeError:
            raise _Refused("content.encoding") from None
        lines = text.split("\r\n")
        if lines and lines[-1] == "":
            lines.pop()
        d = self._cfg.delimiter
        head = lines[0].split(d) if lines else []
        if len(head) != 4 or head[:3] != ["H", "1.0", "RESULT"] or head[3] != str(len(lines) - 1):
            raise _Refused("content.header")
        out: list[Result] = []
        for line in lines[1:]:
            parts = line.split(d)
            if len(parts) != 7 or parts[0] != "D" or parts[3] not in OUTCOME_CODES:
                raise _Refused("content.format")
            _, result_id, leg_id, code, ref, detail, missing = parts
            if not (_SAFE_ID.match(result_id) and _SAFE_ID.match(leg_id)) \
                    or ".." in result_id + leg_id or "/" in ref + detail + missing:
                raise _Refused("content.traversal")
            out.append(Result(result_id=result_id, leg_id=leg_id, outcome=OUTCOME_CODES[code],
                              department_ref=ref or None, detail=detail or None,
                              missing_materials=tuple(m for m in missing.split(",") if m)))
        return out

    def _quarantine(self, sftp: paramiko.SFTPClient, name: str, reason: str) -> None:
        cfg = self._cfg
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        target = name if _safe(name) else f"unsafe-{digest}"
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
                if not _safe(name):
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
                except _Refused as exc:
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
        with self._lock:
            self._drop()
