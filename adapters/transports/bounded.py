"""One bounded read for every byte a department sends the hub (issue 18, item 15).

A department's answer is outside input: a SOAP endpoint or a REST API that streams 200 MB, or a
reply file that grows while it is read, must not grow the worker without bound. Every transport
reads its answers through ``read_capped`` (and, for HTTP, ``check_declared`` first): chunk by
chunk, at most ``limit`` bytes kept, the read stopped at the first byte beyond it and refused as
``ResponseTooLarge`` -- a ``PermanentError`` with reason ``hostile_response``. Memory therefore
grows by about ``limit`` whatever the peer sends. The limit is per department
(``transport.max_response_bytes`` for SOAP and REST, default ``DEFAULT_MAX_RESPONSE_BYTES``;
``max_reply_bytes`` per SFTP reply file); callbacks are capped by the same setting at the API.
HTTP bodies are counted after content decoding, so a compressed bomb is caught as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hub.domain.errors import PermanentError
from hub.domain.reasons import Reason

__all__ = ["CHUNK_BYTES", "DEFAULT_MAX_RESPONSE_BYTES", "ResponseTooLarge", "check_declared",
           "read_capped"]

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024  # records and status lists are kilobytes
CHUNK_BYTES = 64 * 1024


class ResponseTooLarge(PermanentError):
    def __init__(self, department: str, limit: int) -> None:
        super().__init__(f"{department}: response larger than {limit} bytes refused",
                         reason=Reason.HOSTILE_RESPONSE)
        self.limit = limit


def check_declared(department: str, headers: Mapping[str, str], limit: int) -> None:
    """Refuse at once an HTTP answer whose ``Content-Length`` already exceeds ``limit``."""
    declared = headers.get("Content-Length") or headers.get("content-length") or ""
    if declared.strip().isdigit() and int(declared) > limit:
        raise ResponseTooLarge(department, limit)


def read_capped(department: str, chunks: Iterable[bytes], limit: int) -> bytes:
    """The bytes of ``chunks`` if they total at most ``limit``; else ``ResponseTooLarge`` as
    soon as the total passes it (the rest is never read)."""
    buf = bytearray()
    for chunk in chunks:
        if len(buf) + len(chunk) > limit:
            raise ResponseTooLarge(department, limit)
        buf += chunk
    return bytes(buf)
