"""Attachments at rest: a directory of blobs, each encrypted with AES-256-GCM in 1 MiB frames.

The file format (header, frames, what is refused as ``tampered``) is in
``hub.evidence.blob_format``; this module writes, reads, rotates and deletes blobs.

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
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hub.config.settings import Settings
from hub.domain.errors import PermanentError
from hub.domain.reasons import Reason
from hub.evidence.blob_format import (
    DEFAULT_FRAME,
    TAG,
    aad,
    check_blob_id,
    check_sha,
    frames,
    is_blob_id,
    make_header,
    nonce,
    read_header,
    tampered,
)
from hub.evidence.keys import KeyRing, load_keyring

__all__ = ["TAG", "BlobInfo", "BlobStore", "BlobWriter", "check_blob_id", "open_blob_store"]


@dataclass(frozen=True)
class BlobInfo:
    id: str
    size: int
    sha256: str
    key_id: str



class BlobWriter:
    """One blob being written: ``write`` chunks, then ``commit`` (or ``abort``)."""

    def __init__(self, store: BlobStore, blob_id: str, kind: str, max_bytes: int) -> None:
        self._store, self.blob_id, self._max = store, blob_id, max_bytes
        key_id = store.keyring.active_id
        self._aead = store.keyring.aead(key_id)
        self._header = make_header(store.frame_size, key_id, kind)
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
        self._fh.write(self._aead.encrypt(nonce(self._header, self._index), plain,
                                          aad(self._header, self.blob_id, self._index, final)))
        self._index += 1

    def write(self, chunk: bytes) -> None:
        if self._fh is None:
            raise PermanentError("blob writer is closed", reason=Reason.CLOSED)
        self.size += len(chunk)
        if self.size > self._max:
            self.abort()
            raise PermanentError(f"attachment larger than {self._max} bytes", reason=Reason.TOO_LARGE)
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
            raise PermanentError("blob writer is closed", reason=Reason.CLOSED)
        self._seal(bytes(self._buf), final=True)
        self._buf.clear()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        return self._tmp, self._hash.hexdigest()

    def commit(self, declared_sha256: str) -> BlobInfo:
        try:
            declared = check_sha(declared_sha256.lower() if isinstance(declared_sha256, str)
                                  else declared_sha256)
            tmp, actual = self._finish()
            if not hmac.compare_digest(actual, declared):
                raise PermanentError("attachment does not match its declared SHA-256",
                                     reason=Reason.HASH_MISMATCH)
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
            raise PermanentError(f"blob {blob_id} not found", reason=Reason.NOT_FOUND) from None

    def key_id_of(self, blob_id: str) -> str:
        with self._open_file(blob_id) as fh:
            return read_header(fh, blob_id).key_id

    def kind_of(self, blob_id: str) -> str:
        with self._open_file(blob_id) as fh:
            return read_header(fh, blob_id).kind

    def exists(self, blob_id: str) -> bool:
        return self.path(blob_id).exists()

    def open(self, blob_id: str, expected_sha256: str, *,
             verify_first: bool = False) -> Iterator[bytes]:
        """Plaintext chunks; raises ``PermanentError(reason=Reason.TAMPERED)`` on any deviation."""
        expected = check_sha(expected_sha256)
        fh = self._open_file(blob_id)  # fail fast on a missing blob, before iteration starts
        return self._stream(fh, blob_id, expected, verify_first)

    def _stream(self, fh: BinaryIO, blob_id: str, expected: str,
                verify_first: bool) -> Iterator[bytes]:
        with fh:
            header = read_header(fh, blob_id)
            aead = self.keyring.aead(header.key_id)
            if verify_first:
                digest = hashlib.sha256()
                for plain in frames(fh, header, aead, blob_id):
                    digest.update(plain)
                self._check_digest(digest, expected, blob_id)
                fh.seek(len(header.raw))
                yield from frames(fh, header, aead, blob_id)
                return
            digest = hashlib.sha256()
            held: bytes | None = None
            for plain in frames(fh, header, aead, blob_id):
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
            raise tampered(blob_id, "content does not match the SHA-256 recorded at intake")

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
                raise PermanentError(f"blob {blob_id} not found", reason=Reason.NOT_FOUND)
            header = read_header(fh, blob_id)
            if header.key_id == active:
                return active
            aead = self.keyring.aead(header.key_id)
            writer = BlobWriter(self, blob_id, header.kind, max_bytes=2**62)
            try:
                for plain in frames(fh, header, aead, blob_id):
                    writer.write(plain)
                tmp, _ = writer._finish()
                self._install(tmp, blob_id)
            except BaseException:
                writer.abort()
                raise
        return active

    def ids(self) -> Iterator[str]:
        for path in sorted(self.root.glob("??/*.blob")):
            if is_blob_id(path.stem):
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
