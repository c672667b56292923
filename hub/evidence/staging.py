"""Partial uploads (tus) staged on disk until their last byte arrived, then sealed as a blob.

Each upload is two files under ``<blob dir>/uploads/`` (mode 0700): ``<id>.json``, its fixed
facts written once, atomically, at creation (owner terminal, village, material kind, media type,
final length, declared SHA-256), and ``<id>.part``, the bytes received so far. The confirmed
offset *is* the size of the part file: bytes are fsynced before an offset is reported to a
client (``fsync`` after each request and every ``SYNC_EVERY`` bytes), so a hub restarted or
killed mid-upload resumes from what it confirmed, never from zero and never past what it holds.

Parts are encrypted at rest too: each upload has its own random AES-256 key, kept in its
metadata wrapped (AES-GCM) under the key ring's active key; the part is AES-CTR under that key
with the byte offset as the counter, so a resumed request encrypts from any offset and a
truncation (a chunk whose checksum failed) needs no re-encryption. CTR gives no integrity of
its own: ``seal`` decrypts the part into an AES-GCM blob (``hub.evidence.blobs``) and checks the
final size and SHA-256 exactly as a one-shot upload is checked, so a flipped byte is refused
there. ``sweep`` removes uploads untouched for ``max_age_s``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hub.domain.errors import PermanentError
from hub.domain.reasons import Reason
from hub.evidence.blobs import BlobInfo, BlobStore

_ID = re.compile(r"^[0-9a-f]{32}$")
SYNC_EVERY = 4 * 1024 * 1024


@dataclass(frozen=True)
class StagedUpload:
    id: str
    terminal_id: str
    village: str
    kind: str
    media_type: str
    length: int
    sha256: str
    created_at: float
    attachment_id: str = ""  # set once sealed: the blob's id
    key_id: str = ""  # the ring key wrapping this upload's own key
    wrapped_key: str = ""  # base64(nonce + AES-GCM(upload key))


class UploadStaging:
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.root = blobs.root / "uploads"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _meta(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.json"

    def part(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.part"

    def create(self, *, terminal_id: str, village: str, kind: str, media_type: str,
               length: int, sha256: str) -> StagedUpload:
        upload_id, ring = uuid.uuid4().hex, self.blobs.keyring
        nonce = secrets.token_bytes(12)
        wrapped = ring.aead(ring.active_id).encrypt(nonce, secrets.token_bytes(32),
                                                    upload_id.encode())
        up = StagedUpload(upload_id, terminal_id, village, kind, media_type, length, sha256,
                          time.time(), key_id=ring.active_id,
                          wrapped_key=base64.b64encode(nonce + wrapped).decode())
        self.part(up.id).touch(mode=0o600)
        self._write_meta(up)
        return up

    def _write_meta(self, up: StagedUpload) -> None:
        tmp = self.root / f"{up.id}.json.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(asdict(up), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._meta(up.id))

    def get(self, upload_id: str) -> StagedUpload | None:
        if not _ID.match(upload_id):
            return None
        try:
            raw = json.loads(self._meta(upload_id).read_text(encoding="utf-8"))
            return StagedUpload(**raw)
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def offset(self, up: StagedUpload) -> int:
        if up.attachment_id:
            return up.length
        try:
            return self.part(up.id).stat().st_size
        except FileNotFoundError:
            return 0

    def cipher(self, up: StagedUpload, offset: int) -> Callable[[bytes], bytes]:
        """AES-CTR positioned at ``offset`` (encrypts and decrypts alike)."""
        raw = base64.b64decode(up.wrapped_key)
        key = self.blobs.keyring.aead(up.key_id).decrypt(raw[:12], raw[12:], up.id.encode())
        ctr = Cipher(algorithms.AES(key), modes.CTR((offset // 16).to_bytes(16, "big")))
        stream = ctr.encryptor()
        stream.update(bytes(offset % 16))
        return stream.update

    def truncate(self, up: StagedUpload, offset: int) -> None:
        """Drop bytes past ``offset`` (a chunk whose checksum did not match)."""
        with open(self.part(up.id), "r+b") as fh:
            fh.truncate(offset)
            os.fsync(fh.fileno())

    def seal(self, up: StagedUpload, max_bytes: int) -> BlobInfo:
        """The complete part into an encrypted blob; size and SHA-256 checked (PermanentError)."""
        if self.offset(up) != up.length:
            raise PermanentError("upload incomplete", reason=Reason.INCOMPLETE)
        writer = self.blobs.writer(up.kind, max_bytes)
        plain = self.cipher(up, 0)
        try:
            with open(self.part(up.id), "rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    writer.write(plain(chunk))
            info = writer.commit(up.sha256)
        except BaseException:
            writer.abort()
            raise
        return info

    def mark_sealed(self, up: StagedUpload, attachment_id: str) -> StagedUpload:
        done = StagedUpload(**{**asdict(up), "attachment_id": attachment_id})
        self._write_meta(done)
        self.part(up.id).unlink(missing_ok=True)
        return done

    def discard(self, up: StagedUpload) -> None:
        self.part(up.id).unlink(missing_ok=True)
        self._meta(up.id).unlink(missing_ok=True)

    def sweep(self, max_age_s: float = 7 * 86400.0) -> int:
        """Remove uploads untouched for ``max_age_s`` (abandoned parts, old sealed records)."""
        cutoff, removed = time.time() - max_age_s, 0
        for meta in self.root.glob("*.json"):
            part = self.part(meta.stem)
            newest = max(meta.stat().st_mtime, part.stat().st_mtime if part.exists() else 0)
            if newest < cutoff:
                part.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
                removed += 1
        return removed
