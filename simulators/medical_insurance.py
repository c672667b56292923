"""Reference simulator of the medical-insurance (医保) front server: SFTP on loopback + processor.

An in-process SSH server (paramiko ``ServerInterface`` + ``SFTPServer`` + a root-confined
``SFTPServerInterface`` implementing ``posix_rename``) with a host key generated at start (never
written to the repository) and one authorised client key. A processor thread reads each complete
batch file in ``inbox/`` (``*.part`` ignored), files it in the ``SimCore`` on the application
named by the request id in the header, deduplicated by the file name (the message's idempotency
key: a resent file is a no-op, a new supplement file a new filing) and answers every result
with a reply file in ``outbox/`` written atomically (``FILE_SPEC.md``). A batch that lists
attachments (header ``1.1``, ``A`` records) is filed only when every listed file is in
``inbox/`` with the listed size and SHA-256 (hashed in chunks); otherwise nothing is filed,
the batch and its files go to ``rejected/`` and the reply is status ``04`` with the reason.
Filed batches and their files go to ``processed/``; ``attachment_bytes[key]`` counts the
attachment bytes received per request id.

Injectable (see ``simulators.base``): ``faults.slow_s`` (every SFTP request waits);
``faults.down`` (connections accepted and closed at once: the session drops); ``stop()`` /
``start()`` (connection refused, same port); ``faults.transient_next`` (the next N sessions are
dropped as an upload starts); ``faults.lose_reply_next`` (the next N uploads are renamed
into place, then the session is dropped before the reply); ``faults.reject_all`` /
``reject_keys`` (uploads of application files to inbox refused with permission denied, the
folder itself writable); ``faults.hostile =
"traversal_name"`` (the outbox listing carries ``../../etc/passwd``); ``inject_reply(name,
data)`` writes any reply file (traversal content, undecodable bytes, oversize...).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import paramiko
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED

from simulators.base import Behaviour, Faults, SimCore, SimRefused, SimUnavailable, hash_stream

__all__ = ["SftpSim"]

_CODES = {"accepted": "01", "needs_materials": "02", "approved": "03", "rejected": "04"}


class _Server(paramiko.ServerInterface):
    def __init__(self, sim: SftpSim, transport: paramiko.Transport) -> None:
        self.sim = sim
        self.transport = transport

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == self.sim.username and key == self.sim.client_key
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(paramiko.SFTPHandle):
    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))  # type: ignore[attr-defined]
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or 0)


class _RootSftp(paramiko.SFTPServerInterface):
    """Serves ``sim.root`` as ``/``; no path escapes it."""

    def __init__(self, server: _Server, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.sim = server.sim
        self._transport = server.transport

    def _drop(self) -> None:
        # Closed from another thread: Transport.close() joins the transport's own thread.
        threading.Thread(target=self._transport.close, daemon=True).start()

    def _real(self, path: str) -> str:
        clean = os.path.normpath("/" + path.replace("\\", "/")).lstrip("/")
        return str(self.sim.root / clean)

    def _wait(self) -> None:
        if self.sim.faults.slow_s:
            time.sleep(self.sim.faults.slow_s)

    def canonicalize(self, path: str) -> str:
        return os.path.normpath("/" + path)

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        self._wait()
        real = self._real(path)
        try:
            out = []
            for name in os.listdir(real):
                attr = paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(real, name)))
                attr.filename = name
                out.append(attr)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or 0)
        if self.sim.faults.hostile == "traversal_name" and path.rstrip("/").endswith("outbox"):
            evil = paramiko.SFTPAttributes()
            evil.filename, evil.st_size = "../../etc/passwd", 10
            out.append(evil)
        return out

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        self._wait()
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or 0)

    lstat = stat

    def open(self, path: str, flags: int,
             attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle | int:
        self._wait()
        writing = flags & (os.O_WRONLY | os.O_RDWR)
        if writing and "/inbox/" in self.canonicalize(path) + "/":
            if self.sim.refuses(path):
                return SFTP_PERMISSION_DENIED
            if self.sim.core.take("transient_next"):  # the session drops during the upload
                self._drop()
                return SFTP_FAILURE
        try:
            fd = os.open(self._real(path), flags | getattr(os, "O_BINARY", 0), 0o644)
            mode = ("ab" if flags & os.O_APPEND else "wb") if flags & os.O_WRONLY else \
                "r+b" if flags & os.O_RDWR else "rb"
            fobj = os.fdopen(fd, mode)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or 0)
        handle = _Handle(flags)
        handle.filename = self._real(path)  # type: ignore[attr-defined]
        handle.readfile = fobj  # type: ignore[attr-defined]
        handle.writefile = fobj  # type: ignore[attr-defined]
        return handle

    def remove(self, path: str) -> int:
        try:
            os.remove(self._real(path))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or 0)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        if os.path.exists(self._real(newpath)):
            return SFTP_FAILURE  # like OpenSSH: plain rename does not replace
        return self.posix_rename(oldpath, newpath)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        self._wait()
        try:
            os.replace(self._real(oldpath), self._real(newpath))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or 0)
        if "/inbox/" in self.canonicalize(newpath) and newpath.endswith(".txt") \
                and self.sim.core.take("lose_reply_next"):
            self._drop()  # filed; the client never hears back
            return SFTP_FAILURE
        return SFTP_OK

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        try:
            os.mkdir(self._real(path))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or 0)
        return SFTP_OK

    def rmdir(self, path: str) -> int:
        try:
            os.rmdir(self._real(path))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or 0)
        return SFTP_OK

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK if os.path.exists(self._real(path)) else SFTP_NO_SUCH_FILE


class SftpSim:
    def __init__(self, root: Path, *, client_key: paramiko.PKey, username: str = "village_hub",
                 behaviour: Behaviour | None = None, faults: Faults | None = None,
                 result_delay_s: float = 0.05, encoding: str = "gb18030", delimiter: str = "|",
                 prefix: str = "YB", port: int = 0) -> None:
        self.root = root
        self.client_key = client_key
        self.username = username
        self.encoding, self.delimiter = encoding, delimiter
        self.core = SimCore(prefix, behaviour, faults, result_delay_s)
        self.host_key = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") \
            else paramiko.ECDSAKey.generate()
        self.port = port
        self.bad_files: list[str] = []  # uploads the processor could not read
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()
        for d in ("inbox", "outbox", "processed"):
            (root / d).mkdir(parents=True, exist_ok=True)

    @property
    def faults(self) -> Faults:
        return self.core.faults

    @property
    def received(self) -> dict[str, int]:
        return dict(self.core.received)

    @property
    def attachment_bytes(self) -> dict[str, int]:
        return dict(self.core.attachment_bytes)

    def known_hosts_line(self) -> str:
        host = "127.0.0.1" if self.port == 22 else f"[127.0.0.1]:{self.port}"
        return f"{host} {self.host_key.get_name()} {self.host_key.get_base64()}\n"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> SftpSim:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(16)
        sock.settimeout(0.1)
        self._sock, self.port = sock, int(sock.getsockname()[1])
        self._stop.clear()
        for target in (self._accept_loop, self._process_loop):
            t = threading.Thread(target=target, name=f"sim-sftp-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.drop_sessions()

    def __enter__(self) -> SftpSim:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def drop_sessions(self) -> None:
        with self._lock:
            transports, self._transports = self._transports, []
        for t in transports:
            t.close()

    def refuses(self, path: str) -> bool:
        """Is this application file refused? The folder itself stays writable (other files,
        such as the hub's ``.hub-probe-*`` check, are accepted): a refusal of the leg, not a
        provisioning problem."""
        f = self.faults
        name = os.path.basename(path)
        if name.startswith(".hub-probe-"):
            return False
        return f.reject_all or any(k in name for k in f.reject_keys)

    def inject_reply(self, name: str, data: bytes) -> None:
        (self.root / "outbox" / name).write_bytes(data)

    # -- SSH ------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            if self.faults.down:
                conn.close()
                continue
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _RootSftp)
            with self._lock:
                self._transports.append(transport)
            try:
                transport.start_server(server=_Server(self, transport))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    # -- the department's processor -------------------------------------------------------------
    def _process_loop(self) -> None:
        while not self._stop.wait(0.02):
            for path in sorted((self.root / "inbox").glob("*.txt")):
                self._process(path)
            for r in self.core.take_ready():
                d = self.delimiter
                rec = d.join(["D", r.result_id, r.key, _CODES[r.outcome], r.department_ref,
                              r.detail, ",".join(r.missing_materials)])
                data = f"H{d}1.0{d}RESULT{d}1\r\n{rec}\r\n".encode(self.encoding)
                tmp = self.root / "outbox" / f"R_{r.result_id}.txt.part"
                tmp.write_bytes(data)
                os.replace(tmp, tmp.with_suffix(""))

    def _process(self, path: Path) -> None:
        files: list[Path] = []
        target = "processed"
        try:
            lines = path.read_bytes().decode(self.encoding).split("\r\n")
            head, cols, vals = (line.split(self.delimiter) for line in lines[:3])
            if head[0] != "H" or cols[0] != "C" or vals[0] != "D" or len(cols) != len(vals):
                raise ValueError("bad records")
            key, kind = head[2], head[3]
            listed = self._listed(head, lines[3:])
            files = [self.root / "inbox" / name for _, name, _, _ in listed]
            bad = [n for n, name, sha, size in listed
                   if self._digest(self.root / "inbox" / name) != (sha, size)]
            if bad:  # filed only with every listed file intact: else refused, with the reason
                self.core.refuse(key, "附件缺失或校验不符（第" + "、".join(map(str, bad)) + "个）")
                target = "rejected"
            else:
                self.core.submit(key, kind, dict(zip(cols[1:], vals[1:], strict=True)),
                                 message_key=path.name)  # the file name is the message's key
                for n, _, sha, size in listed:
                    self.core.receive_attachment(key, n, sha, size)
        except (ValueError, IndexError, UnicodeDecodeError, SimRefused):
            self.bad_files.append(path.name)
        except SimUnavailable:
            return  # leave it for the next round
        (self.root / target).mkdir(exist_ok=True)
        for f in (*files, path):
            if f.exists():  # a resend replaces the earlier copy: same deterministic names
                os.replace(f, self.root / target / f.name)

    def _listed(self, head: list[str], rest: list[str]) -> list[tuple[int, str, str, int]]:
        """The ``A`` records of a version 1.1 batch: (index, file name, sha256, size)."""
        if head[1] == "1.0" and len(head) == 7:
            return []
        if head[1] != "1.1" or len(head) != 8:
            raise ValueError("unknown header version")
        records = [line.split(self.delimiter) for line in rest if line]
        if len(records) != int(head[7]):
            raise ValueError("attachment count differs from the header")
        out = []
        for n, rec in enumerate(records, start=1):
            if len(rec) != 7 or rec[0] != "A" or rec[1] != str(n) or "/" in rec[2] \
                    or rec[2].startswith("."):
                raise ValueError("bad attachment record")
            out.append((n, rec[2], rec[6].lower(), int(rec[5])))
        return out

    @staticmethod
    def _digest(path: Path) -> tuple[str, int] | None:
        try:
            with path.open("rb") as fh:
                return hash_stream(fh.read, os.fstat(fh.fileno()).st_size)
        except OSError:
            return None
