"""Conversions between database rows and the store's row types."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from hub.domain.leg_states import CaseStatus
from hub.domain.models import Case, LegState
from hub.store.base import AttachmentRow, CaseRow, LegRow, Terminal
from hub.store.tx import us_to_dt

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def tracking_code(case_id: uuid.UUID) -> str:
    """A short code a clerk can read out: 60 bits of the case id's hash in Crockford base32."""
    n = int.from_bytes(hashlib.sha256(case_id.bytes).digest()[:8], "big") >> 4
    chars = "".join(_CROCKFORD[(n >> (5 * i)) & 31] for i in range(12))
    return f"{chars[0:4]}-{chars[4:8]}-{chars[8:12]}"


def encode_cursor(updated_us: int, case_id: str) -> str:
    raw = json.dumps([updated_us, case_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        us, cid = json.loads(raw)
        if not isinstance(us, int) or not isinstance(cid, str):
            raise ValueError("cursor shape")
        return us, str(uuid.UUID(cid))
    except (ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc


def leg_row(r: Any) -> LegRow:
    return LegRow(leg_id=r.leg_id, case_id=uuid.UUID(r.case_id), department=r.department,
                  state=LegState(r.state), receipt=r.receipt, detail=r.detail,
                  missing_materials=tuple(json.loads(r.missing_materials or "[]")),
                  updated_at=us_to_dt(r.updated_us))  # type: ignore[arg-type]


def case_row(r: Any, legs: Sequence[LegRow]) -> CaseRow:
    return CaseRow(case_id=uuid.UUID(r.case_id), tracking_code=r.tracking_code,
                   village=r.village, item_code=r.item_code, status=CaseStatus(r.status),
                   settled=bool(r.settled), created_at=us_to_dt(r.created_us),  # type: ignore[arg-type]
                   updated_at=us_to_dt(r.updated_us),  # type: ignore[arg-type]
                   case=Case.model_validate_json(r.case_json),
                   legs=tuple(sorted(legs, key=lambda g: g.department)))


def attachment_row(r: Any) -> AttachmentRow:
    return AttachmentRow(id=r.id, village=r.village, terminal_id=r.terminal_id, kind=r.kind,
                         media_type=r.media_type, size=int(r.size), sha256=r.sha256,
                         key_id=r.key_id, created_at=us_to_dt(r.created_us),  # type: ignore[arg-type]
                         case_id=uuid.UUID(r.case_id) if r.case_id else None,
                         deleted_at=us_to_dt(r.deleted_us))


def terminal_row(r: Any) -> Terminal:
    return Terminal(id=r.id, village=r.village, name=r.name,
                    created_at=us_to_dt(r.created_us),  # type: ignore[arg-type]
                    revoked_at=us_to_dt(r.revoked_us))
