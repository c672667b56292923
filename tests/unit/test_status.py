"""The leg state machine and the case status a clerk sees."""

from __future__ import annotations

import pytest

from hub.domain.leg_states import (
    CASE_LABELS,
    LEG_LABELS,
    TRANSITIONS,
    CaseStatus,
    derive_case_status,
    next_state,
)
from hub.domain.models import LegEventKind, LegState

S, K = LegState, LegEventKind


@pytest.mark.parametrize(("path", "final"), [
    ([K.DISPATCHED, K.SUBMITTED, K.ACCEPTED, K.APPROVED], S.APPROVED),
    ([K.SUBMITTED, K.NEEDS_MATERIALS, K.RESUBMITTED, K.SUBMITTED, K.NEEDS_MATERIALS,
      K.RESUBMITTED, K.REJECTED], S.REJECTED),
    ([K.DISPATCHED, K.FAILED, K.SUBMITTED, K.APPROVED], S.APPROVED),  # dlq replay revives
    ([K.SUBMITTED, K.APPROVED], S.APPROVED),
])
def test_the_documented_paths_are_walkable(path: list[LegEventKind], final: LegState) -> None:
    state = S.PENDING
    for kind in path:
        nxt = next_state(state, kind)
        assert nxt is not None, f"{kind} refused at {state}"
        state = nxt
    assert state is final


@pytest.mark.parametrize(("state", "kind"), [
    (S.PENDING, K.RESUBMITTED), (S.DISPATCHED, K.RESUBMITTED), (S.APPROVED, K.REJECTED),
    (S.REJECTED, K.SUBMITTED), (S.APPROVED, K.FAILED), (S.SUBMITTED, K.RESUBMITTED),
    (S.NEEDS_MATERIALS, K.APPROVED),
])
def test_impossible_transitions_are_refused(state: LegState, kind: LegEventKind) -> None:
    assert next_state(state, kind) is None


def test_every_state_has_rules_and_labels() -> None:
    assert set(TRANSITIONS) == set(LegState) == set(LEG_LABELS)
    assert set(CASE_LABELS) == set(CaseStatus)
    assert all(TRANSITIONS[s] == {} for s in (S.APPROVED, S.REJECTED))


@pytest.mark.parametrize(("legs", "status"), [
    ([S.PENDING, S.DISPATCHED], CaseStatus.RECEIVED),
    ([S.SUBMITTED, S.PENDING], CaseStatus.IN_PROGRESS),
    ([S.NEEDS_MATERIALS, S.APPROVED], CaseStatus.WAITING_MATERIALS),
    ([S.APPROVED, S.APPROVED], CaseStatus.APPROVED),
    ([S.APPROVED, S.REJECTED], CaseStatus.PARTLY_APPROVED),
    ([S.REJECTED], CaseStatus.REJECTED),
    ([S.FAILED, S.SUBMITTED], CaseStatus.FAILED),
    ([S.FAILED, S.APPROVED], CaseStatus.FAILED),
])
def test_case_status_is_derived_from_its_legs(legs: list[LegState], status: CaseStatus) -> None:
    assert derive_case_status(legs) is status
    assert status.label  # every status has a Chinese label for the clerk
