"""Signed department callbacks: how a REST department pushes a result into the hub.

Wire format: ``POST`` with a JSON body ``{"result_id", "leg_id", "outcome", "department_ref",
"detail", "missing_materials"}`` and two headers, ``X-Hub-Timestamp`` (Unix seconds) and
``X-Hub-Signature`` = ``hex(HMAC-SHA256(secret, timestamp + "." + body))``.

Guarantees: ``verify`` compares in constant time and refuses a wrong signature (reason
``forged``) or a timestamp outside ``tolerance_s`` of ``now`` (reason ``stale``), so a callback
captured and replayed later is refused; a replay inside the window carries a ``result_id`` the
hub has already recorded and is deduplicated there. ``parse_result`` refuses a body that is not
exactly the wire format (reason ``malformed``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from hub.domain import strictjson
from hub.domain.adapter import RESULT_OUTCOMES, Result, is_outcome
from hub.domain.errors import MalformedMessage, PermanentError
from hub.domain.reasons import Reason

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "parse_result", "result_body", "sign", "verify"]

TIMESTAMP_HEADER = "X-Hub-Timestamp"
SIGNATURE_HEADER = "X-Hub-Signature"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, *, now: float,
           tolerance_s: float = 300) -> None:
    try:
        expected = sign(secret, timestamp, body)
    except UnicodeEncodeError:
        raise PermanentError("callback timestamp is not ASCII", reason=Reason.FORGED) from None
    # compare_digest raises TypeError on a non-ASCII str: a forged header must not become a 500
    if not signature.isascii() or not hmac.compare_digest(expected, signature.strip().lower()):
        raise PermanentError("callback signature does not match", reason=Reason.FORGED)
    try:
        sent = float(timestamp)
    except ValueError:
        raise PermanentError("callback timestamp is not a number", reason=Reason.FORGED) from None
    if abs(now - sent) > tolerance_s:
        raise PermanentError(f"callback is {now - sent:.0f}s old", reason=Reason.STALE)


def result_body(result: Result) -> bytes:
    doc = {"result_id": result.result_id, "leg_id": result.leg_id, "outcome": result.outcome,
           "department_ref": result.department_ref, "detail": result.detail,
           "missing_materials": list(result.missing_materials)}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _text(doc: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 2000:
        raise MalformedMessage(f"callback field {key!r} must be a non-empty string")
    return value


def parse_result(body: bytes | str | dict[str, Any]) -> Result:
    """A result from a callback body (or a polled JSON object), validated strictly."""
    try:
        doc = strictjson.loads(body) if isinstance(body, bytes | str) else body
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage("callback body is not JSON") from exc
    if not isinstance(doc, dict):
        raise MalformedMessage("callback body must be a JSON object")
    allowed = {"result_id", "leg_id", "outcome", "department_ref", "detail", "missing_materials"}
    if set(doc) - allowed:
        raise MalformedMessage(f"unknown callback fields: {sorted(set(doc) - allowed)}")
    outcome = doc.get("outcome")
    if not is_outcome(outcome):
        raise MalformedMessage(f"callback outcome must be one of {RESULT_OUTCOMES}")
    missing = doc.get("missing_materials") or []
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        raise MalformedMessage("missing_materials must be a list of strings")
    return Result(result_id=str(_text(doc, "result_id", required=True)),
                  leg_id=str(_text(doc, "leg_id", required=True)),
                  outcome=outcome,
                  department_ref=_text(doc, "department_ref", required=False),
                  detail=_text(doc, "detail", required=False),
                  missing_materials=tuple(missing))
