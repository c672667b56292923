"""Attachments at rest: a directory of blobs, each encrypted with AES-256-GCM in 1 MiB frames.

File layout (all integers big-endian)::

    header  magic "HUBB" | version 1 | frame_size u32 | nonce prefix 8 random bytes
            | key id (u8 length + ascii) | kind (u8 length + utf-8)
    frames  AES-GCM(frame plaintext) + 16-byte tag, frame_size plaintext bytes each except the
            last (0..frame_size bytes); every blob has at least one frame, the last one "final"

Each frame's nonce is the per-blob random prefix + the frame counter; its associated data is the
whole header, the blob id, the frame counter and the final flag. So flipping a byte anywhere,
swapping or reordering frames, dropping the last frame(s), appending data, editing the header
(key id, kind) or copying one blob's file over another's are all refused as ``tampered``.
On top of that every read checks the plaintext SHA-256 recorded at intake.

Streaming: nothing holds a whole blob in memory. ``open`` decrypts frame by frame and withholds
the last chunk until the SHA-256 matched, so a consumer that uses the bytes only after iteration
ends without an exception never acts on a tampered blob; ``verify_first=True`` checks the whole
blob before releasing any byte (two passes over the same open file).

Writes go to ``tmp/`` and are renamed into place atomically; ``rotate`` re-encrypts under the
active key the same way while readers holding the old file keep reading it (old keys stay in the
ring). ``delete`` and ``rotate`` take an advisory lock on the blob so a rotation never revives a
deleted blob.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
import secrets
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.config.settings import Settings
from hub.domain.errors import PermanentError
from hub.evidence.keys import KEY_ID, KeyRing, load_keyring

MAGIC = b"HUBB"
VERSION = 1
TAG = 16
DEFAULT_FRAME = 1024 * 1024
_FIXED = struct.Struct(">4sBI8s")  # magic, version, frame_size, nonce prefix
_BLOB_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BlobInfo:
    id: str
    size: int
    sha256: str
    key_id: str


@dataclass(frozen=True)
class _Header:
    raw: bytes
    frame_size: int
    prefix: bytes
    key_id: str
    kind: str


def _tampered(blob_id: str, what: str) -> PermanentError:
    return PermanentError(f"blob {blob_id} refused: {what}", reason="tampered")


def check_blob_id(blob_id: str) -> str:
    """Only 32 lowercase hex characters: a blob id can never name a path outside the store."""
    if not isinstance(blob_id, str) or not _BLOB_ID.match(blob_id):
        raise PermanentError("invalid blob id", reason="invalid_blob_id")
    return blob_id


def _check_sha(value: str) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise PermanentError("sha256 must be 64 lowercase hex characters", reason="invalid_sha256")
    return value


def _make_header(frame_size: int, key_id: str, kind: str) -> _Header:
    kind_b = kind.encode("utf-8")
    if not 0 < len(kind_b) < 256:
        raise PermanentError("attachment kind must be 1..255 bytes", reason="invalid_kind")
    prefix = secrets.token_bytes(8)
    raw = (_FIXED.pack(MAGIC, VERSION, frame_size, prefix)
           + bytes([len(key_id)]) + key_id.encode("ascii") + bytes([len(kind_b)]) + kind_b)
    return _Header(raw, frame_size, prefix, key_id, kind)


def _read_header(fh: BinaryIO, blob_id: str) -> _Header:
    fixed = fh.read(_FIXED.size)
    if len(fixed) != _FIXED.size:
        raise _tampered(blob_id, "header truncated")
    magic, version, frame_size, prefix = _FIXED.unpack(fixed)
    if magic != MAGIC or version != VERSION:
        raise _tampered(blob_id, "not a hub blob or unknown version")
    if not 1024 <= frame_size <= 16 * 1024 * 1024:  # bounds memory before anything is authentic
        raise _tampered(blob_id, "implausible frame size")
    parts: list[bytes] = []
    for _ in range(2):
        n = fh.read(1)
        part = fh.read(n[0]) if n else b""
        if not n or len(part) != n[0]:
            raise _tampered(blob_id, "header truncated")
        parts.append(part)
    try:
        key_id, kind = parts[0].decode("ascii"), parts[1].decode("utf-8")
    except UnicodeDecodeError:
        raise _tampered(blob_id, "header garbled") from None
    if not KEY_ID.match(key_id):
        raise _tampered(blob_id, "header garbled")
    raw = fixed + bytes([len(parts[0])]) + parts[0] + bytes([len(parts[1])]) + parts[1]
    return _Header(raw, frame_size, prefix, key_id, kind)


def _nonce(header: _Header, index: int) -> bytes:
    return header.prefix + struct.pack(">I", index)


def _aad(header: _Header, blob_id: str, index: int, final: bool) -> bytes:
    return header.raw + blob_id.encode("ascii") + struct.pack(">IB", index, int(final))


def _frames(fh: BinaryIO, header: _Header, aead: AESGCM, blob_id: str) -> Iterator[bytes]:
    """Decrypted frames in order; any deviation from the sealed sequence raises ``tampered``."""
    width = header.frame_size + TAG
    current = fh.read(width)
    index = 0
    while True:
        if len(current) < TAG:
            raise _tampered(blob_id, "frames missing")
        following = fh.read(width) if len(current) == width else b""
        final = not following
        try:
            yield aead.decrypt(_nonce(header, index), current, _aad(header, blob_id, index, final))
        except InvalidTag:
            raise _tampered(blob_id, f"frame {index} fails authentication") from None
        if final:
            return
        if index == 0xFFFFFFFF:
            raise _tampered(blob_id, "too many frames")
        current, index = following, index + 1


class BlobWriter:
    """One blob being written: ``write`` chunks, then ``commit`` (or ``abort``)."""

    def __init__(self, store: BlobStore, blob_id: str, kind: str, max_bytes: int) -> None:
        self._store, self.blob_id, self._max = store, blob_id, max_bytes
        key_id = store.keyring.active_id
        self._aead = store.keyring.aead(key_id)
        self._header = _make_header(store.frame_size, key_id, kind)
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = store.tmp_dir / f"{blob_id}.{secrets.token_hex(4)}.part"
        self._fh: BinaryIO | None = open(self._tmp, "xb")  # noqa: SIM115 -- closed by commit/abort
        self._fh.write(self._header.raw)
        self._buf = bytearray()
        self._index = 0
        self._hash = hashlib.sha256()
        self.size = 0

    def _seal(self, plain: bytes, final: bool) -> None:
        assert self._fh is not None
        self._fh.write(self._aead.encrypt(_nonce(self._header, self._index), plain,
                                          _aad(self._header, self.blob_id, self._index, final)))
        self._index += 1

    def write(self, chunk: bytes) -> None:
        if self._fh is None:
            raise PermanentError("blob writer is closed", reason="closed")
        self.size += len(chunk)
        if self.size > self._max:
            self.abort()
            raise PermanentError(f"attachment larger than {self._max} bytes", reason="too_large")
        self._hash.update(chunk)
        self._buf += chunk
        width = self._header.frame_size
        # Strictly greater: the last frame is sealed as final only at commit.
        while len(self._buf) > width:
            self._seal(bytes(self._buf[:width]), final=False)
            del self._buf[:width]

    def _finish(self) -> tuple[Path, str]:
        """Seal the final frame and make the temp file durable; returns (temp path, sha256)."""
        if self._fh is None:
            raise PermanentError("blob writer is closed", reason="closed")
        self._seal(bytes(self._buf), final=True)
        self._buf.clear()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        return self._tmp, self._hash.hexdigest()

    def commit(self, declared_sha256: str) -> BlobInfo:
        try:
            declared = _check_sha(declared_sha256.lower() if isinstance(declared_sha256, str)
                                  else declared_sha256)
            tmp, actual = self._finish()
            if not hmac.compare_digest(actual, declared):
                raise PermanentError("attachment does not match its declared SHA-256",
                                     reason="hash_mismatch")
            self._store._install(tmp, self.blob_id)
        except BaseException:
            self.abort()
            raise
        return BlobInfo(self.blob_id, self.size, actual, self._header.key_id)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()  # no-op after commit: the temp file was renamed away


class BlobStore:
    def __init__(self, root: Path, keyring: KeyRing, *, frame_size: int = DEFAULT_FRAME) -> None:
        if not 1024 <= frame_size <= 16 * 1024 * 1024:
            raise ValueError("frame_size must be between 1 KiB and 16 MiB")
        self.root, self.keyring, self.frame_size = root, keyring, frame_size
        self.tmp_dir = root / "tmp"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, blob_id: str) -> Path:
        check_blob_id(blob_id)
        return self.root / blob_id[:2] / f"{blob_id}.blob"

    def writer(self, kind: str, max_bytes: int) -> BlobWriter:
        return BlobWriter(self, uuid.uuid4().hex, kind, max_bytes)

    def _install(self, tmp: Path, blob_id: str) -> None:
        final = self.path(blob_id)
        final.parent.mkdir(exist_ok=True, mode=0o700)
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    def _open_file(self, blob_id: str) -> BinaryIO:
        try:
            return open(self.path(blob_id), "rb")  # caller closes
        except FileNotFoundError:
            raise PermanentError(f"blob {blob_id} not found", reason="not_found") from None

    def key_id_of(self, blob_id: str) -> str:
        with self._open_file(blob_id) as fh:
            return _read_header(fh, blob_id).key_id

    def kind_of(self, blob_id: str) -> str:
        with self._open_file(blob_id) as fh:
            return _read_header(fh, blob_id).kind

    def exists(self, blob_id: str) -> bool:
        return self.path(blob_id).exists()

    def open(self, blob_id: str, expected_sha256: str, *,
             verify_first: bool = False) -> Iterator[bytes]:
        """Plaintext chunks; raises ``PermanentError(reason="tampered")`` on any deviation."""
        expected = _check_sha(expected_sha256)
        fh = self._open_file(blob_id)  # fail fast on a missing blob, before iteration starts
        return self._stream(fh, blob_id, expected, verify_first)

    def _stream(self, fh: BinaryIO, blob_id: str, expected: str,
                verify_first: bool) -> Iterator[bytes]:
        with fh:
            header = _read_header(fh, blob_id)
            aead = self.keyring.aead(header.key_id)
            if verify_first:
                digest = hashlib.sha256()
                for plain in _frames(fh, header, aead, blob_id):
                    digest.update(plain)
                self._check_digest(digest, expected, blob_id)
                fh.seek(len(header.raw))
                yield from _frames(fh, header, aead, blob_id)
                return
            digest = hashlib.sha256()
            held: bytes | None = None
            for plain in _frames(fh, header, aead, blob_id):
                digest.update(plain)
                if held:
                    yield held
                held = plain
            self._check_digest(digest, expected, blob_id)
            if held:
                yield held

    @staticmethod
    def _check_digest(digest: hashlib._Hash, expected: str, blob_id: str) -> None:
        if not hmac.compare_digest(digest.hexdigest(), expected):
            raise _tampered(blob_id, "content does not match the SHA-256 recorded at intake")

    def delete(self, blob_id: str) -> bool:
        """Remove a blob; ``False`` when it was already gone (deleting is idempotent)."""
        path = self.path(blob_id)
        try:
            fh = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return False
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # waits for a rotation of this blob
            try:
                path.unlink()
            except FileNotFoundError:
                return False
        _fsync_dir(path.parent)
        return True

    def rotate(self, blob_id: str) -> str:
        """Re-encrypt ``blob_id`` under the active key (no-op if it is already); the new key id."""
        path, active = self.path(blob_id), self.keyring.active_id
        with self._open_file(blob_id) as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            if not _same_file(fh, path):  # rotated or deleted while we waited for the lock
                if path.exists():
                    return self.rotate(blob_id)
                raise PermanentError(f"blob {blob_id} not found", reason="not_found")
            header = _read_header(fh, blob_id)
            if header.key_id == active:
                return active
            aead = self.keyring.aead(header.key_id)
            writer = BlobWriter(self, blob_id, header.kind, max_bytes=2**62)
            try:
                for plain in _frames(fh, header, aead, blob_id):
                    writer.write(plain)
                tmp, _ = writer._finish()
                self._install(tmp, blob_id)
            except BaseException:
                writer.abort()
                raise
        return active

    def ids(self) -> Iterator[str]:
        for path in sorted(self.root.glob("??/*.blob")):
            if _BLOB_ID.match(path.stem):
                yield path.stem

    def sweep_temp(self, older_than_s: float = 86400.0) -> int:
        """Remove temp files left by writers that crashed; returns how many."""
        if not self.tmp_dir.is_dir():
            return 0
        cutoff, removed = time.time() - older_than_s, 0
        for path in self.tmp_dir.glob("*.part"):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _same_file(fh: BinaryIO, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
    except FileNotFoundError:
        return False


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_blob_store(settings: Settings) -> BlobStore:
    return BlobStore(settings.blob_dir(), load_keyring(settings))
