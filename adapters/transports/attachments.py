"""Attachment streams shared by the transports: verify while sending, never hold a file whole.

A leg's attachments (scans, audio/video) are claim checks (``AttachmentRef``: id, kind, media
type, size, SHA-256); ``SubmitRequest.open_attachment`` streams their bytes from the blob store.
Every transport sends them through ``verified()``, which guarantees:

- the bytes passed on add up to exactly ``ref.size`` and hash to ``ref.sha256``; otherwise
  ``PermanentError(reason=Reason.TAMPERED)`` is raised;
- the **last chunk is held back until the whole stream is checked**, so a department never
  receives a complete copy of wrong bytes (a transport that stops on the error leaves at most
  an incomplete upload behind, which it discards);
- memory stays at about two chunks, whatever the file size.

``read_verified()`` is for SOAP without MTOM, which must carry the file base64-encoded inside
one envelope: it refuses files above a limit before reading a byte.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Sequence

from hub.domain.adapter import SubmitRequest
from hub.domain.errors import PermanentError
from hub.domain.models import AttachmentRef
from hub.domain.reasons import Reason

__all__ = ["check_sizes", "has_attachments", "read_verified", "verified"]


def has_attachments(request: SubmitRequest) -> bool:
    """True when the leg carries files and the worker gave us a way to read them."""
    return bool(request.attachments) and request.open_attachment is not None


def _tampered(department: str, index: int, ref: AttachmentRef, why: str) -> PermanentError:
    # The blob id is a random handle, never personal data: safe in logs and dead letters.
    return PermanentError(f"{department}: attachment {index} ({ref.kind}, blob {ref.id}) "
                          f"{why}; not sent", reason=Reason.TAMPERED)


def verified(department: str, index: int, ref: AttachmentRef,
             chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks`` passed on unchanged, checked against ``ref`` (size and SHA-256) on the way."""
    digest = hashlib.sha256()
    size = 0
    held: bytes | None = None
    for chunk in chunks:
        if not chunk:
            continue
        size += len(chunk)
        if size > ref.size:
            raise _tampered(department, index, ref, f"is longer than the declared {ref.size} "
                                                    "bytes")
        digest.update(chunk)
        if held is not None:
            yield held
        held = bytes(chunk)
    if size != ref.size:
        raise _tampered(department, index, ref, f"has {size} bytes, {ref.size} declared")
    if not hmac.compare_digest(digest.hexdigest(), ref.sha256.lower()):
        raise _tampered(department, index, ref, "does not match its declared SHA-256")
    if held is not None:
        yield held


def read_verified(department: str, index: int, ref: AttachmentRef,
                  chunks: Iterable[bytes]) -> bytes:
    """The whole file, checked (for transports that cannot stream)."""
    return b"".join(verified(department, index, ref, chunks))


def check_sizes(department: str, refs: Sequence[AttachmentRef], limit: int) -> None:
    """Refuse, before anything is sent, a leg with a file above ``limit`` bytes."""
    for index, ref in enumerate(refs, start=1):
        if ref.size > limit:
            raise PermanentError(
                f"{department}: attachment {index} ({ref.kind}, {ref.size} bytes) exceeds the "
                f"{limit}-byte limit of this transport (SOAP carries files base64 in memory; "
                "raise transport.max_attachment_bytes or deliver the file another way)",
                reason=Reason.ATTACHMENT_TOO_LARGE)
