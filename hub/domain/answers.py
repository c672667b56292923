"""A department's answer (polled or called back) as the one leg event it stands for.

Both paths build the event here, so one answer has one event id whatever path it came by, and a
bad answer is refused with a reason (``RefusedResult.reason``) instead of blocking the rest.
"""

from __future__ import annotations

from hub.domain import ids
from hub.domain.adapter import Result
from hub.domain.errors import PermanentError
from hub.domain.models import LegEvent, LegEventKind, utcnow
from hub.domain.reasons import Reason

__all__ = ["ANSWERS", "RefusedResult", "result_event"]

# The leg event kinds a department answer may carry (``hub.domain.adapter.ResultOutcome``).
ANSWERS = frozenset({LegEventKind.ACCEPTED, LegEventKind.NEEDS_MATERIALS, LegEventKind.APPROVED,
                     LegEventKind.REJECTED})
MAX_DETAIL = 2000  # LegEvent.detail
MAX_MATERIALS = 50


class RefusedResult(PermanentError):
    """A department answer the hub cannot apply; ``reason`` says why (a short slug)."""


def result_event(r: Result, department: str) -> LegEvent:
    """The leg event of one department answer (polled or called back); RefusedResult if bad."""
    leg = ids.parse_leg_id(r.leg_id)
    if leg is None or leg.department != department:
        raise RefusedResult(f"{department}: result for a leg id the hub did not send",
                            reason=Reason.UNKNOWN_LEG)
    try:
        kind = LegEventKind(r.outcome)
    except ValueError:
        kind = LegEventKind.RETRYING  # not an answer
    if kind not in ANSWERS:
        raise RefusedResult(f"{department}: unknown outcome", reason=Reason.UNKNOWN_OUTCOME)
    if r.detail is not None and len(r.detail) > MAX_DETAIL:
        raise RefusedResult(f"{department}: detail over {MAX_DETAIL} characters",
                            reason=Reason.DETAIL_TOO_LONG)
    if len(r.missing_materials) > MAX_MATERIALS or not all(
            isinstance(m, str) and 0 < len(m) <= 64 for m in r.missing_materials):
        raise RefusedResult(f"{department}: missing materials malformed",
                            reason=Reason.MALFORMED_RESULT)
    if not r.result_id or (r.department_ref is not None and len(r.department_ref) > MAX_DETAIL):
        raise RefusedResult(f"{department}: result id or reference malformed",
                            reason=Reason.MALFORMED_RESULT)
    texts = [r.detail or "", r.department_ref or "", *r.missing_materials]
    if any("\x00" in text for text in texts):  # no database text column holds a NUL
        raise RefusedResult(f"{department}: NUL character in the answer",
                            reason=Reason.MALFORMED_RESULT)
    return LegEvent(event_id=ids.answer_event_id(department, r.result_id), case_id=leg.case_id,
                    leg_id=r.leg_id, department=department, kind=kind,
                    receipt=r.department_ref, detail=r.detail,
                    missing_materials=list(r.missing_materials), at=utcnow())
