"""The SFTP transport's wire format (``adapters/medical_insurance/FILE_SPEC.md``).

File names (a message's idempotency key: a resend replaces its file, every supplement has its
own), the batch file a message becomes, and the strict reading of a reply file: a reply that
does not decode, has a wrong header or record, or names a path is ``Refused`` with its reason
(the adapter quarantines it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from hub.domain.adapter import Result, ResultOutcome, SubmitRequest
from hub.domain.errors import PermanentError
from hub.domain.reasons import Reason

__all__ = ["OUTCOME_CODES", "Refused", "attachment_name", "file_name", "parse_reply",
           "render_batch", "safe_name"]

OUTCOME_CODES: dict[str, ResultOutcome] = {
    "01": "accepted", "02": "needs_materials", "03": "approved", "04": "rejected"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:.-]{0,127}$")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

class Refused(Exception):
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


def safe_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def render_batch(department: str, request: SubmitRequest, files: Sequence[str] = (), *,
                 delimiter: str, encoding: str) -> bytes:
    """The batch file of one message (``H``, ``C``, ``D`` and one ``A`` record per file)."""
    d = delimiter
    columns = list(request.record)
    values = ["" if v is None else str(v) for v in request.record.values()]
    head = ["H", "1.1" if files else "1.0", request.leg_id, request.kind, request.case_id,
            request.item_code, str(len(columns)), *([str(len(files))] if files else [])]
    listed = [["A", str(n), name, ref.kind, ref.media_type, str(ref.size), ref.sha256.lower()]
              for n, (name, ref) in enumerate(
                  zip(files, request.attachments[:len(files)], strict=True), start=1)]
    for value in (*head, *columns, *values, *(v for rec in listed for v in rec)):
        if d in value or "\r" in value or "\n" in value:
            raise PermanentError(f"{department}: a value contains the delimiter or a "
                                 "line break", reason=Reason.UNMAPPABLE)
    lines = [d.join(head), d.join(["C", *columns]), d.join(["D", *values]),
             *(d.join(rec) for rec in listed)]
    try:
        return ("\r\n".join(lines) + "\r\n").encode(encoding)
    except UnicodeEncodeError as exc:
        raise PermanentError(f"{department}: not encodable in {encoding}",
                             reason=Reason.UNMAPPABLE) from exc


def parse_reply(data: bytes, *, delimiter: str, encoding: str) -> list[Result]:
    """The results of one reply file, read strictly; ``Refused`` (with its reason) if not."""
    try:
        text = data.decode(encoding, errors="strict")
    except UnicodeDecodeError:
        raise Refused("content.encoding") from None
    lines = text.split("\r\n")
    if lines and lines[-1] == "":
        lines.pop()
    d = delimiter
    head = lines[0].split(d) if lines else []
    if len(head) != 4 or head[:3] != ["H", "1.0", "RESULT"] or head[3] != str(len(lines) - 1):
        raise Refused("content.header")
    out: list[Result] = []
    for line in lines[1:]:
        parts = line.split(d)
        if len(parts) != 7 or parts[0] != "D" or parts[3] not in OUTCOME_CODES:
            raise Refused("content.format")
        _, result_id, leg_id, code, ref, detail, missing = parts
        if not (_SAFE_ID.match(result_id) and _SAFE_ID.match(leg_id)) \
                or ".." in result_id + leg_id or "/" in ref + detail + missing:
            raise Refused("content.traversal")
        out.append(Result(result_id=result_id, leg_id=leg_id, outcome=OUTCOME_CODES[code],
                          department_ref=ref or None, detail=detail or None,
                          missing_materials=tuple(m for m in missing.split(",") if m)))
    return out
