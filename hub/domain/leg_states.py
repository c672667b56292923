"""Status tracker rules: the leg state machine and the case status a clerk sees.

Leg transitions (``TRANSITIONS``; anything else is refused and recorded, never applied):

    pending        -> dispatched | submitted | accepted | needs_materials | approved | rejected | failed
    dispatched     -> dispatched | submitted | accepted | needs_materials | approved | rejected | failed
    submitted      -> accepted | needs_materials | approved | rejected | failed
    accepted       -> needs_materials | approved | rejected | failed
    needs_materials-> resubmitted | rejected | failed
    resubmitted    -> resubmitted | accepted | needs_materials | approved | rejected | failed
    failed         -> submitted | accepted | needs_materials | approved | rejected
    approved, rejected: final
    retrying (a transient delivery failure) keeps any unsettled state: it is evidence for
    ``hub trace``, recorded in the audit log, not a transition.

Why these choices:

* ``pending``/``dispatched`` -> a department answer: the answer proves the department has the leg
  even when the receipt event is late (it may sit in a killed process's lease for its whole
  term). Found by the fault suite: deferring such an answer a bounded number of times could
  outlast the budget and lose it. The late receipt is then refused as stale, and recorded.

* ``pending -> submitted``: the relay marks a dispatch row sent only after the broker confirmed
  it; a fast worker may submit and report before that mark commits. Refusing would lose a receipt.
  Routing the relay's mark through the one writer (``hub.tracking``) does not close this race:
  the mark still follows the broker's confirm, so the receipt may still come first.
* ``dispatched -> dispatched`` and ``resubmitted -> resubmitted`` (on a ``submitted`` or
  ``resubmitted`` event) are confirmations: the worker reports delivery of a leg the store already
  moved (relay mark, supplement). They update the receipt; they are not out of order.
* ``submitted``/``accepted``/``resubmitted`` may go straight to ``approved``/``rejected``: several
  departments decide without an explicit acceptance step.
* ``needs_materials -> rejected``: a department closes a case whose materials never came.
* ``failed`` (dead-lettered) is settled, but an operator may replay the dead letter
  (``hub dlq replay``); the department's later answer revives the leg rather than being lost.
* ``approved``/``rejected`` are final: a late or replayed event after a decision is refused.

Case status is derived from its legs (``derive_case_status``), in this order: every leg settled
-> approved / rejected / partly_approved / failed; otherwise any leg waiting for materials ->
waiting_materials; any leg failed -> failed; every leg still pending or dispatched -> received;
else in_progress.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from hub.domain.models import LegEventKind, LegState

S = LegState
K = LegEventKind

TRANSITIONS: dict[LegState, dict[LegEventKind, LegState]] = {
    # A department's answer proves it received the leg, even when the receipt event is still in
    # flight (held by a crashed process's lease, say): apply it rather than risk losing it.
    S.PENDING: {K.DISPATCHED: S.DISPATCHED, K.SUBMITTED: S.SUBMITTED, K.FAILED: S.FAILED,
                K.ACCEPTED: S.ACCEPTED, K.NEEDS_MATERIALS: S.NEEDS_MATERIALS,
                K.APPROVED: S.APPROVED, K.REJECTED: S.REJECTED},
    S.DISPATCHED: {K.DISPATCHED: S.DISPATCHED, K.SUBMITTED: S.SUBMITTED, K.FAILED: S.FAILED,
                   K.ACCEPTED: S.ACCEPTED, K.NEEDS_MATERIALS: S.NEEDS_MATERIALS,
                   K.APPROVED: S.APPROVED, K.REJECTED: S.REJECTED},
    S.SUBMITTED: {K.ACCEPTED: S.ACCEPTED, K.NEEDS_MATERIALS: S.NEEDS_MATERIALS,
                  K.APPROVED: S.APPROVED, K.REJECTED: S.REJECTED, K.FAILED: S.FAILED},
    S.ACCEPTED: {K.NEEDS_MATERIALS: S.NEEDS_MATERIALS, K.APPROVED: S.APPROVED,
                 K.REJECTED: S.REJECTED, K.FAILED: S.FAILED},
    S.NEEDS_MATERIALS: {K.RESUBMITTED: S.RESUBMITTED, K.REJECTED: S.REJECTED,
                        K.FAILED: S.FAILED},
    S.RESUBMITTED: {K.SUBMITTED: S.RESUBMITTED, K.RESUBMITTED: S.RESUBMITTED,
                    K.ACCEPTED: S.ACCEPTED, K.NEEDS_MATERIALS: S.NEEDS_MATERIALS,
                    K.APPROVED: S.APPROVED, K.REJECTED: S.REJECTED, K.FAILED: S.FAILED},
    S.FAILED: {K.SUBMITTED: S.SUBMITTED, K.ACCEPTED: S.ACCEPTED,
               K.NEEDS_MATERIALS: S.NEEDS_MATERIALS, K.APPROVED: S.APPROVED,
               K.REJECTED: S.REJECTED},
    S.APPROVED: {},
    S.REJECTED: {},
}

LEG_LABELS: dict[LegState, str] = {
    S.PENDING: "待发送",
    S.DISPATCHED: "已发送",
    S.SUBMITTED: "部门已接收",
    S.ACCEPTED: "部门已受理",
    S.NEEDS_MATERIALS: "需补充材料",
    S.RESUBMITTED: "已补充材料",
    S.APPROVED: "已通过",
    S.REJECTED: "未通过",
    S.FAILED: "投递失败",
}


# How far along a leg is; an event "ahead" of its leg is early, one behind it is stale.
_RANK = {S.PENDING: 0, S.DISPATCHED: 1, S.SUBMITTED: 2, S.RESUBMITTED: 2, S.ACCEPTED: 3,
         S.NEEDS_MATERIALS: 4, S.APPROVED: 5, S.REJECTED: 5}
_TARGET = {K.SUBMITTED: 2, K.RESUBMITTED: 2, K.ACCEPTED: 3, K.NEEDS_MATERIALS: 4,
           K.APPROVED: 5, K.REJECTED: 5}


def is_early(current: LegState, kind: LegEventKind) -> bool:
    """True when a refused event may fit once the leg's earlier events are applied.

    Events of one leg travel on different connections (the receipt from the consumer, results
    from the poller) and may overtake each other; an early event is deferred, not refused.
    """
    if current not in _RANK or current in (S.APPROVED, S.REJECTED):
        return False
    return _TARGET.get(kind, -1) > _RANK[current]


def next_state(current: LegState, kind: LegEventKind) -> LegState | None:
    """The state a leg moves to on ``kind``, or None when the event must be refused."""
    if kind is K.RETRYING:
        return None if current in (S.APPROVED, S.REJECTED) else current
    return TRANSITIONS[current].get(kind)


def refusal_reason(current: LegState, kind: LegEventKind) -> str:
    return f"{kind.value} is not allowed when the leg is {current.value}"


class CaseStatus(enum.StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    WAITING_MATERIALS = "waiting_materials"
    APPROVED = "approved"
    PARTLY_APPROVED = "partly_approved"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return CASE_LABELS[self]


CASE_LABELS: dict[CaseStatus, str] = {
    CaseStatus.RECEIVED: "已接收，待发送部门",
    CaseStatus.IN_PROGRESS: "部门办理中",
    CaseStatus.WAITING_MATERIALS: "待补充材料",
    CaseStatus.APPROVED: "已办结（全部通过）",
    CaseStatus.PARTLY_APPROVED: "已办结（部分通过）",
    CaseStatus.REJECTED: "已办结（未通过）",
    CaseStatus.FAILED: "投递失败，运维处理中",
}


def all_settled(states: Iterable[LegState]) -> bool:
    return all(s.settled for s in states)


def derive_case_status(states: Iterable[LegState]) -> CaseStatus:
    legs = list(states)
    if not legs:
        return CaseStatus.RECEIVED
    if all_settled(legs):
        if all(s is S.APPROVED for s in legs):
            return CaseStatus.APPROVED
        if all(s is S.REJECTED for s in legs):
            return CaseStatus.REJECTED
        if S.FAILED in legs:
            return CaseStatus.FAILED
        return CaseStatus.PARTLY_APPROVED
    if S.NEEDS_MATERIALS in legs:
        return CaseStatus.WAITING_MATERIALS
    if S.FAILED in legs:
        return CaseStatus.FAILED
    if all(s in (S.PENDING, S.DISPATCHED) for s in legs):
        return CaseStatus.RECEIVED
    return CaseStatus.IN_PROGRESS
