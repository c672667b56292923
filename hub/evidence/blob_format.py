"""The on-disk format of one blob: header, AES-256-GCM frames, and their checks.

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
"""

from __future__ import annotations

import re
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.domain.errors import PermanentError
from hub.domain.reasons import Reason
from hub.evidence.keys import KEY_ID

__all__ = ["DEFAULT_FRAME", "TAG", "Header", "aad", "check_blob_id", "check_sha", "frames",
           "is_blob_id", "make_header", "nonce", "read_header", "tampered"]

MAGIC = b"HUBB"
VERSION = 1
TAG = 16
DEFAULT_FRAME = 1024 * 1024
_FIXED = struct.Struct(">4sBI8s")  # magic, version, frame_size, nonce prefix
_BLOB_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Header:
    raw: bytes
    frame_size: int
    prefix: bytes
    key_id: str
    kind: str


def tampered(blob_id: str, what: str) -> PermanentError:
    return PermanentError(f"blob {blob_id} refused: {what}", reason=Reason.TAMPERED)


def is_blob_id(value: str) -> bool:
    return bool(_BLOB_ID.match(value))


def check_blob_id(blob_id: str) -> str:
    """Only 32 lowercase hex characters: a blob id can never name a path outside the store."""
    if not isinstance(blob_id, str) or not _BLOB_ID.match(blob_id):
        raise PermanentError("invalid blob id", reason=Reason.INVALID_BLOB_ID)
    return blob_id


def check_sha(value: str) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise PermanentError("sha256 must be 64 lowercase hex characters", reason=Reason.INVALID_SHA256)
    return value


def make_header(frame_size: int, key_id: str, kind: str) -> Header:
    kind_b = kind.encode("utf-8")
    if not 0 < len(kind_b) < 256:
        raise PermanentError("attachment kind must be 1..255 bytes", reason=Reason.INVALID_KIND)
    prefix = secrets.token_bytes(8)
    raw = (_FIXED.pack(MAGIC, VERSION, frame_size, prefix)
           + bytes([len(key_id)]) + key_id.encode("ascii") + bytes([len(kind_b)]) + kind_b)
    return Header(raw, frame_size, prefix, key_id, kind)


def read_header(fh: BinaryIO, blob_id: str) -> Header:
    fixed = fh.read(_FIXED.size)
    if len(fixed) != _FIXED.size:
        raise tampered(blob_id, "header truncated")
    magic, version, frame_size, prefix = _FIXED.unpack(fixed)
    if magic != MAGIC or version != VERSION:
        raise tampered(blob_id, "not a hub blob or unknown version")
    if not 1024 <= frame_size <= 16 * 1024 * 1024:  # bounds memory before anything is authentic
        raise tampered(blob_id, "implausible frame size")
    parts: list[bytes] = []
    for _ in range(2):
        n = fh.read(1)
        part = fh.read(n[0]) if n else b""
        if not n or len(part) != n[0]:
            raise tampered(blob_id, "header truncated")
        parts.append(part)
    try:
        key_id, kind = parts[0].decode("ascii"), parts[1].decode("utf-8")
    except UnicodeDecodeError:
        raise tampered(blob_id, "header garbled") from None
    if not KEY_ID.match(key_id):
        raise tampered(blob_id, "header garbled")
    raw = fixed + bytes([len(parts[0])]) + parts[0] + bytes([len(parts[1])]) + parts[1]
    return Header(raw, frame_size, prefix, key_id, kind)


def nonce(header: Header, index: int) -> bytes:
    return header.prefix + struct.pack(">I", index)


def aad(header: Header, blob_id: str, index: int, final: bool) -> bytes:
    return header.raw + blob_id.encode("ascii") + struct.pack(">IB", index, int(final))


def frames(fh: BinaryIO, header: Header, aead: AESGCM, blob_id: str) -> Iterator[bytes]:
    """Decrypted frames in order; any deviation from the sealed sequence raises ``tampered``."""
    width = header.frame_size + TAG
    current = fh.read(width)
    index = 0
    while True:
        if len(current) < TAG:
            raise tampered(blob_id, "frames missing")
        following = fh.read(width) if len(current) == width else b""
        final = not following
        try:
            yield aead.decrypt(nonce(header, index), current, aad(header, blob_id, index, final))
        except InvalidTag:
            raise tampered(blob_id, f"frame {index} fails authentication") from None
        if final:
            return
        if index == 0xFFFFFFFF:
            raise tampered(blob_id, "too many frames")
        current, index = following, index + 1
